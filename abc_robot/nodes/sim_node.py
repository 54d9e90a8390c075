"""Sim node: the MuJoCo world as a process that looks like the rig's hardware.

Topics (all on ``bind``):

- ``sim/<arm>/state`` (:class:`JointState`: 7 values, 6 joints [rad] + gripper in
  [0, 1], and their rates) every loop tick, exactly as a driver publishes a real arm's
  reading, stamped with ``time.monotonic_ns()`` right after the physics step;
- ``sim/qpos`` (:class:`JointState` whose ``q`` is the full MuJoCo ``qpos``) at
  ``qpos_hz`` (≥ 60 Hz), so camera processes render the scene without touching the
  physics, and a slow camera never stalls it.

Inputs: latest ``sim/<arm>/command`` (:class:`JointCommand`) on each follower's
endpoint (``followers``). ``torque=False`` makes that arm limp (servo gains zero;
gravity compensation holds it up, as the real arms' controller does); the next
command with torque re-enables it from where it is.

Requests on ``control`` (ROUTER):

- ``sim/reset``: :class:`Event` whose ``data`` may hold ``seed`` (int; default the
  previous seed + 1) and ``arms`` (``home``, the default: arms to the ready pose; or
  ``keep``: arms stay, only the objects are re-placed). Replies with the task info
  (``task``, ``description``, ``time_limit_s``), ``seed``, ``reset_ns`` and
  ``snapshot`` (:meth:`~abc_robot.sim.snapshot.WorldSnapshot.to_dict`), from which a
  scripted leader builds its :class:`~abc_robot.sim.demonstrator.Demonstrator`.
  After a ``home`` reset, follower commands are ignored for ``reset_grace_s`` (and
  any stamped before ``reset_ns`` for good): they aimed at the old pose, and the
  followers re-anchor on the new measured state meanwhile (the director's
  ``reanchor`` event).
- ``sim/task``: ``task``, ``seed``, ``time_s``, ``success``, ``progress``,
  ``progress_max``, ``succeeded`` (ever, since the reset), ``timed_out``.
- ``sim/snapshot``: the current snapshot.

Real time: each tick runs the physics steps the wall clock asks for since the start
(one per tick at the default 500 Hz; several when ``rate_hz`` is lower). After a stall
at most ``max_steps_per_tick`` run in one tick and the rest is dropped (counted in
``lag_steps``): a world that bursts forward is worse than one that lags.

Rendering backend: none in this process (see :mod:`abc_robot.nodes.sim_camera`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from abc_robot.runtime.node import Node
from abc_robot.runtime.stats import percentiles
from abc_robot.sim.config import SimConfig
from abc_robot.sim.gl import ensure_gl_backend
from abc_robot.transport.messages import Event, JointCommand, JointState, Message, Reply

__all__ = ["SimNode", "SimNodeConfig"]

_ARMS = ("left", "right")
#: How often success and progress are evaluated [ns] (a contact scan in Python).
TASK_CHECK_PERIOD_NS = 50_000_000


@dataclass(frozen=True)
class SimNodeConfig:
    """Attributes:
    bind: publisher endpoint (``sim/...`` topics).
    control: request/reply endpoint (reset, task status); "" = none.
    followers: arm → follower endpoint publishing ``sim/<arm>/command``.
    rate_hz: loop rate [Hz]; each tick runs the physics steps the wall clock asks for.
    qpos_hz: rate of ``sim/qpos`` for the camera processes [Hz] (≥ 60).
    max_steps_per_tick: cap on catch-up physics steps after a stall.
    reset_grace_s: after a ``home`` reset, ignore follower commands this long [s].
    sim: the world (physics step, task, seed, render settings).
    """

    bind: str = "ipc://${run}/sim"
    control: str = ""
    followers: dict[str, str] = field(default_factory=dict)
    rate_hz: float = 500.0  # [Hz]
    qpos_hz: float = 60.0  # [Hz]
    max_steps_per_tick: int = 10
    reset_grace_s: float = 0.3  # [s]
    sim: SimConfig = field(default_factory=SimConfig)

    def __post_init__(self) -> None:
        if not 0 < self.rate_hz <= self.sim.rate_hz:
            raise ValueError(f"rate_hz must be in (0, {self.sim.rate_hz:g}] (the physics rate), got {self.rate_hz}")
        if not 60.0 <= self.qpos_hz <= self.rate_hz:
            raise ValueError(f"qpos_hz must be in [60, rate_hz] Hz, got {self.qpos_hz}")
        if not 0.0 <= self.reset_grace_s <= 5.0:
            raise ValueError(f"reset_grace_s must be in [0, 5] s, got {self.reset_grace_s}")
        if self.max_steps_per_tick < 1:
            raise ValueError(f"max_steps_per_tick must be >= 1, got {self.max_steps_per_tick}")
        bad = sorted(set(self.followers) - set(_ARMS))
        if bad:
            raise ValueError(f"followers: unknown arm(s) {bad}; arms are 'left' and 'right'")


class SimNode(Node):
    """Steps a :class:`~abc_robot.sim.world.SimWorld` in real time (see the module docstring)."""

    Config = SimNodeConfig

    def setup(self) -> None:
        ensure_gl_backend()
        from abc_robot.sim.world import SimWorld

        cfg: SimNodeConfig = self.config
        self.world = SimWorld(cfg.sim)
        self.pub = self.publisher(cfg.bind)
        self.ctl = self.replier(cfg.control) if cfg.control else None
        # One socket for every follower's commands: the loop asks one socket, not one
        # per arm, whether anything came (each question costs ZeroMQ's bookkeeping).
        self._cmd_topics = {arm: f"sim/{arm}/command" for arm in cfg.followers}
        self.cmd_sub = (
            self.latest(list(cfg.followers.values()), list(self._cmd_topics.values())) if cfg.followers else None
        )
        self.dt_ns = int(round(cfg.sim.timestep_s * 1e9))
        self.qpos_period_ns = int(1e9 / cfg.qpos_hz)
        self.t0_ns: int | None = None
        self.steps = 0  # physics steps run since the clock (re)started
        self.lag_steps = 0  # physics steps dropped after stalls
        self.next_qpos_ns = 0
        self.reset_ns = 0
        self.ignore_until_ns = 0
        self.resets = 0
        self.commands = {arm: 0 for arm in _ARMS}
        self.bad_commands = 0
        self.last_cmd_ns = {arm: 0 for arm in _ARMS}
        self.limp = {arm: False for arm in _ARMS}
        m = self.world.model
        self._act = {
            arm: [m.actuator(f"{arm}_{j}").id for j in (*(f"joint{i}" for i in range(1, 7)), "gripper")]
            for arm in _ARMS
        }
        self._gains = (m.actuator_gainprm.copy(), m.actuator_biasprm.copy())
        self.step_cost_ns = np.zeros(4096, dtype=np.int64)  # ring of recent per-step costs
        self.step_calls = 0
        self.next_check_ns = 0
        self.success = self.succeeded = False
        self.progress = self.progress_max = 0.0

    def teardown(self) -> None:
        world = getattr(self, "world", None)
        if world is not None:
            world.close()

    # ---- the tick -------------------------------------------------------------------
    def step(self, now_ns: int) -> None:
        cfg: SimNodeConfig = self.config
        self._apply_commands()
        if self.t0_ns is None:
            self.t0_ns = now_ns - self.dt_ns  # the first tick runs one step
        due = (now_ns - self.t0_ns) // self.dt_ns - self.steps
        n = int(min(due, cfg.max_steps_per_tick))
        if due > n:
            self.lag_steps += int(due - n)
            self.steps += int(due - n)
        if n > 0:
            t = time.perf_counter_ns()
            self.world.step(n)
            stamp = time.monotonic_ns()
            self.step_cost_ns[self.step_calls % len(self.step_cost_ns)] = (time.perf_counter_ns() - t) // n
            self.step_calls += 1
            self.steps += n
            for arm in _ARMS:
                q, dq = self.world.arm_state(arm)
                self.pub.publish(f"sim/{arm}/state", JointState(q=q, dq=dq, stamp_ns=stamp))
            if stamp >= self.next_qpos_ns:
                self.pub.publish("sim/qpos", JointState(q=self.world.qpos(), has_gripper=False, stamp_ns=stamp))
                self.next_qpos_ns = stamp + self.qpos_period_ns
        if now_ns >= self.next_check_ns:
            self._check_task()
            self.next_check_ns = now_ns + TASK_CHECK_PERIOD_NS
        if self.ctl is not None:
            self.ctl.serve(self._handle)

    def _apply_commands(self) -> None:
        if self.cmd_sub is None:
            return
        got = self.cmd_sub.poll()
        if not got:
            return
        for arm, topic in self._cmd_topics.items():
            msg = got.get(topic)
            if not isinstance(msg, JointCommand) or msg.stamp_ns < self.reset_ns:
                continue
            if time.monotonic_ns() < self.ignore_until_ns:
                continue
            if not msg.torque:
                self._set_limp(arm, True)
            elif len(msg.q) == 7 and np.isfinite(msg.q).all():
                self._set_limp(arm, False)
                self.world.set_targets(arm, np.asarray(msg.q, dtype=np.float64))
            else:
                self.bad_commands += 1  # wrong length or not finite: never reaches the servos
                continue
            self.commands[arm] += 1
            self.last_cmd_ns[arm] = msg.stamp_ns

    def _set_limp(self, arm: str, limp: bool) -> None:
        """Torque off = servo gains zero; torque on again holds where the arm is now."""
        if self.limp[arm] == limp:
            return
        m, act = self.world.model, self._act[arm]
        gain, bias = self._gains
        m.actuator_gainprm[act] = 0.0 if limp else gain[act]
        m.actuator_biasprm[act] = 0.0 if limp else bias[act]
        if not limp:
            self.world.set_targets(arm, self.world.arm_state(arm)[0])
        self.limp[arm] = limp

    def _check_task(self) -> None:
        w = self.world
        self.success = bool(w.task.success(w))
        self.progress = float(w.task.progress(w))
        self.succeeded = self.succeeded or self.success
        self.progress_max = max(self.progress_max, self.progress)

    # ---- requests ---------------------------------------------------------------------
    def _handle(self, topic: str, msg: Message) -> Reply:
        if topic == "sim/reset":
            return self._reset(msg.data if isinstance(msg, Event) else {})
        if topic == "sim/task":
            self._check_task()
            return Reply(ok=True, message="task status", data=self._task_status())
        if topic == "sim/snapshot":
            return Reply(ok=True, message="snapshot", data={"snapshot": self.world.snapshot().to_dict()})
        return Reply(ok=False, message=f"unknown request {topic!r}; valid: sim/reset, sim/task, sim/snapshot")

    def _reset(self, data: dict[str, Any]) -> Reply:
        arms = data.get("arms", "home")
        if arms not in ("home", "keep"):
            return Reply(ok=False, message=f"arms must be 'home' or 'keep', got {arms!r}")
        seed = int(data.get("seed", self.world.seed + 1))
        keep = {a: self.world.arm_state(a)[0] for a in _ARMS} if arms == "keep" else None
        for arm in _ARMS:
            self._set_limp(arm, False)
        snapshot = self.world.reset(seed, arm_q=keep)
        now = time.monotonic_ns()
        if keep is None:
            self.reset_ns = now
            self.ignore_until_ns = now + int(self.config.reset_grace_s * 1e9)
        self.t0_ns = now - self.dt_ns  # sim time restarts at 0 with the wall clock
        self.steps = 0
        self.resets += 1
        self.succeeded, self.progress_max = False, 0.0
        self._check_task()
        info = self.world.task.info()
        info.update(seed=seed, arms=arms, reset_ns=self.reset_ns, snapshot=snapshot.to_dict())
        self.log(f"reset: task {info['task']} seed {seed} arms {arms}")
        return Reply(ok=True, message=f"reset {info['task']} seed {seed}", data=info)

    # ---- status -------------------------------------------------------------------------
    def _task_status(self) -> dict[str, Any]:
        w = self.world
        return {
            "task": w.task.name,
            "seed": w.seed,
            "time_s": round(w.time_s, 4),
            "success": self.success,
            "succeeded": self.succeeded,
            "progress": round(self.progress, 4),
            "progress_max": round(self.progress_max, 4),
            "timed_out": w.time_s > w.task.time_limit_s,
        }

    def status(self) -> dict[str, Any]:
        if not hasattr(self, "world"):
            return {}
        now = time.monotonic_ns()
        wall_s = (now - self.t0_ns) / 1e9 if self.t0_ns else 0.0
        n = min(self.step_calls, len(self.step_cost_ns))
        cost_us = self.step_cost_ns[:n] / 1e3 if n else np.zeros(1)
        cost_p = percentiles(cost_us, (50, 99))
        return {
            **self._task_status(),
            "sim_time_s": round(self.world.time_s, 3),
            "realtime_factor": round(self.world.time_s / wall_s, 3) if wall_s > 0 else 0.0,
            "lag_steps": self.lag_steps,
            "step_us_p50": round(cost_p[0], 1),
            "step_us_p99": round(cost_p[1], 1),
            "commands": dict(self.commands),
            "bad_commands": self.bad_commands,
            "command_age_ms": {a: round((now - t) / 1e6, 1) if t else None for a, t in self.last_cmd_ns.items()},
            "limp": dict(self.limp),
            "resets": self.resets,
        }
