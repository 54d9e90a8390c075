"""``lift_cube``: the easiest task. A cube lies in front of one arm; pick it up.

Start: a 4 cm cube at a random place and heading in front of a random arm (0.24 to
0.36 m ahead of its base, up to 0.12 m to either side). Success: the cube is held by
both fingers of one gripper with its underside at least 5 cm above the table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from abc_robot.sim.layout import ARMS
from abc_robot.sim.objects import SceneObject, box_object
from abc_robot.sim.snapshot import WorldSnapshot
from abc_robot.sim.tasks.base import Task
from abc_robot.sim.tasks.grasps import box_grasp_yaw, quat_z, top_down
from abc_robot.sim.tasks.scoring import height_above_table, held_by, reach_score
from abc_robot.sim.trajectory import PlanBuilder, PoseTrajectory

if TYPE_CHECKING:
    from abc_robot.sim.world import SimWorld

__all__ = ["LiftCube", "CUBE_HALF_M", "LIFT_SUCCESS_M", "pick_up", "nearest_arm", "hold_still"]

CUBE_HALF_M = 0.02  # [m] half edge of the cube
LIFT_SUCCESS_M = 0.05  # [m] underside above the table that counts as lifted
PREGRASP_ABOVE_M = 0.07  # [m] approach height above the grasp point
LIFT_TO_M = 0.12  # [m] end-effector height above the table after lifting


def nearest_arm(snapshot: WorldSnapshot, obj: str) -> str:
    """The arm whose base is closest to ``obj`` (horizontally)."""
    return min(ARMS, key=lambda a: float(np.linalg.norm(snapshot.object_in_base(obj, a)[:2, 3])))


def hold_still(snapshot: WorldSnapshot, arm: str) -> PoseTrajectory:
    """A trajectory that keeps ``arm`` where the snapshot has it."""
    return PlanBuilder(snapshot.T_base_ee[arm], snapshot.gripper[arm]).build()


def pick_up(plan: PlanBuilder, T_base_obj: np.ndarray, grasp_dz_m: float = 0.0, lift_to_m: float = LIFT_TO_M) -> float:
    """Append approach, descend, close, lift for a top-down grasp of an upright object.

    Args:
        plan: the arm's plan so far (gripper assumed open).
        T_base_obj: the object's pose in the arm's base frame (origin at its centre).
        grasp_dz_m: grasp point height above the object's origin [m].
        lift_to_m: end-effector height in the base frame after lifting [m].

    Returns:
        the grasp yaw [rad] used.
    """
    yaw = box_grasp_yaw(T_base_obj)
    p = T_base_obj[:3, 3] + np.array([0.0, 0.0, grasp_dz_m])
    plan.move(top_down(p + [0, 0, PREGRASP_ABOVE_M], yaw), 1.5)
    plan.move(top_down(p, yaw), 1.0)
    plan.grip(1.0, 0.6).hold(0.3)
    plan.move(top_down([p[0], p[1], lift_to_m], yaw), 1.2)
    return yaw


class LiftCube(Task):
    name = "lift_cube"
    time_limit_s = 12.0
    description = "pick up the cube in front of one arm and lift it 5 cm"

    def objects(self) -> tuple[SceneObject, ...]:
        return (box_object("cube", (CUBE_HALF_M,) * 3, 0.05, (0.85, 0.15, 0.12, 1.0)),)

    def reset(self, world: SimWorld, rng: np.random.Generator) -> None:
        arm = ARMS[int(rng.integers(len(ARMS)))]
        p_base = np.array([rng.uniform(0.24, 0.36), rng.uniform(-0.12, 0.12), CUBE_HALF_M + 0.0005])
        T_wb = world.T_world_base(arm)
        p_world = T_wb[:3, :3] @ p_base + T_wb[:3, 3]
        yaw = rng.uniform(-math.pi / 4, math.pi / 4) + math.atan2(T_wb[1, 0], T_wb[0, 0])
        world.set_object_pose("cube", p_world, quat_z(yaw))

    def success(self, world: SimWorld) -> bool:
        return held_by(world, "cube") is not None and height_above_table(world, "cube", CUBE_HALF_M) >= LIFT_SUCCESS_M

    def progress(self, world: SimWorld) -> float:
        if self.success(world):
            return 1.0
        reach = 0.3 * reach_score(world, "cube")
        if held_by(world, "cube") is None:
            return reach
        lift = np.clip(height_above_table(world, "cube", CUBE_HALF_M) / LIFT_SUCCESS_M, 0.0, 1.0)
        return float(max(reach, 0.5 + 0.45 * lift))

    def script(self, snapshot: WorldSnapshot) -> dict[str, PoseTrajectory]:
        arm = nearest_arm(snapshot, "cube")
        plan = PlanBuilder(snapshot.T_base_ee[arm], 0.0).hold(0.5)
        pick_up(plan, snapshot.object_in_base("cube", arm))
        plan.hold(1.0)
        out = {a: hold_still(snapshot, a) for a in ARMS}
        out[arm] = plan.build()
        return out
