"""A checkpoint rolled out on the hardware twin through the YAM drivers, one takeover per episode.

Any checkpoint proves the plumbing (the lead calls :func:`rollout_on_twin` with the
checkpoint the sim learning loop trains, for the success comparison with the sim graph):
here a small untrained one, nudged so that it moves the arms. Fast tests: what the
twin's operator does to reproduce the sim graph's episode start (the leader pose that
puts a follower at the sim's start pose; views in the checkpoint's aspect ratio).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from abc_robot.kinematics.ik import IKSolver
from abc_robot.kinematics.model import ArmModel
from abc_robot.policy.model import DiTConfig
from abc_robot.sim.world import HOME_Q
from abc_robot.testing.twin.rollout import START_TOLERANCE_RAD, leader_q_for, rollout_on_twin, view_size

from .utils import perturbed_checkpoint

TINY = DiTConfig(image_size=16, enc_channels=(8,), keypoints=4, width=32, depth=1, heads=2, horizon=16)


def test_leader_pose_puts_the_follower_at_the_sim_start_pose():
    """TELEOP tracks the leader's end effector: the GELLO held at the YAM's own joint
    angles would put the YAM elsewhere; the hand holds the leader's IK solution."""
    lq = leader_q_for(HOME_Q)
    leader, follower = ArmModel.from_urdf("yam_leader.urdf"), ArmModel.from_urdf("yam_follower.urdf")
    # From the folded rest pose, as the follower's IK starts on the twin.
    q = IKSolver(follower).solve(leader.fk(lq[:6]), np.zeros(6)).q
    assert np.max(np.abs(q - np.asarray(HOME_Q[:6]))) < 1e-3
    assert lq[6] == HOME_Q[6]
    naive = IKSolver(follower).solve(leader.fk(np.asarray(HOME_Q[:6])), np.zeros(6)).q
    assert np.max(np.abs(naive - np.asarray(HOME_Q[:6]))) > 0.05  # why the mapping is needed


def test_views_keep_the_checkpoints_aspect_ratio(tmp_path):
    ckpt = tmp_path / "c"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"observation": {"image_size": [224, 224]}}))
    assert view_size(ckpt) == (224, 224) and view_size(ckpt, 96) == (96, 96)
    (ckpt / "config.json").write_text(json.dumps({"observation": {"image_size": [480, 640]}}))
    assert view_size(ckpt, 96) == (96, 72)
    assert view_size(tmp_path / "none", 96) == (96, 96)  # unknown: the sim's square views


@pytest.mark.slow
def test_rollout_on_twin_runs_the_policy_and_labels_the_takeover(run_dir, tmp_path):
    ckpt = perturbed_checkpoint(tmp_path, TINY, image_size=(48, 48))
    out = rollout_on_twin(
        ckpt, [5], run_dir=Path(run_dir), episode_s=6.0, takeover_at_s=1.5, takeover_s=1.5, takeover="move"
    )
    assert out["seeds"] == [5] and len(out["success"]) == 1 and len(out["episodes"]) == 1
    assert out["camera_size"] == [48, 48]  # the checkpoint's own views
    # The operator brought both arms to the sim's start pose before the episode.
    assert out["start_error_rad"][0] < START_TOLERANCE_RAD, out
    # The policy drove the arms, and the steps of the takeover are labelled as the intervention.
    assert out["taken_over"] == [True], out
    assert out["policy_steps"][0] > 0, out
    assert out["intervention_steps"][0] > 0, out
    # Only the left arm was taken over: the right one stayed with the policy.
    arms = out["arm_steps"][0]
    assert arms["left"].get("intervention", 0) > 0 and "intervention" not in arms["right"], arms
    meta = json.loads((Path(out["episodes"][0]) / "episode_metadata.json").read_text())
    sources = [seg["source"] for seg in meta["control_source_segments"]]
    # The takeover comes after the policy drove (on a loaded CPU the policy's chunks may
    # go stale after the hand-back: those steps are labelled "none", the arms held).
    assert "intervention" in sources and "policy" in sources[: sources.index("intervention")], sources
    assert meta["outcome"]["ended_by"] in ("success", "fail")
