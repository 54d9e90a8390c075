"""Intel RealSense camera through pyrealsense2: colour, optional aligned depth.

Chosen by serial number (stable across replugs, unlike USB paths). Frames carry the
camera's own timestamps: with ``global_time`` enabled (the default where the sensor
supports it) they are on the host clock already; otherwise they are on the camera's
hardware counter. Either way :class:`~abc_robot.devices.cameras.clock.ClockMapper`
converts them to the monotonic clock, and ``frame_index`` is the camera's frame
number (gaps are frames it dropped). The stream's intrinsics are read from the
device once it streams and travel with every frame, so the recorder writes them
into the episode metadata.

A recorded file (``file:``; ``.db3`` as librealsense 2.59 writes, or an older
``.bag``) is played through the very same pipeline
(``rs.config.enable_device_from_file``) instead of a live device. librealsense hands
over every recorded frame in order (its own real-time mode drops frames and paces by
the time the recording was written, not by the frames' stamps); this driver paces the
frames by their own stamps when ``realtime`` is set, or hands them out as fast as they
are read; either way a frame's stamp is its recorded camera stamp on a timeline that
starts when the first frame is handed out. ``loop`` restarts at the end, with frame
numbers and camera stamps carried on past the wrap so a loop never looks like a clock
reset or a burst of drops.

pyrealsense2 needs the system's libusb-1.0 (Debian/Ubuntu: ``apt-get install
libusb-1.0-0``); without it, or with no camera plugged in, :meth:`open` raises
:class:`~abc_robot.errors.DeviceError` saying so.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from abc_robot.devices.cameras.base import Camera, CameraReading
from abc_robot.devices.cameras.clock import DEVICE, WALL, ClockMapper
from abc_robot.errors import DeviceError, DeviceTimeout

__all__ = ["RealSenseCamera", "RealSenseConfig", "import_pyrealsense2", "intrinsics_dict"]


@dataclass(frozen=True)
class RealSenseConfig:
    """Attributes:
    serial: the camera's serial number (printed on it; ``rs-enumerate-devices``);
        empty takes the only camera connected (or whatever camera ``file`` holds).
    width, height: colour (and depth) frame size [px].
    fps: frame rate [Hz] (6, 15, 30, 60 or 90 depending on the mode).
    depth: also stream depth, aligned to the colour image (uint16 [mm]).
    global_time: put frame stamps on the host clock inside librealsense where
        the sensor supports it (live cameras).
    file: play this recording (``.db3`` / ``.bag``) instead of opening a live camera.
    realtime: with ``file``: pace frames by their recorded stamps (as the camera
        delivered them); False hands them out as fast as they are read.
    loop: with ``file``: start again at the end instead of ending the stream.
    """

    serial: str = ""
    width: int = 640  # [px]
    height: int = 480  # [px]
    fps: float = 30.0  # [Hz]
    depth: bool = False
    global_time: bool = True
    file: str = ""
    realtime: bool = True
    loop: bool = False

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"width and height must be > 0 px, got {self.width}×{self.height}")
        if not 0 < self.fps <= 300:
            raise ValueError(f"fps must be in (0, 300] Hz, got {self.fps}")
        if self.file and not self.file.endswith((".db3", ".bag")):
            raise ValueError(f"file must be a RealSense recording (.db3 or .bag), got {self.file!r}")


def import_pyrealsense2() -> Any:
    """Import pyrealsense2 or raise a DeviceError that says how to get it working."""
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        hint = (
            "install the system's libusb: apt-get install libusb-1.0-0"
            if "libusb" in str(exc)
            else "install it: pip install pyrealsense2"
        )
        raise DeviceError(f"pyrealsense2 cannot be imported ({exc}); {hint}") from exc
    return rs


def intrinsics_dict(intr: Any) -> dict[str, Any]:
    """A ``rs.intrinsics`` as plain values (pixels; ``model`` is librealsense's distortion name)."""
    return {
        "width": int(intr.width),
        "height": int(intr.height),
        "fx": float(intr.fx),
        "fy": float(intr.fy),
        "ppx": float(intr.ppx),
        "ppy": float(intr.ppy),
        "model": str(intr.model).rpartition(".")[2],
        "coeffs": [float(c) for c in intr.coeffs],
    }


class RealSenseCamera(Camera):
    """A RealSense camera (or a recording of one).

    Args:
        config: the camera's settings.
        name: camera name (for messages).

    Attributes:
        intrinsics: the colour stream's intrinsics (:func:`intrinsics_dict`) once open.
        depth: aligned depth of the last read [mm], when depth is streamed.
        loops: how many times a looping file has wrapped.
    """

    Config = RealSenseConfig

    def __init__(self, config: RealSenseConfig, name: str = "camera") -> None:
        self.config = config
        self.name = name
        self.fps = config.fps
        self._pipeline: Any = None
        self._align: Any = None
        self._rs: Any = None
        self.clock = ClockMapper()
        self.serial = ""
        self.intrinsics: dict[str, Any] | None = None
        self.depth: np.ndarray | None = None
        self.loops = 0
        # Playback bookkeeping: the last raw frame number / stamp [ms], what a wrap adds to
        # them, and the (monotonic [ns], camera [ms]) pair the played timeline starts at.
        self._last_raw: tuple[int, float] | None = None
        self._wrap_frames = 0
        self._wrap_ms = 0.0
        self._pace_origin: tuple[int, float] | None = None

    @classmethod
    def from_config(cls, config: RealSenseConfig, name: str) -> RealSenseCamera:
        return cls(config, name)

    @property
    def is_open(self) -> bool:
        return self._pipeline is not None

    def open(self) -> None:
        rs = import_pyrealsense2()
        self._rs = rs
        cfg = self.config
        rs_cfg = rs.config()
        if cfg.file:
            if not os.path.isfile(cfg.file):
                raise DeviceError(f"camera {self.name}: recording {cfg.file} does not exist (field file)")
            rs_cfg.enable_device_from_file(cfg.file, repeat_playback=cfg.loop)
        else:
            rs_cfg.enable_device(self._find_serial(rs))
        w, h, fps = cfg.width, cfg.height, int(cfg.fps)
        rs_cfg.enable_stream(rs.stream.color, w, h, rs.format.rgb8, fps)
        if cfg.depth:
            rs_cfg.enable_stream(rs.stream.depth, w, h, rs.format.z16, fps)
        pipeline = rs.pipeline()
        try:
            if cfg.file:
                # Every frame, in order: the playback device leaves real-time mode before it
                # starts (set after start, it drops the frames played meanwhile); the pipeline
                # starts the device this resolve made. Pacing, if any, is ours.
                resolved = rs_cfg.resolve(rs.pipeline_wrapper(pipeline))
                resolved.get_device().as_playback().set_real_time(False)
            profile = pipeline.start(rs_cfg)
        except RuntimeError as exc:
            what = f"{w}×{h} rgb8 @ {fps} fps{' with depth' if cfg.depth else ''}"
            if cfg.file:
                raise DeviceError(
                    f"camera {self.name}: cannot play recording {cfg.file} as {what}: {exc} "
                    "(a truncated or corrupt file, or one without that stream: check it in the RealSense Viewer)"
                ) from exc
            raise DeviceError(
                f"camera {self.name}: cannot start {what} ({exc}); check the mode with rs-enumerate-devices"
            ) from exc
        try:
            device = profile.get_device()
            self.serial = device.get_info(rs.camera_info.serial_number)
            if cfg.serial and self.serial != cfg.serial:
                raise DeviceError(f"camera {self.name}: {cfg.file} holds camera {self.serial}, not {cfg.serial}")
            if not cfg.file and cfg.global_time:
                for sensor in device.query_sensors():
                    if sensor.supports(rs.option.global_time_enabled):
                        sensor.set_option(rs.option.global_time_enabled, 1.0)
            color = profile.get_stream(rs.stream.color).as_video_stream_profile()
            self.intrinsics = intrinsics_dict(color.get_intrinsics())
        except Exception:
            pipeline.stop()
            raise
        self._align = rs.align(rs.stream.color) if cfg.depth else None
        self._last_raw, self._wrap_frames, self._wrap_ms, self._pace_origin = None, 0, 0.0, None
        self.loops = 0
        self._pipeline = pipeline

    def _find_serial(self, rs: Any) -> str:
        cfg = self.config
        serials = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
        if not serials:
            raise DeviceError(
                f"camera {self.name}: no RealSense device connected (wanted serial {cfg.serial or 'any'}); "
                "check the USB 3 cable and the udev rules (librealsense's 99-realsense-libusb.rules)"
            )
        if cfg.serial and cfg.serial not in serials:
            raise DeviceError(f"camera {self.name}: no RealSense with serial {cfg.serial}; connected: {serials}")
        if not cfg.serial and len(serials) > 1:
            raise DeviceError(f"camera {self.name}: several RealSense cameras connected {serials}; set serial")
        return cfg.serial or serials[0]

    def read(self, timeout_s: float = 1.0) -> CameraReading:
        if self._pipeline is None:
            raise DeviceError(f"camera {self.name}: read before open")
        rs = self._rs
        try:
            ok, frames = self._pipeline.try_wait_for_frames(max(1, int(timeout_s * 1000)))
        except RuntimeError as exc:  # device lost
            raise DeviceError(f"camera {self.name}: {exc}") from exc
        if not ok:
            if self.config.file and self._playback_done():
                raise DeviceError(f"camera {self.name}: end of recording {self.config.file}")
            raise DeviceTimeout(f"camera {self.name}: no frame within {timeout_s:.3f} s")
        if self._align is not None:
            frames = self._align.process(frames)
        color = frames.get_color_frame()
        if not color:
            raise DeviceTimeout(f"camera {self.name}: a frame set without colour")
        image = np.array(np.asanyarray(color.get_data()), copy=True)  # librealsense reuses its buffers
        if self._align is not None:
            depth = frames.get_depth_frame()
            self.depth = np.array(np.asanyarray(depth.get_data()), copy=True) if depth else None
        number, stamp_ms = int(color.get_frame_number()), float(color.get_timestamp())
        if self.config.file:
            # The recording's timeline anchored at the first frame handed out: pacing and
            # stamps both follow the camera's own stamps, never this machine's load.
            number, stamp_ms = self._unwrap(number, stamp_ms)
            arrival = self._due(stamp_ms)
            if self.config.realtime and arrival > time.monotonic_ns():
                time.sleep((arrival - time.monotonic_ns()) / 1e9)
            clock = DEVICE  # a recording's wall-clock stamps are from the day it was made
        else:
            arrival = time.monotonic_ns()
            domain = color.get_frame_timestamp_domain()
            clock = DEVICE if domain == rs.timestamp_domain.hardware_clock else WALL
        stamp = self.clock.to_monotonic(int(stamp_ms * 1e6), clock, arrival)
        return CameraReading(image, stamp, number)

    def _unwrap(self, number: int, stamp_ms: float) -> tuple[int, float]:
        """Carry frame numbers and stamps on across a loop's wrap (the file restarting)."""
        if self._last_raw is not None and number <= self._last_raw[0]:
            last_number, last_ms = self._last_raw
            self._wrap_frames += last_number + 1 - number
            self._wrap_ms += last_ms + 1000.0 / self.fps - stamp_ms
            self.loops += 1
        self._last_raw = (number, stamp_ms)
        return number + self._wrap_frames, stamp_ms + self._wrap_ms

    def _due(self, stamp_ms: float) -> int:
        """Monotonic time [ns] at which a played frame is due (the first one: now)."""
        if self._pace_origin is None:
            self._pace_origin = (time.monotonic_ns(), stamp_ms)
        return self._pace_origin[0] + int((stamp_ms - self._pace_origin[1]) * 1e6)

    def _playback_done(self) -> bool:
        try:
            device = self._pipeline.get_active_profile().get_device().as_playback()
            return bool(device.current_status() == self._rs.playback_status.stopped)
        except RuntimeError:
            return True

    def close(self) -> None:
        if self._pipeline is not None:
            try:
                self._pipeline.stop()
            except RuntimeError:
                pass
            self._pipeline = None
