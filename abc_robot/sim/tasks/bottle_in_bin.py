"""``bottle_in_bin``: put the bottle in the bin (after the ABC paper's sim task).

Start: an open bin in the middle of the table (between the arms) and a 9 cm bottle
in front of a random arm, on its outer side. The arm on the bottle's side picks it up
from above, carries it over the bin and lets go. Success: the bottle stands or lies
inside the bin's walls, below its rim, and no finger touches it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from abc_robot.sim.layout import ARMS
from abc_robot.sim.objects import SceneObject, bin_object, cylinder_object
from abc_robot.sim.snapshot import WorldSnapshot
from abc_robot.sim.tasks.base import Task
from abc_robot.sim.tasks.grasps import base_to_world, inv, quat_z
from abc_robot.sim.tasks.motions import hold_still, nearest_arm, pick_up, place, travel
from abc_robot.sim.tasks.scoring import height_above_table, held_by, reach_score
from abc_robot.sim.trajectory import GRIPPER_OPEN, PlanBuilder, PoseTrajectory

if TYPE_CHECKING:
    from abc_robot.sim.world import SimWorld

__all__ = ["BottleInBin"]

BOTTLE_RADIUS_M = 0.022
BOTTLE_HALF_M = 0.045  # [m] half height (a 9 cm bottle)
BIN_INNER_HALF_M = 0.065  # [m] half inner side of the square bin
BIN_HEIGHT_M = 0.03  # [m] rim height above the bin's underside
BIN_WALL_M = 0.01  # [m]
GRASP_BELOW_TOP_M = 0.025  # [m] fingers close this far below the bottle's top
CARRY_Z_M = 0.12  # [m] end-effector height while carrying (bottle bottom 3 cm over the rim)


class BottleInBin(Task):
    name = "bottle_in_bin"
    time_limit_s = 16.0
    description = "pick up the bottle and put it in the bin between the arms"

    def objects(self) -> tuple[SceneObject, ...]:
        return (
            cylinder_object("bottle", BOTTLE_RADIUS_M, BOTTLE_HALF_M, 0.10, (0.15, 0.55, 0.75, 1.0)),
            bin_object("bin", (BIN_INNER_HALF_M,) * 2, BIN_HEIGHT_M, BIN_WALL_M, 0.4, (0.45, 0.45, 0.48, 1.0)),
        )

    def reset(self, world: SimWorld, rng: np.random.Generator) -> None:
        top = world.table_top_z
        bin_p = np.array([rng.uniform(0.25, 0.30), rng.uniform(-0.03, 0.03), top + 0.0005])
        world.set_object_pose("bin", bin_p, quat_z(rng.uniform(-0.2, 0.2)))
        arm = ARMS[int(rng.integers(len(ARMS)))]
        T_wb = world.T_world_base(arm)
        outward = 1.0 if T_wb[1, 3] >= 0 else -1.0  # away from the bin in the middle
        p_base = np.array([rng.uniform(0.22, 0.34), outward * rng.uniform(-0.04, 0.10), BOTTLE_HALF_M + 0.0005])
        p, quat = base_to_world(T_wb, p_base, rng.uniform(-math.pi, math.pi))
        world.set_object_pose("bottle", p, quat)

    def _in_bin(self, world: SimWorld) -> bool:
        """Bottle centre inside the walls and its lowest point below the rim."""
        p_bin = (inv(world.object_pose("bin")) @ world.object_pose("bottle")[:, 3])[:3]
        inside = abs(p_bin[0]) < BIN_INNER_HALF_M and abs(p_bin[1]) < BIN_INNER_HALF_M
        # Lying or standing, the bottle's centre is then less than a half-height above the rim.
        return bool(inside and p_bin[2] < BIN_HEIGHT_M + BOTTLE_HALF_M)

    def success(self, world: SimWorld) -> bool:
        return self._in_bin(world) and all(world.fingers_touching(a, "bottle") == 0 for a in ARMS)

    def progress(self, world: SimWorld) -> float:
        if self.success(world):
            return 1.0
        if self._in_bin(world):
            return 0.9  # in, but still held
        reach = 0.3 * reach_score(world, "bottle")
        if held_by(world, "bottle") is None:
            return reach
        lifted = height_above_table(world, "bottle", BOTTLE_HALF_M) > 0.02
        d = float(np.linalg.norm(world.object_pose("bottle")[:2, 3] - world.object_pose("bin")[:2, 3]))
        closer = float(np.clip(1.0 - d / 0.35, 0.0, 1.0)) if lifted else 0.0
        return max(reach, 0.5 + 0.3 * closer)

    def script(self, snapshot: WorldSnapshot) -> dict[str, PoseTrajectory]:
        arm = nearest_arm(snapshot, "bottle")
        T_bottle = snapshot.object_in_base("bottle", arm)
        T_bottle[:3, :3] = np.eye(3)  # a cylinder: any yaw grasps it, take the wrist's zero
        plan = PlanBuilder(snapshot.T_base_ee[arm], GRIPPER_OPEN).hold(0.5)
        yaw = pick_up(plan, T_bottle, grasp_dz_m=BOTTLE_HALF_M - GRASP_BELOW_TOP_M, lift_to_m=CARRY_Z_M)
        over_bin = snapshot.object_in_base("bin", arm)[:3, 3]
        # Let go with the bottle's bottom 1 cm above the bin floor.
        release_z = BIN_WALL_M + 0.01 + 2 * BOTTLE_HALF_M - GRASP_BELOW_TOP_M
        place(plan, over_bin, yaw, carry_z_m=CARRY_Z_M, release_z_m=release_z, retreat_z_m=CARRY_Z_M + 0.01)
        travel(plan, snapshot.T_base_ee[arm])
        plan.hold(0.5)
        out = {a: hold_still(snapshot, a) for a in ARMS}
        out[arm] = plan.build()
        return out
