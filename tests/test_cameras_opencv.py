"""OpenCV camera driver on a video file written by the test, and the delivered-fps monitor."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from abc_robot.devices.cameras import FpsMonitor, make_camera
from abc_robot.devices.cameras.opencv_camera import OpenCVCamera, OpenCVCameraConfig
from abc_robot.errors import ConfigError, DeviceError

W, H = 160, 120


def _level(k: int) -> int:
    return (k * 23) % 200 + 20  # distinct flat grey per frame, far from MJPG's rounding


def write_video(path, n: int, fps: float) -> None:
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    assert vw.isOpened()
    for k in range(n):
        img = np.full((H, W, 3), _level(k), np.uint8)
        img[:, : W // 4] = (0, 0, 255)  # a red band on the left (BGR): checks the colour order
        vw.write(img)
    vw.release()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("cam") / "clip.avi"
    write_video(path, 12, 30.0)
    return path


def test_file_frames_in_order_with_paced_stamps(video):
    cam = OpenCVCamera(OpenCVCameraConfig(source=str(video), width=0, height=0, fps=0), "top")
    with cam:
        assert cam.fps == pytest.approx(30.0)
        readings = [cam.read() for _ in range(12)]
        with pytest.raises(DeviceError, match="end of video file"):
            cam.read()
    assert not cam.is_open
    for k, (img, _, idx) in enumerate(readings):
        assert idx == k
        assert img.shape == (H, W, 3) and img.dtype == np.uint8
        assert abs(int(img[H // 2, W - 10, 1]) - _level(k)) <= 6
        assert img[H // 2, 5, 0] > 200 and img[H // 2, 5, 2] < 60  # RGB: red is channel 0
    stamps = np.array([r.stamp_ns for r in readings])
    # Stamps are the frames' due times on the monotonic clock: exactly 1/fps apart.
    np.testing.assert_allclose(np.diff(stamps), 1e9 / 30, atol=1)
    assert stamps[-1] <= time.monotonic_ns()


def test_slow_reader_sees_dropped_frames_and_loop(video):
    cam = OpenCVCamera(OpenCVCameraConfig(source=str(video), width=W // 2, height=H // 2, fps=0, loop=True), "left")
    with cam:
        first = cam.read()
        time.sleep(0.2)  # six frame periods
        later = cam.read()
        assert later.frame_index >= first.frame_index + 5  # skipped, like a camera whose reader lags
        assert later.image.shape == (H // 2, W // 2, 3)  # resized to the configured size
        for _ in range(14):  # past the 12 frames of the file: it loops
            r = cam.read()
        assert r.frame_index >= 12
        assert abs(int(r.image[H // 4, W // 2 - 5, 1]) - _level(r.frame_index % 12)) <= 6


def test_errors_name_the_source(tmp_path):
    with pytest.raises(DeviceError, match="does not exist"):
        OpenCVCamera(OpenCVCameraConfig(source=str(tmp_path / "nope.avi")), "top").open()
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video")
    with pytest.raises(DeviceError, match="cannot open"):
        OpenCVCamera(OpenCVCameraConfig(source=str(bad)), "top").open()
    cam = OpenCVCamera(OpenCVCameraConfig(source=str(bad)), "top")
    with pytest.raises(DeviceError, match="before open"):
        cam.read()
    cam.close()  # idempotent, after a failed open


def test_registry_builds_from_params_and_names_bad_fields(video):
    cam = make_camera("opencv", {"source": str(video), "fps": 0, "width": 0, "height": 0}, "top")
    assert isinstance(cam, OpenCVCamera) and cam.name == "top"
    with pytest.raises(ConfigError, match="fourcc"):
        make_camera("opencv", {"fourcc": "MJPEG"}, "top")
    with pytest.raises(ConfigError, match="valid kinds"):
        make_camera("gopro", {}, "top")


def test_fps_monitor_reports_a_short_camera_once():
    mon = FpsMonitor(30.0, window_s=1.0)
    t = 0
    msgs = []
    for k in range(60):  # 15 fps for 4 s, every other frame index missing
        t = int(k * 1e9 / 15)
        mon.add(t, 2 * k)
        msg = mon.check(t)
        if msg:
            msgs.append(msg)
    assert len(msgs) == 1 and "asked 30" in msgs[0]
    assert mon.short and mon.rate_hz(t) == pytest.approx(15, abs=1.5)
    assert mon.dropped == 59
    for k in range(60, 150):  # back to 30 fps
        t = int(4e9 + (k - 60) * 1e9 / 30)
        mon.add(t)
        msg = mon.check(t)
        if msg:
            msgs.append(msg)
    assert len(msgs) == 2 and "back to" in msgs[1] and not mon.short
    # A camera that stops delivering reads as 0 fps, not as its last rate.
    assert mon.rate_hz(t + int(2e9)) == 0.0
    assert mon.check(t + int(2e9)) is not None and mon.short


def test_fps_monitor_stays_quiet_at_the_asked_rate():
    mon = FpsMonitor(30.0, window_s=1.0)
    for k in range(120):
        t = int(k * 1e9 / 30)
        mon.add(t, k)
        assert mon.check(t) is None
    assert mon.dropped == 0 and not mon.short
