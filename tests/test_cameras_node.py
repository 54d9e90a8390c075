"""The camera node as a real process: frames of a video-file camera over a real socket,
the delivered-fps report, and the errors a misconfigured or missing camera gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from abc_robot.nodes.camera_node import CameraNodeConfig
from abc_robot.runtime.config import from_dict
from abc_robot.runtime.node import EXIT_CONFIG, EXIT_STEP_ERROR
from abc_robot.transport.bus import ReliableSubscriber
from abc_robot.transport.messages import CameraFrame

from .test_cameras_opencv import H, W, write_video
from .utils import REPO


def _spawn(name: str, params: dict, duration: float) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "abc_robot.nodes", "--kind", "camera", "--name", name]
    return subprocess.Popen(
        [*cmd, "--params", json.dumps(params), "--duration", str(duration)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_node_publishes_file_frames_and_reports_a_short_rate(run_dir, tmp_path):
    clip = tmp_path / "clip.avi"
    write_video(clip, 60, 15.0)  # a 15 fps camera...
    params = {
        "bind": "ipc://${run}/cam_top",
        "camera": "top",
        "kind": "opencv",
        "params": {"source": str(clip), "width": 0, "height": 0, "fps": 30, "loop": True},  # ...asked for 30
        "fps_window_s": 0.5,
    }
    sub = ReliableSubscriber(f"ipc://{run_dir}/cam_top", ["camera/"])
    proc = _spawn("camera_top", params, duration=2.5)
    try:
        got: list[CameraFrame] = []
        while proc.poll() is None or len(got) == 0:
            m = sub.recv(0.2)
            if m is None:
                if proc.poll() is not None:
                    break
                continue
            topic, msg = m
            assert topic == "camera/top" and isinstance(msg, CameraFrame)
            got.append(msg)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close()
    assert proc.returncode == 0, out
    assert len(got) >= 10, out
    assert all(f.camera == "top" and f.image.shape == (H, W, 3) for f in got)
    idx = np.array([f.frame_index for f in got])
    stamps = np.array([f.stamp_ns for f in got])
    assert np.all(np.diff(idx) >= 1) and np.all(np.diff(stamps) > 0)
    # Stamps follow the camera (15 fps), not the node's loop.
    np.testing.assert_allclose(np.diff(stamps) / np.diff(idx), 1e9 / 15, rtol=1e-3)
    assert "camera top delivers" in out and "asked 30 fps" in out


def test_missing_device_fails_the_node_with_the_reason(run_dir, tmp_path):
    params = {"bind": "ipc://${run}/cam_left", "camera": "left", "params": {"source": str(tmp_path / "none.avi")}}
    proc = _spawn("camera_left", params, duration=5)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_STEP_ERROR
    assert "camera left" in out and "does not exist" in out


def test_bad_driver_params_are_a_config_error(run_dir):
    params = {"bind": "ipc://${run}/cam_right", "camera": "right", "kind": "realsense", "params": {"fps": -1}}
    proc = _spawn("camera_right", params, duration=5)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_CONFIG
    assert "fps" in out
    with pytest.raises(Exception, match="valid kinds"):
        from_dict(CameraNodeConfig, {"bind": "x", "kind": "webcam"}, file="launch/x.yaml", prefix="nodes.cam.params")
