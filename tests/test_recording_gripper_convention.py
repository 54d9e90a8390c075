"""abc-convert-gripper: legacy episodes (0 open, 1 closed) rewritten into ABC's convention."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from abc_robot.cli import convert_gripper, norm_stats
from abc_robot.recording import EpisodeReader, EpisodeWriter
from abc_robot.recording.gripper_convention import GRIPPER_COLUMNS, STAGED_SUFFIX
from abc_robot.recording.layout import METADATA, STATES_ACTIONS

N = 6


def _q(g_left: float, g_right: float) -> np.ndarray:
    arm = [0.0, 1.3, 1.2, -1.47, 0.0, 0.0]
    return np.r_[arm, g_left, arm, g_right]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """One episode recorded now: grippers 0.2/0.9 in state, 0.1/0.7 in action."""
    root = tmp_path_factory.mktemp("eps")
    w = EpisodeWriter(root, "lift_cube")
    img = np.zeros((224, 224, 3), np.uint8)
    for _ in range(N):
        w.append(_q(0.2, 0.9), _q(0.1, 0.7), {c: img for c in ("top", "left", "right")}, {"control_source": "operator"})
    w.finish("success", progress=1.0)
    return root


def _legacy_copy(recorded: Path, dst: Path) -> Path:
    """The recorded root as an older stack would have left it: no ``gripper`` entry."""
    shutil.copytree(recorded, dst)
    for ep in dst.glob("episode_*"):
        meta = json.loads((ep / METADATA).read_text())
        del meta["gripper"]
        (ep / METADATA).write_text(json.dumps(meta))
    return dst


def _grippers(root: Path) -> np.ndarray:
    (ep,) = root.glob("episode_*")
    rows = np.fromfile(ep / STATES_ACTIONS, dtype="<f8").reshape(-1, 28)
    return rows[:, list(GRIPPER_COLUMNS)]


def test_new_episodes_declare_the_abc_convention(recorded):
    (ep,) = recorded.glob("episode_*")
    meta = json.loads((ep / METADATA).read_text())
    assert meta["gripper"] == {"convention": "abc", "closed": 0.0, "open": 1.0}
    assert "0 closed, 1 open" in meta["state_layout"]
    # An episode already in the convention is left byte for byte as it was.
    before = (ep / STATES_ACTIONS).read_bytes()
    assert convert_gripper.main([str(recorded)]) == 0
    assert (ep / STATES_ACTIONS).read_bytes() == before


def test_legacy_episodes_are_flipped_once_and_norm_stats_follow(recorded, tmp_path, capsys):
    root = _legacy_copy(recorded, tmp_path / "legacy")
    assert norm_stats.main([str(root)]) == 0
    capsys.readouterr()
    assert convert_gripper.main([str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["converted"]) == 1 and out["already"] == [] and out["norm_stats"] == [str(root / "norm_stats.json")]
    np.testing.assert_allclose(_grippers(root), np.tile([0.8, 0.1, 0.9, 0.3], (N, 1)), atol=1e-12)
    # The joints are untouched; the metadata says what it holds now.
    ep = EpisodeReader(next(root.glob("episode_*")))
    np.testing.assert_allclose(np.asarray(ep.states)[:, :6], np.tile(_q(0, 0)[:6], (N, 1)))
    meta = json.loads((ep.path / METADATA).read_text())
    assert meta["gripper"] == {"convention": "abc", "closed": 0.0, "open": 1.0, "converted_from": "legacy"}
    ns = json.loads((root / "norm_stats.json").read_text())["norm_stats"]
    assert ns["state"]["mean"][6] == pytest.approx(0.8) and ns["actions"]["mean"][13] == pytest.approx(0.3)
    # Idempotent: the second run changes nothing.
    assert convert_gripper.main([str(root), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["converted"] == [] and len(again["already"]) == 1
    np.testing.assert_allclose(_grippers(root), np.tile([0.8, 0.1, 0.9, 0.3], (N, 1)), atol=1e-12)


@pytest.mark.parametrize("cut_after", ["staged_written", "metadata_written", "renamed"])
def test_a_conversion_cut_off_anywhere_is_finished_never_doubled(recorded, tmp_path, cut_after):
    root = _legacy_copy(recorded, tmp_path / "cut")
    (ep,) = root.glob("episode_*")
    rows = np.fromfile(ep / STATES_ACTIONS, dtype="<f8").reshape(-1, 28)
    flipped = rows.copy()
    flipped[:, list(GRIPPER_COLUMNS)] = 1.0 - flipped[:, list(GRIPPER_COLUMNS)]
    staged = ep / (STATES_ACTIONS + STAGED_SUFFIX)
    meta = json.loads((ep / METADATA).read_text())
    # What each step of a run leaves on disk when the process dies right after it.
    flipped.tofile(staged)
    if cut_after in ("metadata_written", "renamed"):
        meta["gripper"] = {"convention": "abc", "closed": 0.0, "open": 1.0, "converted_from": "legacy", "staged": staged.name}
        (ep / METADATA).write_text(json.dumps(meta))
    if cut_after == "renamed":
        staged.replace(ep / STATES_ACTIONS)
    assert convert_gripper.main([str(ep)]) == 0
    np.testing.assert_allclose(_grippers(root), np.tile([0.8, 0.1, 0.9, 0.3], (N, 1)), atol=1e-12)
    assert not staged.exists()
    assert "staged" not in json.loads((ep / METADATA).read_text())["gripper"]


def test_bad_paths_and_conventions_are_named(recorded, tmp_path, capsys):
    assert convert_gripper.main([str(tmp_path)]) == 1
    assert "neither an episode" in capsys.readouterr().err
    root = _legacy_copy(recorded, tmp_path / "odd")
    (ep,) = root.glob("episode_*")
    meta = json.loads((ep / METADATA).read_text())
    meta["gripper"] = {"convention": "upside_down"}
    (ep / METADATA).write_text(json.dumps(meta))
    assert convert_gripper.main([str(ep)]) == 1
    err = capsys.readouterr().err
    assert METADATA in err and "gripper.convention" in err and "upside_down" in err
