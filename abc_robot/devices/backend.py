"""The arm backend role: what a follower drives, hardware or simulated.

A follower process owns exactly one backend: a real arm (Dynamixel chain, YAM/Damiao
over CAN) or a proxy to the MuJoCo world process. The follower's mode arbiter, IK and
safety filter never know which one it is.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ArmSample", "ArmBackend"]


@dataclass(frozen=True)
class ArmSample:
    """One measurement of an arm.

    Attributes:
        q: joint positions [rad] for the arm joints, then the gripper opening in [0, 1]
            (0 = closed, 1 = open), e.g. 7 values for the YAM arm.
        stamp_ns: ``time.monotonic_ns()`` at which the device was read (or the sim stepped).
        dq: joint velocities [rad/s] (same layout), empty if the device does not report them.
        effort: joint efforts [N·m] or currents [A] (same layout), possibly empty.
    """

    q: np.ndarray
    stamp_ns: int
    dq: np.ndarray = field(default_factory=lambda: np.zeros(0))
    effort: np.ndarray = field(default_factory=lambda: np.zeros(0))


class ArmBackend(abc.ABC):
    """Contract of an arm backend.

    Lifecycle: ``connect()`` → any number of ``read_state()`` / ``command()`` →
    ``close()``. ``close()`` must switch torque off (or leave the arm in the device's
    safe state) and must be callable twice and after a failed ``connect()``.
    A backend never raises out of ``read_state`` for a transient fault: it returns None
    and reports through ``fault`` so the follower can HOLD and the device can reconnect.
    Usable as a context manager.
    """

    #: Number of values in ``q`` (arm joints + gripper).
    dof: int = 7

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the device, read the current state; torque stays as it was (off at start)."""

    @abc.abstractmethod
    def read_state(self) -> ArmSample | None:
        """Latest measurement, or None if the device gave no valid data this time."""

    @abc.abstractmethod
    def command(self, q: np.ndarray) -> np.ndarray:
        """Send joint position targets (rad, gripper in [0, 1]); return what was sent
        after the device's own clamping. Enables torque first if it is off."""

    @abc.abstractmethod
    def set_torque(self, enabled: bool) -> None:
        """Switch the motors' torque on or off."""

    @abc.abstractmethod
    def close(self) -> None:
        """Torque off and release the device. Idempotent."""

    @property
    def fault(self) -> str | None:
        """Text of the current fault (unplugged, motor silent...), None when healthy."""
        return None

    @property
    def is_connected(self) -> bool:
        """True between a successful connect() and close()."""
        return False

    def __enter__(self) -> ArmBackend:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
