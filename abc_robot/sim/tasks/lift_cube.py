"""``lift_cube``: a cube lies somewhere in front of either arm; pick it up.

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
from abc_robot.sim.tasks.grasps import base_to_world
from abc_robot.sim.tasks.motions import hold_still, nearest_arm, pick_up
from abc_robot.sim.tasks.scoring import height_above_table, held_by, reach_score
from abc_robot.sim.trajectory import GRIPPER_OPEN, PlanBuilder, PoseTrajectory

if TYPE_CHECKING:
    from abc_robot.sim.world import SimWorld

__all__ = ["LiftCube", "CUBE_HALF_M", "LIFT_SUCCESS_M"]

CUBE_HALF_M = 0.02  # [m] half edge of the cube
LIFT_SUCCESS_M = 0.05  # [m] underside above the table that counts as lifted
LIFT_TO_M = 0.12  # [m] end-effector height above the table after lifting


class LiftCube(Task):
    name = "lift_cube"
    time_limit_s = 12.0
    description = "pick up the cube in front of one arm and lift it 5 cm"

    def objects(self) -> tuple[SceneObject, ...]:
        return (box_object("cube", (CUBE_HALF_M,) * 3, 0.05, (0.85, 0.15, 0.12, 1.0)),)

    def reset(self, world: SimWorld, rng: np.random.Generator) -> None:
        arm = ARMS[int(rng.integers(len(ARMS)))]
        p_base = np.array([rng.uniform(0.24, 0.36), rng.uniform(-0.12, 0.12), CUBE_HALF_M + 0.0005])
        p, quat = base_to_world(world.T_world_base(arm), p_base, rng.uniform(-math.pi / 4, math.pi / 4))
        world.set_object_pose("cube", p, quat)

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
        plan = PlanBuilder(snapshot.T_base_ee[arm], GRIPPER_OPEN).hold(0.5)
        pick_up(plan, snapshot.object_in_base("cube", arm), grasp_dz_m=0.0, lift_to_m=LIFT_TO_M)
        plan.hold(1.0)
        out = {a: hold_still(snapshot, a) for a in ARMS}
        out[arm] = plan.build()
        return out
