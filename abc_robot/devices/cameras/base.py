"""The camera role: ``open`` / ``read`` / ``close``.

Every camera driver (OpenCV/UVC, RealSense, a video file standing in for one)
implements this contract; the camera node publishes what ``read`` returns and never
knows which driver it is.
"""

from __future__ import annotations

import abc
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Camera", "CameraReading"]


class CameraReading(NamedTuple):
    """One frame as a driver delivers it.

    Attributes:
        image: H×W×3 uint8 RGB.
        stamp_ns: ``time.monotonic_ns()`` clock time of the exposure (the driver's best
            estimate: device timestamps converted to the monotonic clock where the
            device has them, arrival time otherwise).
        frame_index: the device's own frame counter; a gap means frames were dropped.
    """

    image: np.ndarray
    stamp_ns: int
    frame_index: int


class Camera(abc.ABC):
    """Contract of a camera driver.

    Lifecycle: ``open()`` → any number of ``read()`` → ``close()``. ``close()`` is
    idempotent and safe after a failed ``open()``. Usable as a context manager.

    Attributes:
        name: camera name (``top``, ``left``, ``right``...), used in messages.
        fps: the frame rate asked for [Hz] (what a delivered-fps monitor compares to).
        intrinsics: the image's intrinsics (width, height, fx, fy, ppx, ppy [px],
            distortion model and coeffs) where the device reports them, else None.
    """

    name: str = "camera"
    fps: float = 30.0
    intrinsics: dict[str, Any] | None = None

    @abc.abstractmethod
    def open(self) -> None:
        """Open the device and start streaming.

        Raises:
            DeviceError: the device is absent, busy, or refuses the configuration; the
                message says which device and what to check.
        """

    @abc.abstractmethod
    def read(self, timeout_s: float = 1.0) -> CameraReading:
        """The next frame, waiting up to ``timeout_s``.

        Raises:
            DeviceTimeout: no frame within ``timeout_s``.
            DeviceError: the device is gone (unplugged, end of a file source).
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Stop streaming and release the device."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """True between a successful ``open()`` and ``close()``."""

    def __enter__(self) -> Camera:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
