"""The operator's hand on the twin's leaders: hold still, or play a task's scripted demonstration.

A scripted hand is the sim task's scripted demonstrator turned into leader joint
angles: the end-effector targets are solved with the *leader's* own model
(``yam_leader.urdf``) once, before the run (sampled at ``rate_hz``), and replayed by
time, so the leader's forward kinematics, which the follower tracks, is the script's
end-effector pose.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from abc_robot.sim.demonstrator import Demonstrator, JointDemonstrator
from abc_robot.sim.snapshot import WorldSnapshot
from abc_robot.testing.dynamixel_leader import Motion

__all__ = ["scripted_hand", "hold_hand"]


def hold_hand(q7: np.ndarray | list[float]) -> Motion:
    """A hand holding the leader still at ``q7`` (6 joints [rad], trigger in [0, 1])."""
    q = np.asarray(q7, dtype=np.float64)

    def motion(_t: float) -> tuple[np.ndarray, float]:
        return q[:6], float(q[6])

    return motion


def scripted_hand(
    task: str,
    snapshot: WorldSnapshot,
    q_start: Mapping[str, np.ndarray],
    *,
    rate_hz: float = 50.0,
    delay_s: float = 0.0,
    leader_urdf: str = "yam_leader.urdf",
) -> tuple[dict[str, Motion], float]:
    """Per-arm motions playing ``task``'s scripted demonstration from ``snapshot``.

    Args:
        task: sim task name.
        snapshot: the twin world at the episode start (object poses the script plans from).
        q_start: each arm's joints at the start (IK warm start, and the pose held
            during ``delay_s`` and after the end).
        rate_hz: [Hz] sampling of the precomputed joint trajectory.
        delay_s: [s] the hand holds ``q_start`` this long before the script starts.
        leader_urdf: the leader's description (its IK turns poses into leader joints).

    Returns:
        ``({arm: motion}, duration_s)``; ``t`` of a motion counts from the leader's start.
    """
    demo = JointDemonstrator(Demonstrator(task, snapshot), urdf=leader_urdf)
    duration = demo.demo.duration_s
    times = np.arange(0.0, duration + 1.0 / rate_hz, 1.0 / rate_hz)
    table: dict[str, list[np.ndarray]] = {arm: [] for arm in q_start}
    for t in times:
        for arm, q in demo.joint_targets(float(t), q_start).items():
            table[arm].append(q)
    motions: dict[str, Motion] = {}
    for arm, rows in table.items():
        arr = np.asarray(rows)
        start = np.asarray(q_start[arm], dtype=np.float64)

        def motion(t: float, arr: np.ndarray = arr, start: np.ndarray = start) -> tuple[np.ndarray, float]:
            s = t - delay_s
            if s < 0:
                return start[:6], float(start[6]) if start.shape[0] > 6 else 1.0
            k = min(s * rate_hz, len(arr) - 1.0)
            i = int(k)
            j = min(i + 1, len(arr) - 1)
            q = arr[i] + (k - i) * (arr[j] - arr[i])
            return q[:6], float(q[6])

        motions[arm] = motion
    return motions, duration + delay_s
