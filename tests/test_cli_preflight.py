"""Bad checkpoints, calibration and rig files are refused before a graph starts (exit 2, one line)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from abc_robot.cli import preflight as pf
from abc_robot.errors import CheckpointError, ConfigError
from abc_robot.policy.checkpoint import CheckpointConfig, NormStats, ObservationSpec, save_checkpoint_files

from .utils import REPO


def _checkpoint(path: Path, config: CheckpointConfig | None = None, weights: bytes | None = None) -> Path:
    config = config or CheckpointConfig()
    d = config.action.dim
    stats = NormStats(np.zeros(14), np.ones(14), np.zeros(d), np.ones(d))
    save_checkpoint_files(path, config, stats)
    if weights is None:  # what torch.save writes: a zip archive holding data.pkl
        with zipfile.ZipFile(path / "model.pt", "w") as z:
            z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
            z.writestr("archive/version", b"3\n")
    else:
        (path / "model.pt").write_bytes(weights)
    return path


def test_a_good_checkpoint_passes(tmp_path):
    ck = pf.check_checkpoint(_checkpoint(tmp_path / "ck"), cameras=("top", "left", "right"), arms=2)
    assert ck.config.action.dim == 14


@pytest.mark.parametrize(
    ("weights", "problem"), [(b"", "empty"), (b"PK\x03\x04trunc", "truncated or corrupt"), (b"weights", "truncated")]
)
def test_a_model_file_that_cannot_load_is_named(tmp_path, weights, problem):
    ck = _checkpoint(tmp_path / "ck", weights=weights)
    with pytest.raises(CheckpointError, match=problem) as info:
        pf.check_checkpoint(ck)
    assert str(ck / "model.pt") in str(info.value)


def test_a_checkpoint_that_does_not_fit_the_rig_is_refused(tmp_path):
    ck = _checkpoint(tmp_path / "ck", CheckpointConfig(observation=ObservationSpec(cameras=("top", "belly"))))
    with pytest.raises(CheckpointError, match=r"cameras \['belly'\] are not on the rig"):
        pf.check_checkpoint(ck, cameras=("top", "left", "right"), arms=2)
    with pytest.raises(CheckpointError, match="state dim 14 != rig state dim 7"):
        pf.check_checkpoint(_checkpoint(tmp_path / "ck2"), arms=1)


def test_calibration_and_rig_files_that_do_not_parse(tmp_path):
    bad = tmp_path / "left.yaml"
    bad.write_text("schema_version: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        pf.check_leader_calibration(bad, arm="left")
    assert str(bad) in str(info.value)
    rig = tmp_path / "rig"
    rig.mkdir()
    (rig / "rig.yaml").write_text("name: x\nleaders: {left: {calibration: left.yaml}\n")
    with pytest.raises(ConfigError, match="rig.yaml"):
        pf.check_rig_file(rig)
    assert pf.check_rig_file(REPO / "rigs" / "example_mixed") is not None


def test_refusal_is_one_line(tmp_path, capsys):
    def boom() -> None:
        raise ConfigError("not valid YAML: mapping values\n  are not allowed here", file="x.yaml")

    assert pf.preflight("abc-x", boom) == pf.EXIT_REFUSED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("abc-x: refused: x.yaml: not valid YAML")
    assert pf.preflight("abc-x", lambda: None) is None


def _cli(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def test_abc_rollout_refuses_a_missing_checkpoint_before_anything_starts(tmp_path):
    p = _cli("abc_robot.cli.rollout", "--policy", str(tmp_path / "nope"), "--sim", cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines == [f"abc-rollout: refused: node policy: {tmp_path / 'nope'}: checkpoint directory does not exist"]
    assert "started" not in p.stdout + p.stderr and "Traceback" not in p.stderr


def test_abc_rollout_refuses_a_truncated_model_file(tmp_path):
    ck = _checkpoint(tmp_path / "ck", weights=b"PK\x03\x04")
    p = _cli("abc_robot.cli.rollout", "--policy", str(ck), "--sim", cwd=tmp_path)
    assert p.returncode == 2 and "model.pt" in p.stderr and "started" not in p.stdout + p.stderr


def test_abc_teleop_refuses_a_calibration_file_that_does_not_parse(tmp_path):
    rig = tmp_path / "rig"
    shutil.copytree(REPO / "rigs" / "example_mixed", rig)
    (rig / "left.yaml").write_text("arm: left\noffsets_rad: [0, 0\n")
    # The rig's device checks would refuse first (no hardware here): skip them.
    p = _cli("abc_robot.cli.teleop", "--rig", str(rig), "--skip-check", "--headless", cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    refused = [ln for ln in p.stderr.splitlines() if ln.startswith("abc-teleop: refused:")]
    assert len(refused) == 1 and str(rig / "left.yaml") in refused[0] and "not valid YAML" in refused[0]
    assert "started" not in p.stdout + p.stderr
