"""The YAM driver as the vendor's drives the arm, against emulated motors with gravity.

The motors keep their own registers (limits, CAN timeout, gear ratio) and the joints
behind them are the follower's rigid-body model under gravity (``YamGravityPlant``):
a wrong limit table is refused, the ready pose holds with gravity compensation and sags
without, the gripper reads 0 closed / 1 open with its end stops measured, torque off
(ESTOP) holds the arm, and a clean exit parks it before releasing the motors.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from abc_robot.devices.damiao import MotorLimits, MotorState, YamArm, YamConfig
from abc_robot.devices.damiao.config import REST_Q
from abc_robot.devices.damiao.protocol import Register
from abc_robot.errors import DeviceError
from abc_robot.testing.damiao_emulator import DamiaoChainEmulator, MotorPhysics
from abc_robot.testing.yam_plant import YamGravityPlant

from .utils import wait_for

READY = [0.0, 1.3, 1.2, -1.47, 0.0, 0.0]
_channels = itertools.count()
# Generous timing for a loaded 2-core machine; the plant's exact model wants scale 1.
FAST = {
    "reply_timeout_s": 0.02,
    "silent_after_s": 0.5,
    "silent_after_cycles": 5,
    "control_hz": 200.0,
    "gravity_scale": (1.0,) * 6,
}


@pytest.fixture()
def yam():
    made: list = []

    def make(plant_q=(*REST_Q, 3.0), emu_kwargs=None, plant_kwargs=None, connect=True, **cfg_kw):
        cfg = YamConfig(**{"interface": "virtual", "channel": f"yam-vendor-{next(_channels)}", **FAST, **cfg_kw})
        plant = YamGravityPlant(plant_q, **(plant_kwargs or {}))
        emu = DamiaoChainEmulator(cfg.channel, cfg.motor_specs(), plant=plant, physics_dt=0.002, **(emu_kwargs or {}))
        emu.start()
        arm = YamArm(cfg)
        made.append((emu, arm))
        if connect:
            arm.connect()
        return emu, arm, plant

    yield make
    for emu, arm in made:
        arm.close()
        emu.stop()


def _settled(plant: YamGravityPlant, seconds: float) -> np.ndarray:
    """The joints after ``seconds`` more."""
    time.sleep(seconds)
    return plant.joint_q()


def _to_ready(arm: YamArm, plant: YamGravityPlant) -> None:
    """From rest (the arm lies folded on its stops) up to the ready pose, gripper open."""
    arm.command(np.array([*READY, 1.0]))
    assert wait_for(lambda: arm.setpoint_reached and np.abs(plant.joint_q() - READY).max() < 0.005, 30), plant.joint_q()


def test_a_wrong_limit_table_is_refused_with_the_fix(yam):
    # joint3's DM4340 holds V_MAX 8 (an older table): reading it would be off by 1.25×.
    wrong = [None, None, MotorLimits(12.5, 8.0, 28.0), None, None, None, None]
    emu, arm, _ = yam(emu_kwargs={"stored_limits": wrong}, connect=False)
    with pytest.raises(DeviceError) as err:
        arm.connect()
    msg = str(err.value)
    assert "joint3 (id 0x3) holds VMAX 8.0, a DM4340 needs 10.0" in msg and "save it to flash" in msg
    assert emu.states == [MotorState.DISABLED] * 7  # nothing was enabled
    # A variant whose joint4 is a DM4340 on an arm whose joint4 is a DM4310: the gear
    # ratio (read-only) tells the motor models apart.
    cfg = YamConfig(**{"interface": "virtual", "channel": emu.channel, **FAST, "variant": "yam_ultra_v2"})
    with pytest.raises(DeviceError, match=r"joint4 \(id 0x4\) holds gear ratio \(the motor model\) 10.0, a DM4340 needs 40.0"):
        YamArm(cfg).connect()


def test_can_timeout_is_read_and_set_where_a_motor_has_none(yam):
    no_timeout = [MotorPhysics()] * 6 + [MotorPhysics(timeout_s=0.0)]
    emu, arm, _ = yam(emu_kwargs={"physics": no_timeout})
    assert emu.register(6, Register.TIMEOUT) == 8000  # 0.4 s in counts of 50 µs, RAM only
    gripper = arm.motor_settings[6]
    assert gripper["timeout_written"] and gripper["can_timeout_s"] == pytest.approx(0.4)
    assert not arm.motor_settings[0]["timeout_written"] and arm.motor_settings[0]["can_timeout_s"] == pytest.approx(0.4)
    assert arm.status()["can_timeout_s"] == [pytest.approx(0.4)] * 7


@pytest.mark.parametrize("gravity", [True, False])
def test_ready_pose_holds_with_gravity_compensation_and_sags_without(yam, gravity):
    emu, arm, plant = yam(gravity_compensation=gravity, plant_q=(*READY, 3.0))
    arm.command(np.array([*READY, 1.0]))  # powered up at the ready pose: hold it there
    assert wait_for(lambda: arm.setpoint_reached, 20)  # (it sagged a little before torque came on)
    if gravity:
        assert wait_for(lambda: np.abs(plant.joint_q() - READY).max() < 0.005, 10), plant.joint_q() - READY
    q = _settled(plant, 1.0)
    err = np.abs(q - READY)
    if gravity:
        assert err.max() < 0.005, f"error {err} rad"
    else:  # joints 2 and 3 carry the arm: the servo alone leaves tens of mrad
        assert err[1] > 0.02 and err[2] > 0.03, f"error {err} rad"
        assert arm.gravity_torque(np.array(READY))[2] == 0.0


def test_gripper_reads_zero_closed_one_open_with_measured_stops_and_capped_force(yam):
    # The gripper motor travels 6.57 rad between its stops; the config's guess is wrong
    # on purpose: connect measures the stops (as the vendor's driver does at every start).
    emu, arm, plant = yam(
        gripper_stops="measure", gripper_open_rad=3.0, gripper_closed_rad=1.0,
        plant_kwargs={"gripper_stops_rad": (0.4, 6.97)},
    )  # fmt: skip
    assert arm.map.g_closed == pytest.approx(0.4, abs=0.05) and arm.map.g_open == pytest.approx(6.97, abs=0.05)
    arm.command(np.array([*READY, 0.0]))
    assert wait_for(lambda: abs(plant.g - 0.4) < 0.02 and arm.read_state().q[6] < 0.01, 15), plant.g  # closed
    # Squeezing on the stop: the motor's torque is the grip-force cap, not kp × error.
    time.sleep(0.3)
    assert abs(emu.motors[6].tau) <= arm.grip_torque_nm + 0.05
    assert arm.grip_torque_nm == pytest.approx(50.0 * 0.096 / 6.57)
    arm.command(np.array([*READY, 1.0]))
    assert wait_for(lambda: abs(plant.g - 6.97) < 0.02 and arm.read_state().q[6] > 0.99, 15), plant.g  # open


def test_torque_off_holds_the_arm_where_it_is(yam):
    emu, arm, plant = yam()
    _to_ready(arm, plant)
    before = _settled(plant, 0.5)
    arm.set_torque(False)  # what the follower does on ESTOP
    assert arm.state == "held" and not arm.torque_enabled and all(emu.enabled)
    after = _settled(plant, 1.5)
    assert np.abs(after - before).max() < 0.005, f"moved {after - before}"
    assert emu.last_command(2).kp > 0 and abs(emu.last_command(2).t) > 1.0  # stiff, gravity fed forward


def test_clean_exit_parks_at_rest_then_releases(yam):
    emu, arm, plant = yam(park_speed_rad_s=1.5)
    _to_ready(arm, plant)
    arm.close()
    assert arm.parked is True and emu.states == [MotorState.DISABLED] * 7
    rest = plant.joint_q()
    assert np.abs(rest - np.array(REST_Q)).max() < 0.06, rest
    # Released at rest: every loaded joint lies on its stop, nothing falls.
    later = _settled(plant, 1.0)
    assert np.abs(later - rest).max() < 0.03, later - rest  # at most settles onto a stop
