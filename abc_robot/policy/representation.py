"""Action representations: between a model's action space and joint targets (numpy only).

``joint_abs`` actions are joint targets already. ``joint_delta`` actions are joint
targets minus the state at the chunk's observation (grippers stay absolute: an
opening in [0, 1] has no useful "delta"). ``eef_abs`` / ``eef_rel`` chunks are
published unchanged with their representation tag; the follower's IK turns them into
joint targets (``eef_rel`` needs the end-effector pose at the observation, which the
follower has).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["to_joint_targets", "from_joint_targets", "JOINT_REPRESENTATIONS"]

JOINT_REPRESENTATIONS = ("joint_abs", "joint_delta")


def _delta_mask(dim: int, gripper_dims: Sequence[int]) -> np.ndarray:
    m = np.ones(dim)
    m[list(gripper_dims)] = 0.0
    return m


def to_joint_targets(
    actions: np.ndarray, representation: str, state: np.ndarray, gripper_dims: Sequence[int] = ()
) -> np.ndarray:
    """Model actions (H, D) -> joint targets (H, D); eef representations pass through."""
    if representation == "joint_delta":
        return actions + _delta_mask(actions.shape[1], gripper_dims) * state[: actions.shape[1]]
    return actions


def from_joint_targets(
    targets: np.ndarray, representation: str, state: np.ndarray, gripper_dims: Sequence[int] = ()
) -> np.ndarray:
    """Joint targets (H, D) -> model actions (inverse of :func:`to_joint_targets`)."""
    if representation == "joint_delta":
        return targets - _delta_mask(targets.shape[1], gripper_dims) * state[: targets.shape[1]]
    return targets
