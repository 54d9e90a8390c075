"""The one definition of the ``norm_stats.json`` shape, written and read back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from abc_robot.errors import CheckpointError
from abc_robot.policy.checkpoint import NormStats
from abc_robot.recording.norm_stats import norm_stats_document, read_norm_stats


def test_document_round_trips_through_json_and_the_checkpoint_reader() -> None:
    doc = norm_stats_document({"mean": np.arange(3.0), "std": np.ones(3), "q01": [0, 0, 0]}, {"mean": [1.0], "std": [2.0]}, num_steps=7)
    back = read_norm_stats(json.loads(json.dumps(doc)))
    assert doc["num_steps"] == 7 and set(back["state"]) == {"mean", "std", "q01"}
    np.testing.assert_array_equal(back["state"]["mean"], np.arange(3.0))
    ns = NormStats.from_dict(doc)
    np.testing.assert_array_equal(ns.action_std, [2.0])
    assert NormStats.from_dict(ns.to_dict()).to_dict() == ns.to_dict() == norm_stats_document(
        {"mean": np.arange(3.0), "std": np.ones(3)}, {"mean": [1.0], "std": [2.0]}
    )


@pytest.mark.parametrize(
    "doc, needle",
    [
        ({"stats": {}}, "expected"),
        ({"norm_stats": {"state": {"mean": [0.0]}, "actions": {"mean": [0.0], "std": [1.0]}}}, "state.std missing"),
        ({"norm_stats": {"state": {"mean": [0.0], "std": [float("nan")]}, "actions": {"mean": [0.0], "std": [1.0]}}}, "state.std holds non-finite"),
    ],
)
def test_bad_documents_name_the_field(doc: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        read_norm_stats(doc)
    with pytest.raises(CheckpointError, match=f"ckpt/norm_stats.json: {needle}"):
        NormStats.from_dict(doc, "ckpt/norm_stats.json")
