"""The Damiao emulator behaves like the motor firmware, seen through raw python-can frames."""

from __future__ import annotations

import itertools
import time

import can
import pytest

from abc_robot.devices.damiao import (
    MOTOR_LIMITS,
    MitCommand,
    MotorLimits,
    MotorSpec,
    MotorState,
    Special,
    pack_mit,
    parse_feedback,
    special_frame,
)
from abc_robot.devices.damiao.protocol import (
    REG_READ,
    REG_WRITE,
    REGISTER_ID,
    Register,
    parse_register_reply,
    register_frame,
)
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


def _register(bus: can.Bus, can_id: int, cmd: int, reg: Register, value: float | int = 0):
    bus.send(can.Message(arbitration_id=REGISTER_ID, data=register_frame(can_id, cmd, reg, value), is_extended_id=False))
    msg = bus.recv(timeout=1.0)
    assert msg is not None, "no register reply"
    assert msg.arbitration_id == next(s for s in SPECS if s.can_id == can_id).master_id
    return parse_register_reply(bytes(msg.data), can_id, reg)


def test_registers_answer_like_the_firmware_and_scale_the_frames(link):
    emu, bus, ask = link
    # The DM4340 holds the vendor's table and its gear ratio; registers are per motor.
    assert _register(bus, 1, REG_READ, Register.VMAX) == pytest.approx(10.0)
    assert _register(bus, 1, REG_READ, Register.GR) == pytest.approx(40.0)
    assert _register(bus, 2, REG_READ, Register.GR) == pytest.approx(10.0)
    assert _register(bus, 1, REG_READ, Register.TIMEOUT) == 4000  # this emulator's 0.2 s
    # A write takes while disabled (RAM) and is echoed; Gr is read-only.
    assert _register(bus, 1, REG_WRITE, Register.VMAX, 8.0) == pytest.approx(8.0)
    assert _register(bus, 1, REG_WRITE, Register.GR, 9.0) == pytest.approx(40.0)
    # The motor now scales its feedback by V_MAX 8: read with the table's 10 it is 1.25× off.
    ask(1, special_frame(Special.ENABLE))
    emu.push(0, 0.5)
    time.sleep(0.12)  # within this emulator's 0.2 s CAN timeout: still enabled
    emu.push(0, 0.0)
    bus.send(can.Message(arbitration_id=1, data=pack_mit(MitCommand(), SPECS[0].lim), is_extended_id=False))
    raw = bus.recv(timeout=1.0)
    assert raw is not None
    fb_right = parse_feedback(bytes(raw.data), MotorLimits(12.5, 8.0, 28.0))
    fb_wrong = parse_feedback(bytes(raw.data), MOTOR_LIMITS["DM4340"])
    assert 0.3 < fb_right.v < 2.6  # pushed forward, at most the push's terminal speed
    assert fb_wrong.v == pytest.approx(1.25 * fb_right.v, rel=0.01)
    # While enabled a write does not take (the firmware changes settings only when disabled).
    assert _register(bus, 1, REG_WRITE, Register.VMAX, 10.0) == pytest.approx(8.0)


def test_timeout_register_zero_never_times_out(link):
    emu, bus, ask = link
    assert _register(bus, 2, REG_WRITE, Register.TIMEOUT, 0) == 0
    ask(2, special_frame(Special.ENABLE))
    time.sleep(0.35)  # longer than the 0.2 s motor 1 would allow
    assert emu.states[1] == MotorState.ENABLED
    assert _register(bus, 2, REG_READ, Register.TIMEOUT) == 0
