"""Motor ↔ joint coordinates of a 6-joint arm with a gripper, shared by the drivers.

Joint ``i`` is ``q_i = sign_i · (θ_i − offset_i)`` of its motor's shaft angle ``θ_i``
[rad]; the gripper opening is linear between two motor positions, 0 at
``gripper_closed_rad`` and 1 at ``gripper_open_rad`` (ABC's and the YAM vendor's
convention), clipped to [0, 1]. Rates and efforts map through the same signs (the
gripper's rate per unit of opening, its effort by the direction of opening). The
fields stay mutable: a driver that resolves a motor's turn at connect (the 2π
ambiguity of an absolute encoder) moves that offset by a whole turn, and one that
measures the gripper's end stops sets them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["JointMap"]


class JointMap:
    """Motor ↔ joint coordinates (see the module docstring).

    Args:
        offsets_rad: motor angle at joint zero [rad] (6).
        signs: +1 or −1 per joint (6).
        gripper_closed_rad / gripper_open_rad: gripper motor at opening 0 / 1 [rad].
    """

    def __init__(
        self, offsets_rad: Sequence[float], signs: Sequence[float], gripper_closed_rad: float, gripper_open_rad: float
    ) -> None:
        self.off = np.array(offsets_rad, dtype=np.float64)
        self.sign = np.array(signs, dtype=np.float64)
        if self.off.shape != (6,) or self.sign.shape != (6,):
            raise ValueError(f"offsets and signs need 6 values each, got {self.off.shape} and {self.sign.shape}")
        self.g_closed = float(gripper_closed_rad)
        self.g_open = float(gripper_open_rad)

    @property
    def span(self) -> float:
        """Gripper motor travel from closed to open [rad] (signed)."""
        return self.g_open - self.g_closed

    def joints(self, theta: np.ndarray) -> np.ndarray:
        """Motor angles (7) [rad] → 6 joint angles [rad] + gripper opening [0, 1]."""
        g = (theta[6] - self.g_closed) / self.span
        return np.concatenate([self.sign * (theta[:6] - self.off), [min(max(g, 0.0), 1.0)]])

    def rates(self, w: np.ndarray) -> np.ndarray:
        """Motor velocities (7) [rad/s] → joint velocities [rad/s] + gripper [1/s]."""
        return np.concatenate([self.sign * w[:6], [w[6] / self.span]])

    def efforts(self, t: np.ndarray) -> np.ndarray:
        """Motor efforts (7, any unit) → joint efforts, the gripper's signed to open."""
        return np.concatenate([self.sign * t[:6], [t[6] * (1.0 if self.span >= 0 else -1.0)]])

    def motors(self, q: np.ndarray) -> np.ndarray:
        """6 joint angles [rad] + gripper opening [0, 1] → motor angles (7) [rad]."""
        return np.append(self.off + self.sign * q[:6], self.g_closed + q[6] * self.span)
