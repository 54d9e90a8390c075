"""The GELLO calibration procedure, run for real against an emulated leader with secret offsets and signs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abc_robot.calibration.procedure import calibrate_leader, fit_offsets, measure_signs, verify_calibration, wrap_pi
from abc_robot.calibration.schema import LeaderRigConfig, load_leader_calibration
from abc_robot.cli.calibrate import main
from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel.bus import BusConfig, DynamixelBus
from abc_robot.devices.dynamixel.leader import LeaderReader
from abc_robot.errors import DeviceError
from abc_robot.testing.dynamixel_leader import EmulatedLeader

Q4 = math.pi / 2
# The secret build: horns on arbitrary quarter turns, a few degrees off, servos mounted either way.
SECRET_OFF = np.array([Q4 + 0.03, -0.02, math.pi - 0.05, -Q4, 0.01, 2 * Q4 - 0.04])
SECRET_SGN = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
SECRET_G = (2.95, 3.55)  # trigger released / squeezed, across the servo's ±π seam
WRAPS = [0, 1, -1, 2, 0, -3, 1]
RIG = LeaderRigConfig(joint_signs=(1.0,) * 6)  # the rig file knows nothing: the second pose must tell
TICK = ct.RAD_PER_TICK


class ScriptedOperator:
    """Moves the emulated arm as the procedure asks."""

    def __init__(self, em: EmulatedLeader, rig: LeaderRigConfig, *, misplace: np.ndarray | None = None) -> None:
        self.em, self.rig, self.steps = em, rig, []
        self.misplace = misplace if misplace is not None else np.zeros(6)

    def hold(self, step: str, instruction: str) -> None:
        self.steps.append(step)
        kind, _, name = step.partition(":")
        if kind in ("pose", "verify"):
            self.em.hold(np.asarray(self.rig.poses[name]) + self.misplace, 1.0)
        elif step == "gripper:open":  # released: gripper 1 (0 = closed, 1 = open)
            self.em.hold(self.rig.poses["home"], 1.0)
        elif step == "gripper:closed":
            self.em.hold(self.rig.poses["home"], 0.0)


@pytest.fixture()
def leader(tmp_path):
    with EmulatedLeader(
        tmp_path / "ttyDXL0", offsets_rad=SECRET_OFF, signs=SECRET_SGN, gripper_open_rad=SECRET_G[0],
        gripper_closed_rad=SECRET_G[1], q0=RIG.poses["ready"], wraps=WRAPS,
    ) as em:  # fmt: skip
        yield em


@pytest.fixture()
def bus(leader):
    b = DynamixelBus(BusConfig(port=str(leader.link), timeout_ms=100.0, retries=3))
    b.connect()
    yield b
    b.close()


def _assert_recovered(cal, offsets_tol: float = 1.5 * TICK) -> None:
    assert np.max(np.abs(wrap_pi(np.array(cal.offsets_rad) - SECRET_OFF))) < offsets_tol
    assert list(cal.signs) == SECRET_SGN.tolist()
    assert abs(wrap_pi(cal.gripper_open_rad - SECRET_G[0])) < 1.5 * TICK
    assert cal.gripper_closed_rad - cal.gripper_open_rad == pytest.approx(SECRET_G[1] - SECRET_G[0], abs=2 * TICK)


def test_recovers_secret_offsets_signs_and_trigger(leader, bus, tmp_path):
    op = ScriptedOperator(leader, RIG)
    cal = calibrate_leader(bus, RIG, "left", "home", op, second_pose="reach", say=lambda _: None)
    assert op.steps == ["pose:home", "pose:reach", "gripper:open", "gripper:closed"]
    _assert_recovered(cal)
    assert cal.reference_q_rad == RIG.poses["home"] and cal.motor_ids == (1, 2, 3, 4, 5, 6, 7)
    # The recovered calibration reads every pose right, wherever the servos' turns are.
    leader.chain.power_cycle(wraps=[3, -2, 0, 1, -1, 2, 0])
    with LeaderReader(cal, BusConfig(port=str(leader.link), timeout_ms=100.0, retries=3)) as reader:
        for name, q in RIG.poses.items():
            leader.hold(q, 0.6)
            s = reader.read()
            np.testing.assert_allclose(s.q, q, atol=2 * TICK, err_msg=name)
            assert s.gripper == pytest.approx(0.6, abs=0.01)


def test_quarter_mode_snaps_offsets_and_tolerates_a_misheld_pose(leader, bus):
    # GELLO mode: the operator holds the arm 4° off; quarter-turn offsets ignore that.
    op = ScriptedOperator(leader, RIG, misplace=np.full(6, math.radians(4)))
    cal = calibrate_leader(bus, RIG, "left", "home", op, second_pose="reach", offsets="quarter", say=lambda _: None)
    snapped = np.round(SECRET_OFF / Q4) * Q4
    assert np.max(np.abs(wrap_pi(np.array(cal.offsets_rad) - snapped))) < 1e-9
    assert list(cal.signs) == SECRET_SGN.tolist()


def test_a_pose_not_held_is_refused(leader, bus):
    class Lazy(ScriptedOperator):
        def hold(self, step: str, instruction: str) -> None:
            if step != "pose:reach":  # never moves to the second pose
                super().hold(step, instruction)

    with pytest.raises(DeviceError, match=r"joint1: .*was the arm held in both poses"):
        calibrate_leader(bus, RIG, "left", "home", Lazy(leader, RIG), second_pose="reach", say=lambda _: None)


def test_verification_compares_fk(leader, bus):
    op = ScriptedOperator(leader, RIG)
    cal = calibrate_leader(bus, RIG, "right", "home", op, second_pose="reach", say=lambda _: None)
    op.hold("verify:home", "")
    v = verify_calibration(cal, bus)
    assert v.max_joint_error_rad < 2 * TICK and v.position_error_m < 1e-3
    assert "FK error" in v.table() and "joint6" in v.table()


def test_cli_non_interactive_writes_a_file_that_loads(leader, tmp_path, capsys):
    leader.hold(RIG.poses["home"], 1.0)
    rig = tmp_path / "rig"
    (rig).mkdir()
    (rig / "rig.yaml").write_text("leader:\n  joint_signs: [1, -1, 1, -1, -1, 1]\n")
    rc = main(["leader", "--arm", "left", "--rig", str(rig), "--port", str(leader.link), "--pose", "home",
               "--second-pose", "home", "--yes", "--gripper-range", str(SECRET_G[0]), str(SECRET_G[1])])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "FK ee [mm] expected" in out and f"wrote {rig / 'left.yaml'}" in out
    cal = load_leader_calibration(rig / "left.yaml", arm="left", motor_ids=(1, 2, 3, 4, 5, 6, 7))
    _assert_recovered(cal)
    assert cal.port == str(leader.link) and cal.baud == 4_000_000
    assert main(["check", str(rig / "left.yaml"), "--arm", "left"]) == 0


def _terminal_operator(leader: EmulatedLeader, verify_pose: np.ndarray):
    """Answers the CLI's prompts like an operator at the keyboard, moving the arm first."""

    def ask(prompt: str) -> str:
        if "Put the arm back" in prompt:
            leader.hold(verify_pose, 1.0)
        elif "pose 'home'" in prompt:
            leader.hold(RIG.poses["home"], 1.0)
        elif "pose 'reach'" in prompt:
            leader.hold(RIG.poses["reach"], 1.0)
        elif "Release the trigger" in prompt:  # released = gripper 1 (open)
            leader.hold(RIG.poses["home"], 1.0)
        elif "Squeeze the trigger" in prompt:
            leader.hold(RIG.poses["home"], 0.0)
        return ""

    return ask


