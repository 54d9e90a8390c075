"""Follower node: one per arm. Wiring of mode arbiter → IK → safety filter → backend.

Who drives the arm (TELEOP, POLICY, INTERVENE, HOLD, ESTOP), the stale-input
watchdog, engaging and refusing are decided by
:class:`~abc_robot.control.arbiter.ModeArbiter` (pure, no I/O); leader poses (leader
FK, mapped by the configurable leader→follower base transform) are solved by the
follower IK; policy chunks are executed by
:class:`~abc_robot.policy.chunking.ChunkExecutor` (which also blends into the first
chunk); corrections by :class:`~abc_robot.control.intervention.DeltaPoseMapper`.
Every command passes :class:`~abc_robot.control.safety.SafetyFilter`, with the
arm–arm check of :class:`~abc_robot.kinematics.collision.PairGuard`. The first
command after start is the measured position: nothing moves until a source is engaged.
This module reads the sockets and the backend, and publishes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from abc_robot.control.arbiter import ArbiterConfig, ModeArbiter, Transition
from abc_robot.control.intervention import DeltaPoseMapper
from abc_robot.control.safety import SafetyConfig, SafetyFilter
from abc_robot.devices.backend import ArmBackend
from abc_robot.devices.registry import BackendContext, make_backend
from abc_robot.errors import AbcRobotError
from abc_robot.policy.chunking import ChunkExecutor, ExecutorConfig
from abc_robot.runtime.node import Node
from abc_robot.runtime.stats import Samples
from abc_robot.transport.messages import (
    ActionChunk,
    EEPose,
    Event,
    JointCommand,
    JointState,
    LeaderState,
    ModeCommand,
)

__all__ = ["FollowerNode", "FollowerConfig", "BackendSpec"]


@dataclass(frozen=True)
class BackendSpec:
    kind: str = "sim"  # sim | dynamixel | yam (abc_robot.devices.registry)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FollowerConfig:
    """Follower settings (launch file ``params``).

    Attributes:
        arm: ``left`` or ``right``.
        bind: this follower's publisher endpoint.
        leader: the leader node's endpoint ("" = none).
        policy: the policy worker's endpoint ("" = none).
        console: endpoints publishing ``console/`` events and mode commands.
        other_arm: the other follower's endpoint, for the arm–arm collision check.
        rate_hz: control loop rate [Hz]; the loop also wakes on every leader sample.
        initial_mode: mode at start (the arm holds until its source is fresh).
        stale_timeout_ms: watchdog: input older than this → hold [ms].
        urdf: follower description (bare names are looked up in ``urdf/``).
        layout: bimanual layout file (arm base poses, for the collision check).
        leader_to_follower_xyz_m / _rpy_rad: pose of the leader's base in the
            follower's base frame (leader poses are mapped through it).
        engage_tolerance_rad: engaged once every joint is this close to the target [rad].
        engage_max_error_m: refuse to engage a leader pose the IK misses by more [m].
        collision_margin_m: minimum distance kept between the two arms [m].
        collision_precheck_m: the exact check runs only when the arms' joint skeletons
            come closer than this [m] (must exceed twice the largest link radius plus
            the gripper length).
        intervention_scale: leader translation scale while intervening [1].
        intervene_motion_threshold_m: leader motion during POLICY that triggers
            INTERVENE automatically [m] (0 disables the motion trigger).
        intervene_together: bimanual corrections: a takeover or release of the other
            arm (by its leader's motion or an event for that arm alone) takes over or
            releases this one too. Each follower announces its own on
            ``intervention/<arm>``; needs ``other_arm``. Off: each arm on its own.
        policy_blend_s: on entering POLICY, blend from the held command into the
            policy's trajectory over this long [s], so the first policy command is
            continuous with the last operator command.
        policy_stale_ms: hold when the newest chunk ended longer ago than this [ms].
        executor: chunk execution (between-chunk method, delay estimate).
    """

    arm: Literal["left", "right"]
    bind: str
    leader: str = ""
    policy: str = ""
    console: list[str] = field(default_factory=list)
    other_arm: str = ""
    rate_hz: float = 250.0
    initial_mode: Literal["TELEOP", "POLICY", "HOLD"] = "TELEOP"
    stale_timeout_ms: float = 50.0
    urdf: str = "yam_follower.urdf"
    layout: str = "bimanual.yaml"
    leader_to_follower_xyz_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    leader_to_follower_rpy_rad: tuple[float, float, float] = (0.0, 0.0, 0.0)
    engage_tolerance_rad: float = 0.03
    engage_max_error_m: float = 0.03
    collision_margin_m: float = 0.01
    collision_precheck_m: float = 0.30
    intervention_scale: float = 1.0
    intervene_motion_threshold_m: float = 0.02
    intervene_together: bool = False
    policy_blend_s: float = 0.3
    policy_stale_ms: float = 300.0
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    backend: BackendSpec = field(default_factory=BackendSpec)

    def __post_init__(self) -> None:
        if self.rate_hz <= 0 or self.stale_timeout_ms <= 0:
            raise ValueError("rate_hz and stale_timeout_ms must be positive")
        if self.intervene_together and not self.other_arm:
            raise ValueError("intervene_together needs other_arm (the other follower's endpoint)")


class FollowerNode(Node):
    Config = FollowerConfig

    def __init__(self, name: str, config: FollowerConfig, **kw: Any) -> None:
        super().__init__(name, config, **kw)
        cfg = config
        self.arbiter = ModeArbiter(
            ArbiterConfig(
                initial_mode=cfg.initial_mode,
                stale_timeout_ms=cfg.stale_timeout_ms,
                engage_tolerance_rad=cfg.engage_tolerance_rad,
                engage_max_error_m=cfg.engage_max_error_m,
                intervene_motion_threshold_m=cfg.intervene_motion_threshold_m,
            ),
            log=self.log,
        )
        self.mapper = DeltaPoseMapper(cfg.intervention_scale)
        # Column 6 is the gripper opening: clipped to [0, 1], and no joint in switch jumps.
        ex = cfg.executor if cfg.executor.clip_dims else replace(cfg.executor, clip_dims=(6,))
        self.chunk_exec = ChunkExecutor(replace(ex, start_blend_s=cfg.policy_blend_s))
        self.arm_slice = slice(0, 7) if cfg.arm == "left" else slice(7, 14)
        other = "right" if cfg.arm == "left" else "left"
        self.other_arm_name = other
        self.other_topic = f"follower/{other}/state"
        self.leader_topic = f"leader/{cfg.arm}"
        self._topics = (f"follower/{cfg.arm}/state", f"follower/{cfg.arm}/command", f"follower/{cfg.arm}/ee")
        self.backend: ArmBackend | None = None
        self.q_cmd: np.ndarray | None = None
        self.torque_on = False
        self.device_errors = 0
        self.backend_gap_since_ns = 0  # first tick of the current run without a backend sample
        self.backend_gap_logged = ""  # the hold reason last logged for it ("" = not logged)
        self.backend_gap_log_ns = 0
        self.reanchor_after_ns = 0
        self.last_cmd_ns = 0
        self.last_leader: LeaderState | None = None
        self.counted_leader_seq = -1
        self.T_target: np.ndarray | None = None
        self.guard: Any = None  # kinematics.collision.PairGuard when other_arm is set
        self._known_fk: tuple[np.ndarray, np.ndarray | None] | None = None  # (q6, p_base_ee) of this tick's IK
        # Figures.
        self.latency_ms = Samples()
        self.tracking_mm = Samples()
        self.ik_us = Samples()
        self.refusals: dict[str, int] = {}
        self.commands = 0

    # The arbiter's figures, under the names the tests and the console read.
    @property
    def mode(self) -> str:
        return self.arbiter.mode

    @property
    def hold_reason(self) -> str:
        return self.arbiter.hold_reason

    # ---- lifecycle -------------------------------------------------------------------
    def setup(self) -> None:
        from abc_robot.kinematics.ik import IKSolver
        from abc_robot.kinematics.model import ArmModel
        from abc_robot.kinematics.se3 import T_from_xyz_rpy

        cfg: FollowerConfig = self.config
        self.model = ArmModel.from_urdf(cfg.urdf)
        self.ik = IKSolver(self.model)
        self.T_fb_lb = T_from_xyz_rpy(cfg.leader_to_follower_xyz_m, cfg.leader_to_follower_rpy_rad)
        self.pub = self.publisher(cfg.bind)
        self.backend = make_backend(cfg.backend.kind, cfg.backend.params, BackendContext(cfg.arm, self.pub))
        self.backend.connect()
        self.leader_sub = self.latest(cfg.leader, [self.leader_topic]) if cfg.leader else None
        self.policy_sub = self.latest(cfg.policy, ["policy/chunk"]) if cfg.policy else None
        # Console events are rare and each one matters: every one is read, in order.
        self.console_sub = self.reliable(cfg.console, ["console/"]) if cfg.console else None
        self.other_sub = self.latest(cfg.other_arm, [self.other_topic]) if cfg.other_arm else None
        self.guard = self._make_guard(cfg) if cfg.other_arm else None
        # Takeovers of the other arm, in order (rare, and none may be missed).
        self.pair_sub = self.reliable(cfg.other_arm, [f"intervention/{self.other_arm_name}"]) if cfg.intervene_together else None
        self.safety = SafetyFilter(
            cfg.safety,
            self.model.q_lower,
            self.model.q_upper,
            fk=self.model.fk,
            collision=self._collides if self.guard else None,
            reach_m=self.model.reach_m,
        )
        if self.leader_sub is not None:
            self.loop.wake_on(self.leader_sub.socket)
            self.loop.wake_enabled = self.arbiter.wants_leader_wake

    def teardown(self) -> None:
        if self.backend is not None:
            self.backend.close()  # torque off, on every exit path

    def _make_guard(self, cfg: FollowerConfig) -> Any:
        try:
            from abc_robot.kinematics.collision import PairGuard
            from abc_robot.kinematics.model import ArmModel
            from abc_robot.sim.layout import BimanualLayout
        except ImportError as exc:  # the pair checker is optional on single-arm rigs
            self.log(f"arm-arm collision check unavailable: {exc}")
            return None
        layout = BimanualLayout.load(cfg.layout)
        return PairGuard(
            cfg.arm,
            self.model,
            ArmModel.from_urdf(cfg.urdf),
            layout.T_world_base(cfg.arm),
            layout.T_world_base(self.other_arm_name),
            margin_m=cfg.collision_margin_m,
            precheck_m=cfg.collision_precheck_m,
        )

    def _collides(self, q6: np.ndarray) -> str | None:
        if self.guard is None or self.other_sub is None:
            return None
        now = time.monotonic_ns()
        if self.guard.reusable(now):
            return None  # the arms were far enough apart recently (no need to decode the other's state)
        other = self.other_sub.get(self.other_topic)
        if not isinstance(other, JointState) or len(other.q) < 6:
            return None
        if self.guard.collides(q6, np.asarray(other.q[:6], dtype=float), now):
            return "the arms would collide"
        return None

    # ---- mode handling -----------------------------------------------------------
    def set_mode(self, mode: str, reason: str = "") -> None:
        """Request ``mode`` (one of MODES). ESTOP latches until HOLD is requested."""
        now = time.monotonic_ns()
        self._carry_out(self.arbiter.request(mode, now, reason, have_leader=self.last_leader is not None), now)

    def _carry_out(self, tr: Transition | None, now_ns: int) -> None:
        """Do what a granted mode transition asks of the node."""
        if tr is None:
            return
        arm = self.config.arm
        if tr.takeover:
            self._takeover()
        elif tr.release:
            self.mapper.release()
        if tr.announce:
            kind = "intervene_on" if tr.takeover else "intervene_off"
            self.pub.publish(f"intervention/{arm}", Event(kind=kind, data={"arm": arm, "mode": tr.new, "reason": tr.reason}))
        if tr.policy_start:
            # Release (or start): forget the executing chunk; wait for a chunk computed
            # from an observation taken from now on, then blend into it.
            self.chunk_exec.reset()
        self.loop.wake_enabled = self.arbiter.wants_leader_wake

    def _takeover(self) -> None:
        if self.last_leader is None or self.q_cmd is None:
            return  # anchored on the first tick that has both (see _operator_target)
        self.mapper.takeover(self.T_fb_lb @ np.asarray(self.last_leader.T_base_ee), self.model.fk(self.q_cmd[:6]))

    def on_mode_command(self, cmd: ModeCommand) -> None:
        if cmd.arm in ("", self.config.arm):
            self.set_mode(cmd.mode, cmd.reason)

    def _poll_pair(self) -> None:
        """Mirror the other arm's takeover and release (``intervene_together``)."""
        if self.pair_sub is None:
            return
        for _, msg in self.pair_sub.drain(10):
            if isinstance(msg, Event):
                now = time.monotonic_ns()
                self._carry_out(self.arbiter.pair_event(msg.kind, str(msg.data.get("mode", "")), now), now)

    def _poll_console(self) -> None:
        if self.console_sub is None:
            return
        for _topic, msg in self.console_sub.drain(100):
            if isinstance(msg, ModeCommand):
                self.on_mode_command(msg)
            elif isinstance(msg, Event) and msg.data.get("arm", "") in ("", self.config.arm):
                if msg.kind == "reanchor":
                    # The world was reset (sim) or the arm moved under us: start again
                    # from the measured state, with no velocity, engaging anew — from a
                    # state sampled after this event, never from one already in flight.
                    self.q_cmd = None
                    self.reanchor_after_ns = msg.stamp_ns
                    self.chunk_exec.reset()
                else:
                    now = time.monotonic_ns()
                    self._carry_out(self.arbiter.console_event(msg.kind, now), now)

    # ---- the tick ------------------------------------------------------------------
    def step(self, now_ns: int) -> None:
        cfg: FollowerConfig = self.config
        assert self.backend is not None
        self._poll_console()
        self._poll_pair()
        # Drain the inputs first, whatever happens next: this loop wakes on the leader
        # socket, and an undrained socket would wake it again at once.
        leader = self._poll_leader(now_ns)
        if self.other_sub is not None:
            self.other_sub.drain()  # decoded only when the arm-arm check needs it
        try:
            sample = self.backend.read_state()
        except AbcRobotError as exc:  # a driver that raises instead of returning None
            sample = None
            self._device_error("read", exc)
        if sample is None:
            reason = f"backend: {self.backend.fault or 'no data'}"
            self.arbiter.hold(reason)
            self.q_cmd = None  # re-anchor on the measured state when it returns
            self._log_backend_gap(now_ns, reason)
            return
        if self.backend_gap_since_ns:
            if self.backend_gap_logged:
                gap_s = (now_ns - self.backend_gap_since_ns) / 1e9
                self.log(f"backend back after {gap_s:.1f} s: re-anchoring on the measured pose")
            self.backend_gap_since_ns, self.backend_gap_logged = 0, ""
        if self.arbiter.estop:
            # Torque off, nothing commanded: the arm may be moved by hand. Clearing the
            # e-stop re-anchors on the *measured* pose, so torque comes back without a snap.
            if self.torque_on:
                self.backend.set_torque(False)
                self.torque_on = False
                self.log("ESTOP: torque off")
            self.arbiter.estopped()
            self.q_cmd = None
            self._publish_state(sample, None, "none", 0)
            return
        if self.q_cmd is None:
            if sample.stamp_ns < self.reanchor_after_ns:
                self.arbiter.hold("waiting for a state sampled after the reset")
                return
            # First command after start, a device fault or an e-stop = where the arm is.
            self.q_cmd = np.array(sample.q, dtype=float)
            self.safety.reset(self.q_cmd)
            self.last_cmd_ns = 0
            self.arbiter.reanchor()
        self._known_fk = None
        q_des, source, ref_stamp = self._desired(now_ns, leader)
        # dt between the instants commands are issued: that is what the arm sees.
        t_cmd = time.monotonic_ns()
        dt = (t_cmd - self.last_cmd_ns) / 1e9 if self.last_cmd_ns else 1.0 / cfg.rate_hz
        following = source != "none"
        res = self.safety.filter(q_des, dt, engaging=self.arbiter.engaging and following, known_fk=self._known_fk)
        if res.refused:
            self.refusals[res.refused] = self.refusals.get(res.refused, 0) + 1
            if self.refusals[res.refused] in (1, 100, 1000):
                self.log(f"refused command: {res.refused} (x{self.refusals[res.refused]})")
        if self.arbiter.engaging and following:
            self.arbiter.commanded(float(np.max(np.abs(res.q[:6] - q_des[:6]))), following)
        try:
            sent = self.backend.command(res.q)
        except AbcRobotError as exc:
            # A missed write (e.g. while torque is being enabled) must not end the
            # process: hold, and start again from the measured pose when it answers.
            self._device_error("command", exc)
            self.q_cmd = None
            self.arbiter.hold(f"backend: {exc}")
            return
        self.torque_on = True
        self.q_cmd = res.q
        self.last_cmd_ns = t_cmd
        self.commands += 1
        issued = time.monotonic_ns()
        if leader is not None and source == "operator" and leader.seq != self.counted_leader_seq:
            self.counted_leader_seq = leader.seq
            self.latency_ms.add((issued - leader.stamp_ns) / 1e6)
        T_meas = self._publish_state(sample, np.asarray(sent), source, ref_stamp, t_cmd)
        if self.T_target is not None and source == "operator" and not self.arbiter.engaging:
            d = T_meas[:3, 3] - self.T_target[:3, 3]
            self.tracking_mm.add(1e3 * math.sqrt(float(d @ d)))

    def _log_backend_gap(self, now_ns: int, reason: str) -> None:
        """Log a hold for want of backend samples once it lasts 0.1 s (a one-tick gap is
        not news), and again when its reason changes (at most once a second)."""
        if not self.backend_gap_since_ns:
            self.backend_gap_since_ns = now_ns
        if (
            now_ns - self.backend_gap_since_ns >= 100_000_000
            and reason != self.backend_gap_logged
            and now_ns - self.backend_gap_log_ns >= 1_000_000_000
        ):
            self.log(f"HOLD: {reason}")
            self.backend_gap_logged, self.backend_gap_log_ns = reason, now_ns

    def _device_error(self, what: str, exc: Exception) -> None:
        self.device_errors += 1
        if self.device_errors in (1, 10, 100, 1000):
            self.log(f"backend {what} failed ({exc}); holding and retrying (x{self.device_errors})")

    def _publish_state(self, sample: Any, sent: np.ndarray | None, source: str, ref_stamp: int, t_cmd: int = 0) -> np.ndarray:
        """Publish the measured state, the command actually sent (if any) and the
        end-effector pose; return that pose (4×4, base frame)."""
        mode = self.arbiter.mode
        # Every message is built first and the three sent back to back: ZeroMQ's I/O
        # thread then wakes once for them instead of once per message.
        state = JointState(q=np.asarray(sample.q), dq=np.asarray(sample.dq), stamp_ns=sample.stamp_ns)
        if sent is not None:
            command = JointCommand(q=sent, ref_stamp_ns=ref_stamp, mode=mode, control_source=source, stamp_ns=t_cmd)
        else:
            command = JointCommand(q=np.asarray(sample.q), torque=False, mode=mode, control_source="none")
        T_meas = self.model.fk(sample.q[:6])
        ee = EEPose(T_base_ee=T_meas, gripper=float(sample.q[6]) if len(sample.q) > 6 else 0.0, stamp_ns=sample.stamp_ns)
        self.pub.publish(self._topics[0], state)
        self.pub.publish(self._topics[1], command)
        self.pub.publish(self._topics[2], ee)
        return T_meas

    def _poll_leader(self, now_ns: int) -> LeaderState | None:
        """The newest leader sample if the watchdog passes it, else None."""
        if self.leader_sub is None:
            return None
        got = self.leader_sub.poll().get(self.leader_topic)
        if isinstance(got, LeaderState):
            self.last_leader = got
        leader = self.last_leader
        if leader is None or not self.arbiter.leader_fresh(leader.stamp_ns, now_ns):
            return None
        return leader

    def _desired(self, now_ns: int, leader: LeaderState | None) -> tuple[np.ndarray, str, int]:
        """The requested command, who it comes from, and the stamp of its input."""
        assert self.q_cmd is not None
        hold = (self.q_cmd, "none", 0)
        T_leader = self.T_fb_lb @ np.asarray(leader.T_base_ee) if leader is not None else None
        plan, tr = self.arbiter.plan(now_ns, leader is not None, self.last_leader is not None, None if T_leader is None else T_leader[:3, 3])
        self._carry_out(tr, now_ns)
        if plan == "policy":
            q_pol = self._policy_command(now_ns)
            if q_pol is None:
                self.arbiter.hold("waiting for a fresh policy chunk")
                return hold
            self.arbiter.following()
            return q_pol, "policy", 0
        if plan == "hold" or leader is None or T_leader is None:
            return hold
        if plan == "intervention":
            if not self.mapper.active:
                self._takeover()
            T_target = self.mapper.target(T_leader)
            source = "intervention"
        else:
            T_target = T_leader
            source = "operator"
        t0 = time.perf_counter_ns()
        res = self.ik.solve(T_target, self.q_cmd[:6])
        self.ik_us.add((time.perf_counter_ns() - t0) / 1e3)
        if not self.arbiter.accept_target(res.pos_err_m):
            return hold
        self.T_target = T_target
        self.arbiter.following()
        q = np.empty(7)
        q[:6] = res.q
        q[6] = min(max(float(leader.gripper), 0.0), 1.0)
        self._known_fk = (res.q, res.p_base_ee)  # the safety filter's workspace check reuses it
        return q, source, leader.stamp_ns

    def _policy_command(self, now_ns: int) -> np.ndarray | None:
        """The policy's action for this arm at ``now_ns``, or None (hold)."""
        if self.policy_sub is None:
            return None
        got = self.policy_sub.poll().get("policy/chunk")
        if isinstance(got, ActionChunk) and got.obs_stamp_ns >= self.arbiter.policy_since_ns and got.actions.ndim == 2:
            acts = np.asarray(got.actions)
            part = acts[:, self.arm_slice] if acts.shape[1] >= self.arm_slice.stop else acts[:, :7]
            self.chunk_exec.add(part, np.asarray(got.t_ns), got.obs_stamp_ns, now_ns)
        cur = self.chunk_exec.current
        if cur is None or now_ns > cur.end_ns + self.config.policy_stale_ms * 1e6:
            return None
        return self.chunk_exec.sample(now_ns, start_from=self.q_cmd)

    def status(self) -> dict[str, Any]:
        now = time.monotonic_ns()
        arb = self.arbiter.status(now)
        st: dict[str, Any] = {
            "arm": self.config.arm,
            "mode": arb["mode"],
            "requested_mode": arb["requested_mode"],
            "hold_reason": arb["hold_reason"],
            "engaged": arb["engaged"],
            "commands": self.commands,
            "watchdog_trips": arb["watchdog_trips"],
            "refusals": dict(self.refusals),
            "backend_fault": self.backend.fault if self.backend is not None else None,
            "device_errors": self.device_errors,
        }
        st.update(self.latency_ms.summary("latency_ms"))
        st.update(self.tracking_mm.summary("tracking_mm"))
        st.update(self.ik_us.summary("ik_us"))
        st["latency_samples"] = self.latency_ms.count
        st["interventions"] = arb["interventions"]
        st["intervention_s"] = arb["intervention_s"]
        st["policy"] = self.chunk_exec.status()
        return st
