"""A checkpoint rolled out on the hardware twin through the YAM drivers, one takeover per episode.

Any checkpoint proves the plumbing (the lead calls :func:`rollout_on_twin` with the
checkpoint the sim learning loop trains, for the success comparison with the sim graph):
here a small untrained one, nudged so that it moves the arms.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abc_robot.policy.model import DiTConfig
from abc_robot.testing.twin.rollout import rollout_on_twin

from .utils import perturbed_checkpoint

TINY = DiTConfig(image_size=16, enc_channels=(8,), keypoints=4, width=32, depth=1, heads=2, horizon=16)


@pytest.mark.slow
def test_rollout_on_twin_runs_the_policy_and_labels_the_takeover(run_dir, tmp_path):
    ckpt = perturbed_checkpoint(tmp_path, TINY, image_size=(48, 48))
    out = rollout_on_twin(ckpt, [5], run_dir=Path(run_dir), episode_s=8.0, takeover_at_s=2.5, takeover_s=2.0)
    assert out["seeds"] == [5] and len(out["success"]) == 1 and len(out["episodes"]) == 1
    # The policy drove the arms, and the steps of the takeover are labelled as the intervention.
    assert out["policy_steps"][0] > 0, out
    assert out["intervention_steps"][0] > 0, out
    meta = json.loads((Path(out["episodes"][0]) / "episode_metadata.json").read_text())
    sources = [seg["source"] for seg in meta["control_source_segments"]]
    # The takeover comes after the policy drove (on a loaded CPU the policy's chunks may
    # go stale after the hand-back: those steps are labelled "none", the arms held).
    assert "intervention" in sources and "policy" in sources[: sources.index("intervention")], sources
    assert meta["outcome"]["ended_by"] in ("success", "fail")
