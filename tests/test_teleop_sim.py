"""`abc-teleop --sim` end to end: MuJoCo world, scripted leader, followers, cameras."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .utils import REPO


def test_abc_teleop_sim_headless_tracks_the_leader_and_summarizes(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), MUJOCO_GL="egl", ABC_RUN_DIR=str(tmp_path / "run"))
    proc = subprocess.run(
        [sys.executable, "-m", "abc_robot.cli.teleop", "--sim", "--headless", "--duration", "20", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(summary["arms"]) == {"left", "right"}
    for arm, a in summary["arms"].items():
        assert a["latency_samples"] > 500, arm
        # The latency figure itself is abc-bench teleop's (a loaded machine stretches it):
        # here it must exist and be causal (a command never precedes its leader sample).
        assert 0.0 < a["latency_ms_p50"] <= a["latency_ms_p99"], arm
        assert a["tracking_mm_p50"] < 10.0, arm
        assert a["watchdog_trips"] == 0, arm
    nodes = summary["nodes"]
    for cam in ("camera_top", "camera_left", "camera_right"):
        assert nodes[cam]["status"]["frames"] > 30, cam
    assert nodes["sim"]["status"]["task"] == "lift_cube"
    assert all(nodes["sim"]["status"]["commands"][arm] > 500 for arm in ("left", "right"))
    # Every node reports its CPU share (% of one core, all its threads): a running
    # node uses some, and none can use more than the machine has.
    cores = os.cpu_count() or 1
    for name, n in nodes.items():
        assert 0.0 < n["cpu_pct"] <= 100.0 * cores + 5.0, (name, n["cpu_pct"])
        assert n["step_us_p50"] > 0.0, name
