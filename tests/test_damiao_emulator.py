"""The Damiao emulator behaves like the motor firmware, seen through raw python-can frames."""

from __future__ import annotations

import itertools
import time

import can
import pytest

from abc_robot.devices.damiao import MitCommand, MotorSpec, MotorState, Special, pack_mit, parse_feedback, special_frame
from abc_robot.testing.damiao_emulator import DamiaoChainEmulator, MotorPhysics

_ch = itertools.count()
SPECS = [MotorSpec(1, 0x11, "DM4340"), MotorSpec(2, 0x12, "DM4310")]


@pytest.fixture()
def link():
    channel = f"dm-emu-{next(_ch)}"
    emu = DamiaoChainEmulator(channel, SPECS, physics=MotorPhysics(timeout_s=0.2)).start()
    bus = can.Bus(interface="virtual", channel=channel)

    def ask(can_id: int, data: bytes):
        bus.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False))
        msg = bus.recv(timeout=1.0)
        assert msg is not None, "the emulated motor did not answer"
        spec = next(s for s in SPECS if s.can_id == can_id)
        assert msg.arbitration_id == spec.master_id
        return parse_feedback(bytes(msg.data), spec.lim)

    yield emu, bus, ask
    bus.shutdown()
    emu.stop()


def test_every_frame_is_answered_from_the_master_id(link):
    emu, bus, ask = link
    fb = ask(1, special_frame(Special.DISABLE))
    assert fb.motor_id == 1 and fb.state is MotorState.DISABLED
    assert ask(2, pack_mit(MitCommand(), SPECS[1].lim)).motor_id == 2
    bus.send(can.Message(arbitration_id=0x55, data=bytes(8), is_extended_id=False))
    assert bus.recv(timeout=0.1) is None  # nobody answers for an unknown id


def test_mit_frames_are_ignored_until_enabled(link):
    emu, bus, ask = link
    ask(1, pack_mit(MitCommand(p=1.0, kp=50.0, kd=2.0), SPECS[0].lim))
    assert emu.last_command(0).kp == 0.0  # disabled: command not taken
    assert ask(1, special_frame(Special.ENABLE)).state is MotorState.ENABLED
    ask(1, pack_mit(MitCommand(p=1.0, kp=50.0, kd=2.0), SPECS[0].lim))
    assert emu.last_command(0).kp == pytest.approx(50.0, abs=0.2)


def test_timeout_latches_lost_comm_until_cleared(link):
    emu, bus, ask = link
    ask(1, special_frame(Special.ENABLE))
    time.sleep(0.35)  # longer than this emulator's 0.2 s CAN timeout
    fb = ask(1, pack_mit(MitCommand(p=1.0, kp=50.0), SPECS[0].lim))
    assert fb.state is MotorState.LOST_COMM and fb.is_error
    assert ask(1, special_frame(Special.ENABLE)).state is MotorState.LOST_COMM  # must clear first
    assert ask(1, special_frame(Special.CLEAR_ERROR)).state is MotorState.DISABLED
    assert ask(1, special_frame(Special.ENABLE)).state is MotorState.ENABLED


def test_silenced_motor_neither_hears_nor_answers(link):
    emu, bus, ask = link
    emu.silence(1)
    bus.send(can.Message(arbitration_id=2, data=special_frame(Special.ENABLE), is_extended_id=False))
    assert bus.recv(timeout=0.1) is None
    assert emu.states[1] == MotorState.DISABLED
    emu.silence(1, False)
    assert ask(2, special_frame(Special.ENABLE)).state is MotorState.ENABLED


def test_mit_law_moves_the_joint_and_torque_is_clipped(link):
    emu, bus, ask = link
    ask(1, special_frame(Special.ENABLE))
    fb = None
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        fb = ask(1, pack_mit(MitCommand(p=0.5, kp=40.0, kd=3.0), SPECS[0].lim))
        if abs(fb.p - 0.5) < 0.01:
            break
        time.sleep(0.005)
    assert fb is not None and abs(fb.p - 0.5) < 0.01
    fb = ask(1, pack_mit(MitCommand(p=12.0, kp=500.0), SPECS[0].lim))
    fb = ask(1, pack_mit(MitCommand(p=12.0, kp=500.0), SPECS[0].lim))
    assert abs(fb.t) <= SPECS[0].lim.t_max + 0.02  # DM4340: 28 N·m
