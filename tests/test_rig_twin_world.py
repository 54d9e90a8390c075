"""The twin's world: YAM arms as Damiao chains whose MIT commands drive MuJoCo joints with gravity.

The real YAM driver (:class:`YamArm`) talks over python-can to :class:`TwinDamiaoChain`;
the motors' torques move the twin world's joints and they report the simulated state.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from abc_robot.devices.damiao import MotorState, YamArm, YamConfig
from abc_robot.sim.config import SimConfig
from abc_robot.sim.world import HOME_Q
from abc_robot.testing.twin.motors import MotorMap, TwinDamiaoChain
from abc_robot.testing.twin.plant import TwinWorld

from .utils import wait_for


@pytest.fixture()
def twin():
    """A twin world with the left arm's chain on a private virtual bus and the real driver on it."""
    world = TwinWorld(SimConfig())
    channel = f"twin-{uuid.uuid4().hex[:8]}"
    # A non-trivial build: offsets, a flipped joint and a gripper closing towards -rad.
    cfg = YamConfig(
        interface="virtual",
        channel=channel,
        control_hz=250,
        reply_timeout_s=0.02,
        silent_after_s=0.2,
        directions=(1.0, -1.0, 1.0, 1.0, -1.0, 1.0),
        offsets_rad=(0.3, -0.2, 0.1, 0.0, 0.5, -0.4),
        gripper_open_rad=0.1,
        gripper_closed_rad=-2.5,
    )
    chain = TwinDamiaoChain(
        world.world, "left", channel, cfg.motor_specs(), motor_map=MotorMap.from_yam(cfg), timeout_s=2.0
    ).start()
    world.attach(chain)
    world.start()
    arm = YamArm(cfg, arm="left")
    arm.connect()
    yield world, chain, arm
    arm.close()
    chain.stop()
    world.close()


def _to_home(world: TwinWorld, chain: TwinDamiaoChain, arm: YamArm) -> None:
    """Enable the arm and bring it from its rest pose to the ready pose (a gravity-loaded one)."""
    arm.set_torque(True)
    arm.command(np.asarray(HOME_Q))
    assert wait_for(lambda: all(chain.enabled), 5), f"motors never enabled: {chain.states}"
    assert wait_for(lambda: np.abs(world.arm_q("left")[:6] - np.asarray(HOME_Q[:6])).max() < 0.12, 15), (
        f"the arm never reached the ready pose: {world.arm_q('left')[:6]}"
    )
    steps = world.steps
    assert wait_for(lambda: world.steps > steps + 500, 10)  # a second to settle


def test_world_starts_at_rest_and_the_driver_reads_it_through_the_motor_map(twin):
    world, _chain, arm = twin
    sample = arm.read_state()
    assert sample is not None
    # Folded on its stops (joints 2, 3 at 0), the wrist hanging: what the driver reads,
    # through offsets, directions and the gripper range, is the world's pose.
    world_q = world.arm_q("left")
    np.testing.assert_allclose(sample.q[:6], world_q[:6], atol=0.02)
    assert abs(world_q[1]) < 0.05 and abs(world_q[2]) < 0.05, world_q
    steps = world.steps
    assert wait_for(lambda: world.steps > steps + 250, 10)
    np.testing.assert_allclose(world.arm_q("left")[:6], world_q[:6], atol=0.03, err_msg="a resting arm moved")


def test_mit_torques_hold_the_arm_against_gravity(twin):
    world, chain, arm = twin
    _to_home(world, chain, arm)
    # Held near the pose: sag from gravity only (no feed-forward here), the arm is not dropped.
    q = world.arm_q("left")
    assert np.abs(q[:6] - np.asarray(HOME_Q[:6])).max() < 0.12, f"arm fell: {q[:6]}"
    # The motors carry the weight: their torques (joint frame) balance MuJoCo's gravity torque.
    tau_joint = MotorMap.from_yam(arm.config).world_effort(np.array([m.tau for m in chain.motors]))[:6]
    grav = world.gravity_torque("left")
    assert np.abs(grav[1:3]).min() > 1.0, f"no gravity load on joints 2-3 at this pose: {grav}"
    np.testing.assert_allclose(tau_joint, grav, atol=0.3)


def test_disabled_motors_let_the_arm_fall(twin):
    world, chain, arm = twin
    with world.lock:  # the arm put at the ready pose, motors still disabled
        world.world.set_arm_q("left", np.asarray(HOME_Q))
    q0 = np.asarray(HOME_Q)
    # Torque never enabled: the motors are limp and gravity pulls the arm down.
    assert wait_for(lambda: np.abs(world.arm_q("left")[1:3] - q0[1:3]).max() > 0.3, 10), (
        f"a limp arm did not move under gravity: {world.arm_q('left')[:6]} from {q0[:6]}"
    )
    assert chain.states == [MotorState.DISABLED] * 7


def test_commanded_motion_reaches_the_world(twin):
    world, chain, arm = twin
    _to_home(world, chain, arm)
    target = np.asarray(HOME_Q).copy()
    target[0] += 0.3
    target[4] -= 0.3
    arm.command(target)
    assert wait_for(lambda: abs(world.arm_q("left")[0] - target[0]) < 0.03, 10), world.arm_q("left")
    assert wait_for(lambda: abs(world.arm_q("left")[4] - target[4]) < 0.05, 10), world.arm_q("left")


def test_a_silent_motor_is_reported_and_the_arm_is_not_dropped(twin):
    world, chain, arm = twin
    _to_home(world, chain, arm)
    chain.silence(1)  # joint 2's CAN link cut: the driver stops the arm
    assert wait_for(lambda: arm.fault is not None, 10), "the driver did not notice a silent motor"
    assert "joint2 silent" in arm.fault, arm.fault  # type: ignore[operator]
    assert arm.read_state() is None  # in its safe stop: the follower holds
    # The silent motor latches LOST_COMM and damps; the others damp or hold: a slow sink, no free fall.
    assert wait_for(lambda: chain.states[1] == MotorState.LOST_COMM, 10), chain.states
    v = max(abs(m.v) for m in chain.motors[:6])
    assert v < 3.0, f"a joint moved at {v:.2f} rad/s: the arm was dropped"
    chain.silence(1, False)
    # The link is back: the driver clears and enables the motor where it is, and holds the arm.
    assert wait_for(lambda: arm.state == "held", 10), (arm.fault, chain.states)
    arm.command(arm.read_state().q)  # type: ignore[union-attr]
    assert wait_for(lambda: arm.fault is None and all(chain.enabled), 10), (arm.fault, chain.states)
