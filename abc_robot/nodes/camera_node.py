"""Camera node: one process per camera, publishing ``camera/<name>``.

A capture thread owns the driver and blocks in its ``read`` (a camera delivers when it
delivers); the node's loop hands every captured frame to subscribers as a
:class:`~abc_robot.transport.messages.CameraFrame` stamped at exposure, with the
camera's own frame counter (gaps = frames it dropped). Nothing in the graph waits on
a camera: a slow one shows as older frames, a dead one as none.

The delivered frame rate is measured against the configured one and a shortfall is
logged (and shown in the heartbeat status), not hidden. A device that fails after
start (unplugged, USB reset) is reopened every ``reopen_s`` until it comes back; one
that cannot be opened at start fails the node, so the supervisor reports it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from abc_robot.devices.cameras.base import Camera, CameraReading
from abc_robot.devices.cameras.fps_monitor import FpsMonitor
from abc_robot.devices.cameras.registry import CAMERA_KINDS, make_camera
from abc_robot.errors import ConfigError, DeviceError, DeviceTimeout
from abc_robot.runtime.node import Node
from abc_robot.transport.messages import CameraFrame

__all__ = ["CameraNode", "CameraNodeConfig"]


@dataclass(frozen=True)
class CameraNodeConfig:
    """Attributes:
    bind: publisher endpoint (topic ``camera/<camera>``).
    camera: camera name: ``top``, ``left`` (wrist), ``right`` (wrist)...
    kind: driver: ``opencv`` or ``realsense``.
    params: the driver's settings (fields of its config: source / serial, width,
        height, fps...).
    rate_hz: how often captured frames are handed out [Hz]; at least twice the
        camera's fps keeps the added delay under half a frame.
    jpeg_quality: JPEG-compress frames on the wire (for subscribers on other hosts);
        None sends raw RGB.
    reopen_s: after the device fails, try to reopen it this often [s].
    fps_window_s: window of the delivered-fps measurement [s].
    """

    bind: str
    camera: str = "top"
    kind: str = "opencv"
    params: dict[str, Any] = field(default_factory=dict)
    rate_hz: float = 100.0  # [Hz]
    jpeg_quality: int | None = None
    reopen_s: float = 1.0  # [s]
    fps_window_s: float = 2.0  # [s]

    def __post_init__(self) -> None:
        if not self.camera:
            raise ValueError("camera must be a name (top, left, right...)")
        if self.kind not in CAMERA_KINDS:
            raise ValueError(f"unknown camera kind {self.kind!r}; valid kinds: {sorted(CAMERA_KINDS)}")
        if not 0 < self.rate_hz <= 1000:
            raise ValueError(f"rate_hz must be in (0, 1000] Hz, got {self.rate_hz}")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")
        if self.reopen_s <= 0 or self.fps_window_s <= 0:
            raise ValueError("reopen_s and fps_window_s must be > 0 s")
        try:  # the driver's own fields are checked now, not when the device opens
            make_camera(self.kind, self.params, self.camera)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc


class CameraNode(Node):
    """Publishes one camera's frames on ``camera/<name>``."""

    Config = CameraNodeConfig

    def setup(self) -> None:
        cfg: CameraNodeConfig = self.config
        self.topic = f"camera/{cfg.camera}"
        self.camera: Camera = make_camera(cfg.kind, cfg.params, cfg.camera)
        self.camera.open()  # a camera missing at start fails the node (the supervisor says so)
        self.pub = self.publisher(cfg.bind, sndhwm=4, jpeg_quality=cfg.jpeg_quality)
        self.monitor = FpsMonitor(self.camera.fps, window_s=cfg.fps_window_s)
        self._pending: deque[tuple[CameraReading, np.ndarray | None]] = deque()
        self._lock = threading.Lock()
        self._quit = threading.Event()
        self.published = 0
        self.failures = 0
        self.timeouts = 0
        self.last_error = ""
        self.last_stamp_ns = 0
        self._silent_logged = False
        self._thread = threading.Thread(target=self._capture, name=f"capture-{cfg.camera}", daemon=True)
        self._thread.start()

    # ---- capture thread ------------------------------------------------------------
    def _capture(self) -> None:
        cfg: CameraNodeConfig = self.config
        cam = self.camera
        while not self._quit.is_set():
            if not cam.is_open:
                try:
                    cam.open()
                    self.log(f"camera {cfg.camera} reopened")
                except DeviceError as exc:
                    self._note_error(exc)
                    self._quit.wait(cfg.reopen_s)
                    continue
            try:
                reading = cam.read(timeout_s=0.5)
            except DeviceTimeout:
                self.timeouts += 1
                continue
            except DeviceError as exc:
                self.failures += 1
                self._note_error(exc)
                self.log(f"camera {cfg.camera} failed: {exc}; reopening every {cfg.reopen_s:g} s")
                cam.close()
                self._quit.wait(cfg.reopen_s)
                continue
            depth = getattr(cam, "depth", None)
            with self._lock:
                self._pending.append((reading, depth))

    def _note_error(self, exc: Exception) -> None:
        if str(exc) != self.last_error:
            self.last_error = str(exc)

    # ---- loop ------------------------------------------------------------------------
    def step(self, now_ns: int) -> None:
        cfg: CameraNodeConfig = self.config
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
        for reading, depth in batch:
            self.monitor.add(reading.stamp_ns, reading.frame_index)
            frame = CameraFrame(
                camera=cfg.camera,
                image=reading.image,
                frame_index=reading.frame_index,
                stamp_ns=reading.stamp_ns,
                depth=depth,
                intrinsics=self.camera.intrinsics,
            )
            self.pub.publish(self.topic, frame)
            self.published += 1
            self.last_stamp_ns = reading.stamp_ns
        msg = self.monitor.check(now_ns)
        if msg:
            self.log(f"camera {cfg.camera} {msg}")
        silent_s = (now_ns - self.last_stamp_ns) / 1e9 if self.last_stamp_ns else 0.0
        if silent_s > 1.0 and not self._silent_logged:
            self._silent_logged = True
            self.log(f"camera {cfg.camera}: no frame for {silent_s:.1f} s ({self.last_error or 'no error reported'})")
        elif silent_s <= 1.0:
            self._silent_logged = False

    def teardown(self) -> None:
        quit_ = getattr(self, "_quit", None)
        if quit_ is not None:
            quit_.set()
            self._thread.join(timeout=2.0)
        cam = getattr(self, "camera", None)
        if cam is not None:
            cam.close()

    def status(self) -> dict[str, Any]:
        if not hasattr(self, "monitor"):
            return {}
        now = time.monotonic_ns()
        out: dict[str, Any] = dict(self.monitor.status(now))
        out.update(
            {
                "camera": self.config.camera,
                "open": self.camera.is_open,
                "published": self.published,
                "failures": self.failures,
                "timeouts": self.timeouts,
            }
        )
        if self.last_stamp_ns:
            out["frame_age_ms"] = round((now - self.last_stamp_ns) / 1e6, 1)
        if self.last_error:
            out["last_error"] = self.last_error
        return out
