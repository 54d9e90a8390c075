"""Scripted demonstrators: play a task's script as end-effector or joint targets.

:class:`Demonstrator` needs no physics engine (a scripted leader process uses it with
the snapshot from the sim node's reset reply). :class:`JointDemonstrator` adds the
follower IK of :mod:`abc_robot.kinematics`, warm-started from the measured joints,
for in-process rollouts and tests that drive :class:`~abc_robot.sim.world.SimWorld`
directly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from abc_robot.sim.snapshot import WorldSnapshot
from abc_robot.sim.tasks import Task, make_task
from abc_robot.sim.trajectory import PoseTrajectory

__all__ = ["Demonstrator", "JointDemonstrator"]


class Demonstrator:
    """A task's scripted demonstration, sampled at any time.

    Args:
        task: a task or its name.
        snapshot: the world at the start of the episode (``SimWorld.reset`` returns it).

    Example:
        >>> demo = Demonstrator("lift_cube", world.reset(seed=3))
        >>> T_base_ee, gripper = demo.targets(1.25)["left"]
    """

    def __init__(self, task: Task | str, snapshot: WorldSnapshot) -> None:
        self.task = make_task(task) if isinstance(task, str) else task
        self.snapshot = snapshot
        self.trajectories: dict[str, PoseTrajectory] = self.task.script(snapshot)

    @property
    def duration_s(self) -> float:
        """When the last arm finishes its script [s]."""
        return max(t.duration_s for t in self.trajectories.values())

    def targets(self, t_s: float) -> dict[str, tuple[np.ndarray, float]]:
        """``{arm: (T_base_ee 4×4, gripper in [0, 1])}`` at ``t_s`` [s] since the start."""
        return {arm: traj(t_s) for arm, traj in self.trajectories.items()}


class JointDemonstrator:
    """A :class:`Demonstrator` turned into joint targets by the follower IK.

    Args:
        demo: the end-effector demonstrator.
        urdf: follower description (both arms use it, as on the rig).
    """

    def __init__(self, demo: Demonstrator, urdf: str = "yam_follower.urdf") -> None:
        from abc_robot.kinematics.ik import IKSolver
        from abc_robot.kinematics.model import ArmModel

        self.demo = demo
        self._ik = {arm: IKSolver(ArmModel.from_urdf(urdf)) for arm in demo.trajectories}
        self._last: dict[str, np.ndarray] = {}
        self.worst_pos_err_m = 0.0

    def joint_targets(self, t_s: float, q_now: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{arm: q7}`` at ``t_s``.

        The IK is warm-started from this arm's previous solution (continuity), or from
        ``q_now[arm]`` (7 or 6 measured values) on the first call.
        """
        out = {}
        for arm, (T, g) in self.demo.targets(t_s).items():
            q_init = self._last.get(arm)
            if q_init is None:
                q_init = np.asarray(q_now[arm], dtype=np.float64)[:6]
            res = self._ik[arm].solve(T, q_init)
            self._last[arm] = res.q
            self.worst_pos_err_m = max(self.worst_pos_err_m, res.pos_err_m)
            out[arm] = np.append(res.q, g)
        return out
