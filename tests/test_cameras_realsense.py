"""RealSense driver through the real pyrealsense2: no-device errors, and a recording
made with librealsense's software device played back through the same pipeline."""

from __future__ import annotations

import time

import numpy as np
import pytest

from abc_robot.devices.cameras.clock import DEVICE, WALL, ClockMapper
from abc_robot.devices.cameras.realsense_camera import RealSenseCamera, RealSenseConfig, import_pyrealsense2
from abc_robot.errors import DeviceError

W, H, N = 64, 48, 12
SERIAL = "912345678901"


def _rs():
    try:
        return import_pyrealsense2()
    except DeviceError as exc:  # the machine lacks libusb: the error must say how to fix it
        assert "libusb" in str(exc) or "pip install" in str(exc)
        pytest.fail(f"pyrealsense2 unusable here: {exc}")


def record_with_software_device(path: str) -> None:
    """N colour frames (flat grey 10·k, hardware-clock stamps 33.33 ms apart) into ``path``."""
    rs = _rs()
    dev = rs.software_device()
    sensor = dev.add_sensor("RGB Camera")
    intr = rs.intrinsics()
    intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = W, H, 50.0, 50.0, W / 2, H / 2
    intr.model = rs.distortion.none
    vs = rs.video_stream()
    vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp = rs.stream.color, 0, 0, W, H, 30, 3
    vs.fmt, vs.intrinsics = rs.format.rgb8, intr
    profile = sensor.add_video_stream(vs)
    dev.register_info(rs.camera_info.serial_number, SERIAL)
    dev.register_info(rs.camera_info.name, "Emulated RealSense")
    recorder = rs.recorder(path, dev)
    sensor.open(profile)
    sensor.start(rs.frame_queue(64))
    for k in range(N):
        f = rs.software_video_frame()
        f.pixels = np.full((H, W, 3), 10 * k, np.uint8)
        f.stride, f.bpp = W * 3, 3
        f.timestamp = 5000.0 + k * 1000 / 30  # [ms] on the camera's own counter
        f.domain = rs.timestamp_domain.hardware_clock
        f.frame_number = 100 + k
        f.profile = profile.as_video_stream_profile()
        sensor.on_video_frame(f)
        time.sleep(1 / 30)  # playback is paced by the recording's own timing
    time.sleep(0.1)
    sensor.stop()
    sensor.close()
    del recorder  # closes the file


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("rs") / "cam.db3")
    record_with_software_device(path)
    return path


def test_no_device_is_a_clear_error():
    rs = _rs()
    connected = len(rs.context().query_devices())
    cam = RealSenseCamera(RealSenseConfig(serial="123"), "top")
    # Where a camera is plugged in, serial 123 is still absent, and the error says so.
    want = r"camera top: no RealSense with serial 123; connected: " if connected else (
        r"camera top: no RealSense device connected \(wanted serial 123\)"
    )
    with pytest.raises(DeviceError, match=want):
        cam.open()
    assert not cam.is_open
    cam.close()  # safe after a failed open


def test_playback_through_the_pipeline(recording):
    cam = RealSenseCamera(RealSenseConfig(serial=SERIAL, width=W, height=H, fps=30, playback_file=recording), "top")
    before = time.monotonic_ns()
    got = []
    with cam:
        assert cam.serial == SERIAL
        while True:
            try:
                got.append(cam.read(timeout_s=1.0))
            except DeviceError:  # end of the recording (or a timeout after it)
                break
    after = time.monotonic_ns()
    # Real-time playback may drop a frame; most must come through, in order.
    assert len(got) >= N - 3
    idx = [r.frame_index for r in got]
    assert idx == sorted(idx) and set(idx) <= set(range(100, 100 + N))
    for r in got:
        assert r.image.shape == (H, W, 3)
        assert int(r.image[0, 0, 0]) == 10 * (r.frame_index - 100)
    # Hardware-clock stamps are now monotonic-clock times of this run, spaced as the
    # camera stamped them (the offset estimate only moves when a frame arrives faster).
    stamps = np.array([r.stamp_ns for r in got])
    assert before < stamps[0] and stamps[-1] <= after
    assert np.all(np.diff(stamps) > 0)
    span = (idx[-1] - idx[0]) * 1e9 / 30
    assert abs((stamps[-1] - stamps[0]) - span) < 15e6


def test_playback_of_another_camera_is_refused(recording):
    cam = RealSenseCamera(RealSenseConfig(serial="000000000000", width=W, height=H, playback_file=recording), "left")
    with pytest.raises(DeviceError, match=f"holds camera {SERIAL}"):
        cam.open()
    assert not cam.is_open


def test_clock_mapper_device_clock_takes_the_fastest_frame():
    m = ClockMapper()
    dev0 = 5_000_000_000
    arrival0 = 10**12
    latencies = [9e6, 4e6, 12e6, 4.5e6, 30e6]  # transport delays [ns]; the smallest bounds the offset
    out = [
        m.to_monotonic(dev0 + k * 33_333_333, DEVICE, arrival0 + k * 33_333_333 + int(lat))
        for k, lat in enumerate(latencies)
    ]
    assert out[-1] == arrival0 + 4 * 33_333_333 + 4_000_000
    assert all(o <= arrival0 + k * 33_333_333 + int(lat) for k, (o, lat) in enumerate(zip(out, latencies)))
    # The device clock restarts: the estimate starts again rather than mapping into the past.
    again = m.to_monotonic(1_000, DEVICE, arrival0 + 10**9)
    assert m.resets == 1 and again == arrival0 + 10**9


def test_clock_mapper_wall_clock():
    m = ClockMapper()
    now_mono = time.monotonic_ns()
    stamp = m.to_monotonic(time.time_ns() - 20_000_000, WALL, now_mono + 10**9)
    assert abs((now_mono - 20_000_000) - stamp) < 5_000_000
    with pytest.raises(ValueError, match="valid"):
        m.to_monotonic(0, "gps", 0)
