"""OpenCV camera: a UVC device (by index or path) or a video file standing in for one.

Device: V4L2 with the configured FOURCC (MJPG by default: a USB 2 link carries
640×480 at 30 fps only compressed), resolution and rate; a resolution the device
does not accept is an error naming what it gave instead. OpenCV exposes no exposure
time that is reliable across drivers, so a frame is stamped when ``read`` returns it
minus ``latency_ms`` (set it from a measurement of the camera; 0 by default).

Video file: frames are delivered at the file's own rate on the monotonic clock, as a
live camera would: ``read`` waits for the next frame's due time, stamps it with that
time, and a reader that falls behind finds frames skipped (``frame_index`` gaps),
exactly like a camera whose consumer is too slow. ``loop`` restarts the file at its
end; otherwise the end of the file is reported as the device going away.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from abc_robot.devices.cameras.base import Camera, CameraReading
from abc_robot.errors import DeviceError, DeviceTimeout

__all__ = ["OpenCVCamera", "OpenCVCameraConfig"]


@dataclass(frozen=True)
class OpenCVCameraConfig:
    """Attributes:
    source: device index (``0`` or ``"0"``), device path (``/dev/video2``,
        ``/dev/v4l/by-id/...``, stable across replugs) or a video file.
    width, height: frame size [px]; 0 keeps the device's (or file's) own. A file's
        frames are resized to it.
    fps: frame rate asked of the device [Hz]. A file always plays at its own rate (a
        file slower than asked stands in for a camera that falls short); 0 asks for it.
    fourcc: pixel format asked of the device (4 characters, e.g. ``MJPG``, ``YUYV``).
    latency_ms: exposure-to-return delay subtracted from device stamps [ms].
    loop: a file source restarts at its end instead of ending.
    """

    source: int | str = 0
    width: int = 640  # [px]
    height: int = 480  # [px]
    fps: float = 30.0  # [Hz]
    fourcc: str = "MJPG"
    latency_ms: float = 0.0  # [ms]
    loop: bool = False

    def __post_init__(self) -> None:
        if self.width < 0 or self.height < 0:
            raise ValueError(f"width and height must be >= 0 px, got {self.width}×{self.height}")
        if not 0 <= self.fps <= 1000:
            raise ValueError(f"fps must be in [0, 1000] Hz, got {self.fps}")
        if len(self.fourcc) != 4:
            raise ValueError(f"fourcc must be 4 characters (e.g. MJPG), got {self.fourcc!r}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")


def _device_index(source: int | str) -> int | None:
    if isinstance(source, int):
        return source
    return int(source) if source.strip().isdigit() else None


class OpenCVCamera(Camera):
    """A camera read through ``cv2.VideoCapture``.

    Args:
        config: the camera's settings.
        name: camera name (for messages).
    """

    Config = OpenCVCameraConfig

    def __init__(self, config: OpenCVCameraConfig, name: str = "camera") -> None:
        self.config = config
        self.name = name
        self.fps = config.fps
        self._cap: Any = None
        self._is_file = False
        self._file_fps = 0.0
        self._start_ns = 0
        self._next = 0  # file: index of the next frame to deliver (counts across loops)
        self._pos = 0  # file: position of the decoder within the file
        self._file_frames = 0
        self._count = 0  # device: frames read
        self.actual: dict[str, Any] = {}

    @classmethod
    def from_config(cls, config: OpenCVCameraConfig, name: str) -> OpenCVCamera:
        return cls(config, name)

    @property
    def is_open(self) -> bool:
        return self._cap is not None

    # ---- open --------------------------------------------------------------------
    def open(self) -> None:
        import cv2

        cfg = self.config
        index = _device_index(cfg.source)
        src = str(cfg.source)
        self._is_file = index is None and os.path.isfile(src)
        if self._is_file:
            cap = cv2.VideoCapture(src)
        elif index is not None:
            cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
        else:
            if not os.path.exists(src):
                raise DeviceError(f"camera {self.name}: {src} does not exist (a device path or a video file)")
            cap = cv2.VideoCapture(src, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise DeviceError(
                f"camera {self.name}: cannot open {src!r}"
                + (
                    ""
                    if self._is_file
                    else " (is it plugged in, and not used by another process? try `v4l2-ctl --list-devices`)"
                )
            )
        try:
            if self._is_file:
                self._open_file(cap)
            else:
                self._open_device(cap)
        except Exception:
            cap.release()
            raise
        self._cap = cap

    def _open_file(self, cap: Any) -> None:
        import cv2

        self._file_fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        self._file_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if self.config.fps <= 0:
            self.fps = self._file_fps
        self.actual = {
            "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "fps": self._file_fps,
            "frames": self._file_frames,
        }
        self._start_ns = time.monotonic_ns()
        self._next = 0
        self._pos = 0

    def _open_device(self, cap: Any) -> None:
        import cv2

        cfg = self.config
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*cfg.fourcc))
        if cfg.width and cfg.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        if cfg.fps:
            cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale queue
        cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, 2000)
        code = int(cap.get(cv2.CAP_PROP_FOURCC))
        self.actual = {
            "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "fps": float(cap.get(cv2.CAP_PROP_FPS)),
            "fourcc": "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)),
        }
        if cfg.width and cfg.height and (self.actual["width"], self.actual["height"]) != (cfg.width, cfg.height):
            raise DeviceError(
                f"camera {self.name}: asked {cfg.width}×{cfg.height} @ {cfg.fps:g} fps {cfg.fourcc}, the device gives "
                f"{self.actual['width']}×{self.actual['height']} @ {self.actual['fps']:g} fps {self.actual['fourcc']}; "
                "put a supported mode in the config (`v4l2-ctl --list-formats-ext`)"
            )
        self._count = 0

    # ---- read --------------------------------------------------------------------
    def read(self, timeout_s: float = 1.0) -> CameraReading:
        if self._cap is None:
            raise DeviceError(f"camera {self.name}: read before open")
        return self._read_file(timeout_s) if self._is_file else self._read_device()

    def _read_device(self) -> CameraReading:
        import cv2

        ok, bgr = self._cap.read()
        now = time.monotonic_ns()
        if not ok or bgr is None:
            raise DeviceError(f"camera {self.name}: no frame from {self.config.source!r} (unplugged?)")
        img = self._sized(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        self._count += 1
        return CameraReading(img, now - int(self.config.latency_ms * 1e6), self._count - 1)

    def _read_file(self, timeout_s: float) -> CameraReading:
        import cv2

        period_ns = 1e9 / self._file_fps
        now = time.monotonic_ns()
        # A reader that fell behind gets the frame due now; the ones in between are dropped.
        due = max(self._next, int((now - self._start_ns) // period_ns))
        due_ns = self._start_ns + int(due * period_ns)
        if due_ns - now > timeout_s * 1e9:
            time.sleep(timeout_s)
            raise DeviceTimeout(f"camera {self.name}: no frame within {timeout_s:.3f} s")
        if due_ns > now:
            time.sleep((due_ns - now) / 1e9)
        bgr = self._frame_at(due)
        self._next = due + 1
        img = self._sized(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        return CameraReading(img, due_ns, due)

    def _frame_at(self, index: int) -> np.ndarray:
        """The file's frame for delivery ``index``, looping if configured."""
        import cv2

        n = self._file_frames
        if n > 0 and index >= n and not self.config.loop:
            raise DeviceError(f"camera {self.name}: end of video file {self.config.source} ({n} frames)")
        pos = index % n if n > 0 else index
        if pos < self._pos:  # looped: back to the start
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._pos = 0
        while self._pos < pos:  # skip dropped frames without converting them
            if not self._cap.grab():
                break
            self._pos += 1
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise DeviceError(f"camera {self.name}: end of video file {self.config.source} at frame {pos}")
        self._pos += 1
        return bgr

    def _sized(self, img: np.ndarray) -> np.ndarray:
        import cv2

        w, h = self.config.width, self.config.height
        if w and h and img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        return img

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
