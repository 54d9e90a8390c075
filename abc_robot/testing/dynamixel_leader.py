"""An emulated GELLO leader arm: a Dynamixel chain whose shafts follow joint motions.

The operator's hand is a function ``t_s -> (q [rad] (6), gripper [0, 1])``; the build
of the arm (how each servo is mounted) is a set of *true* offsets and signs, so that
``servo = offset + sign · q`` (the inverse of the calibration). A test gives secret
offsets and signs, lets the real calibration procedure find them, and compares.

Example::

    with EmulatedLeader(tmp_path / "ttyDXL0", offsets_rad=OFF, signs=SGN,
                        gripper_open_rad=0.3, gripper_closed_rad=1.1, wraps=[0, 1, -1, 0, 2, 0, 1]) as leader:
        leader.hold(q_home)            # the operator holds the arm in the home pose
        ...
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from abc_robot.testing.dynamixel_emulator import DynamixelChainEmulator

__all__ = ["EmulatedLeader", "Motion", "sine_motion"]

#: ``t_s -> (q [rad] (6), gripper [0, 1])``
Motion = Callable[[float], tuple[Sequence[float] | np.ndarray, float]]


def sine_motion(
    center_q: Sequence[float], amplitude_rad: float = 0.2, period_s: float = 4.0, gripper_period_s: float = 5.0
) -> Motion:
    """Every joint swings around ``center_q`` (phase-shifted), the trigger opens and closes."""
    c = np.asarray(center_q, dtype=np.float64)
    phase = 0.7 * np.arange(6)

    def motion(t: float) -> tuple[np.ndarray, float]:
        q = c + amplitude_rad * np.sin(2 * math.pi * t / period_s + phase)
        g = 0.5 + 0.5 * math.cos(2 * math.pi * t / gripper_period_s) if gripper_period_s > 0 else 1.0
        return q, g

    return motion


class EmulatedLeader:
    """A GELLO leader on an emulated bus; see the module docstring.

    Args:
        link: stable symlink path of the serial device.
        offsets_rad / signs: the build's true per-joint offsets [rad] and signs (6 each).
        gripper_open_rad / gripper_closed_rad: trigger servo angle [rad] released / squeezed.
        ids: servo ids, joints then trigger.
        motion: the operator's hand; None holds still (see :meth:`hold`).
        q0 / gripper0: initial pose when there is no motion.
        wraps: extra turns in each servo's Present Position at power-up (7).
        return_delay: Return Delay Time register [2 µs] (0 on a tuned GELLO).
    """

    def __init__(
        self,
        link: str | Path,
        *,
        offsets_rad: Sequence[float],
        signs: Sequence[float],
        gripper_open_rad: float = 0.0,
        gripper_closed_rad: float = 1.0,
        ids: Iterable[int] = range(1, 8),
        motion: Motion | None = None,
        q0: Sequence[float] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        gripper0: float = 1.0,
        wraps: Sequence[int] | None = None,
        return_delay: int = 0,
    ) -> None:
        self.offsets = np.asarray(offsets_rad, dtype=np.float64)
        self.signs = np.asarray(signs, dtype=np.float64)
        self.g_open = float(gripper_open_rad)
        self.g_closed = float(gripper_closed_rad)
        if self.offsets.shape != (6,) or self.signs.shape != (6,):
            raise ValueError("offsets_rad and signs need 6 values each")
        traj = None if motion is None else (lambda t: self.shafts(*motion(t)))
        self.chain = DynamixelChainEmulator(
            link, ids, trajectory=traj, initial_rad=self.shafts(q0, gripper0), wraps=wraps, return_delay=return_delay
        )

    @property
    def link(self) -> Path:
        return self.chain.link

    def shafts(self, q: Sequence[float] | np.ndarray, gripper: float) -> list[float]:
        """Servo shaft angles [rad] (7) of the arm at joints ``q`` and trigger ``gripper``."""
        theta = self.offsets + self.signs * np.asarray(q, dtype=np.float64)
        # gripper 0 = squeezed (closed), 1 = released (open).
        return [*theta.tolist(), self.g_closed + float(gripper) * (self.g_open - self.g_closed)]

    def hold(self, q: Sequence[float], gripper: float = 1.0) -> None:
        """The operator holds the arm still at ``q`` with the trigger at ``gripper``."""
        self.chain.trajectory = None
        self.chain.set_positions(self.shafts(q, gripper))

    def move(self, motion: Motion | None) -> None:
        """The operator moves the arm along ``motion`` (None: hold where it is)."""
        self.chain.trajectory = None if motion is None else (lambda t: self.shafts(*motion(t)))

    def start(self) -> EmulatedLeader:
        self.chain.start()
        return self

    def stop(self) -> None:
        self.chain.stop()

    def __enter__(self) -> EmulatedLeader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
