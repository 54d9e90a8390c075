"""Damiao motor CAN protocol (DM43xx class) in MIT mode: frame packing and parsing.

Facts of the protocol (Damiao manual; the same layout the i2rt YAM driver and the
DM_Control examples use), standard 11-bit ids, 8 data bytes, 1 Mbit/s:

- **Commands** go to ``arbitration_id = can_id`` (MIT mode; other modes add
  0x100/0x200/0x300). Special commands are ``FF FF FF FF FF FF FF xx`` with ``xx``:
  ``FC`` enable, ``FD`` disable, ``FE`` save current position as zero, ``FB`` clear
  error.
- **MIT command**: position (16 bit) | velocity (12) | kp (12) | kd (12) | torque (12),
  big-endian bit fields; each value is mapped linearly from ``[-P_MAX, P_MAX]``,
  ``[-V_MAX, V_MAX]``, ``[0, 500]``, ``[0, 5]``, ``[-T_MAX, T_MAX]`` to the unsigned
  range of its width. The motor applies ``tau = kp (p - q) + kd (v - dq) + t``.
- **Feedback**, sent by the motor after every frame it receives, from
  ``arbitration_id = master_id`` (conventionally ``can_id + 0x10``): byte 0 = state
  (high nibble) | can_id (low nibble); position 16 bit; velocity 12; torque 12;
  MOS and rotor temperatures in °C (bytes 6, 7).
- State codes: 0 disabled, 1 enabled, 8 over-voltage, 9 under-voltage,
  0xA over-current, 0xB MOS over-temperature, 0xC rotor over-temperature,
  0xD lost communication (no command within the motor's CAN timeout), 0xE overload.

- **Registers** (the motor's settings): a frame to ``arbitration_id = 0x7FF`` with data
  ``[can_id & 0xFF, can_id >> 8, cmd, addr, v0, v1, v2, v3]``, ``cmd`` 0x33 read, 0x55
  write (RAM), 0xAA save to flash; the motor answers from its master id with the
  request's first four bytes and the value (little-endian float32 or uint32) in bytes
  4..7. Addresses used here: 7 MST_ID, 8 ESC_ID, 9 TIMEOUT (CAN timeout, counts of
  50 µs, 0 = none), 10 CTRL_MODE (1 = MIT), 20 Gr (gear ratio, read-only), 21 PMAX,
  22 VMAX, 23 TMAX.

P_MAX / V_MAX / T_MAX are settings stored in each motor and scale every MIT command
and feedback; :data:`MOTOR_LIMITS` holds the values the YAM vendor's driver encodes
with (its ``MotorType.get_motor_constants``) and its setup tools store in the motors,
and the YAM driver reads each motor's registers at connect and refuses a mismatch.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum

from abc_robot.errors import CodecError

__all__ = [
    "MotorLimits",
    "MOTOR_LIMITS",
    "GEAR_RATIO",
    "MotorState",
    "Special",
    "MitCommand",
    "Feedback",
    "float_to_uint",
    "uint_to_float",
    "special_frame",
    "pack_mit",
    "unpack_mit",
    "pack_feedback",
    "parse_feedback",
    "parse_special",
    "Register",
    "REGISTER_ID",
    "REG_READ",
    "REG_WRITE",
    "REG_SAVE",
    "TIMEOUT_S_PER_COUNT",
    "register_frame",
    "parse_register_reply",
]

#: Arbitration id of register frames (every motor listens to it; the first bytes say whom).
REGISTER_ID = 0x7FF
REG_READ, REG_WRITE, REG_SAVE = 0x33, 0x55, 0xAA
#: [s] per count of the TIMEOUT register (8000 counts = the factory 0.4 s).
TIMEOUT_S_PER_COUNT = 50e-6


class Register(IntEnum):
    """Register addresses of a Damiao motor (the manual's decimal column)."""

    MST_ID = 7
    ESC_ID = 8
    TIMEOUT = 9
    CTRL_MODE = 10
    GR = 20
    PMAX = 21
    VMAX = 22
    TMAX = 23

    @property
    def is_float(self) -> bool:
        return self in (Register.GR, Register.PMAX, Register.VMAX, Register.TMAX)


def register_frame(can_id: int, cmd: int, reg: Register, value: float | int = 0) -> bytes:
    """Data of a register read / write / save frame (send to :data:`REGISTER_ID`)."""
    head = bytes((can_id & 0xFF, (can_id >> 8) & 0xFF, cmd, int(reg)))
    if cmd != REG_WRITE:
        return head + b"\x00" * 4
    if reg.is_float:
        if not math.isfinite(float(value)):
            raise CodecError(f"register {reg.name}: cannot write non-finite {value}")
        return head + struct.pack("<f", float(value))
    if not 0 <= int(value) <= 0xFFFFFFFF:
        raise CodecError(f"register {reg.name}: {value} is not a uint32")
    return head + struct.pack("<I", int(value))


def parse_register_reply(data: bytes, can_id: int, reg: Register) -> float | int | None:
    """The value in a register reply to ``can_id`` for ``reg``, or None if ``data`` is not one.

    A reply echoes the request's first four bytes; a feedback frame never has a read or
    write code in byte 2 with the register address in byte 3 and zero in byte 1 as well.
    """
    if len(data) != 8 or data[0] != can_id & 0xFF or data[1] != (can_id >> 8) & 0xFF:
        return None
    if data[2] not in (REG_READ, REG_WRITE) or data[3] != int(reg):
        return None
    if reg.is_float:
        return float(struct.unpack("<f", data[4:8])[0])
    return int(struct.unpack("<I", data[4:8])[0])


@dataclass(frozen=True)
class MotorLimits:
    """Ranges of the MIT fields of one motor.

    Attributes:
        p_max: position range ±p_max [rad].
        v_max: velocity range ±v_max [rad/s].
        t_max: torque range ±t_max [N·m].
        kp_max: stiffness range [0, kp_max] [N·m/rad].
        kd_max: damping range [0, kd_max] [N·m·s/rad].
    """

    p_max: float
    v_max: float
    t_max: float
    kp_max: float = 500.0
    kd_max: float = 5.0

    def __post_init__(self) -> None:
        if min(self.p_max, self.v_max, self.t_max, self.kp_max, self.kd_max) <= 0:
            raise ValueError(f"every MIT range must be positive, got {self}")


#: P_MAX / V_MAX / T_MAX per Damiao model. The YAM models (DM3507, DM4310, DM4340,
#: DM6248, and DM8009) are the YAM vendor's table, which its tools store in the motors;
#: the others are the Damiao spec table.
MOTOR_LIMITS: dict[str, MotorLimits] = {
    "DM3507": MotorLimits(12.5, 50.0, 5.0),
    "DM4310": MotorLimits(12.5, 30.0, 10.0),
    "DM4310_48V": MotorLimits(12.5, 30.0, 10.0),
    "DM4340": MotorLimits(12.5, 10.0, 28.0),
    "DM4340_48V": MotorLimits(12.5, 10.0, 28.0),
    "DM6248": MotorLimits(12.5, 20.0, 120.0),
    "DM6006": MotorLimits(12.5, 45.0, 20.0),
    "DM8006": MotorLimits(12.5, 45.0, 40.0),
    "DM8009": MotorLimits(12.5, 45.0, 54.0),
    "DM10010L": MotorLimits(12.5, 25.0, 200.0),
    "DM10010": MotorLimits(12.5, 20.0, 200.0),
}


#: Gear ratio each model reports in its read-only Gr register (what identifies the model:
#: the limits are writable, the gearbox is not). The YAM vendor's table.
GEAR_RATIO: dict[str, float] = {"DM3507": 7.0, "DM4310": 10.0, "DM4340": 40.0, "DM6248": 48.0, "DM8009": 9.0}


class MotorState(IntEnum):
    """The state nibble of a feedback frame."""

    DISABLED = 0x0
    ENABLED = 0x1
    OVER_VOLTAGE = 0x8
    UNDER_VOLTAGE = 0x9
    OVER_CURRENT = 0xA
    MOS_OVER_TEMP = 0xB
    ROTOR_OVER_TEMP = 0xC
    LOST_COMM = 0xD
    OVERLOAD = 0xE

    @property
    def is_error(self) -> bool:
        return self >= 0x8

    @classmethod
    def from_code(cls, code: int) -> MotorState | int:
        """The enum member, or the raw code when the firmware sent an undocumented one."""
        try:
            return cls(code)
        except ValueError:
            return code


class Special(IntEnum):
    """Last byte of a special command frame (the first seven are 0xFF)."""

    ENABLE = 0xFC
    DISABLE = 0xFD
    SAVE_ZERO = 0xFE
    CLEAR_ERROR = 0xFB


def float_to_uint(x: float, lo: float, hi: float, bits: int) -> int:
    """Map ``x`` in ``[lo, hi]`` (clamped) to an unsigned integer of ``bits`` bits, rounding."""
    top = (1 << bits) - 1
    if not math.isfinite(x):
        raise CodecError(f"cannot encode non-finite value {x}")
    x = min(max(x, lo), hi)
    return min(top, int(math.floor((x - lo) * top / (hi - lo) + 0.5)))


def uint_to_float(u: int, lo: float, hi: float, bits: int) -> float:
    """Inverse of :func:`float_to_uint` (exact at the grid points)."""
    return lo + u * (hi - lo) / ((1 << bits) - 1)


def special_frame(cmd: Special) -> bytes:
    """Data of a special command (send to ``arbitration_id = can_id``)."""
    return b"\xff" * 7 + bytes((int(cmd),))


def parse_special(data: bytes) -> Special | None:
    """The special command in ``data``, or None if it is not one."""
    if len(data) == 8 and data[:7] == b"\xff" * 7:
        try:
            return Special(data[7])
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class MitCommand:
    """One MIT-mode command.

    Attributes:
        p: target position [rad]; v: target velocity [rad/s];
        kp: stiffness [N·m/rad]; kd: damping [N·m·s/rad]; t: feed-forward torque [N·m].
    """

    p: float = 0.0
    v: float = 0.0
    kp: float = 0.0
    kd: float = 0.0
    t: float = 0.0


def pack_mit(cmd: MitCommand, lim: MotorLimits) -> bytes:
    """The 8 data bytes of an MIT command; out-of-range values are clamped to the ranges."""
    p = float_to_uint(cmd.p, -lim.p_max, lim.p_max, 16)
    v = float_to_uint(cmd.v, -lim.v_max, lim.v_max, 12)
    kp = float_to_uint(cmd.kp, 0.0, lim.kp_max, 12)
    kd = float_to_uint(cmd.kd, 0.0, lim.kd_max, 12)
    t = float_to_uint(cmd.t, -lim.t_max, lim.t_max, 12)
    if p == 0xFFFF and v == 0xFFF and kp == 0xFFF and kd == 0xFFF and t >= 0xFFB:
        kd -= 1  # all-ones would read as a special command (enable, disable...): one LSB less damping
    return bytes(
        (
            p >> 8,
            p & 0xFF,
            v >> 4,
            ((v & 0xF) << 4) | (kp >> 8),
            kp & 0xFF,
            kd >> 4,
            ((kd & 0xF) << 4) | (t >> 8),
            t & 0xFF,
        )
    )


def unpack_mit(data: bytes, lim: MotorLimits) -> MitCommand:
    """Decode an MIT command (what the motor does with the 8 bytes)."""
    if len(data) != 8:
        raise CodecError(f"an MIT command has 8 data bytes, got {len(data)}")
    p = (data[0] << 8) | data[1]
    v = (data[2] << 4) | (data[3] >> 4)
    kp = ((data[3] & 0xF) << 8) | data[4]
    kd = (data[5] << 4) | (data[6] >> 4)
    t = ((data[6] & 0xF) << 8) | data[7]
    return MitCommand(
        p=uint_to_float(p, -lim.p_max, lim.p_max, 16),
        v=uint_to_float(v, -lim.v_max, lim.v_max, 12),
        kp=uint_to_float(kp, 0.0, lim.kp_max, 12),
        kd=uint_to_float(kd, 0.0, lim.kd_max, 12),
        t=uint_to_float(t, -lim.t_max, lim.t_max, 12),
    )


@dataclass(frozen=True)
class Feedback:
    """One feedback frame, decoded.

    Attributes:
        motor_id: low nibble of the sender's CAN id (byte 0).
        state: :class:`MotorState` (or the raw code if undocumented).
        p: position [rad]; v: velocity [rad/s]; t: torque [N·m].
        t_mos: driver MOS temperature [°C]; t_rotor: coil temperature [°C].
    """

    motor_id: int
    state: MotorState | int
    p: float
    v: float
    t: float
    t_mos: int
    t_rotor: int

    @property
    def is_error(self) -> bool:
        return int(self.state) >= 0x8


def pack_feedback(fb: Feedback, lim: MotorLimits) -> bytes:
    """Encode a feedback frame (what the motor sends; used by the emulator)."""
    p = float_to_uint(fb.p, -lim.p_max, lim.p_max, 16)
    v = float_to_uint(fb.v, -lim.v_max, lim.v_max, 12)
    t = float_to_uint(fb.t, -lim.t_max, lim.t_max, 12)
    return bytes(
        (
            ((int(fb.state) & 0xF) << 4) | (fb.motor_id & 0xF),
            p >> 8,
            p & 0xFF,
            v >> 4,
            ((v & 0xF) << 4) | (t >> 8),
            t & 0xFF,
            max(0, min(255, fb.t_mos)),
            max(0, min(255, fb.t_rotor)),
        )
    )


def parse_feedback(data: bytes, lim: MotorLimits) -> Feedback:
    """Decode a feedback frame.

    Raises:
        CodecError: not 8 bytes.
    """
    if len(data) != 8:
        raise CodecError(f"a Damiao feedback frame has 8 data bytes, got {len(data)}")
    p = (data[1] << 8) | data[2]
    v = (data[3] << 4) | (data[4] >> 4)
    t = ((data[4] & 0xF) << 8) | data[5]
    return Feedback(
        motor_id=data[0] & 0xF,
        state=MotorState.from_code(data[0] >> 4),
        p=uint_to_float(p, -lim.p_max, lim.p_max, 16),
        v=uint_to_float(v, -lim.v_max, lim.v_max, 12),
        t=uint_to_float(t, -lim.t_max, lim.t_max, 12),
        t_mos=data[6],
        t_rotor=data[7],
    )
