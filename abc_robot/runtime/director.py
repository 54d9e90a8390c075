"""Episode director: runs episodes on a live sim graph from the launching process.

It plays the operator's part with the same messages a person sends (console events
and mode commands on ``console/``) and asks the sim for resets and task status. Used
by ``abc-teleop --sim --episodes N`` (scripted demonstrations), ``abc-rollout``
(policy episodes, optionally with a scripted DAgger operator) and ``abc-eval``.

Episode protocol (what the recorder and followers see):
``HOLD`` → ``sim/reset`` → ``reanchor`` → ``episode_start`` → the episode →
``HOLD`` → ``success`` | ``fail`` (``data.progress``; the recorder finalizes on it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from abc_robot.errors import EpisodeError, TransportError
from abc_robot.runtime.episode_state import EpisodeAnnouncer
from abc_robot.transport.bus import Publisher, Requester
from abc_robot.transport.messages import Event, ModeCommand

__all__ = ["EpisodeDirector", "EpisodeResult", "DirectorConfig", "graph_ready"]


def graph_ready(statuses: dict[str, dict[str, Any]], kinds: dict[str, str], need_policy: bool = False) -> bool:
    """True once the sim, both followers, the recorder (if any) and, if asked, a warmed-up
    policy worker have reported: an episode started earlier could go unrecorded.

    Args:
        statuses: ``Supervisor.statuses()``.
        kinds: node name → kind, from the launch graph.
        need_policy: also wait for a policy worker whose status says ``ready``.
    """

    def up(name: str) -> bool:
        return bool(statuses.get(name, {}).get("status"))

    followers = [n for n, k in kinds.items() if k == "follower"]
    if len(followers) < 2 or not all(up(n) and statuses[n]["status"].get("backend_fault") is None for n in followers):
        return False
    if not all(up(n) for n, k in kinds.items() if k in ("sim", "recorder")):
        return False
    if need_policy and not any(statuses.get(n, {}).get("status", {}).get("ready") is True for n, k in kinds.items() if k in ("policy_worker", "policy_mux", "policy_link")):
        return False
    return True


@dataclass(frozen=True)
class DirectorConfig:
    """Attributes:
    console: endpoint the director binds for ``console/`` (the graph's console).
    sim_control: the sim node's request endpoint.
    task: task name (for the record and the demonstrator).
    time_limit_s: an episode ends as a failure after this long [s].
    settle_s: pause after a reset before the episode starts [s].
    leader_rest_s: pause between putting the scripted leaders at rest and starting the
        policy [s]: the operator lets go of the leader before the policy runs; a leader
        still on its way from the last correction would read as the operator taking
        over (motion-triggered intervention).
    stall_s: scripted DAgger operator: intervene when progress has not risen for this long [s].
    start_tolerance_m: an arm that moved more than this from its reset pose before the
        episode begins fails the episode run (the reset did not take) [m].
    """

    console: str = "ipc://${run}/console"
    sim_control: str = "ipc://${run}/sim_ctl"
    task: str = "lift_cube"
    time_limit_s: float = 20.0
    settle_s: float = 0.5
    leader_rest_s: float = 0.25
    stall_s: float = 3.0
    start_tolerance_m: float = 0.01


@dataclass
class EpisodeResult:
    seed: int
    success: bool
    progress: float
    duration_s: float
    intervened: bool = False
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class EpisodeDirector:
    """Runs episodes in a thread while the supervisor runs in the main thread.

    Args:
        cfg: endpoints and timing.
        ready: returns True once the graph is ready (e.g. the policy is warmed up).
        on_done: called when every episode has run (e.g. ``sup.request_stop``).
    """

    def __init__(self, cfg: DirectorConfig, ready: Callable[[], bool], on_done: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.ready = ready
        self.on_done = on_done
        self.results: list[EpisodeResult] = []
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.pub: Publisher | None = None
        self.announcer: EpisodeAnnouncer | None = None
        self.req: Requester | None = None

    # ---- messages ------------------------------------------------------------------
    def mode(self, mode: str, reason: str = "director", arm: str = "") -> None:
        assert self.pub is not None
        self.pub.publish("console/mode", ModeCommand(mode=mode, arm=arm, reason=reason))

    def event(self, kind: str, **data: Any) -> None:
        assert self.announcer is not None
        self.announcer.send(kind, **data)

    def sim(self, topic: str, **data: Any) -> dict[str, Any]:
        assert self.req is not None
        rep = self.req.request(topic, Event(kind=topic, data=data), timeout_s=15.0)
        if not rep.ok:
            raise TransportError(f"{topic}: {rep.message}")
        return rep.data

    def sleep(self, s: float) -> bool:
        """Sleep unless asked to stop; False when stopping. The episode in progress is
        announced again meanwhile (a restarted recorder joins it)."""
        end = time.monotonic() + s
        while True:
            if self.announcer is not None:
                self.announcer.tick()
            left = end - time.monotonic()
            if left <= 0:
                return not self._stop.is_set()
            if self._stop.wait(min(left, 0.25)):
                return False

    # ---- lifecycle -----------------------------------------------------------------
    def start(self, episodes: Callable[[EpisodeDirector], object]) -> None:
        """Run ``episodes(self)`` in a thread once the graph is ready."""

        def body() -> None:
            self.pub = Publisher(self.cfg.console, "director")
            self.announcer = EpisodeAnnouncer(self.pub)
            self.req = Requester(self.cfg.sim_control, "director")
            try:
                while not self.ready():
                    if not self.sleep(0.1):
                        return
                self.sleep(0.5)
                episodes(self)
                self.on_done("episodes done")
            except Exception as exc:  # reported by the CLI; the graph is stopped
                self.error = f"{type(exc).__name__}: {exc}"
                self.on_done(f"director failed: {self.error}")
            finally:
                self.pub.close()
                self.req.close()

        self._thread = threading.Thread(target=body, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    # ---- building blocks ---------------------------------------------------------------
    def reset(self, seed: int) -> dict[str, Any]:
        """HOLD, reset the world, re-anchor the followers; returns the snapshot.

        The re-anchor event goes out only once the world has published its reset
        state: the world answers requests at the end of a tick, after that tick's
        states went out, so the reply to a request made after the reset reply proves
        that a post-reset state is on the wire. A follower re-anchors on a state
        sampled after the event, so no follower can re-anchor on the pose the last
        episode ended in and drive the arm back there.
        """
        self.mode("HOLD", "reset")
        self.sleep(0.15)
        snap = self.sim("sim/reset", seed=seed)["snapshot"]
        self.sim("sim/task")  # a later tick of the world: its reset state is published
        self.event("reanchor")
        self.sleep(self.cfg.settle_s)
        # An episode must start from the reset pose, not drift back to where the last
        # one ended (a follower re-anchoring on a stale state would do exactly that).
        now = self.sim("sim/snapshot")["snapshot"]
        for arm, T in snap["T_base_ee"].items():
            moved = float(np.linalg.norm(np.asarray(now["T_base_ee"][arm])[:3, 3] - np.asarray(T)[:3, 3]))
            if moved > self.cfg.start_tolerance_m:
                raise EpisodeError(f"seed {seed}: the {arm} arm left its reset pose by {moved * 1e3:.0f} mm before the episode began")
        return snap

    def run_until_done(self, limit_s: float, on_tick: Callable[[dict[str, Any], float], None] | None = None) -> tuple[bool, float, float]:
        """Poll the task until success or ``limit_s``; returns (success, progress, duration)."""
        t0 = time.monotonic()
        st: dict[str, Any] = {"success": False, "progress": 0.0}
        while self.sleep(0.2):
            st = self.sim("sim/task")
            el = time.monotonic() - t0
            if on_tick is not None:
                on_tick(st, el)
            if st["success"] or el >= limit_s:
                break
        return bool(st["success"]), float(st["progress"]), time.monotonic() - t0

    def finish(self, result: EpisodeResult) -> None:
        self.mode("HOLD", "episode over")
        self.event("success" if result.success else "fail", progress=result.progress, seed=result.seed, label=result.label)
        self.results.append(result)
        self.sleep(0.3)

    # ---- the episode kinds --------------------------------------------------------------
    def demo_episode(self, seed: int, record: bool = True) -> EpisodeResult:
        """A scripted demonstration through the scripted leader (TELEOP)."""
        snap = self.reset(seed)
        self.event("demo_hold", task=self.cfg.task, snapshot=snap)
        self.mode("TELEOP", "demo")
        self.sleep(0.6)  # engage on the held pose
        if record:
            self.event("episode_start", task=self.cfg.task, seed=seed, source="demo")
        self.event("demo_start", task=self.cfg.task, snapshot=snap)
        ok, prog, dur = self.run_until_done(self.cfg.time_limit_s)
        self.sleep(0.3)
        self.event("demo_stop")
        res = EpisodeResult(seed, ok, prog, dur, label="demo")
        self.finish(res)
        return res

    def policy_episode(self, seed: int, dagger: bool = False, label: str = "policy") -> EpisodeResult:
        """A policy episode; with ``dagger`` a scripted operator corrects a stalled policy."""
        snap = self.reset(seed)
        self.event("demo_hold", task=self.cfg.task, snapshot=snap)
        self.sleep(self.cfg.leader_rest_s)
        self.event("episode_start", task=self.cfg.task, seed=seed, source=label)
        self.mode("POLICY", label)
        state = {"best": 0.0, "best_t": 0.0, "intervened": False}

        def watch(st: dict[str, Any], el: float) -> None:
            if st["progress"] > state["best"] + 0.02:
                state["best"], state["best_t"] = st["progress"], el
            if dagger and not state["intervened"] and el - state["best_t"] > self.cfg.stall_s:
                snap_now = self.sim("sim/snapshot")["snapshot"]
                self.event("correct_start", task=self.cfg.task, snapshot=snap_now)
                self.event("intervene_on")
                state["intervened"] = True

        ok, prog, dur = self.run_until_done(self.cfg.time_limit_s, watch)
        if state["intervened"]:
            self.event("intervene_off")
            self.event("demo_stop")
        res = EpisodeResult(seed, ok, prog, dur, intervened=bool(state["intervened"]), label=label)
        self.finish(res)
        return res
