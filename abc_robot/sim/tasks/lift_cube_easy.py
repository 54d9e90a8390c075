"""``lift_cube_easy``: the entry task. ``lift_cube`` with the cube always near one spot.

Start: the 4 cm cube 0.29 to 0.31 m in front of the right arm's base, up to 1.5 cm to
either side, heading within ±10°. Same success test and progress score as
:class:`~abc_robot.sim.tasks.lift_cube.LiftCube`. It is the task a policy trained on
the CPU in minutes from about ten demonstrations learns reliably (the end-to-end
learning test's target); ``lift_cube`` (either arm, a 12 × 24 cm area, ±45°) is the
harder version.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from abc_robot.sim.layout import ARMS
from abc_robot.sim.tasks.grasps import base_to_world
from abc_robot.sim.tasks.lift_cube import CUBE_HALF_M, LiftCube

if TYPE_CHECKING:
    from abc_robot.sim.world import SimWorld

__all__ = ["LiftCubeEasy", "LiftCubeEither"]

ARM = "right"  # the arm the cube is always in front of


class LiftCubeEasy(LiftCube):
    name = "lift_cube_easy"
    time_limit_s = 10.0
    description = "pick up the cube just in front of the right arm and lift it 5 cm"

    def reset(self, world: SimWorld, rng: np.random.Generator) -> None:
        p_base = np.array([rng.uniform(0.29, 0.31), rng.uniform(-0.015, 0.015), CUBE_HALF_M + 0.0005])
        p, quat = base_to_world(world.T_world_base(ARM), p_base, rng.uniform(-math.pi / 18, math.pi / 18))
        world.set_object_pose("cube", p, quat)


class LiftCubeEither(LiftCubeEasy):
    """``lift_cube_either``: the easy layout in front of either arm (seeded coin flip).

    Harder than ``lift_cube_easy`` in one clear way: the policy must see which side the
    cube is on and use that arm. A policy that only learned the right arm solves about
    half of it, and an operator's corrections on the other half are exactly the data
    it lacks (the DAgger experiment of the learning loop).
    """

    name = "lift_cube_either"
    description = "pick up the cube just in front of the left or the right arm and lift it 5 cm"

    def reset(self, world: SimWorld, rng: np.random.Generator) -> None:
        arm = ARMS[int(rng.integers(len(ARMS)))]
        p_base = np.array([rng.uniform(0.29, 0.31), rng.uniform(-0.015, 0.015), CUBE_HALF_M + 0.0005])
        p, quat = base_to_world(world.T_world_base(arm), p_base, rng.uniform(-math.pi / 18, math.pi / 18))
        world.set_object_pose("cube", p, quat)
