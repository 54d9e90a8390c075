"""The hardware twin of rigs/abc_yam: every device emulated, reached through the overlay it writes.

The real drivers are opened from ``load_rig(rig, overlay)`` exactly as a ``--rig``
command opens them: the GELLO leader reader (dynamixel-sdk on a pty), the YAM arm
(python-can on the twin's udp_multicast bus), the console board reader.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from abc_robot.calibration.schema import load_leader_calibration
from abc_robot.devices.console_board.reader import ConsoleBoard
from abc_robot.devices.damiao import MotorState, YamArm
from abc_robot.devices.dynamixel.leader import LeaderReader
from abc_robot.rig import camera_config, follower_config, load_rig
from abc_robot.sim.world import HOME_Q
from abc_robot.testing.twin.cli import build_parser
from abc_robot.testing.twin.hand import hold_hand
from abc_robot.testing.twin.rig_twin import RigTwin

from .utils import REPO, wait_for

RIG = REPO / "rigs" / "abc_yam"
ARMS = ("left", "right")


@pytest.fixture()
def twin(run_dir):
    with RigTwin(RIG, Path(run_dir), camera_size=(96, 72), motor_timeout_s=2.0) as t:
        yield t


def test_overlay_loads_onto_the_rig_and_names_every_device(twin):
    overlay = twin.write_overlay()
    rig = load_rig(RIG, overlay)
    assert set(rig.leaders) == set(ARMS) and set(rig.followers) == set(ARMS)
    for arm in ARMS:
        assert rig.leaders[arm].port == str(twin.leaders[arm].link)
        assert Path(rig.leaders[arm].port).exists(), "the leader's pty is not there"
        cfg = follower_config(rig, arm)
        assert cfg.interface == "udp_multicast" and cfg.channel == twin.can[arm]["channel"]
    assert set(rig.cameras) == {"top", "left", "right"}
    for name in rig.cameras:
        assert rig.cameras[name].kind == "sim"
        cam = camera_config(rig, name)
        assert (cam.world.image_width, cam.world.image_height) == (96, 72)
    assert rig.console is not None and rig.console.board.port == str(twin.console.link)


def test_real_drivers_reach_the_twin_through_the_overlay(twin):
    rig = load_rig(RIG, twin.write_overlay())
    # The leader: the real reader on the pty reads the hand's pose through the calibration.
    cal = load_leader_calibration(rig.path(rig.leaders["left"].calibration), arm="left")
    twin.move_leader("left", hold_hand([0.2, 1.1, 1.0, -1.2, 0.3, -0.1, 0.75]))
    reader = LeaderReader(dataclasses.replace(cal, port=rig.leaders["left"].port), fk=False)
    reader.connect()
    try:
        assert wait_for(lambda: (s := reader.read()) is not None and abs(s.q[0] - 0.2) < 1e-2, 5)
        sample = reader.read()
        assert sample is not None
        np.testing.assert_allclose(sample.q[:6], [0.2, 1.1, 1.0, -1.2, 0.3, -0.1], atol=1e-2)
        assert abs(sample.gripper - 0.75) < 0.02
        # Unplugged: the reader faults; plugged back: it reads again.
        twin.unplug_leader("left")
        assert wait_for(lambda: reader.read() is None and reader.fault is not None, 5), "an unplugged leader read on"
        twin.unplug_leader("left", False)
        assert wait_for(lambda: reader.read() is not None, 10), f"the leader did not come back: {reader.fault}"
    finally:
        reader.close()
    # A YAM follower: the real driver on the twin's bus holds the arm in the world against gravity.
    arm = YamArm(follower_config(rig, "right"), arm="right")
    arm.connect()
    try:
        q0 = arm.read_state().q.copy()  # type: ignore[union-attr]
        np.testing.assert_allclose(q0[:6], twin.arm_q("right")[:6], atol=0.02)
        arm.set_torque(True)
        arm.command(np.asarray(HOME_Q))
        chain = twin.chains["right"]
        assert wait_for(lambda: chain.states == [MotorState.ENABLED] * 7, 5), chain.states
        assert wait_for(lambda: np.abs(twin.arm_q("right")[:6] - np.asarray(HOME_Q[:6])).max() < 0.12, 15), (
            f"the right arm never reached the ready pose: {twin.arm_q('right')[:6]}"
        )
        # The other arm has no driver: it stays folded at rest (the world is one).
        assert abs(twin.arm_q("left")[1]) < 0.05
    finally:
        arm.close()
    # The console board answers on its pty.
    board = ConsoleBoard(rig.console.board)  # type: ignore[union-attr]
    try:
        assert wait_for(board.open, 5), board.fault
    finally:
        board.close()


def test_twin_knobs_for_preflight(twin):
    twin.set_latency_timer("left", 16)
    assert twin.latency_files["left"].read_text().strip() == "16"
    twin.silence_motor("right", 3)
    assert twin.chains["right"].motors[3].silent


def test_cli_parser_takes_the_rig_and_options():
    args = build_parser().parse_args([str(RIG), "--hand", "scripted", "--camera-size", "96x72"])
    assert args.rig == str(RIG) and args.hand == "scripted" and args.camera_size == "96x72"
