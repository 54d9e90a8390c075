"""Control table of the Dynamixel X series (Protocol 2.0) and its units.

Addresses and sizes are the XM430/XL330/XC330 ones (they agree on everything used
here); the driver and the emulator both read them from this one place. Addresses
below 64 are EEPROM: a servo refuses writes to them while its torque is on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "Reg",
    "MODEL_NUMBER",
    "FIRMWARE_VERSION",
    "ID",
    "BAUD_RATE",
    "RETURN_DELAY_TIME",
    "DRIVE_MODE",
    "OPERATING_MODE",
    "HOMING_OFFSET",
    "CURRENT_LIMIT",
    "VELOCITY_LIMIT",
    "MAX_POSITION_LIMIT",
    "MIN_POSITION_LIMIT",
    "TORQUE_ENABLE",
    "LED",
    "STATUS_RETURN_LEVEL",
    "HARDWARE_ERROR_STATUS",
    "POSITION_P_GAIN",
    "GOAL_CURRENT",
    "GOAL_VELOCITY",
    "PROFILE_ACCELERATION",
    "PROFILE_VELOCITY",
    "GOAL_POSITION",
    "MOVING",
    "PRESENT_CURRENT",
    "PRESENT_VELOCITY",
    "PRESENT_POSITION",
    "PRESENT_TEMPERATURE",
    "TABLE_SIZE",
    "EEPROM_END",
    "REGISTERS",
    "BAUD_CODES",
    "OPERATING_MODES",
    "TICKS_PER_TURN",
    "RAD_PER_TICK",
    "RAD_S_PER_VELOCITY_UNIT",
    "RAD_S2_PER_ACCEL_UNIT",
    "POSITION_MODES",
    "to_signed",
    "baud_code",
]


@dataclass(frozen=True)
class Reg:
    """One control-table entry: ``address`` and ``size`` [bytes], signed or not."""

    name: str
    address: int
    size: int
    signed: bool = False
    writable: bool = True


MODEL_NUMBER = Reg("model_number", 0, 2, writable=False)
FIRMWARE_VERSION = Reg("firmware_version", 6, 1, writable=False)
ID = Reg("id", 7, 1)
BAUD_RATE = Reg("baud_rate", 8, 1)
RETURN_DELAY_TIME = Reg("return_delay_time", 9, 1)  # [2 µs]
DRIVE_MODE = Reg("drive_mode", 10, 1)
OPERATING_MODE = Reg("operating_mode", 11, 1)
HOMING_OFFSET = Reg("homing_offset", 20, 4, signed=True)
CURRENT_LIMIT = Reg("current_limit", 38, 2)
VELOCITY_LIMIT = Reg("velocity_limit", 44, 4)
MAX_POSITION_LIMIT = Reg("max_position_limit", 48, 4)
MIN_POSITION_LIMIT = Reg("min_position_limit", 52, 4)
TORQUE_ENABLE = Reg("torque_enable", 64, 1)
LED = Reg("led", 65, 1)
STATUS_RETURN_LEVEL = Reg("status_return_level", 68, 1)
HARDWARE_ERROR_STATUS = Reg("hardware_error_status", 70, 1, writable=False)
POSITION_P_GAIN = Reg("position_p_gain", 84, 2)
GOAL_CURRENT = Reg("goal_current", 102, 2, signed=True)  # [current unit]
GOAL_VELOCITY = Reg("goal_velocity", 104, 4, signed=True)  # [0.229 rpm]
PROFILE_ACCELERATION = Reg("profile_acceleration", 108, 4)  # [214.577 rev/min²]
PROFILE_VELOCITY = Reg("profile_velocity", 112, 4)  # [0.229 rpm]
GOAL_POSITION = Reg("goal_position", 116, 4, signed=True)  # [tick]
MOVING = Reg("moving", 122, 1, writable=False)
PRESENT_CURRENT = Reg("present_current", 126, 2, signed=True, writable=False)  # [current unit]
PRESENT_VELOCITY = Reg("present_velocity", 128, 4, signed=True, writable=False)  # [0.229 rpm]
PRESENT_POSITION = Reg("present_position", 132, 4, signed=True, writable=False)  # [tick]
PRESENT_TEMPERATURE = Reg("present_temperature", 146, 1, writable=False)  # [°C]

#: Bytes of the control table (indirect addresses beyond are not used).
TABLE_SIZE = 147
#: First RAM address; below it EEPROM, locked while torque is on.
EEPROM_END = 64

REGISTERS: tuple[Reg, ...] = (
    MODEL_NUMBER,
    FIRMWARE_VERSION,
    ID,
    BAUD_RATE,
    RETURN_DELAY_TIME,
    DRIVE_MODE,
    OPERATING_MODE,
    HOMING_OFFSET,
    CURRENT_LIMIT,
    VELOCITY_LIMIT,
    MAX_POSITION_LIMIT,
    MIN_POSITION_LIMIT,
    TORQUE_ENABLE,
    LED,
    STATUS_RETURN_LEVEL,
    HARDWARE_ERROR_STATUS,
    POSITION_P_GAIN,
    GOAL_CURRENT,
    GOAL_VELOCITY,
    PROFILE_ACCELERATION,
    PROFILE_VELOCITY,
    GOAL_POSITION,
    MOVING,
    PRESENT_CURRENT,
    PRESENT_VELOCITY,
    PRESENT_POSITION,
    PRESENT_TEMPERATURE,
)

#: Baud Rate register (8) value → [baud].
BAUD_CODES: dict[int, int] = {
    0: 9600,
    1: 57600,
    2: 115200,
    3: 1_000_000,
    4: 2_000_000,
    5: 3_000_000,
    6: 4_000_000,
    7: 4_500_000,
}

#: Operating Mode register (11) values.
OPERATING_MODES: dict[int, str] = {
    0: "current",
    1: "velocity",
    3: "position",
    4: "extended_position",
    5: "current_based_position",
    16: "pwm",
}
#: Modes in which Goal Position (116) drives the servo.
POSITION_MODES = (3, 4, 5)

TICKS_PER_TURN = 4096
RAD_PER_TICK = 2 * math.pi / TICKS_PER_TURN
RAD_S_PER_VELOCITY_UNIT = 0.229 * 2 * math.pi / 60.0
RAD_S2_PER_ACCEL_UNIT = 214.577 * 2 * math.pi / 3600.0


def to_signed(value: int, size: int) -> int:
    """Two's complement of a ``size``-byte register value."""
    bits = 8 * size
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def baud_code(baud: int) -> int:
    """Baud Rate register value for ``baud``.

    Raises:
        ValueError: a rate the X series does not offer (the valid ones are listed).
    """
    for code, rate in BAUD_CODES.items():
        if rate == baud:
            return code
    raise ValueError(f"baud {baud} is not an X-series rate; valid: {sorted(BAUD_CODES.values())}")