def test_cli_interactive_run_and_refusal_when_verification_fails(leader, tmp_path, capsys, monkeypatch):
    rig = tmp_path / "rig"
    args = ["leader", "--arm", "right", "--rig", str(rig), "--port", str(leader.link), "--pose", "home", "--second-pose", "reach"]
    monkeypatch.setattr("builtins.input", _terminal_operator(leader, np.array(RIG.poses["home"])))
    assert main(args) == 0, capsys.readouterr()
    _assert_recovered(load_leader_calibration(rig / "right.yaml", arm="right"))
    (rig / "right.yaml").unlink()
    # The operator lets go before the read-back: the arm sags 10° at joint2. Nothing is written.
    sagged = np.array(RIG.poses["home"]) + np.array([0.0, math.radians(10), 0.0, 0.0, 0.0, 0.0])
    monkeypatch.setattr("builtins.input", _terminal_operator(leader, sagged))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "verification failed" in err and "nothing written" in err
    assert not (rig / "right.yaml").exists()
    # A servo missing from the chain: named, with what to check.
    leader.chain.set_missing(4)
    assert main(args) == 1
    assert "servo(s) [4]" in capsys.readouterr().err


def test_offset_and_sign_math():
    theta = np.array([0.1, 1.6, -3.0, 0.0, 2.0, -1.0])
    q = np.array([0.0, 0.0, 0.0, 0.2, 0.0, 0.0])
    fit = fit_offsets(theta, q, np.ones(6))
    np.testing.assert_allclose(wrap_pi(fit.offsets_rad - (theta - q)), 0.0, atol=1e-12)
    assert np.all(np.abs(fit.fine_rad) <= Q4 / 2 + 1e-12)
    signs, notes = measure_signs(np.zeros(6), np.array([0.5, -0.5, 0.0, 0, 0, 0]), np.zeros(6), np.array([0.5, 0.5, 0, 0, 0, 0]), np.ones(6))
    assert signs.tolist() == [1, -1, 1, 1, 1, 1] and len(notes) == 1 and "joint2" in notes[0]
