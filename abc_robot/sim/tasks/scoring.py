"""Progress and success building blocks shared by the tasks (read the world, no MuJoCo)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from abc_robot.sim.layout import ARMS

if TYPE_CHECKING:
    from abc_robot.sim.world import SimWorld

__all__ = ["held_by", "reach_score", "height_above_table", "REACH_SCALE_M"]

#: Distance [m] beyond which an end effector earns no reach score.
REACH_SCALE_M = 0.30


def held_by(world: SimWorld, obj: str) -> str | None:
    """The arm whose two fingers both touch ``obj`` (left first), or None."""
    for arm in ARMS:
        if world.fingers_touching(arm, obj) == 2:
            return arm
    return None


def reach_score(world: SimWorld, obj: str, arms: tuple[str, ...] = ARMS) -> float:
    """1 when an end effector is at ``obj``'s origin, falling to 0 at :data:`REACH_SCALE_M`."""
    p = world.object_pose(obj)[:3, 3]
    d = min(float(np.linalg.norm(world.ee_pose(a, "world")[:3, 3] - p)) for a in arms)
    return float(np.clip(1.0 - d / REACH_SCALE_M, 0.0, 1.0))


def height_above_table(world: SimWorld, obj: str, bottom_z: float) -> float:
    """Height [m] of ``obj``'s lowest point (its origin minus ``bottom_z``) above the table."""
    return float(world.object_pose(obj)[2, 3] - bottom_z - world.table_top_z)
