"""Policy worker node: observations in, time-indexed action chunks out.

Setup loads the checkpoint (refusing one that does not fit the rig), compiles the
sampler on the requested rung and warms it up; only then does the loop start, so the
first heartbeat already says ``ready: true`` with the measured latency and no arm can
be put in POLICY on a cold model. The loop:

1. keeps the newest state of every follower (``follower/<arm>/state``), its mode
   (``follower/<arm>/command``) and the newest frame of every camera (``camera/<name>``);
2. every ``execute_steps`` action periods, builds an observation (state of all arms,
   images resized with padding to the checkpoint's resolution), stamped with the
   oldest state's sample time;
3. ties the new chunk to the one executing (``guidance``): the executing chunk is the
   one this worker published last (followers execute chunks as they are under
   ``replace``), evaluated at the new chunk's times; d is a high percentile of recent
   delays from observation stamp to publication (plus ``link_delay_ms`` for a remote
   link); the guidance resets whenever a follower leaves POLICY (intervention, hold);
4. publishes ``policy/chunk`` (:class:`~abc_robot.transport.ActionChunk`: joint targets,
   target times ``obs_stamp + i / rate_hz``, the observation stamp, the inference time).

Remote use: bind a ``tcp://`` endpoint with CURVE server keys (``curve_server``); the
followers connect with the matching client keys. A tcp endpoint off the loopback
interface without keys is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from abc_robot.policy.images import resize_with_pad
from abc_robot.policy.interface import Guidance, Policy, PolicyInput
from abc_robot.policy.planner import ChunkPlanner, PlannerConfig
from abc_robot.policy.rtc import hard_mask, soft_mask
from abc_robot.runtime.node import Node
from abc_robot.runtime.stats import percentiles
from abc_robot.transport.curve import CurveClient, CurveServer
from abc_robot.transport.keyring import graph_keyring
from abc_robot.transport.messages import ActionChunk, CameraFrame, Event, JointCommand, JointState

__all__ = ["PolicyWorkerNode", "PolicyWorkerConfig"]


def _is_loopback_or_local(endpoint: str) -> bool:
    if not endpoint.startswith("tcp://"):
        return True
    host = endpoint[len("tcp://") :].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass(frozen=True)
class PolicyWorkerConfig:
    """Policy worker settings (launch file ``params``).

    Attributes:
        checkpoint: checkpoint directory (:mod:`abc_robot.policy.checkpoint`).
        bind: endpoint this worker publishes ``policy/chunk`` on.
        followers: follower endpoints (their state and command topics).
        cameras: camera node endpoints.
        arms: arm names, in the state/action order of the checkpoint.
        rig_cameras: camera names published on this rig (``camera/<name>``).
        camera_topics: checkpoint camera name → rig camera name, where they differ.
        compile: compile rung (eager | compile | fullgraph | cudagraphs | tensorrt | best).
        device: torch device.
        threads: torch CPU threads (1 keeps a shared CPU responsive).
        rate_hz: loop rate [Hz]; inference starts on the first tick it is due.
        execute_steps: s, action periods executed between two inference starts.
        guidance: tie to the executing chunk: ``soft`` (RTC), ``hard`` (prefix),
            ``cov`` (correlated-noise inpainting) or ``none``.
        beta: RTC guidance clip β.
        delay_percentile: percentile of recent delays used as d.
        link_delay_ms: added to measured delays (a remote link's transit) [ms].
        shared_clock: the observation stamps come from this host's monotonic clock
            (same machine); otherwise delays are measured from the arrival of the
            state here, plus ``link_delay_ms``.
        max_obs_age_ms: skip an inference whose inputs are older than this [ms].
        compress_in, compress_out: action compression, e.g. 26 → 20 (0 = off).
        gripper_threshold: compression stays off while a gripper moves more than this.
        seed: flow-noise seed.
        gate: a policy mux's gate endpoint (``PolicyMuxConfig.gate``): infer only while
            the mux has ``gate_alias`` selected ("" = always infer).
        gate_alias: this worker's alias on the mux.
        curve_server: keys for a tcp:// ``bind`` (required off loopback).
        curve_client: keys for subscribing to remote tcp:// follower/camera endpoints.
    """

    checkpoint: str
    bind: str
    followers: list[str] = field(default_factory=list)
    cameras: list[str] = field(default_factory=list)
    arms: tuple[str, ...] = ("left", "right")
    rig_cameras: tuple[str, ...] = ("top", "left", "right")
    camera_topics: dict[str, str] = field(default_factory=dict)
    compile: Literal["eager", "compile", "fullgraph", "cudagraphs", "tensorrt", "best"] = "eager"
    device: str = "cpu"
    threads: int = 1
    rate_hz: float = 200.0
    execute_steps: int = 8
    guidance: Literal["soft", "hard", "cov", "none"] = "soft"
    beta: float = 5.0
    delay_percentile: float = 90.0
    link_delay_ms: float = 0.0
    shared_clock: bool = True
    max_obs_age_ms: float = 150.0
    compress_in: int = 0
    compress_out: int = 0
    gripper_threshold: float = 0.05
    seed: int = 0
    gate: str = ""
    gate_alias: str = ""
    curve_server: CurveServer | None = None
    curve_client: CurveClient | None = None

    def __post_init__(self) -> None:
        if self.execute_steps <= 0 or self.rate_hz <= 0 or self.threads <= 0:
            raise ValueError("execute_steps, rate_hz and threads must be positive")
        if self.compress_out > self.compress_in:
            raise ValueError(
                f"compression must shorten: compress_out {self.compress_out} > compress_in {self.compress_in}"
            )
        secured = graph_keyring() is not None  # the graph's key ring secures every tcp:// socket
        if self.curve_server is None and not secured and not _is_loopback_or_local(self.bind):
            raise ValueError(
                f"bind {self.bind!r} leaves the host: give the graph a key ring (keys:), curve_server keys, or bind to 127.0.0.1/ipc"
            )
        if bool(self.gate) != bool(self.gate_alias):
            raise ValueError("gate and gate_alias go together")
        remote = [e for e in (*self.followers, *self.cameras) if not _is_loopback_or_local(e)]
        if remote and self.curve_client is None and not secured:
            raise ValueError(f"endpoints {remote} leave the host: give the graph a key ring (keys:) or curve_client keys")


class PolicyWorkerNode(Node):
    Config = PolicyWorkerConfig

    def setup(self) -> None:
        import torch

        from abc_robot.policy.checkpoint import RigSpec, load_checkpoint
        from abc_robot.policy.load import load_policy

        cfg: PolicyWorkerConfig = self.config
        torch.set_num_threads(cfg.threads)
        self.ready = False
        # A checkpoint camera is on the rig under its own name or through camera_topics.
        offered = tuple(cfg.rig_cameras) + tuple(k for k, v in cfg.camera_topics.items() if v in cfg.rig_cameras)
        rig = RigSpec(cameras=offered, state_dim=7 * len(cfg.arms), action_dim=7 * len(cfg.arms))
        t0 = time.perf_counter()
        self.spec = load_checkpoint(cfg.checkpoint, rig).config  # refuses a mismatch before anything heavy
        self.policy: Policy = load_policy(cfg.checkpoint, rig, cfg.device, cfg.compile, cfg.seed)
        self._check_spec(cfg)
        self.period_ns = self.spec.action.period_ns
        self.horizon = self.spec.action.chunk
        self.cam_topics = {c: f"camera/{cfg.camera_topics.get(c, c)}" for c in self.spec.observation.cameras}
        planner_cfg = PlannerConfig(
            cfg.guidance,
            cfg.beta,
            cfg.delay_percentile,
            cfg.link_delay_ms,
            cfg.compress_in,
            cfg.compress_out,
            cfg.gripper_threshold,
        )
        self.planner = ChunkPlanner(planner_cfg, self.spec.action, self.policy.guidance_modes)
        self.guidance_mode = self.planner.mode
        if cfg.guidance != self.guidance_mode:
            why = (
                f"representation {self.spec.action.representation}"
                if cfg.guidance in self.policy.guidance_modes
                else "the policy"
            )
            self.log(f"{cfg.guidance!r} guidance not supported by {why}; chunks are not tied to the executing one")
        self.warmup_reports = self._warmup()
        self.setup_s = time.perf_counter() - t0
        self.pub = self.publisher(cfg.bind, curve=cfg.curve_server)
        kw: dict[str, Any] = {"curve": cfg.curve_client} if cfg.curve_client else {}
        self.state_sub = self.latest(cfg.followers, ["follower/"], **kw) if cfg.followers else None
        self.cam_sub = self.latest(cfg.cameras, ["camera/"], **kw) if cfg.cameras else None
        self.gate_sub = self.latest(cfg.gate, ["mux/active"]) if cfg.gate else None
        self.selected = not cfg.gate  # a gated worker waits to hear that it is selected
        self.idle_ticks = 0  # ticks not inferring because another alias is selected
        self.states: dict[str, tuple[JointState, int]] = {}
        self.frames: dict[str, tuple[CameraFrame, int]] = {}  # topic -> (frame, arrival here [ns])
        self.modes: dict[str, str] = {}
        self.fresh_after_ns = 0  # frames must be newer than this: the last switch into POLICY
        self.next_due_ns = 0
        self.chunks = 0
        self.status_due_ns = 0
        self.skipped: dict[str, int] = {}
        self.infer_ms: list[float] = []
        self.obs_age_ms: list[float] = []  # observation stamp → inference start (delay = this + inference + send)
        self.ready = True
        self.log(f"ready in {self.setup_s:.1f} s: {self.status_line()}")

    def _check_spec(self, cfg: PolicyWorkerConfig) -> None:
        from abc_robot.errors import CheckpointError

        keys = list(self.spec.observation.state)
        if keys != list(cfg.arms) and sum(self.spec.observation.state.values()) != 7 * len(cfg.arms):
            raise CheckpointError(f"checkpoint state keys {keys} do not match the arms {list(cfg.arms)}")

    def _warmup(self) -> dict[str, Any]:
        """Compile and time every sampler mode this worker will use before serving."""
        h, d = self.spec.action.chunk, self.spec.action.dim
        guidances: list[Guidance | None] = [None]
        if self.guidance_mode == "soft":
            guidances.append(
                Guidance("soft", np.zeros((h, d)), soft_mask(2, self.config.execute_steps, h), self.config.beta)
            )
        elif self.guidance_mode != "none":
            # A short prefix (a prefix-conditioned model takes it as given) and a long one (inpainted).
            for n in sorted({1, min(h, self.spec.sampler.prefix_steps + 1)}):
                guidances.append(Guidance(self.guidance_mode, np.zeros((h, d)), hard_mask(n, h), self.config.beta))  # type: ignore[arg-type]
        warm = getattr(self.policy, "warmup", None)
        if callable(warm):
            reports = warm(guidances, log=self.log)
            return {k: (v.skipped or round(v.median_ms, 2)) for k, v in reports.items()}
        # A policy from another codebase: warm it up through its own interface.
        hh, ww = self.spec.observation.image_size
        images = {c: np.zeros((hh, ww, 3), np.uint8) for c in self.spec.observation.cameras}
        state = np.zeros(self.spec.observation.state_dim)
        times = []
        for g in guidances * 3:
            t = time.perf_counter()
            self.policy.infer(PolicyInput(state, images, g))
            times.append((time.perf_counter() - t) * 1e3)
        return {"external": round(float(np.median(times)), 2)}

    # ---- loop ----------------------------------------------------------------------------
    def step(self, now_ns: int) -> None:
        self._poll(now_ns)
        if now_ns >= self.status_due_ns:
            # Announce ourselves (warm, and how we do) to a remote rig's policy link.
            self.pub.publish("policy/status", Event(kind="policy_status", data=self.status()))
            self.status_due_ns = now_ns + 500_000_000
        if not self.selected:
            self.idle_ticks += 1
            return
        if now_ns < self.next_due_ns:
            return
        obs = self._observation(now_ns)
        if obs is None:
            return
        state, images, t_obs_ns, t_seen_ns = obs
        guidance = self.planner.guidance(state, t_obs_ns)
        # Age at inference start: from the stamp on one host, from the arrival across hosts.
        self.obs_age_ms.append((time.monotonic_ns() - (t_obs_ns if self.config.shared_clock else t_seen_ns)) / 1e6)
        del self.obs_age_ms[:-200]
        t = time.perf_counter_ns()
        actions = self.policy.infer(PolicyInput(state, images, guidance))
        infer_ms = (time.perf_counter_ns() - t) / 1e6
        self._publish(actions, state, t_obs_ns, t_seen_ns, guidance, infer_ms)
        self.next_due_ns = t_seen_ns + self.config.execute_steps * self.period_ns

    def _poll(self, now_ns: int) -> None:
        if self.gate_sub is not None:
            got = self.gate_sub.poll().get("mux/active")
            if isinstance(got, Event):
                selected = got.data.get("alias") == self.config.gate_alias
                if selected and not self.selected:
                    # Serve this trial from what the arms and cameras show from now on.
                    self.planner.reset()
                    self.fresh_after_ns = max(self.fresh_after_ns, now_ns)
                    self.next_due_ns = 0
                self.selected = selected
        if self.state_sub is not None:
            for topic, msg in self.state_sub.poll().items():
                arm = topic.split("/")[1] if topic.count("/") >= 2 else ""
                if isinstance(msg, JointState) and topic.endswith("/state"):
                    self.states[arm] = (msg, now_ns)
                elif isinstance(msg, JointCommand) and topic.endswith("/command"):
                    if msg.mode != "POLICY":
                        self.planner.reset()  # control is not the policy's: the next chunk starts afresh
                    elif self.modes.get(arm) != "POLICY":
                        # Entering POLICY (episode start, release after an intervention): a
                        # frame from before it may show the scene before a reset or the
                        # operator's hands; the first chunk must see the scene as it is now.
                        switch_ns = msg.stamp_ns if self.config.shared_clock else now_ns
                        self.fresh_after_ns = max(self.fresh_after_ns, switch_ns)
                    self.modes[arm] = msg.mode
        if self.cam_sub is not None:
            for topic, msg in self.cam_sub.poll().items():
                if isinstance(msg, CameraFrame):
                    self.frames[topic] = (msg, now_ns)

    def _skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def _observation(self, now_ns: int) -> tuple[np.ndarray, dict[str, np.ndarray], int, int] | None:
        """(state, images, observation stamp [robot clock], arrival here of its oldest state [ns])."""
        cfg: PolicyWorkerConfig = self.config
        max_age = cfg.max_obs_age_ms * 1e6
        parts, stamps, seen = [], [], []
        for arm in cfg.arms:
            got = self.states.get(arm)
            if got is None:
                self._skip(f"no state from {arm}")
                return None
            msg, seen_ns = got
            if now_ns - seen_ns > max_age:
                self._skip(f"stale state from {arm}")
                return None
            parts.append(np.asarray(msg.q, np.float64))
            stamps.append(msg.stamp_ns)
            seen.append(seen_ns)
        hh, ww = self.spec.observation.image_size
        images = {}
        for cam, topic in self.cam_topics.items():
            got_frame = self.frames.get(topic)
            if got_frame is None or got_frame[0].image.ndim != 3:
                self._skip(f"no frame from {topic}")
                return None
            frame, frame_seen_ns = got_frame
            # Exposure stamps share our clock only on one host; otherwise judge by arrival.
            age_ns = now_ns - (frame.stamp_ns if cfg.shared_clock else frame_seen_ns)
            if age_ns > max_age:
                self._skip(f"stale frame from {topic}")
                return None
            if (frame.stamp_ns if cfg.shared_clock else frame_seen_ns) < self.fresh_after_ns:
                self._skip(f"frame from {topic} older than the switch to POLICY")
                return None
            images[cam] = resize_with_pad(frame.image, hh, ww)
        return np.concatenate(parts), images, int(min(stamps)), int(min(seen))

    def _publish(
        self,
        actions: np.ndarray,
        state: np.ndarray,
        t_obs_ns: int,
        t_seen_ns: int,
        guidance: Guidance | None,
        infer_ms: float,
    ) -> None:
        cfg: PolicyWorkerConfig = self.config
        targets, t_ns, rep = self.planner.finish(actions, state, t_obs_ns, guidance)
        msg = ActionChunk(
            actions=targets,
            t_ns=t_ns,
            obs_stamp_ns=t_obs_ns,
            representation=rep,
            infer_ms=infer_ms,
            request_id=self.chunks,
        )
        self.pub.publish("policy/chunk", msg)
        sent_ns = time.monotonic_ns()
        # Delay as the robot will see it: on one host the stamps share our clock; across
        # hosts only our own part is measurable and the link's transit is configured.
        self.planner.record_delay(sent_ns - (t_obs_ns if cfg.shared_clock else t_seen_ns))
        self.chunks += 1
        self.infer_ms.append(infer_ms)
        del self.infer_ms[:-200]

    # ---- reporting -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        if not getattr(self, "ready", False):
            return {"ready": False}
        inf = [round(x, 2) for x in percentiles(self.infer_ms, (50, 90))] if self.infer_ms else [None, None]
        age = [round(x, 2) for x in percentiles(self.obs_age_ms, (50, 90))] if self.obs_age_ms else [None, None]
        d_ns = self.planner.delays.delay_ns()
        return {
            "ready": True,
            "rung": getattr(self.policy, "rung", "external"),
            "device": self.config.device,
            "warmup_ms": self.warmup_reports,
            "setup_s": round(self.setup_s, 1),
            "chunks": self.chunks,
            "guided": self.planner.guided,
            "guidance": self.guidance_mode,
            "compressed": self.planner.compressed,
            "infer_ms_p50": inf[0],
            "infer_ms_p90": inf[1],
            "obs_age_ms_p50": age[0],
            "obs_age_ms_p90": age[1],
            "delay_ms": None if d_ns is None else round(d_ns / 1e6 + self.config.link_delay_ms, 2),
            "d_steps": self.planner.last_d,
            "skipped": dict(self.skipped),
            **({"selected": self.selected, "idle_ticks": self.idle_ticks} if self.config.gate else {}),
            "modes": dict(self.modes),
        }

    def status_line(self) -> str:
        w = getattr(self, "warmup_reports", {})
        return f"rung {getattr(self.policy, 'rung', 'external')} on {self.config.device}, warm-up latency {w}, guidance {self.guidance_mode}"
