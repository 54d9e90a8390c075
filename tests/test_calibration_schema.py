"""Leader calibration files: round trip, the example rig, and refusals that say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from abc_robot.calibration.schema import (
    SCHEMA_VERSION,
    LeaderCalibration,
    load_leader_calibration,
    load_leader_rig,
    save_leader_calibration,
)
from abc_robot.cli.calibrate import main
from abc_robot.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "rigs" / "example_mixed"
CAL = LeaderCalibration(
    arm="left", offsets_rad=(0.1, -0.2, 0.3, 1.5708, 0.0, -3.0), signs=(1.0, -1.0, 1.0, 1.0, -1.0, 1.0),
    gripper_open_rad=0.4, gripper_closed_rad=1.1, port="/dev/ttyUSB0",
)  # fmt: skip


def _write(tmp_path: Path, **changes) -> Path:
    path = save_leader_calibration(CAL, tmp_path / "left.yaml")
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))
    return path


def test_round_trip(tmp_path):
    path = save_leader_calibration(CAL, tmp_path / "rig" / "left.yaml")
    assert path.read_text().startswith("# GELLO leader calibration")
    assert load_leader_calibration(path, arm="left", motor_ids=(1, 2, 3, 4, 5, 6, 7)) == CAL
    assert not (tmp_path / "rig" / "left.yaml.tmp").exists()


def test_example_rig_loads():
    rig = load_leader_rig(EXAMPLE)
    assert set(rig.ports) == {"left", "right"} and rig.second_pose == "reach"
    for arm in ("left", "right"):
        cal = load_leader_calibration(EXAMPLE / f"{arm}.yaml", arm=arm, motor_ids=rig.motor_ids)
        assert cal.schema_version == SCHEMA_VERSION and list(cal.signs) == list(rig.joint_signs)
        assert cal.port == rig.ports[arm]


def test_no_rig_file_means_defaults(tmp_path):
    assert load_leader_rig(tmp_path).poses["home"] == (0.0,) * 6


def test_refuses_a_wrong_schema_version(tmp_path):
    path = _write(tmp_path, schema_version=0)
    with pytest.raises(ConfigError) as exc:
        load_leader_calibration(path, arm="left")
    msg = str(exc.value)
    assert str(path) in msg and "schema_version" in msg and "re-run `abc-calibrate leader --arm left" in msg
    path = _write(tmp_path, schema_version=None)
    with pytest.raises(ConfigError, match="schema_version None is not supported"):
        load_leader_calibration(path)


def test_refuses_the_other_arm(tmp_path):
    path = _write(tmp_path)
    with pytest.raises(ConfigError) as exc:
        load_leader_calibration(path, arm="right")
    msg = str(exc.value)
    assert f"{path}: arm:" in msg and "calibrates the 'left' arm" in msg and "right.yaml" in msg


def test_refuses_other_motor_ids(tmp_path):
    path = _write(tmp_path)
    with pytest.raises(ConfigError) as exc:
        load_leader_calibration(path, arm="left", motor_ids=(11, 12, 13, 14, 15, 16, 17))
    msg = str(exc.value)
    assert f"{path}: motor_ids:" in msg and "re-numbered" in msg and "fix motor_ids" in msg


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"signs": [1, 1, 1, 1, 1, 0]}, "signs", "+1 or -1"),
        ({"offsets_rad": [0.0] * 5}, "offsets_rad", "needs 6 values"),
        ({"motor_ids": [1, 2, 3]}, "motor_ids", "needs 7 distinct ids"),
        ({"gripper_closed_rad": 0.41}, "gripper_closed_rad", "re-measure"),
        ({"arm": "middle"}, "arm", "must be one of"),
        ({"kind": "yam_follower"}, "kind", "not a leader calibration"),
        ({"offset": 1.0}, "offset", "unknown field"),
    ],
)
def test_bad_values_name_file_and_field(tmp_path, change, field, words):
    path = _write(tmp_path, **change)
    with pytest.raises(ConfigError) as exc:
        load_leader_calibration(path)
    assert f"{path}: {field}" in str(exc.value) and words in str(exc.value)


def test_cli_check_reports_refusals(tmp_path, capsys):
    path = _write(tmp_path)
    assert main(["check", str(path), "--arm", "left", "--ids", "1,2,3,4,5,6,7"]) == 0
    assert "ok — left leader" in capsys.readouterr().out
    assert main(["check", str(path), "--arm", "right"]) == 2
    assert "refused" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read file" in capsys.readouterr().err
