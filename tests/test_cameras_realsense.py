"""RealSense driver through the real pyrealsense2: no-device errors, and recordings made
with librealsense's software device played back through the same pipeline (every frame,
its content, stamps, intrinsics; real time, as fast as read, looping; damaged files)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from abc_robot.devices.cameras.clock import DEVICE, WALL, ClockMapper
from abc_robot.devices.cameras.realsense_camera import RealSenseCamera, RealSenseConfig, import_pyrealsense2
from abc_robot.errors import DeviceError
from abc_robot.testing.realsense_recording import RecordingSpec, pattern_frame, pattern_number, write_recording

W, H, N = 64, 48, 12
SERIAL = "912345678901"
SPEC = RecordingSpec(
    width=W,
    height=H,
    fps=30,
    fx=50.0,
    fy=52.0,
    ppx=31.5,
    ppy=23.0,
    coeffs=(0.1, -0.02, 0.001, 0.0, 0.0),
    serial=SERIAL,
    first_frame=100,
    first_stamp_ms=5000.0,
)
FRAME_NS = 1e9 / 30


def _rs():
    try:
        return import_pyrealsense2()
    except DeviceError as exc:  # the machine lacks libusb: the error must say how to fix it
        assert "libusb" in str(exc) or "pip install" in str(exc)
        pytest.fail(f"pyrealsense2 unusable here: {exc}")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    _rs()
    path = str(tmp_path_factory.mktemp("rs") / "cam.db3")
    assert write_recording(path, (pattern_frame(100 + k, W, H) for k in range(N)), SPEC) == N
    return path


def _cam(path: str, **kw) -> RealSenseCamera:
    return RealSenseCamera(RealSenseConfig(serial=SERIAL, width=W, height=H, fps=30, file=path, **kw), "top")


def _read_all(cam: RealSenseCamera, limit: int = 1000) -> list:
    got = []
    with cam:
        while len(got) < limit:
            try:
                got.append(cam.read(timeout_s=1.0))
            except DeviceError as exc:
                assert "end of recording" in str(exc)
                break
    return got


def test_no_device_is_a_clear_error():
    rs = _rs()
    connected = len(rs.context().query_devices())
    cam = RealSenseCamera(RealSenseConfig(serial="123"), "top")
    # Where a camera is plugged in, serial 123 is still absent, and the error says so.
    want = (
        r"camera top: no RealSense with serial 123; connected: "
        if connected
        else (r"camera top: no RealSense device connected \(wanted serial 123\)")
    )
    with pytest.raises(DeviceError, match=want):
        cam.open()
    assert not cam.is_open
    cam.close()  # safe after a failed open


def test_playback_hands_out_every_frame_with_its_content_stamps_and_intrinsics(recording):
    cam = _cam(recording, realtime=False)
    got = _read_all(cam)
    assert cam.serial == SERIAL and not cam.is_open
    assert [r.frame_index for r in got] == list(range(100, 100 + N))
    assert [pattern_number(r.image) for r in got] == [r.frame_index for r in got]
    assert all(r.image.shape == (H, W, 3) and r.image.dtype == np.uint8 for r in got)
    # The camera's hardware-clock stamps, 33.3 ms apart, on this machine's monotonic clock.
    np.testing.assert_allclose(np.diff([r.stamp_ns for r in got]), FRAME_NS, atol=2)
    assert cam.intrinsics == {
        "width": W,
        "height": H,
        "fx": 50.0,
        "fy": 52.0,
        "ppx": 31.5,
        "ppy": 23.0,
        "model": "brown_conrady",
        "coeffs": pytest.approx([0.1, -0.02, 0.001, 0.0, 0.0]),
    }


def test_realtime_playback_is_paced_by_the_frames_own_stamps(recording):
    t0 = time.monotonic_ns()
    got = _read_all(_cam(recording, realtime=True))
    t1 = time.monotonic_ns()
    assert [r.frame_index for r in got] == list(range(100, 100 + N))
    stamps = np.array([r.stamp_ns for r in got])
    np.testing.assert_allclose(np.diff(stamps), FRAME_NS, atol=2)
    # Each frame was handed out no earlier than its stamp (the pacing), all within this run.
    assert t0 <= stamps[0] and stamps[-1] <= t1 and t1 - t0 >= (N - 1) * FRAME_NS


def test_looping_playback_carries_frame_numbers_and_stamps_over_the_wrap(recording):
    cam = _cam(recording, realtime=False, loop=True)
    got = _read_all(cam, limit=int(2.5 * N))
    assert len(got) == int(2.5 * N) and cam.loops == 2
    idx = [r.frame_index for r in got]
    assert idx == list(range(100, 100 + len(got)))  # no gap: a wrap is not a drop
    assert [pattern_number(r.image) for r in got] == [100 + (i - 100) % N for i in idx]
    np.testing.assert_allclose(np.diff([r.stamp_ns for r in got]), FRAME_NS, atol=2)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing"])
def test_a_damaged_recording_is_a_clear_error_not_a_hang(recording, tmp_path, damage):
    path = tmp_path / "bad.db3"
    data = Path(recording).read_bytes()
    content = {"truncated": data[: len(data) // 2], "garbage": bytes(range(256)) * 40, "empty": b""}
    if damage in content:
        path.write_bytes(content[damage])
    cam = _cam(str(path))
    with pytest.raises(DeviceError, match=f"camera top: .*recording {path}"):
        cam.open()
    assert not cam.is_open
    with pytest.raises(ValueError, match="RealSense recording"):
        RealSenseConfig(file=str(tmp_path / "clip.mp4"))


def test_playback_of_another_camera_is_refused(recording):
    cam = RealSenseCamera(RealSenseConfig(serial="000000000000", width=W, height=H, file=recording), "left")
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
