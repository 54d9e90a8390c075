"""Camera drivers behind one small role: ``open`` / ``read`` / ``close``.

:class:`~abc_robot.devices.cameras.opencv_camera.OpenCVCamera` (UVC devices, video
files), :class:`~abc_robot.devices.cameras.realsense_camera.RealSenseCamera`
(pyrealsense2); MuJoCo cameras are rendered by their own node
(:mod:`abc_robot.nodes.sim_camera`). Drivers import OpenCV / pyrealsense2 only when
opened.
"""

from abc_robot.devices.cameras.base import Camera, CameraReading
from abc_robot.devices.cameras.clock import ClockMapper
from abc_robot.devices.cameras.fps_monitor import FpsMonitor
from abc_robot.devices.cameras.registry import CAMERA_KINDS, make_camera

__all__ = ["Camera", "CameraReading", "ClockMapper", "FpsMonitor", "CAMERA_KINDS", "make_camera"]
