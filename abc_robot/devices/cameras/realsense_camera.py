"""Intel RealSense camera through pyrealsense2: colour, optional aligned depth.

Chosen by serial number (stable across replugs, unlike USB paths). Frames carry the
camera's own timestamps: with ``global_time`` enabled (the default where the sensor
supports it) they are on the host clock already; otherwise they are on the camera's
hardware counter. Either way :class:`~abc_robot.devices.cameras.clock.ClockMapper`
converts them to the monotonic clock, and ``frame_index`` is the camera's frame
number (gaps are frames it dropped).

``playback_file`` replays a recording (``.bag`` / ``.db3``) through the same pipeline
instead of a live device, paced in real time; the tests use one made with
librealsense's software device.

pyrealsense2 needs the system's libusb-1.0 (Debian/Ubuntu: ``apt-get install
libusb-1.0-0``); without it, or with no camera plugged in, :meth:`open` raises
:class:`~abc_robot.errors.DeviceError` saying so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from abc_robot.devices.cameras.base import Camera, CameraReading
from abc_robot.devices.cameras.clock import DEVICE, WALL, ClockMapper
from abc_robot.errors import DeviceError, DeviceTimeout

__all__ = ["RealSenseCamera", "RealSenseConfig", "import_pyrealsense2"]


@dataclass(frozen=True)
class RealSenseConfig:
    """Attributes:
    serial: the camera's serial number (printed on it; ``rs-enumerate-devices``);
        empty takes the only camera connected.
    width, height: colour (and depth) frame size [px].
    fps: frame rate [Hz] (6, 15, 30, 60 or 90 depending on the mode).
    depth: also stream depth, aligned to the colour image (uint16 [mm]).
    global_time: put frame stamps on the host clock inside librealsense where
        the sensor supports it.
    playback_file: replay this recording instead of opening a live camera.
    """

    serial: str = ""
    width: int = 640  # [px]
    height: int = 480  # [px]
    fps: float = 30.0  # [Hz]
    depth: bool = False
    global_time: bool = True
    playback_file: str = ""

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"width and height must be > 0 px, got {self.width}×{self.height}")
        if not 0 < self.fps <= 300:
            raise ValueError(f"fps must be in (0, 300] Hz, got {self.fps}")


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


class RealSenseCamera(Camera):
    """A RealSense camera (or a recording of one).

    Args:
        config: the camera's settings.
        name: camera name (for messages).
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
        self.depth: np.ndarray | None = None  # aligned depth of the last read [mm], if streamed

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
        if cfg.playback_file:
            rs_cfg.enable_device_from_file(cfg.playback_file, repeat_playback=False)
        else:
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
            rs_cfg.enable_device(cfg.serial or serials[0])
        w, h, fps = cfg.width, cfg.height, int(cfg.fps)
        rs_cfg.enable_stream(rs.stream.color, w, h, rs.format.rgb8, fps)
        if cfg.depth:
            rs_cfg.enable_stream(rs.stream.depth, w, h, rs.format.z16, fps)
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(rs_cfg)
        except RuntimeError as exc:
            raise DeviceError(
                f"camera {self.name}: cannot start {w}×{h} @ {fps} fps"
                f"{' with depth' if cfg.depth else ''} ({exc}); check the mode with rs-enumerate-devices"
            ) from exc
        try:
            device = profile.get_device()
            self.serial = device.get_info(rs.camera_info.serial_number)
            if cfg.serial and self.serial != cfg.serial:
                raise DeviceError(
                    f"camera {self.name}: {cfg.playback_file} holds camera {self.serial}, not {cfg.serial}"
                )
            if cfg.playback_file:
                device.as_playback().set_real_time(True)  # paced like the live camera
            elif cfg.global_time:
                for sensor in device.query_sensors():
                    if sensor.supports(rs.option.global_time_enabled):
                        sensor.set_option(rs.option.global_time_enabled, 1.0)
        except Exception:
            pipeline.stop()
            raise
        self._align = rs.align(rs.stream.color) if cfg.depth else None
        self._pipeline = pipeline

    def read(self, timeout_s: float = 1.0) -> CameraReading:
        if self._pipeline is None:
            raise DeviceError(f"camera {self.name}: read before open")
        rs = self._rs
        try:
            ok, frames = self._pipeline.try_wait_for_frames(max(1, int(timeout_s * 1000)))
        except RuntimeError as exc:  # device lost
            raise DeviceError(f"camera {self.name}: {exc}") from exc
        arrival = time.monotonic_ns()
        if not ok:
            if self.config.playback_file and self._playback_done():
                raise DeviceError(f"camera {self.name}: end of recording {self.config.playback_file}")
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
        domain = color.get_frame_timestamp_domain()
        clock = DEVICE if domain == rs.timestamp_domain.hardware_clock else WALL
        stamp = self.clock.to_monotonic(int(color.get_timestamp() * 1e6), clock, arrival)
        return CameraReading(image, stamp, int(color.get_frame_number()))

    def _playback_done(self) -> bool:
        try:
            device = self._pipeline.get_active_profile().get_device().as_playback()
            return device.current_status() == self._rs.playback_status.stopped
        except RuntimeError:
            return True

    def close(self) -> None:
        if self._pipeline is not None:
            try:
                self._pipeline.stop()
            except RuntimeError:
                pass
            self._pipeline = None
