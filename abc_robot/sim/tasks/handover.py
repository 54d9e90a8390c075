"""``handover``: pass the cube from the right arm to the left arm.

Start: a 4 cm cube in front of the right arm. The right arm picks it up, carries it
to the hand-off spot in the middle of the table, sets it down and withdraws; the left
arm then picks it up there and lifts it. Success: the cube is held by both left
fingers, untouched by the right gripper, with its underside at least 5 cm above the
table. The arms work in turn (the hand-off goes through the table), so the task
exercises bimanual sequencing without the two grippers ever meeting.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from abc_robot.sim.objects import SceneObject, box_object
from abc_robot.sim.snapshot import WorldSnapshot
from abc_robot.sim.tasks.base import Task
from abc_robot.sim.tasks.grasps import base_to_world, top_down, world_point_in_base
from abc_robot.sim.tasks.motions import pick_up, place, travel
from abc_robot.sim.tasks.scoring import height_above_table, held_by, reach_score
from abc_robot.sim.trajectory import GRIPPER_OPEN, PlanBuilder, PoseTrajectory

if TYPE_CHECKING:
    from abc_robot.sim.world import SimWorld

__all__ = ["Handover", "HANDOFF_XY_M"]

CUBE_HALF_M = 0.02
LIFT_SUCCESS_M = 0.05
#: Hand-off spot on the table, world frame [m] (midway between the arm bases).
HANDOFF_XY_M = (0.30, 0.0)
HANDOFF_RADIUS_M = 0.05  # [m] cube counts as handed off within this distance of the spot


class Handover(Task):
    name = "handover"
    time_limit_s = 20.0
    description = "right arm brings the cube to the middle, left arm takes it and lifts it"

    def objects(self) -> tuple[SceneObject, ...]:
        return (box_object("cube", (CUBE_HALF_M,) * 3, 0.05, (0.95, 0.75, 0.10, 1.0)),)

    def reset(self, world: SimWorld, rng: np.random.Generator) -> None:
        p_base = np.array([rng.uniform(0.24, 0.34), rng.uniform(-0.10, 0.06), CUBE_HALF_M + 0.0005])
        p, quat = base_to_world(world.T_world_base("right"), p_base, rng.uniform(-math.pi / 4, math.pi / 4))
        world.set_object_pose("cube", p, quat)

    def success(self, world: SimWorld) -> bool:
        return (
            world.fingers_touching("left", "cube") == 2
            and world.fingers_touching("right", "cube") == 0
            and height_above_table(world, "cube", CUBE_HALF_M) >= LIFT_SUCCESS_M
        )

    def progress(self, world: SimWorld) -> float:
        if self.success(world):
            return 1.0
        holder = held_by(world, "cube")
        if holder == "left":
            lift = np.clip(height_above_table(world, "cube", CUBE_HALF_M) / LIFT_SUCCESS_M, 0.0, 1.0)
            return float(0.75 + 0.2 * lift)
        d = float(np.linalg.norm(world.object_pose("cube")[:2, 3] - np.asarray(HANDOFF_XY_M)))
        if d < HANDOFF_RADIUS_M and holder is None:
            return 0.5 + 0.2 * reach_score(world, "cube", ("left",))
        if holder == "right":
            return 0.25 + 0.25 * float(np.clip(1.0 - d / 0.35, 0.0, 1.0))
        return 0.2 * reach_score(world, "cube", ("right",))

    def script(self, snapshot: WorldSnapshot) -> dict[str, PoseTrajectory]:
        top = snapshot.table_top_z
        spot_world = [HANDOFF_XY_M[0], HANDOFF_XY_M[1], top]
        right = PlanBuilder(snapshot.T_base_ee["right"], GRIPPER_OPEN).hold(0.5)
        pick_up(right, snapshot.object_in_base("cube", "right"), grasp_dz_m=0.0, lift_to_m=0.10)
        spot_r = world_point_in_base(snapshot.T_world_base["right"], spot_world)
        # Set down with yaw 0: the cube is then square to both grippers' zero yaw.
        place(right, spot_r, 0.0, carry_z_m=0.10, release_z_m=CUBE_HALF_M + 0.003, retreat_z_m=0.10)
        travel(right, snapshot.T_base_ee["right"])

        left = PlanBuilder(snapshot.T_base_ee["left"], GRIPPER_OPEN).wait_until(right.t_s - 0.8)
        spot_l = world_point_in_base(snapshot.T_world_base["left"], spot_world)
        T_cube_l = top_down([spot_l[0], spot_l[1], CUBE_HALF_M], 0.0)
        T_cube_l[:3, :3] = np.eye(3)
        pick_up(left, T_cube_l, grasp_dz_m=0.0, lift_to_m=0.12)
        left.hold(1.0)
        right.wait_until(left.t_s)
        return {"left": left.build(), "right": right.build()}
