"""abc-calibrate follower on a YAM arm emulated at the CAN level (Damiao chain emulator on
python-can's udp_multicast bus): offsets measured in the zero pose, gripper range,
signs by the guided motion (and a flip the operator asks for), the file written into
the rig directory, read back, and taken by the rig's follower config."""

from __future__ import annotations

import random

import can
import numpy as np
import pytest
import yaml

from abc_robot.cli.calibrate import main as calibrate_main
from abc_robot.devices.damiao import YamConfig
from abc_robot.errors import DeviceError
from abc_robot.rig import follower_config, load_rig
from abc_robot.rig.calibrate_follower import FollowerCalibrationOptions, calibrate_yam_follower
from abc_robot.testing.damiao_emulator import DamiaoChainEmulator

from .utils import REPO, wait_for

#: Motor positions [rad] of the emulated arm in its zero pose (what the calibration must find).
ZERO_P = [0.31, -0.52, 1.05, -0.2, 0.4, -0.75, 0.0]
OPEN, CLOSED = 0.05, -2.4
OPTS = FollowerCalibrationOptions(settle_s=0.5, reply_timeout_s=0.1)


class Hand:
    """The operator: puts the emulated arm where each step asks, answers the sign questions."""

    def __init__(
        self, emu: DamiaoChainEmulator, wrong_sign_joint: int | None = None, block_joint: int | None = None
    ) -> None:
        self.emu = emu
        self.wrong = wrong_sign_joint
        self.block = block_joint  # held against the guided motion (an external torque)
        self.steps: list[str] = []

    def _place(self, i: int, p: float) -> None:
        with self.emu.lock:
            self.emu.plant.p[i] = p  # the default plant: the joints behind the motors
            self.emu.plant.v[i] = 0.0
        # The motors see it at their next physics step: wait for it as a hand would.
        assert wait_for(lambda: abs(self.emu.positions[i] - p) < 1e-3, 5), f"motor {i + 1} never got to {p}"

    def hold(self, step: str, instruction: str) -> None:
        self.steps.append(step)
        if step in ("pose:zero", "verify"):
            for i, p in enumerate(ZERO_P[:6]):
                self._place(i, p)
        elif step == "gripper:open":
            self._place(6, OPEN)
        elif step == "gripper:closed":
            self._place(6, CLOSED)
        elif step == "support" and self.block is not None:
            self.emu.push(self.block - 1, -50.0)

    def confirm(self, step: str, question: str) -> bool:
        self.steps.append(step)
        return step != f"sign:{self.wrong}"


@pytest.fixture()
def yam_rig(tmp_path):
    group = f"239.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    opts = {"port": random.randint(20000, 60000)}
    try:
        can.Bus(interface="udp_multicast", channel=group, **opts).shutdown()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"udp_multicast CAN interface unavailable here ({exc})")
    params = {"interface": "udp_multicast", "channel": group, "bus_options": opts}
    emu = DamiaoChainEmulator(group, YamConfig(**params).motor_specs(), interface="udp_multicast", bus_options=opts,
                              initial_p=[0.0] * 7).start()  # fmt: skip
    rig = tmp_path / "abc_yam"
    rig.mkdir()
    (rig / "rig.yaml").write_text((REPO / "rigs" / "abc_yam" / "rig.yaml").read_text())
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"followers": {"left": {"params": params}}}))
    yield {"emu": emu, "rig": rig, "overlay": overlay, "params": params}
    emu.stop()


def test_calibration_measures_offsets_range_and_signs_and_is_used_by_the_rig(yam_rig):
    emu, rig_dir = yam_rig["emu"], yam_rig["rig"]
    rig = load_rig(rig_dir, yam_rig["overlay"])
    cfg = follower_config(rig, "left", missing_ok=True)
    hand = Hand(emu, wrong_sign_joint=3)
    out = rig_dir / "follower_left.yaml"
    result = calibrate_yam_follower(cfg, "left", out, hand, options=OPTS)
    cal = result.calibration
    np.testing.assert_allclose(cal.offsets_rad, ZERO_P[:6], atol=2e-3)  # MIT feedback quantisation
    assert cal.gripper_open_rad == pytest.approx(OPEN, abs=2e-3) and cal.gripper_closed_rad == pytest.approx(
        CLOSED, abs=2e-3
    )
    assert cal.directions == (1.0, 1.0, -1.0, 1.0, 1.0, 1.0) and result.flipped == (3,)
    assert all(m > OPTS.min_motion_fraction * OPTS.motion_rad for m in result.moved_rad), result.moved_rad
    assert hand.steps[:4] == ["pose:zero", "gripper:open", "gripper:closed", "support"] and hand.steps[-1] == "verify"
    assert emu.states == [0] * 7, f"a motor was left enabled: {emu.states}"
    used = follower_config(load_rig(rig_dir, yam_rig["overlay"]), "left")
    assert used.offsets_rad == cal.offsets_rad and used.directions == cal.directions


def test_a_joint_that_does_not_move_refuses_and_writes_nothing(yam_rig):
    emu, rig_dir = yam_rig["emu"], yam_rig["rig"]
    cfg = follower_config(load_rig(rig_dir, yam_rig["overlay"]), "left", missing_ok=True)
    with pytest.raises(DeviceError, match="joint 2 moved"):  # something holds joint 2 against the motion
        calibrate_yam_follower(cfg, "left", rig_dir / "follower_left.yaml", Hand(emu, block_joint=2), options=OPTS)
    assert not (rig_dir / "follower_left.yaml").exists()
    assert emu.states == [0] * 7


def test_cli_non_interactive(yam_rig, capsys):
    code = calibrate_main([
        "follower", "--rig", str(yam_rig["rig"]), "--arm", "left", "--rig-overlay", str(yam_rig["overlay"]),
        "--yes", "--gripper-range", "0.0", "-2.5",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "read back and verified" in out and (yam_rig["rig"] / "follower_left.yaml").is_file()
    assert calibrate_main(["follower", "--rig", str(yam_rig["rig"]), "--arm", "left", "--yes"]) == 2
