"""Delta-pose intervention: the follower follows the leader's motion since takeover.

At takeover time t0 the mapper records the leader pose ``T_L0`` and the follower pose
``T_F0`` (both in their arm's base frame). While intervening the follower target is::

    p_F = p_F0 + s · (p_L − p_L0)
    R_F = (R_L · R_L0ᵀ) · R_F0

so leader and follower may be at arbitrary, different poses (and have different
kinematics): zero leader motion gives zero follower motion, and the first target
equals the follower's pose at takeover — there is no jump.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DeltaPoseMapper"]


class DeltaPoseMapper:
    """Maps leader motion since takeover onto the follower.

    Args:
        translation_scale: s, the per-rig scale of leader translation [1].
    """

    def __init__(self, translation_scale: float = 1.0) -> None:
        if translation_scale <= 0:
            raise ValueError("translation_scale must be positive")
        self.scale = translation_scale
        self.T_L0: np.ndarray | None = None
        self.T_F0: np.ndarray | None = None

    @property
    def active(self) -> bool:
        return self.T_L0 is not None

    def takeover(self, T_base_leader: np.ndarray, T_base_follower: np.ndarray) -> None:
        """Record the anchor poses at takeover (4×4 each, in their base frames)."""
        self.T_L0 = np.array(T_base_leader, dtype=float)
        self.T_F0 = np.array(T_base_follower, dtype=float)

    def release(self) -> None:
        self.T_L0 = self.T_F0 = None

    def target(self, T_base_leader: np.ndarray) -> np.ndarray:
        """Follower target pose (4×4, follower base frame) for the current leader pose."""
        if self.T_L0 is None or self.T_F0 is None:
            raise RuntimeError("takeover() first")
        T_L = np.asarray(T_base_leader, dtype=float)
        out = np.eye(4)
        out[:3, 3] = self.T_F0[:3, 3] + self.scale * (T_L[:3, 3] - self.T_L0[:3, 3])
        out[:3, :3] = (T_L[:3, :3] @ self.T_L0[:3, :3].T) @ self.T_F0[:3, :3]
        return out
