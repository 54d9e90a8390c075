"""abc-replay and abc-norm-stats on episodes written by the test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from abc_robot.cli import norm_stats, replay
from abc_robot.recording import EpisodeWriter, VideoReader
from abc_robot.sim.world import HOME_Q

N = 30


@pytest.fixture(scope="module")
def episode(tmp_path_factory):
    """The arms holding the home pose for a second, as recorded from the sim."""
    root = tmp_path_factory.mktemp("eps")
    w = EpisodeWriter(root, "lift_cube", metadata={"episode_start": {"task": "lift_cube", "seed": 1, "source": "demo"}})
    q = np.r_[HOME_Q, HOME_Q]
    rng = np.random.default_rng(0)
    for _ in range(N):
        views = {c: rng.integers(0, 255, (224, 224, 3), np.uint8) for c in ("top", "left", "right")}
        w.append(q, q, views, {"control_source": "operator"})
    return root, w.finish("fail", progress=0.0)


def test_summary(episode, capsys):
    _, path = episode
    assert replay.main([str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["num_steps"] == N and out["task_name"] == "lift_cube" and out["outcome"]["ended_by"] == "fail"


def test_replay_in_sim_follows_the_recording_and_saves_the_video(episode, tmp_path, capsys):
    _, path = episode
    video = tmp_path / "replay.mp4"
    assert replay.main([str(path), "--sim", "--save-video", str(video), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["joint_error_rad_max"] < 0.02 and out["sim_success"] is False
    with VideoReader(video) as r:
        assert (r.width, r.height) == (448, 672)  # recorded views beside the sim's
        assert len(list(r)) == N


def test_replay_refusals(episode, tmp_path, capsys):
    _, path = episode
    assert replay.main([str(path), "--rig", "calibration/x"]) == 2
    assert replay.main([str(tmp_path)]) == 1
    assert "no episode_metadata.json" in capsys.readouterr().err


def test_norm_stats_command(episode, tmp_path, capsys):
    root, _ = episode
    out = tmp_path / "ns.json"
    assert norm_stats.main([str(root), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_steps"] == N
    ns = json.loads(out.read_text())["norm_stats"]
    np.testing.assert_allclose(ns["state"]["mean"], np.r_[HOME_Q, HOME_Q])
    np.testing.assert_allclose(ns["actions"]["std"], np.zeros(14), atol=1e-12)
    assert norm_stats.main([str(tmp_path)]) == 1
    assert "no finished episodes" in capsys.readouterr().err
