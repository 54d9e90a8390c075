"""``abc-rollout --policy FILE.pt --sim``: a bare released ABC-DiT file, one short episode, real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from .test_policy_abc_dit import _released_pt

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_a_bare_released_pt_rolls_out_in_sim(tmp_path):
    pt = _released_pt(tmp_path)
    emb = tmp_path / "task.npy"
    np.save(emb, np.random.default_rng(1).normal(size=16).astype(np.float32))
    env = {**os.environ, "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "abc_robot.cli.rollout", "--policy", str(pt), "--sim", "--task-embedding", str(emb),
           "--episodes", "1", "--time-limit", "15", "--headless", "--json", "--set", "policy.guidance=hard"]  # fmt: skip
    # The cameras run at nice 10 in the launch file; on a machine shared with other work that
    # can starve them for the whole episode (the director does not wait for cameras).
    graph = yaml.safe_load((REPO / "launch" / "rollout_sim.yaml").read_text())
    nodes = graph["nodes"] if isinstance(graph, dict) else graph
    for node in nodes:
        if node.get("kind") == "sim_camera":
            node["nice"] = 0
    graph["startup_timeout_s"] = 400  # the worker imports torch and warms up three modes before its first heartbeat
    launch = tmp_path / "rollout_sim.yaml"
    launch.write_text(yaml.safe_dump(graph))
    cmd += ["--launch", str(launch)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(summary["episodes"]) == 1
    worker = summary["policy_worker"]
    assert worker["ready"] and worker["chunks"] >= 1, json.dumps(worker)
    assert worker["guidance"] == "hard"  # ABC's prefix conditioning, served by the released architecture
    assert (tmp_path / "tiny_released.abc_robot" / "config.json").exists()


def test_a_released_pt_without_a_task_is_refused_before_anything_starts(tmp_path):
    pt = _released_pt(tmp_path)
    cmd = [sys.executable, "-m", "abc_robot.cli.rollout", "--policy", str(pt), "--sim", "--headless"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "tiny_released.pt: a released checkpoint needs the task: give --task NAME or --prompt TEXT" in proc.stderr
