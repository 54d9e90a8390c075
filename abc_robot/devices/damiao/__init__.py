"""Damiao motors over CAN (MIT mode) and the YAM follower arm built from them.

- :mod:`.protocol`: frame packing and parsing (pure functions).
- :mod:`.chain`: a set of motors on one python-can bus, with per-motor liveness.
- :mod:`.config`: :class:`YamConfig`, the arm's frozen config.
- :mod:`.connect`: what connect checks and measures before the arm runs.
- :mod:`.identity`: a motor's model as its registers tell it (gear ratio, MIT ranges).
- :mod:`.arm`: :class:`YamArm`, the :class:`~abc_robot.devices.backend.ArmBackend`.

The emulator for tests is :mod:`abc_robot.testing.damiao_emulator`.
"""

from abc_robot.devices.damiao.arm import YamArm
from abc_robot.devices.damiao.chain import DamiaoChain, MotorLink, MotorSpec
from abc_robot.devices.damiao.config import YamConfig
from abc_robot.devices.damiao.identity import MotorIdentity, read_identity
from abc_robot.devices.damiao.protocol import (
    MOTOR_LIMITS,
    Feedback,
    MitCommand,
    MotorLimits,
    MotorState,
    Special,
    pack_feedback,
    pack_mit,
    parse_feedback,
    special_frame,
    unpack_mit,
)

__all__ = [
    "DamiaoChain",
    "Feedback",
    "MOTOR_LIMITS",
    "MitCommand",
    "MotorIdentity",
    "MotorLimits",
    "MotorLink",
    "MotorSpec",
    "MotorState",
    "Special",
    "YamArm",
    "YamConfig",
    "pack_feedback",
    "pack_mit",
    "read_identity",
    "parse_feedback",
    "special_frame",
    "unpack_mit",
]
