"""RealSense recordings made from frames, for playing through the real librealsense.

librealsense's ``software_device`` stands in for a camera: it declares an rgb8 colour
stream with the given intrinsics, and ``rs.recorder`` writes what is injected into a
file exactly as a recording of a real camera (``.db3`` with pyrealsense2 2.59; that
version refuses ``.bag``). The file then plays through an ordinary ``rs.pipeline``
(:class:`~abc_robot.devices.cameras.realsense_camera.RealSenseCamera` with ``file:``),
so the driver's pipeline, stamps, frame numbers and intrinsics are exercised by the
vendor library itself.

Frames come from anything: :func:`pattern_frame` draws a synthetic image whose content
encodes its frame number (tests read the number back from the pixels), or pass
rendered sim views for a dry run with realistic images.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abc_robot.devices.cameras.realsense_camera import import_pyrealsense2

__all__ = ["RecordingSpec", "pattern_frame", "pattern_number", "write_recording"]


@dataclass(frozen=True)
class RecordingSpec:
    """What the recorded camera claims to be.

    Attributes:
        width, height: frame size [px].
        fps: stream rate [Hz]; frame stamps are ``1000 / fps`` ms apart.
        fx, fy: focal lengths [px]; ppx, ppy: principal point [px] (None: the centre).
        coeffs: Brown–Conrady distortion (k1, k2, p1, p2, k3).
        serial: the serial number the recording carries.
        first_frame: frame number of the first frame.
        first_stamp_ms: the first frame's stamp on the camera's hardware clock [ms].
    """

    width: int = 64  # [px]
    height: int = 48  # [px]
    fps: int = 30  # [Hz]
    fx: float = 60.0  # [px]
    fy: float = 61.0  # [px]
    ppx: float | None = None  # [px]
    ppy: float | None = None  # [px]
    coeffs: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    serial: str = "000000000001"
    first_frame: int = 1
    first_stamp_ms: float = 1000.0  # [ms]


def pattern_frame(number: int, width: int, height: int) -> np.ndarray:
    """A synthetic RGB frame that encodes ``number``: red = n mod 256, green = n // 256,
    blue a horizontal ramp (so a transposed or flipped image shows)."""
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = number % 256
    img[..., 1] = (number // 256) % 256
    img[..., 2] = (np.arange(width) * 255 // max(1, width - 1)).astype(np.uint8)[None, :]
    return img


def pattern_number(image: np.ndarray) -> int:
    """The frame number :func:`pattern_frame` drew into ``image`` (checks the ramp too)."""
    h, w = image.shape[:2]
    ramp = (np.arange(w) * 255 // max(1, w - 1)).astype(np.uint8)
    if not np.array_equal(image[h // 2, :, 2], ramp):
        raise ValueError("not a pattern frame (its blue ramp is wrong)")
    return int(image[h // 2, w // 2, 0]) + 256 * int(image[h // 2, w // 2, 1])


def write_recording(path: str | Path, frames: Iterable[np.ndarray], spec: RecordingSpec | None = None) -> int:
    """Record ``frames`` (H×W×3 uint8 RGB each) as a RealSense colour stream in ``path``.

    Frame k gets number ``first_frame + k`` and hardware-clock stamp
    ``first_stamp_ms + k * 1000 / fps``. Returns how many frames were written.

    Raises:
        ValueError: a frame of the wrong shape or dtype, or ``path`` not ending in ``.db3``.
    """
    spec = spec or RecordingSpec()
    path = str(path)
    if not path.endswith(".db3"):
        raise ValueError(f"{path}: this librealsense writes .db3 recordings")
    rs = import_pyrealsense2()
    w, h = spec.width, spec.height
    dev = rs.software_device()
    sensor = dev.add_sensor("RGB Camera")
    intr = rs.intrinsics()
    intr.width, intr.height, intr.fx, intr.fy = w, h, spec.fx, spec.fy
    intr.ppx = w / 2 if spec.ppx is None else spec.ppx
    intr.ppy = h / 2 if spec.ppy is None else spec.ppy
    intr.model = rs.distortion.brown_conrady
    intr.coeffs = list(spec.coeffs)
    vs = rs.video_stream()
    vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp = rs.stream.color, 0, 0, w, h, spec.fps, 3
    vs.fmt, vs.intrinsics = rs.format.rgb8, intr
    profile = sensor.add_video_stream(vs).as_video_stream_profile()
    dev.register_info(rs.camera_info.serial_number, spec.serial)
    dev.register_info(rs.camera_info.name, "Recorded RealSense")
    recorder = rs.recorder(path, dev)
    sensor.open(profile)
    sensor.start(rs.frame_queue(16))
    n = 0
    try:
        for n, image in enumerate(frames, start=1):
            if image.shape != (h, w, 3) or image.dtype != np.uint8:
                raise ValueError(f"frame {n - 1}: expected {h}×{w}×3 uint8, got {image.shape} {image.dtype}")
            f = rs.software_video_frame()
            f.pixels = np.ascontiguousarray(image)
            f.stride, f.bpp = w * 3, 3
            f.timestamp = spec.first_stamp_ms + (n - 1) * 1000.0 / spec.fps
            f.domain = rs.timestamp_domain.hardware_clock
            f.frame_number = spec.first_frame + n - 1
            f.profile = profile
            sensor.on_video_frame(f)
        time.sleep(0.05)  # the recorder writes from its own thread
    finally:
        sensor.stop()
        sensor.close()
        del recorder  # flushes and closes the file
    return n
