"""Scripted leader: plays a smooth bimanual motion with the GELLO reader's messages.

It stands in for an operator: the sim graph then runs with nobody at the keyboard.
Sources (``source``):

- ``lissajous``: each arm's end effector traces a slow 3-D Lissajous figure around a
  centre pose (with a gentle wrist roll and the gripper opening and closing).
- ``replay``: plays a recorded ``.npz`` (``t_s`` [s], ``q_left``/``q_right`` leader
  joints [rad], ``gripper_left``/``gripper_right`` in [0, 1]) at its own timing.
- ``demo``: a scripted operator for the sim tasks. It holds each arm at the pose the
  world reports, and on a ``demo_start`` console event (``data``: ``task``,
  ``snapshot`` of the reset world) plays that task's scripted demonstration
  (:class:`abc_robot.sim.demonstrator.Demonstrator`, poses in each follower's base
  frame, published as the leader pose; leader joints by the leader IK). A
  ``demo_stop`` event (or the end of the script) holds the last pose. While
  ``correct`` is set (``demo_correct`` events) it plays the demonstration from the
  current instant of the episode, which is how a scripted DAgger operator corrects.

Like the real reader it publishes ``leader/<arm>`` :class:`LeaderState` with leader
joint angles solved on the *leader's own* model (leader IK of the desired pose), the
pose from the leader FK, and the stamp of the "read".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from abc_robot.runtime.node import Node
from abc_robot.transport.messages import Event, LeaderState

__all__ = ["ScriptedLeaderNode", "ScriptedLeaderConfig", "lissajous_pose"]


@dataclass(frozen=True)
class ScriptedLeaderConfig:
    """Attributes:
    bind: publisher endpoint.
    arms: which arms to play.
    rate_hz: publish rate [Hz] (a 4 Mbaud GELLO reader reads at ~400 Hz).
    source: ``lissajous``, ``replay`` or ``demo``.
    console: endpoints publishing ``console/event`` (``demo`` source).
    replay_file: the ``.npz`` for ``replay``.
    loop: replay from the start when the recording ends.
    urdf: leader description (bare names are looked up in ``urdf/``).
    center_m: centre of the figure in each leader's base frame [m].
    amplitude_m: half-extent along x, y, z [m].
    period_s: periods along x, y, z [s].
    roll_amplitude_rad: wrist roll about the tool axis [rad].
    gripper_period_s: open-close period of the gripper [s] (0 keeps it open).
    start_delay_s: hold the centre pose this long before moving [s].
    """

    bind: str
    arms: list[str] = field(default_factory=lambda: ["left", "right"])
    rate_hz: float = 250.0
    source: Literal["lissajous", "replay", "demo"] = "lissajous"
    console: list[str] = field(default_factory=list)
    replay_file: str = ""
    loop: bool = True
    urdf: str = "yam_leader.urdf"
    center_m: tuple[float, float, float] = (0.27, 0.0, 0.15)
    amplitude_m: tuple[float, float, float] = (0.05, 0.07, 0.04)
    period_s: tuple[float, float, float] = (6.0, 4.0, 5.0)
    roll_amplitude_rad: float = 0.25
    gripper_period_s: float = 5.0
    start_delay_s: float = 1.0

    def __post_init__(self) -> None:
        if self.source == "replay" and not self.replay_file:
            raise ValueError("source 'replay' needs replay_file")
        if any(a not in ("left", "right") for a in self.arms):
            raise ValueError(f"arms must be 'left'/'right', got {self.arms}")


def lissajous_pose(cfg: ScriptedLeaderConfig, t_s: float, phase: float) -> tuple[np.ndarray, float]:
    """Desired leader end-effector pose (4×4, leader base frame) and gripper at ``t_s``."""
    t = max(0.0, t_s - cfg.start_delay_s)
    c, a, per = np.array(cfg.center_m), np.array(cfg.amplitude_m), np.array(cfg.period_s)
    # Ease in over the first second so the motion starts from rest.
    ease = min(1.0, t) ** 2 * (3 - 2 * min(1.0, t))
    p = c + ease * a * np.sin(2 * np.pi * t / per + phase)
    roll = ease * cfg.roll_amplitude_rad * np.sin(2 * np.pi * t / 7.0 + phase)
    # Tool pointing down (z_tool = -z_base), rolled about the tool axis.
    cr, sr = np.cos(roll), np.sin(roll)
    R_down = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    R_roll = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    T = np.eye(4)
    T[:3, :3] = R_down @ R_roll
    T[:3, 3] = p
    # Starts open (1) and closes to 0 at half the period: 0 = closed, 1 = open.
    g = 1.0 if cfg.gripper_period_s <= 0 else 0.5 + 0.5 * np.cos(2 * np.pi * t / cfg.gripper_period_s)
    return T, float(g)


class ScriptedLeaderNode(Node):
    Config = ScriptedLeaderConfig

    def setup(self) -> None:
        from abc_robot.kinematics.ik import IKSolver
        from abc_robot.kinematics.model import ArmModel

        cfg: ScriptedLeaderConfig = self.config
        self.model = ArmModel.from_urdf(cfg.urdf)
        self.ik = IKSolver(self.model)
        self.pub = self.publisher(cfg.bind)
        self.q = {arm: np.array([0.0, 1.3, 1.2, -1.47, 0.0, 0.0]) for arm in cfg.arms}
        self.t0_ns: int | None = None
        self.published = 0
        self.replay = None
        self.demo: Any = None
        self.demo_t0_ns = 0
        self.hold_T: dict[str, tuple[np.ndarray, float]] = {}
        self.solved_T: dict[str, np.ndarray] = {}  # the pose each arm's joints were last solved for
        self.correct_anchor: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.console_sub = self.reliable(cfg.console, ["console/event"]) if cfg.console else None
        if cfg.source == "replay":
            from abc_robot.errors import ConfigError

            try:
                data = np.load(cfg.replay_file)
                self.replay = {k: np.asarray(data[k]) for k in data.files}
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read replay file: {exc}", file=cfg.replay_file) from exc

    def step(self, now_ns: int) -> None:
        cfg: ScriptedLeaderConfig = self.config
        if self.t0_ns is None:
            self.t0_ns = now_ns
        t = (now_ns - self.t0_ns) / 1e9
        if cfg.source == "demo":
            self._demo_step(now_ns)
            return
        for i, arm in enumerate(cfg.arms):
            if self.replay is not None:
                q, g = self._replay(arm, t)
                if q is None:
                    self.request_stop("replay finished")
                    return
                T = self.model.fk(q)
            else:
                T_des, g = lissajous_pose(cfg, t, phase=0.0 if arm == "left" else np.pi / 2)
                res = self.ik.solve(T_des, self.q[arm])
                q = res.q
                T = self.model.fk(q)
            self.q[arm] = q
            self.pub.publish(f"leader/{arm}", LeaderState(q=np.asarray(q, float), gripper=g, T_base_ee=T, stamp_ns=now_ns))
            self.published += 1

    def _demo_step(self, now_ns: int) -> None:
        from abc_robot.sim.demonstrator import Demonstrator
        from abc_robot.sim.snapshot import WorldSnapshot

        for _, msg in self.console_sub.drain(100) if self.console_sub is not None else []:
            if not isinstance(msg, Event):
                continue
            if msg.kind in ("demo_start", "demo_hold"):
                snap = WorldSnapshot.from_dict(msg.data["snapshot"])
                # Every episode starts from the world's own poses: no jump at engage.
                self.hold_T = {arm: (np.asarray(snap.T_base_ee[arm]), float(snap.gripper[arm])) for arm in self.config.arms}
                self.correct_anchor = {}
                if msg.kind == "demo_start":
                    self.demo = Demonstrator(msg.data.get("task", snap.task), snap)
                    self.demo_t0_ns = now_ns - int(float(msg.data.get("t_offset_s", 0.0)) * 1e9)
                else:
                    self.demo = None
            elif msg.kind == "correct_start":
                # Scripted DAgger operator: replan the task from the world as it is now
                # and move the leader so that, through the follower's delta-pose
                # mapping, the follower follows that plan: T_L = T_L0 ⊕ (T_plan ⊖ T_F0).
                snap = WorldSnapshot.from_dict(msg.data["snapshot"])
                self.demo = Demonstrator(msg.data.get("task", snap.task), snap)
                self.demo_t0_ns = now_ns
                self.correct_anchor = {
                    arm: (self.hold_T.get(arm, (np.asarray(snap.T_base_ee[arm]), 0.0))[0], np.asarray(snap.T_base_ee[arm]))
                    for arm in self.config.arms
                }
            elif msg.kind == "demo_stop":
                self.demo = None
                self.correct_anchor = {}
        if self.demo is not None:
            targets = self.demo.targets((now_ns - self.demo_t0_ns) / 1e9)
            for arm, (T_plan, g) in targets.items():
                if arm in self.correct_anchor:
                    T_L0, T_F0 = self.correct_anchor[arm]
                    T = np.eye(4)
                    T[:3, 3] = T_L0[:3, 3] + (T_plan[:3, 3] - T_F0[:3, 3])
                    T[:3, :3] = T_plan[:3, :3] @ T_F0[:3, :3].T @ T_L0[:3, :3]
                    self.hold_T[arm] = (T, g)
                else:
                    self.hold_T[arm] = (T_plan, g)
        for arm, (T, g) in self.hold_T.items():
            # A leader held still (a rollout without an operator) keeps its joints:
            # solve the IK only when the pose to hold has changed.
            last = self.solved_T.get(arm)
            if last is None or not np.array_equal(last, T):
                self.q[arm] = self.ik.solve(T, self.q[arm]).q
                self.solved_T[arm] = np.array(T, float)
            self.pub.publish(f"leader/{arm}", LeaderState(q=np.asarray(self.q[arm], float), gripper=float(g), T_base_ee=np.asarray(T, float), stamp_ns=now_ns))
            self.published += 1

    def _replay(self, arm: str, t: float) -> tuple[np.ndarray | None, float]:
        assert self.replay is not None
        ts = self.replay["t_s"]
        if t > ts[-1]:
            if not self.config.loop:
                return None, 0.0
            t = t % max(ts[-1], 1e-3)
        k = int(np.searchsorted(ts, t, side="right")) - 1
        k = max(0, min(k, len(ts) - 1))
        return np.asarray(self.replay[f"q_{arm}"][k], float), float(self.replay.get(f"gripper_{arm}", np.ones(len(ts)))[k])

    def status(self) -> dict:
        return {"published": getattr(self, "published", 0), "source": self.config.source}
