"""One exception root for the whole stack.

Every error the stack raises on purpose derives from :class:`AbcRobotError`, so an
operator's script can catch one type. Messages say what was expected and what to do.
"""

from __future__ import annotations

__all__ = [
    "AbcRobotError",
    "ConfigError",
    "CodecError",
    "TransportError",
    "DeviceError",
    "DeviceTimeout",
    "KinematicsError",
    "CheckpointError",
    "EpisodeError",
]


class AbcRobotError(Exception):
    """Root of every error raised on purpose by abc_robot."""


class ConfigError(AbcRobotError):
    """A configuration value is missing or invalid.

    The message always names the file, the section (node) and the field.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        where = ": ".join(p for p in (file, field) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.field = field


class CodecError(AbcRobotError):
    """A wire message could not be decoded (unknown type, truncated, malformed)."""


class TransportError(AbcRobotError):
    """A socket could not be bound/connected, or a request got no reply in time."""


class DeviceError(AbcRobotError):
    """A hardware device (or its emulator) failed: unplugged, no reply, bad checksum."""


class DeviceTimeout(DeviceError):
    """A device did not answer within its deadline."""


class KinematicsError(AbcRobotError):
    """A kinematic model could not be loaded or a frame/joint does not exist."""


class CheckpointError(AbcRobotError):
    """A policy checkpoint is malformed or does not match the rig."""


class EpisodeError(AbcRobotError):
    """An episode on disk is missing, malformed or could not be recovered."""

