"""Geometry shared by the task scripts and tests: top-down grasp frames, placements.

The YAM ``ee`` frame has z along the approach direction and x along the line the
fingers close on; a top-down grasp points z at the floor. With yaw 0 the fingers
close along the base's y axis and the wrist camera looks forward (+x).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["top_down", "yaw_of", "box_grasp_yaw", "inv", "world_point_in_base", "quat_z", "base_to_world"]


def top_down(p_base: np.ndarray | list[float], yaw: float = 0.0) -> np.ndarray:
    """``T_base_ee`` pointing straight down at ``p_base`` [m], fingers turned by ``yaw`` [rad]."""
    c, s = math.cos(yaw), math.sin(yaw)
    x = np.array([s, -c, 0.0])
    z = np.array([0.0, 0.0, -1.0])
    T = np.eye(4)
    T[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    T[:3, 3] = p_base
    return T


def yaw_of(T: np.ndarray) -> float:
    """Heading [rad] of a frame's x axis in the xy plane."""
    return math.atan2(T[1, 0], T[0, 0])


def box_grasp_yaw(T_base_obj: np.ndarray) -> float:
    """Gripper yaw [rad] that closes the fingers on two opposite faces of an upright box.

    Boxes are symmetric under quarter turns, so the yaw is reduced to [−π/4, π/4],
    the smallest wrist turn.
    """
    q = math.pi / 2
    return (yaw_of(T_base_obj) + q / 2) % q - q / 2


def inv(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform."""
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def world_point_in_base(T_world_base: np.ndarray, p_world: np.ndarray | list[float]) -> np.ndarray:
    """A world point [m] in a base frame."""
    return (inv(T_world_base) @ np.append(np.asarray(p_world, dtype=float), 1.0))[:3]


def quat_z(yaw: float) -> np.ndarray:
    """Quaternion (w, x, y, z) of a rotation by ``yaw`` [rad] about z."""
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])


def base_to_world(
    T_world_base: np.ndarray, p_base: np.ndarray | list[float], yaw_base: float
) -> tuple[np.ndarray, np.ndarray]:
    """World position [m] and quaternion (w, x, y, z) of an upright object given in a base frame."""
    p = T_world_base[:3, :3] @ np.asarray(p_base, dtype=float) + T_world_base[:3, 3]
    return p, quat_z(yaw_base + yaw_of(T_world_base))
