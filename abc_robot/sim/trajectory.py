"""Smooth end-effector trajectories through keyframes, for scripted demonstrators.

Between two keyframes the pose follows a minimum-jerk profile (zero velocity and
acceleration at both ends): translation on a straight line, rotation along the SO(3)
geodesic, gripper with the same profile. A trajectory is sampled at any time, so a
scripted leader can play it at its own rate.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from abc_robot.kinematics.se3 import interpolate

__all__ = ["GRIPPER_CLOSED", "GRIPPER_OPEN", "Keyframe", "PoseTrajectory", "PlanBuilder", "min_jerk"]

#: Gripper command of shut fingers and of fully open ones (ABC's and the YAM vendor's
#: convention: the value is the finger opening over its full travel).
GRIPPER_CLOSED = 0.0
GRIPPER_OPEN = 1.0


def min_jerk(tau: float) -> float:
    """Minimum-jerk progress ``10τ³ − 15τ⁴ + 6τ⁵`` for ``τ`` clamped to [0, 1]."""
    t = min(max(tau, 0.0), 1.0)
    return t * t * t * (10.0 + t * (-15.0 + 6.0 * t))


@dataclass(frozen=True)
class Keyframe:
    """A pose to be at, at a time.

    Attributes:
        t_s: time since the trajectory's start [s].
        T_base_ee: end-effector pose in the arm's base frame (4×4, [m]).
        gripper: gripper command in [0, 1] (0 closed, 1 open).
    """

    t_s: float
    T_base_ee: np.ndarray
    gripper: float


class PoseTrajectory:
    """Piecewise minimum-jerk trajectory through keyframes (held after the last one)."""

    def __init__(self, keyframes: list[Keyframe]) -> None:
        if not keyframes:
            raise ValueError("a trajectory needs at least one keyframe")
        times = [k.t_s for k in keyframes]
        if any(b < a for a, b in zip(times[:-1], times[1:], strict=True)):
            raise ValueError(f"keyframe times must not decrease, got {times}")
        self.keyframes = list(keyframes)
        self._times = times

    @property
    def duration_s(self) -> float:
        """Time of the last keyframe [s]."""
        return self._times[-1]

    def __call__(self, t_s: float) -> tuple[np.ndarray, float]:
        """``(T_base_ee, gripper)`` at time ``t_s`` [s]."""
        i = bisect.bisect_right(self._times, t_s)
        if i == 0:
            k = self.keyframes[0]
            return k.T_base_ee.copy(), k.gripper
        if i >= len(self.keyframes):
            k = self.keyframes[-1]
            return k.T_base_ee.copy(), k.gripper
        a, b = self.keyframes[i - 1], self.keyframes[i]
        span = b.t_s - a.t_s
        s = min_jerk((t_s - a.t_s) / span) if span > 0 else 1.0
        return interpolate(a.T_base_ee, b.T_base_ee, s), a.gripper + s * (b.gripper - a.gripper)


class PlanBuilder:
    """Builds one arm's keyframes segment by segment.

    Example:
        >>> p = PlanBuilder(T_home, gripper=GRIPPER_OPEN)
        >>> p.move(T_above, 1.5).move(T_grasp, 1.0).grip(GRIPPER_CLOSED, 0.6).move(T_above, 1.0)
        >>> traj = p.build()
    """

    def __init__(self, T_start: np.ndarray, gripper: float = GRIPPER_OPEN, t_s: float = 0.0) -> None:
        self._frames = [Keyframe(t_s, np.array(T_start, dtype=np.float64), float(gripper))]

    @property
    def t_s(self) -> float:
        """End time of the plan so far [s]."""
        return self._frames[-1].t_s

    @property
    def T(self) -> np.ndarray:
        """Pose at the end of the plan so far."""
        return self._frames[-1].T_base_ee.copy()

    @property
    def gripper(self) -> float:
        return self._frames[-1].gripper

    def move(self, T_base_ee: np.ndarray, duration_s: float, gripper: float | None = None) -> PlanBuilder:
        """Go to ``T_base_ee`` in ``duration_s`` [s] (gripper optionally changing too)."""
        g = self.gripper if gripper is None else float(gripper)
        self._frames.append(Keyframe(self.t_s + duration_s, np.array(T_base_ee, dtype=np.float64), g))
        return self

    def grip(self, gripper: float, duration_s: float) -> PlanBuilder:
        """Open or close the gripper in place."""
        return self.move(self.T, duration_s, gripper)

    def hold(self, duration_s: float) -> PlanBuilder:
        """Stay still for ``duration_s`` [s]."""
        return self.move(self.T, duration_s)

    def wait_until(self, t_s: float) -> PlanBuilder:
        """Stay still until time ``t_s`` (no-op if already later): synchronises two arms."""
        return self.hold(max(0.0, t_s - self.t_s))

    def build(self) -> PoseTrajectory:
        return PoseTrajectory(self._frames)
