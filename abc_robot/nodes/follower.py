"""Follower node: one per arm. Mode arbiter → IK → safety filter → backend.

Modes (see :data:`abc_robot.transport.messages.MODES`):

- ``TELEOP``: the leader's end-effector pose (leader FK, mapped by the configurable
  leader→follower base transform) is solved by the follower IK. On entering TELEOP,
  and after any hold, the arm *engages*: it ramps from where it is to the leader's
  pose at the slower engage speed; a leader pose the follower cannot reach (IK error
  above ``engage_max_error_m``) is refused with a message and the arm holds.
- ``POLICY``: executes the policy worker's time-indexed chunks (see
  :mod:`abc_robot.policy.chunking`); until a chunk arrives the arm holds.
- ``INTERVENE``: delta-pose correction (:mod:`abc_robot.control.intervention`).
- ``HOLD``: keeps the last command. ``ESTOP``: holds and latches; only an explicit
  ``HOLD`` command clears it.

Safety: every command passes :class:`~abc_robot.control.safety.SafetyFilter`; a
leader (or policy) input older than ``stale_timeout_ms`` makes the arm hold (the
watchdog) until fresh input arrives and the arm re-engages. The first command after
start is the measured position: nothing moves until a source is engaged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from abc_robot.control.intervention import DeltaPoseMapper
from abc_robot.control.safety import SafetyConfig, SafetyFilter
from abc_robot.devices.backend import ArmBackend
from abc_robot.devices.registry import BackendContext, make_backend
from abc_robot.errors import AbcRobotError
from abc_robot.policy.chunking import ChunkExecutor, ExecutorConfig
from abc_robot.runtime.node import Node
from abc_robot.runtime.stats import Samples
from abc_robot.transport.messages import (
    MODES,
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


def _rpy(rpy: tuple[float, float, float]) -> np.ndarray:
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]]) @ np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]]) @ np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])


class FollowerNode(Node):
    Config = FollowerConfig

    # ---- lifecycle -------------------------------------------------------------------
    def setup(self) -> None:
        from abc_robot.kinematics.ik import IKSolver
        from abc_robot.kinematics.model import URDF_DIR, ArmModel

        cfg: FollowerConfig = self.config
        self.arm_name = cfg.arm
        urdf = cfg.urdf if "/" in cfg.urdf else str(URDF_DIR / cfg.urdf)
        self.model = ArmModel.from_urdf(urdf)
        self.ik = IKSolver(self.model)
        self.T_fb_lb = np.eye(4)
        self.T_fb_lb[:3, :3] = _rpy(cfg.leader_to_follower_rpy_rad)
        self.T_fb_lb[:3, 3] = cfg.leader_to_follower_xyz_m
        self.pub = self.publisher(cfg.bind)
        self.backend: ArmBackend = make_backend(cfg.backend.kind, cfg.backend.params, BackendContext(cfg.arm, self.pub))
        self.backend.connect()
        self.leader_sub = self.latest(cfg.leader, [f"leader/{cfg.arm}"]) if cfg.leader else None
        self.policy_sub = self.latest(cfg.policy, ["policy/chunk"]) if cfg.policy else None
        # Console events are rare and each one matters: every one is read, in order.
        self.console_sub = self.reliable(cfg.console, ["console/"]) if cfg.console else None
        other = "right" if cfg.arm == "left" else "left"
        self.other_topic = f"follower/{other}/state"
        self.other_sub = self.latest(cfg.other_arm, [self.other_topic]) if cfg.other_arm else None
        self.collision = self._make_collision(cfg, other) if cfg.other_arm else None
        # Takeovers of the other arm, in order (rare, and none may be missed).
        self.pair_sub = self.reliable(cfg.other_arm, [f"intervention/{other}"]) if cfg.intervene_together else None
        self.safety = SafetyFilter(cfg.safety, self.model.q_lower, self.model.q_upper, fk=self.model.fk, collision=self._collides if self.collision else None)
        self.mapper = DeltaPoseMapper(cfg.intervention_scale)
        if self.leader_sub is not None:
            self.wake_on(self.leader_sub.socket)
            self.loop.wake_enabled = cfg.initial_mode == "TELEOP"
        # State of the arbiter.
        self.mode = "HOLD"
        self.requested_mode: str = cfg.initial_mode
        self.hold_reason = "waiting for the arm's first state"
        self.engaging = True
        self.q_cmd: np.ndarray | None = None
        self.torque_on = False
        self.device_errors = 0
        self.reanchor_after_ns = 0
        self.last_cmd_ns = 0
        self.last_leader: LeaderState | None = None
        self.last_leader_seen_ns = 0
        self.counted_leader_seq = -1
        self.T_target: np.ndarray | None = None
        # Column 6 is the gripper opening: clipped to [0, 1], and no joint in switch jumps.
        self.chunk_exec = ChunkExecutor(cfg.executor if cfg.executor.clip_dims else replace(cfg.executor, clip_dims=(6,)))
        self.arm_slice = slice(0, 7) if cfg.arm == "left" else slice(7, 14)
        self.policy_since_ns = 0
        self.policy_anchor: np.ndarray | None = None
        self.policy_first_ns = 0
        self.T_leader_ref: np.ndarray | None = None
        self.interventions = 0
        self.intervention_ns = 0
        self.intervene_started_ns = 0
        # Figures.
        self.latency_ms = Samples()
        self.tracking_mm = Samples()
        self.ik_us = Samples()
        self.refusals: dict[str, int] = {}
        self.watchdog_trips = 0
        self.commands = 0
        self.engage_refusals = 0
        self.mode_changes: list[tuple[int, str, str]] = []

    def teardown(self) -> None:
        backend = getattr(self, "backend", None)
        if backend is not None:
            backend.close()  # torque off, on every exit path

    def _make_collision(self, cfg: FollowerConfig, other: str) -> Any:
        try:
            from abc_robot.kinematics.collision import PairCollision
            from abc_robot.kinematics.model import URDF_DIR, ArmModel
            from abc_robot.sim.layout import BimanualLayout
        except ImportError as exc:  # the pair checker is optional on single-arm rigs
            self.log(f"arm-arm collision check unavailable: {exc}")
            return None
        layout = BimanualLayout.load(cfg.layout)
        other_model = ArmModel.from_urdf(str(URDF_DIR / cfg.urdf) if "/" not in cfg.urdf else cfg.urdf)
        left, right = (self.model, other_model) if cfg.arm == "left" else (other_model, self.model)
        self._prox = {
            "self": (self.model, self.model.model.createData(), layout.T_world_base(cfg.arm)),
            "other": (other_model, other_model.model.createData(), layout.T_world_base(other)),
        }
        self.collision_checks = 0
        self._prox_t, self._prox_d = 0, 0.0
        return PairCollision(left, right, layout.T_world_base("left"), layout.T_world_base("right"), margin_m=cfg.collision_margin_m)

    def _points_world(self, which: str, q6: np.ndarray) -> np.ndarray:
        """World positions of the joint origins and the tool point (a cheap skeleton)."""
        import pinocchio as pin

        model, data, T_wb = self._prox[which]
        pin.forwardKinematics(model.model, data, q6)
        pin.updateFramePlacement(model.model, data, model.ee_frame_id)
        pts = np.array([data.oMi[j].translation for j in range(2, model.model.njoints)] + [data.oMf[model.ee_frame_id].translation])
        return pts @ T_wb[:3, :3].T + T_wb[:3, 3]

    def _collides(self, q6: np.ndarray) -> str | None:
        if self.collision is None or self.other_sub is None:
            return None
        other = self.other_sub.get(self.other_topic)
        if not isinstance(other, JointState) or len(other.q) < 6:
            return None
        q_other = np.asarray(other.q[:6], dtype=float)
        # The exact mesh check costs ~0.1 ms; skeletons farther apart than any two links
        # can reach towards each other need none.
        # The skeleton distance itself is refreshed every 10 ms while the arms are far
        # apart: in 10 ms two arms at full speed close less than 3 cm.
        now = time.monotonic_ns()
        pre = self.config.collision_precheck_m
        if now - self._prox_t < 10_000_000 and self._prox_d > pre + 0.03:
            return None
        a, b = self._points_world("self", q6), self._points_world("other", q_other)
        d = float(np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).min())
        self._prox_t, self._prox_d = now, d
        if d > pre:
            return None
        self.collision_checks += 1
        ql, qr = (q6, q_other) if self.arm_name == "left" else (q_other, q6)
        if self.collision.in_collision(ql, qr):
            return "the arms would collide"
        return None

    # ---- mode handling -----------------------------------------------------------
    def set_mode(self, mode: str, reason: str = "") -> None:
        """Request ``mode`` (one of MODES). ESTOP latches until HOLD is requested."""
        if mode not in MODES:
            self.log(f"ignored unknown mode {mode!r}; valid: {MODES}")
            return
        if self.requested_mode == "ESTOP" and mode != "HOLD":
            self.log(f"ESTOP is latched; send HOLD to clear it (refused {mode})")
            return
        if mode == "INTERVENE" and self.last_leader is None:
            self.log("INTERVENE refused: no leader data")
            return
        if mode != self.requested_mode:
            self.log(f"mode {self.requested_mode} -> {mode}{' (' + reason + ')' if reason else ''}")
        now = time.monotonic_ns()
        if mode == "INTERVENE" and self.requested_mode != "INTERVENE":
            self._takeover()
            self.interventions += 1
            self.intervene_started_ns = now
        elif mode != "INTERVENE" and self.requested_mode == "INTERVENE":
            self.mapper.release()
            self.intervention_ns += now - self.intervene_started_ns
        if (mode == "INTERVENE") != (self.requested_mode == "INTERVENE"):
            kind = "intervene_on" if mode == "INTERVENE" else "intervene_off"
            self.pub.publish(f"intervention/{self.config.arm}", Event(kind=kind, data={"arm": self.config.arm, "mode": mode, "reason": reason}))
        if mode == "POLICY":
            # Release (or start): forget the executing chunk; wait for a chunk computed
            # from an observation taken from now on, then blend into it.
            self.chunk_exec.reset()
            self.policy_since_ns = now
            self.policy_anchor = None
            self.T_leader_ref = None
        self.requested_mode = mode
        # Only the operator's modes need the loop to wake on every leader sample.
        self.loop.wake_enabled = mode in ("TELEOP", "INTERVENE")
        # Operator sources engage with a ramp; INTERVENE starts from the current pose.
        self.engaging = mode != "INTERVENE"

    def _takeover(self) -> None:
        assert self.last_leader is not None and self.q_cmd is not None
        T_F0 = self.model.fk(self.q_cmd[:6])
        self.mapper.takeover(self.T_fb_lb @ np.asarray(self.last_leader.T_base_ee), T_F0)

    def on_mode_command(self, cmd: ModeCommand) -> None:
        if cmd.arm in ("", self.config.arm):
            self.set_mode(cmd.mode, cmd.reason)

    def _poll_pair(self) -> None:
        """Mirror the other arm's takeover and release (``intervene_together``)."""
        if self.pair_sub is None:
            return
        for _, msg in self.pair_sub.drain(10):
            if not isinstance(msg, Event):
                continue
            if msg.kind == "intervene_on" and self.requested_mode == "POLICY":
                self.set_mode("INTERVENE", "the other arm was taken over")
            elif msg.kind == "intervene_off" and msg.data.get("mode") == "POLICY" and self.requested_mode == "INTERVENE":
                # Only a hand-back is mirrored: a hold or e-stop of the other arm
                # reaches this one through its own console, not through the pair.
                self.set_mode("POLICY", "the other arm was handed back")

    def _poll_console(self) -> None:
        if self.console_sub is None:
            return
        for topic, msg in self.console_sub.drain(100):
            if isinstance(msg, ModeCommand):
                self.on_mode_command(msg)
            elif isinstance(msg, Event) and msg.data.get("arm", "") in ("", self.config.arm):
                if msg.kind == "intervene_on" and self.requested_mode == "POLICY":
                    self.set_mode("INTERVENE", "console")
                elif msg.kind == "intervene_off" and self.requested_mode == "INTERVENE":
                    self.set_mode("POLICY", "console")
                elif msg.kind == "reanchor":
                    # The world was reset (sim) or the arm moved under us: start again
                    # from the measured state, with no velocity, engaging anew — from a
                    # state sampled after this event, never from one already in flight.
                    self.q_cmd = None
                    self.reanchor_after_ns = msg.stamp_ns
                    self.chunk_exec.reset()
                    self.policy_anchor = None

    # ---- the tick ------------------------------------------------------------------
    def wake_on(self, sock: Any) -> None:
        """Run a step as soon as ``sock`` has data (not only at the loop rate)."""
        self.loop.wake_on(sock)

    def step(self, now_ns: int) -> None:
        cfg: FollowerConfig = self.config
        self._poll_console()
        self._poll_pair()
        # Drain the inputs first, whatever happens next: this loop wakes on the leader
        # socket, and an undrained socket would wake it again at once.
        leader = self._poll_leader(now_ns)
        if self.other_sub is not None:
            self.other_sub.poll()
        try:
            sample = self.backend.read_state()
        except AbcRobotError as exc:  # a driver that raises instead of returning None
            sample = None
            self._device_error("read", exc)
        if sample is None:
            self.hold_reason = f"backend: {self.backend.fault or 'no data'}"
            self.mode = "HOLD"
            self.q_cmd = None  # re-anchor on the measured state when it returns
            return
        if self.requested_mode == "ESTOP":
            # Torque off, nothing commanded: the arm may be moved by hand. Clearing the
            # e-stop re-anchors on the *measured* pose, so torque comes back without a snap.
            if self.torque_on:
                self.backend.set_torque(False)
                self.torque_on = False
                self.log("ESTOP: torque off")
            self.mode, self.hold_reason = "ESTOP", "e-stop latched (send HOLD to clear)"
            self.q_cmd = None
            self._publish_state(sample, None, "none", 0)
            return
        if self.q_cmd is None:
            if sample.stamp_ns < self.reanchor_after_ns:
                self.mode, self.hold_reason = "HOLD", "waiting for a state sampled after the reset"
                return
            # First command after start, a device fault or an e-stop = where the arm is.
            self.q_cmd = np.array(sample.q, dtype=float)
            self.safety.reset(self.q_cmd)
            self.last_cmd_ns = 0
            self.engaging = True
        q_des, source, ref_stamp = self._desired(now_ns, leader)
        # dt between the instants commands are issued: that is what the arm sees.
        t_cmd = time.monotonic_ns()
        dt = (t_cmd - self.last_cmd_ns) / 1e9 if self.last_cmd_ns else 1.0 / cfg.rate_hz
        res = self.safety.filter(q_des, dt, engaging=self.engaging and source != "none")
        if res.refused:
            self.refusals[res.refused] = self.refusals.get(res.refused, 0) + 1
            if self.refusals[res.refused] in (1, 100, 1000):
                self.log(f"refused command: {res.refused} (x{self.refusals[res.refused]})")
        if self.engaging and source != "none" and np.max(np.abs(res.q[:6] - q_des[:6])) < cfg.engage_tolerance_rad:
            self.engaging = False
            self.log(f"engaged ({self.mode})")
        try:
            sent = self.backend.command(res.q)
        except AbcRobotError as exc:
            # A missed write (e.g. while torque is being enabled) must not end the
            # process: hold, and start again from the measured pose when it answers.
            self._device_error("command", exc)
            self.q_cmd = None
            self.mode, self.hold_reason = "HOLD", f"backend: {exc}"
            return
        self.torque_on = True
        self.q_cmd = res.q
        self.last_cmd_ns = t_cmd
        self.commands += 1
        issued = time.monotonic_ns()
        if leader is not None and source == "operator" and leader.seq != self.counted_leader_seq:
            self.counted_leader_seq = leader.seq
            self.latency_ms.add((issued - leader.stamp_ns) / 1e6)
        if self.T_target is not None and source == "operator" and not self.engaging:
            T_meas = self.model.fk(sample.q[:6])
            self.tracking_mm.add(1e3 * float(np.linalg.norm(T_meas[:3, 3] - self.T_target[:3, 3])))
        self._publish_state(sample, np.asarray(sent), source, ref_stamp, t_cmd)

    def _device_error(self, what: str, exc: Exception) -> None:
        self.device_errors += 1
        if self.device_errors in (1, 10, 100, 1000):
            self.log(f"backend {what} failed ({exc}); holding and retrying (x{self.device_errors})")

    def _publish_state(self, sample: Any, sent: np.ndarray | None, source: str, ref_stamp: int, t_cmd: int = 0) -> None:
        """Measured state, the command actually sent (if any) and the end-effector pose."""
        arm = self.config.arm
        self.pub.publish(f"follower/{arm}/state", JointState(q=np.asarray(sample.q), dq=np.asarray(sample.dq), stamp_ns=sample.stamp_ns))
        if sent is not None:
            self.pub.publish(
                f"follower/{arm}/command",
                JointCommand(q=sent, ref_stamp_ns=ref_stamp, mode=self.mode, control_source=source, stamp_ns=t_cmd),
            )
        else:
            self.pub.publish(f"follower/{arm}/command", JointCommand(q=np.asarray(sample.q), torque=False, mode=self.mode, control_source="none"))
        T_meas = self.model.fk(sample.q[:6])
        self.pub.publish(f"follower/{arm}/ee", EEPose(T_base_ee=T_meas, gripper=float(sample.q[6]) if len(sample.q) > 6 else 0.0, stamp_ns=sample.stamp_ns))

    def _poll_leader(self, now_ns: int) -> LeaderState | None:
        if self.leader_sub is None:
            return None
        got = self.leader_sub.poll().get(f"leader/{self.config.arm}")
        if isinstance(got, LeaderState):
            self.last_leader = got
            self.last_leader_seen_ns = now_ns
        leader = self.last_leader
        if leader is None:
            return None
        # Watchdog on the sample's own stamp: a stalled or dead leader process, a
        # frozen reader, or a slow link all make it old.
        if now_ns - leader.stamp_ns > self.config.stale_timeout_ms * 1e6:
            return None
        return leader

    def _desired(self, now_ns: int, leader: LeaderState | None) -> tuple[np.ndarray, str, int]:
        """The requested command, who it comes from, and the stamp of its input."""
        assert self.q_cmd is not None
        mode = self.requested_mode
        hold = (self.q_cmd, "none", 0)
        if mode in ("HOLD", "ESTOP"):
            self.mode, self.hold_reason = mode, "" if mode == "HOLD" else "e-stop latched"
            return hold
        if mode in ("TELEOP", "INTERVENE"):
            if leader is None:
                if self.mode != "HOLD" and self.last_leader is not None:
                    self.watchdog_trips += 1
                    self.log(f"watchdog: leader input stale > {self.config.stale_timeout_ms:.0f} ms, holding")
                self.mode, self.hold_reason = "HOLD", "leader input stale or absent"
                self.engaging = True
                return hold
            T_leader = self.T_fb_lb @ np.asarray(leader.T_base_ee)
            if mode == "INTERVENE":
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
            if self.engaging and res.pos_err_m > self.config.engage_max_error_m:
                self.engage_refusals += 1
                if self.engage_refusals in (1, 100, 1000):
                    self.log(f"refusing to engage: the leader pose is {res.pos_err_m * 1e3:.0f} mm out of the follower's reach")
                self.mode, self.hold_reason = "HOLD", "leader pose unreachable"
                return hold
            self.T_target = T_target
            self.mode, self.hold_reason = mode, ""
            q = np.concatenate([res.q, [float(np.clip(leader.gripper, 0.0, 1.0))]])
            return q, source, leader.stamp_ns
        if mode == "POLICY":
            if leader is not None and self._leader_moved(self.T_fb_lb @ np.asarray(leader.T_base_ee)):
                self.set_mode("INTERVENE", "leader moved")
                return self._desired(now_ns, leader)
            q_pol = self._policy_command(now_ns)
            if q_pol is None:
                self.mode, self.hold_reason = "HOLD", "waiting for a fresh policy chunk"
                return hold
            self.mode, self.hold_reason = "POLICY", ""
            return q_pol, "policy", 0
        return hold

    def _leader_moved(self, T_leader: np.ndarray) -> bool:
        """True once the leader moved beyond the threshold since POLICY began."""
        thr = self.config.intervene_motion_threshold_m
        if thr <= 0:
            return False
        if self.T_leader_ref is None:
            self.T_leader_ref = T_leader
            return False
        return float(np.linalg.norm(T_leader[:3, 3] - self.T_leader_ref[:3, 3])) > thr

    def _policy_command(self, now_ns: int) -> np.ndarray | None:
        """The policy's action for this arm at ``now_ns``, or None (hold)."""
        if self.policy_sub is None:
            return None
        got = self.policy_sub.poll().get("policy/chunk")
        if isinstance(got, ActionChunk) and got.obs_stamp_ns >= self.policy_since_ns and got.actions.ndim == 2:
            acts = np.asarray(got.actions)
            part = acts[:, self.arm_slice] if acts.shape[1] >= self.arm_slice.stop else acts[:, :7]
            self.chunk_exec.add(part, np.asarray(got.t_ns), got.obs_stamp_ns, now_ns)
        cur = self.chunk_exec.current
        if cur is None:
            return None
        if now_ns > cur.end_ns + self.config.policy_stale_ms * 1e6:
            return None
        q = self.chunk_exec.sample(now_ns)
        if q is None:
            return None
        if self.policy_anchor is None:
            assert self.q_cmd is not None
            self.policy_anchor = self.q_cmd.copy()
            self.policy_first_ns = now_ns
        blend = self.config.policy_blend_s
        a = 1.0 if blend <= 0 else min(1.0, (now_ns - self.policy_first_ns) / (blend * 1e9))
        if a < 1.0:
            a = a * a * (3.0 - 2.0 * a)
            q = (1.0 - a) * self.policy_anchor + a * q
        return q

    def status(self) -> dict[str, Any]:
        st: dict[str, Any] = {
            "arm": self.config.arm,
            "mode": getattr(self, "mode", "HOLD"),
            "requested_mode": getattr(self, "requested_mode", ""),
            "hold_reason": getattr(self, "hold_reason", ""),
            "engaged": not getattr(self, "engaging", True),
            "commands": getattr(self, "commands", 0),
            "watchdog_trips": getattr(self, "watchdog_trips", 0),
            "refusals": dict(getattr(self, "refusals", {})),
            "backend_fault": self.backend.fault if hasattr(self, "backend") else None,
            "device_errors": getattr(self, "device_errors", 0),
        }
        if hasattr(self, "latency_ms"):
            st.update(self.latency_ms.summary("latency_ms"))
            st.update(self.tracking_mm.summary("tracking_mm"))
            st.update(self.ik_us.summary("ik_us"))
            st["latency_samples"] = self.latency_ms.count
            intervening = self.intervention_ns + (time.monotonic_ns() - self.intervene_started_ns if self.requested_mode == "INTERVENE" else 0)
            st["interventions"] = self.interventions
            st["intervention_s"] = intervening / 1e9
            st["policy"] = self.chunk_exec.status()
        return st
