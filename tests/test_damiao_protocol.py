"""Damiao MIT protocol: bit layout, quantisation round trips, special frames."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from abc_robot.devices.damiao.protocol import (
    MOTOR_LIMITS,
    Feedback,
    MitCommand,
    MotorLimits,
    MotorState,
    Special,
    float_to_uint,
    pack_feedback,
    pack_mit,
    parse_feedback,
    parse_special,
    special_frame,
    uint_to_float,
    unpack_mit,
)
from abc_robot.errors import CodecError

DM4310 = MOTOR_LIMITS["DM4310"]
DM4340 = MOTOR_LIMITS["DM4340"]


def _step(lo: float, hi: float, bits: int) -> float:
    return (hi - lo) / ((1 << bits) - 1)


def test_special_frames():
    assert special_frame(Special.ENABLE).hex() == "fffffffffffffffc"
    assert special_frame(Special.DISABLE).hex() == "fffffffffffffffd"
    assert special_frame(Special.SAVE_ZERO).hex() == "fffffffffffffffe"
    assert special_frame(Special.CLEAR_ERROR).hex() == "fffffffffffffffb"
    assert parse_special(bytes.fromhex("fffffffffffffffc")) is Special.ENABLE
    assert parse_special(bytes.fromhex("7fff7ff000000800")) is None


def test_mit_bit_layout_by_hand():
    # Full scale everywhere: every field all ones, except kd nudged one LSB down so the
    # frame cannot be mistaken for a special command.
    full = pack_mit(MitCommand(p=12.5, v=30.0, kp=500.0, kd=5.0, t=10.0), DM4310)
    assert full.hex() == "ffffffffffffefff"
    assert parse_special(full) is None
    # Bottom of every range: all zeros.
    assert pack_mit(MitCommand(p=-12.5, v=-30.0, kp=0.0, kd=0.0, t=-10.0), DM4310) == bytes(8)
    # Fields land in their bits: p=0x1234, v=0xABC, kp=0x567, kd=0x89A, t=0xDEF.
    raw = {"p": 0x1234, "v": 0xABC, "kp": 0x567, "kd": 0x89A, "t": 0xDEF}
    cmd = MitCommand(
        p=uint_to_float(raw["p"], -12.5, 12.5, 16),
        v=uint_to_float(raw["v"], -10.0, 10.0, 12),  # DM4340: V_MAX 10 (the YAM vendor's table)
        kp=uint_to_float(raw["kp"], 0.0, 500.0, 12),
        kd=uint_to_float(raw["kd"], 0.0, 5.0, 12),
        t=uint_to_float(raw["t"], -28.0, 28.0, 12),
    )
    assert pack_mit(cmd, DM4340).hex() == "1234abc56789adef"


def test_feedback_bit_layout_by_hand():
    # state ENABLED (1), id 3; p=0x8000, v=0x7FF, t=0x800; MOS 40 °C, rotor 45 °C.
    data = bytes((0x13, 0x80, 0x00, 0x7F, 0xF8, 0x00, 40, 45))
    fb = parse_feedback(data, DM4340)
    assert fb.motor_id == 3 and fb.state is MotorState.ENABLED and not fb.is_error
    assert fb.p == pytest.approx(uint_to_float(0x8000, -12.5, 12.5, 16))
    assert fb.v == pytest.approx(uint_to_float(0x7FF, -10.0, 10.0, 12))
    assert fb.t == pytest.approx(uint_to_float(0x800, -28.0, 28.0, 12))
    assert (fb.t_mos, fb.t_rotor) == (40, 45)
    lost = parse_feedback(bytes((0xD1, 0, 0, 0, 0, 0, 0, 0)), DM4310)
    assert lost.state is MotorState.LOST_COMM and lost.is_error
    odd = parse_feedback(bytes((0x51, 0, 0, 0, 0, 0, 0, 0)), DM4310)
    assert odd.state == 5  # undocumented code kept raw


def test_wrong_lengths_raise_codec_errors():
    with pytest.raises(CodecError):
        parse_feedback(bytes(7), DM4310)
    with pytest.raises(CodecError):
        unpack_mit(bytes(9), DM4310)
    with pytest.raises(CodecError):
        float_to_uint(math.nan, 0, 1, 12)


@given(st.floats(-100, 100), st.integers(8, 16))
def test_float_to_uint_round_trip_within_half_a_step(x, bits):
    lo, hi = -12.5, 12.5
    u = float_to_uint(x, lo, hi, bits)
    assert 0 <= u < (1 << bits)
    back = uint_to_float(u, lo, hi, bits)
    clamped = min(max(x, lo), hi)
    assert abs(back - clamped) <= _step(lo, hi, bits) / 2 + 1e-12


limits = st.sampled_from(sorted(MOTOR_LIMITS.values(), key=repr))


@given(limits, st.data())
def test_mit_round_trip(lim: MotorLimits, data):
    cmd = MitCommand(
        p=data.draw(st.floats(-lim.p_max, lim.p_max)),
        v=data.draw(st.floats(-lim.v_max, lim.v_max)),
        kp=data.draw(st.floats(0, lim.kp_max)),
        kd=data.draw(st.floats(0, lim.kd_max)),
        t=data.draw(st.floats(-lim.t_max, lim.t_max)),
    )
    frame = pack_mit(cmd, lim)
    assert len(frame) == 8
    assume(parse_special(frame) is None)
    back = unpack_mit(frame, lim)
    assert abs(back.p - cmd.p) <= _step(-lim.p_max, lim.p_max, 16) / 2 + 1e-9
    assert abs(back.v - cmd.v) <= _step(-lim.v_max, lim.v_max, 12) / 2 + 1e-9
    assert abs(back.kp - cmd.kp) <= _step(0, lim.kp_max, 12) / 2 + 1e-9
    assert abs(back.kd - cmd.kd) <= _step(0, lim.kd_max, 12) + 1e-9  # may be nudged by one LSB
    assert abs(back.t - cmd.t) <= _step(-lim.t_max, lim.t_max, 12) / 2 + 1e-9
    # Packing what the motor decoded gives the same bytes (the grid is a fixed point).
    assert pack_mit(back, lim) == frame


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_mit_out_of_range_is_clamped_not_wrapped(p, kp, t):
    back = unpack_mit(pack_mit(MitCommand(p=p, kp=kp, t=t), DM4340), DM4340)
    assert -12.5 <= back.p <= 12.5 and 0.0 <= back.kp <= 500.0 and -28.0 <= back.t <= 28.0
    if p > 12.5:
        assert back.p == 12.5
    if kp < 0:
        assert back.kp == 0.0


@given(st.integers(1, 15), st.sampled_from(list(MotorState)), limits, st.data())
def test_feedback_round_trip(motor_id, state, lim, data):
    fb = Feedback(
        motor_id=motor_id,
        state=state,
        p=data.draw(st.floats(-lim.p_max, lim.p_max)),
        v=data.draw(st.floats(-lim.v_max, lim.v_max)),
        t=data.draw(st.floats(-lim.t_max, lim.t_max)),
        t_mos=data.draw(st.integers(0, 255)),
        t_rotor=data.draw(st.integers(0, 255)),
    )
    back = parse_feedback(pack_feedback(fb, lim), lim)
    assert (back.motor_id, back.state, back.t_mos, back.t_rotor) == (motor_id, state, fb.t_mos, fb.t_rotor)
    assert abs(back.p - fb.p) <= _step(-lim.p_max, lim.p_max, 16) / 2 + 1e-9
    assert abs(back.v - fb.v) <= _step(-lim.v_max, lim.v_max, 12) / 2 + 1e-9
    assert abs(back.t - fb.t) <= _step(-lim.t_max, lim.t_max, 12) / 2 + 1e-9


def test_limits_validate():
    with pytest.raises(ValueError):
        MotorLimits(0.0, 1.0, 1.0)


def test_register_frames_by_hand():
    from abc_robot.devices.damiao.protocol import REG_READ, REG_WRITE, Register, parse_register_reply, register_frame

    assert register_frame(3, REG_READ, Register.PMAX) == bytes((3, 0, 0x33, 21, 0, 0, 0, 0))
    # 12.5 as a little-endian float32 is 00 00 48 41; TIMEOUT 8000 as a uint32 is 40 1f 00 00.
    assert register_frame(3, REG_WRITE, Register.PMAX, 12.5) == bytes((3, 0, 0x55, 21, 0x00, 0x00, 0x48, 0x41))
    assert register_frame(7, REG_WRITE, Register.TIMEOUT, 8000) == bytes((7, 0, 0x55, 9, 0x40, 0x1F, 0, 0))
    reply = bytes((3, 0, 0x33, 22, 0x00, 0x00, 0x20, 0x41))  # VMAX 10.0
    assert parse_register_reply(reply, 3, Register.VMAX) == 10.0
    assert parse_register_reply(reply, 4, Register.VMAX) is None  # another motor's
    assert parse_register_reply(reply, 3, Register.TMAX) is None  # another register
    assert parse_register_reply(bytes((0x13, 0x80, 0, 0x7F, 0xF8, 0, 40, 45)), 3, Register.VMAX) is None  # feedback
    with pytest.raises(CodecError):
        register_frame(3, REG_WRITE, Register.TIMEOUT, -1)
