"""Motion primitives of the scripted demonstrations (top-down pick and place).

All poses are in the acting arm's base frame; each primitive appends keyframes to a
:class:`~abc_robot.sim.trajectory.PlanBuilder` with conservative durations, so the
followers (speed-limited, ~20 ms servo lag) track them within a few millimetres.
"""

from __future__ import annotations

import numpy as np

from abc_robot.sim.layout import ARMS
from abc_robot.sim.snapshot import WorldSnapshot
from abc_robot.sim.tasks.grasps import box_grasp_yaw, top_down
from abc_robot.sim.trajectory import GRIPPER_CLOSED, GRIPPER_OPEN, PlanBuilder, PoseTrajectory

__all__ = ["pick_up", "place", "travel", "nearest_arm", "hold_still", "PREGRASP_ABOVE_M", "PEAK_SPEED_MPS"]

#: Approach height above the grasp point [m].
PREGRASP_ABOVE_M = 0.07
#: Peak tool speed of long moves [m/s] (a calm operator's pace).
PEAK_SPEED_MPS = 0.3


def travel(plan: PlanBuilder, T_base_ee: np.ndarray, peak_mps: float = PEAK_SPEED_MPS, min_s: float = 0.8) -> None:
    """Move to ``T_base_ee`` taking as long as a minimum-jerk move at ``peak_mps`` needs.

    A minimum-jerk move over distance d in time T peaks at 1.875·d/T.
    """
    d = float(np.linalg.norm(np.asarray(T_base_ee)[:3, 3] - plan.T[:3, 3]))
    plan.move(T_base_ee, max(min_s, 1.875 * d / peak_mps))


def nearest_arm(snapshot: WorldSnapshot, obj: str) -> str:
    """The arm whose base is closest to ``obj`` (horizontally)."""
    return min(ARMS, key=lambda a: float(np.linalg.norm(snapshot.object_in_base(obj, a)[:2, 3])))


def hold_still(snapshot: WorldSnapshot, arm: str) -> PoseTrajectory:
    """A trajectory that keeps ``arm`` where the snapshot has it."""
    return PlanBuilder(snapshot.T_base_ee[arm], snapshot.gripper[arm]).build()


def pick_up(plan: PlanBuilder, T_base_obj: np.ndarray, grasp_dz_m: float, lift_to_m: float) -> float:
    """Approach from above, descend, close, lift an upright object.

    Args:
        plan: the arm's plan so far (gripper open).
        T_base_obj: the object's pose (origin at its centre).
        grasp_dz_m: grasp point above the object's origin [m].
        lift_to_m: end-effector height after lifting [m, base frame].

    Returns:
        the grasp yaw [rad] (the fingers close on two opposite faces).
    """
    yaw = box_grasp_yaw(T_base_obj)
    p = T_base_obj[:3, 3] + np.array([0.0, 0.0, grasp_dz_m])
    plan.move(top_down(p + [0, 0, PREGRASP_ABOVE_M], yaw), 1.5)
    plan.move(top_down(p, yaw), 1.0)
    plan.grip(GRIPPER_CLOSED, 0.6).hold(0.3)
    plan.move(top_down([p[0], p[1], lift_to_m], yaw), 1.2)
    return yaw


def place(
    plan: PlanBuilder, p_base: np.ndarray, yaw: float, carry_z_m: float, release_z_m: float, retreat_z_m: float
) -> None:
    """Carry a held object over ``p_base`` [m], lower it, let go and rise.

    Args:
        plan: the arm's plan so far (object held).
        p_base: where the end effector goes over the target (only x, y are used).
        yaw: gripper yaw while placing [rad].
        carry_z_m: end-effector height while carrying [m].
        release_z_m: end-effector height at which the gripper opens [m].
        retreat_z_m: end-effector height after letting go [m].
    """
    x, y = float(p_base[0]), float(p_base[1])
    plan.move(top_down([x, y, carry_z_m], yaw), 1.5)
    plan.move(top_down([x, y, release_z_m], yaw), 0.9)
    plan.grip(GRIPPER_OPEN, 0.5).hold(0.2)
    plan.move(top_down([x, y, retreat_z_m], yaw), 0.8)
