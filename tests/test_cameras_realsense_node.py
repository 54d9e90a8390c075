"""The camera node as a process with the real RealSense driver playing a recording made
through librealsense: every frame published in order with its content, stamps 33 ms
apart, the recorded intrinsics in the recorder's episode metadata, and a damaged file
failing the node with the reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from abc_robot.recording import iter_episodes
from abc_robot.recording.layout import RECORDING_DIR
from abc_robot.runtime.node import EXIT_STEP_ERROR
from abc_robot.testing.realsense_recording import RecordingSpec, pattern_frame, pattern_number, write_recording
from abc_robot.transport.bus import Publisher, ReliableSubscriber
from abc_robot.transport.messages import CameraFrame, Event

from .utils import REPO, wait_for
from .utils import GraphPublishers as _Followers

W, H, N = 96, 72, 20
SPEC = RecordingSpec(
    width=W,
    height=H,
    fps=30,
    fx=80.0,
    fy=81.5,
    ppx=47.0,
    ppy=36.5,
    serial="843112073310",
    first_frame=40,
    first_stamp_ms=123456.0,
)
INTRINSICS = {"width": W, "height": H, "fx": 80.0, "fy": 81.5, "ppx": 47.0, "ppy": 36.5, "model": "brown_conrady"}


def _spawn(kind: str, name: str, params: dict, *, duration: float | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "abc_robot.nodes", "--kind", kind, "--name", name]
    cmd += ["--params", json.dumps(params)]
    if duration is not None:
        cmd += ["--duration", str(duration)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _camera_params(path: str, **kw) -> dict:
    return {
        "bind": "ipc://${run}/camera_top",
        "camera": "top",
        "kind": "realsense",
        "params": {"file": path, "width": W, "height": H, "fps": 30, "loop": True, **kw},
    }


def _record(tmp_path: Path) -> str:
    path = str(tmp_path / "top.db3")
    write_recording(path, (pattern_frame(SPEC.first_frame + k, W, H) for k in range(N)), SPEC)
    return path


def _stop(*procs: subprocess.Popen) -> str:
    out = ""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            out += p.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out += p.communicate()[0]
    return out


def test_node_publishes_every_recorded_frame_in_order_33ms_apart(run_dir, tmp_path):
    sub = ReliableSubscriber(f"ipc://{run_dir}/camera_top", ["camera/top"])
    proc = _spawn("camera", "camera_top", _camera_params(_record(tmp_path)), duration=4.0)
    got: list[CameraFrame] = []
    try:
        while proc.poll() is None or len(got) == 0:
            m = sub.recv(0.2)
            if m is None:
                if proc.poll() is not None:
                    break
                continue
            assert isinstance(m[1], CameraFrame)
            got.append(m[1])
        out = _stop(proc)
    finally:
        gaps = sub.gaps.total_missing
        sub.close()
    assert proc.returncode == 0, out
    # A subscriber may join after the first frames; from then on not one is missing:
    # more than a full pass of the file, through the loop's wrap, without a gap.
    assert len(got) > N + 5, out
    idx = np.array([f.frame_index for f in got])
    assert np.all(np.diff(idx) == 1) and gaps == 0, (idx, gaps)
    first = SPEC.first_frame
    assert [pattern_number(f.image) for f in got] == [first + (i - first) % N for i in idx]
    np.testing.assert_allclose(np.diff([f.stamp_ns for f in got]), 1e9 / 30, atol=2)
    assert all({k: f.intrinsics[k] for k in INTRINSICS} == INTRINSICS for f in got if f.intrinsics)
    assert all(f.intrinsics for f in got)


def test_recorded_intrinsics_reach_the_episode_metadata(run_dir, tmp_path):
    followers = _Followers(run_dir)
    followers.start()
    console = Publisher(f"ipc://{run_dir}/console", "console")
    root = tmp_path / "episodes"
    camera = _spawn("camera", "camera_top", _camera_params(_record(tmp_path)))
    recorder = _spawn(
        "recorder",
        "recorder",
        {"root": str(root), "cameras": {"top": "ipc://${run}/camera_top"}, "stack": ["top"], "rig": "recorded"},
    )
    recording = root / RECORDING_DIR
    try:
        sub = ReliableSubscriber(f"ipc://{run_dir}/camera_top", ["camera/top"])
        assert sub.recv(30) is not None, "the camera does not stream"
        sub.close()
        # Sent again until it takes: the recorder's subscription may not be up yet.
        for _ in range(20):
            console.publish("console/event", Event(kind="episode_start", data={"task": "playback"}))
            if wait_for(lambda: recording.exists() and any(recording.iterdir()), 1.5):
                break
        time.sleep(1.5)  # about 45 rows
        console.publish("console/event", Event(kind="success", data={}))
        finished = wait_for(lambda: len(list(iter_episodes(root))) == 1, 30)
    finally:
        followers.stop.set()
        out = _stop(camera, recorder)
        console.close()
    assert finished, out
    (ep,) = list(iter_episodes(root))
    intr = ep.metadata["camera_intrinsics"]["top"]
    assert {k: intr[k] for k in INTRINSICS} == INTRINSICS, out
    assert np.allclose(intr["coeffs"], SPEC.coeffs)
    ep.close()


def test_a_truncated_recording_fails_the_node_with_the_reason(run_dir, tmp_path):
    good = Path(_record(tmp_path))
    bad = tmp_path / "cut.db3"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    proc = _spawn("camera", "camera_top", _camera_params(str(bad)), duration=10)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_STEP_ERROR, out
    assert f"cannot play recording {bad}" in out and "truncated or corrupt" in out
