"""Fault-and-soak campaign: the sim teleop-and-record graph under injected faults.

:func:`run_campaign` starts the sim teleop graph (every node on ``on_failure:
restart``, so the graph survives what is done to it), records scripted
demonstrations back to back, and injects faults at random times:

- ``kill:<node kind>``: SIGKILL of a leader, camera, recorder, follower, world (and the
  policy worker in a rollout graph);
- ``stop:<node kind>``: SIGSTOP of a camera or the leader for 0.2-2 s, then SIGCONT;
- ``rogue``: malformed, truncated, wrongly typed and oversized messages from a rogue
  publisher on an endpoint the followers, leader and recorder subscribe to;
- ``hog``: two CPU-bound processes for 2-5 s.

It reports, per fault kind: how many were injected, the time until every arm held
(for faults that cut the followers' input: the first ``HOLD`` command each follower
sent after the fault, on its own stamp; bound: the watchdog plus two control
periods), restarts, episodes started against episodes readable on disk, and each
node's resident memory at start and end.

Not injected here, with the reason: an unplugged emulated device (the sim graph has
none; the hardware twin's tests unplug leaders, cameras and motors), unauthenticated
CURVE connections (there are no tcp endpoints in the sim graph; see
``tests/test_remote_policy.py``), a full disk and a wall-clock jump (both would change
the machine for every other process on it; the control path never reads the wall
clock: every stamp is monotonic).
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from abc_robot.errors import AbcRobotError
from abc_robot.runtime.director import DirectorConfig, EpisodeDirector, graph_ready
from abc_robot.runtime.episode_state import END_KINDS
from abc_robot.runtime.launch import LaunchGraph
from abc_robot.runtime.supervisor import Supervisor
from abc_robot.transport.bus import ReliableSubscriber
from abc_robot.transport.codec import encode
from abc_robot.transport.messages import Event, JointCommand, JointState

__all__ = ["ChaosConfig", "FaultRecord", "run_campaign", "FAULT_KINDS", "chaos_graph"]

#: Fault kinds, by the node they hit (or none).
FAULT_KINDS = (
    "kill:leader",
    "kill:camera",
    "kill:recorder",
    "kill:follower",
    "kill:world",
    "stop:leader",
    "stop:camera",
    "rogue",
    "hog",
)
# Faults that cut the followers' input: every arm must hold within the watchdog.
_INPUT_LOSS = ("kill:leader", "stop:leader")
_KIND_NODES = {"leader": ("scripted_leader", "gello_leader"), "camera": ("sim_camera", "camera"), "recorder": ("recorder",),
               "follower": ("follower",), "world": ("sim",), "policy": ("policy_worker",)}  # fmt: skip


@dataclass(frozen=True)
class ChaosConfig:
    """Attributes:
    launch: the sim graph's launch file.
    duration_s: how long faults are injected [s] (then an ordered stop).
    mean_gap_s: mean time between faults [s] (exponential gaps, at least 1 s).
    faults: the kinds to draw from (:data:`FAULT_KINDS`).
    seed: random seed (fault order and times).
    task: sim task the scripted demonstrations perform.
    episodes_dir: where the recorder writes ("" = a temporary directory).
    stale_timeout_ms: the followers' watchdog [ms] (the bound's first term).
    follower_hz: the followers' and the leader's control rate [Hz] (the bound's second
        term). 100 Hz, with the world at ``world_hz``, as the learning loop records its
        demonstrations: at 250/500 Hz a 2-core machine leaves the recorder too little.
    world_hz: the world's loop rate [Hz].
    """

    launch: str
    duration_s: float = 120.0
    mean_gap_s: float = 6.0
    faults: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    task: str = "lift_cube_easy"
    episodes_dir: str = ""
    stale_timeout_ms: float = 50.0
    follower_hz: float = 100.0
    world_hz: float = 250.0

    def __post_init__(self) -> None:
        bad = [f for f in self.faults if f not in FAULT_KINDS]
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; valid: {list(FAULT_KINDS)}")
        if self.duration_s <= 0 or self.mean_gap_s <= 0:
            raise ValueError("duration_s and mean_gap_s must be positive")

    @property
    def hold_bound_ms(self) -> float:
        """Input loss must hold within the watchdog plus two control periods [ms]."""
        return self.stale_timeout_ms + 2e3 / self.follower_hz


@dataclass
class FaultRecord:
    """One injected fault. ``hold_ms``: time until every arm held (input-loss faults)."""

    kind: str
    node: str
    t_s: float
    hold_ms: float | None = None
    note: str = ""


def chaos_graph(graph: LaunchGraph, run_dir: str) -> LaunchGraph:
    """``graph`` with every node restarting on failure and a rogue console endpoint subscribed.

    The rogue endpoint (``ipc://RUN/chaos``) is added to the ``console`` list of every
    node that has one, so malformed messages reach the followers, the leader and the
    recorder through a socket they really read.
    """
    rogue = f"ipc://{run_dir}/chaos"
    nodes = []
    for n in graph.nodes:
        params = dict(n.params)
        if isinstance(params.get("console"), list):
            params["console"] = [*params["console"], rogue]
        nodes.append(dataclasses.replace(n, on_failure="restart", max_restarts=1000, params=params))
    return dataclasses.replace(graph, nodes=nodes)


class _Commands:
    """Every follower command, as (stamp, arm, mode), collected in a thread."""

    def __init__(self, endpoints: list[str]) -> None:
        self.log: list[tuple[int, str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(endpoints,), daemon=True)
        self._t.start()

    def _run(self, endpoints: list[str]) -> None:
        sub = ReliableSubscriber(endpoints, ["follower/"])
        try:
            while not self._stop.is_set():
                first = sub.recv(timeout_s=0.05)
                for topic, msg in ([first] if first else []) + sub.drain():
                    if isinstance(msg, JointCommand) and topic.endswith("/command"):
                        with self._lock:
                            self.log.append((msg.stamp_ns, topic.split("/")[1], msg.mode))
                            del self.log[:-20000]
        finally:
            sub.close()

    def modes_at(self, t_ns: int) -> dict[str, str]:
        """Each arm's last mode at or before ``t_ns``."""
        out: dict[str, str] = {}
        with self._lock:
            for stamp, arm, mode in self.log:
                if stamp <= t_ns:
                    out[arm] = mode
        return out

    def held_after(self, t_ns: int, arms: set[str]) -> float | None:
        """[ms] from ``t_ns`` until every arm in ``arms`` sent a HOLD command (None: not yet)."""
        first: dict[str, int] = {}
        with self._lock:
            for stamp, arm, mode in self.log:
                if stamp >= t_ns and arm in arms and mode == "HOLD" and arm not in first:
                    first[arm] = stamp
        if set(first) != arms:
            return None
        return (max(first.values()) - t_ns) / 1e6

    def wait_past(self, t_ns: int, timeout_s: float) -> bool:
        """Wait until a command stamped after ``t_ns`` was collected (the collector can lag a loaded machine)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.log and self.log[-1][0] >= t_ns:
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._t.join(2)


class _RecorderWatch:
    """When the recorder was not there: from a process's last heartbeat to its successor's first.

    Whoever ended it (a fault, or the supervisor after a silence), an episode that
    overlaps such an outage can be partial or absent; the campaign excuses exactly those.
    """

    def __init__(self, sup: Supervisor, names: list[str]) -> None:
        self.sup, self.names = sup, names
        self.first: dict[int, int] = {}  # pid → first heartbeat seen [monotonic ns]
        self.last: dict[int, int] = {}
        self.order: list[int] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for name in self.names:
                np_ = self.sup.nodes[name]
                if np_.proc is None or not np_.last_heartbeat_ns:
                    continue
                pid = np_.proc.pid
                if pid not in self.first:
                    self.first[pid] = np_.last_heartbeat_ns
                    self.order.append(pid)
                self.last[pid] = np_.last_heartbeat_ns

    def outages(self) -> list[tuple[int, int]]:
        pids = self.order
        return [(self.last[a], self.first[b]) for a, b in zip(pids, pids[1:], strict=False)]

    def stop(self) -> None:
        self._stop.set()
        self._t.join(2)


def _rss_mb(pid: int | None) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, TypeError, ValueError):
        return None
    return None


def _rogue_frames(rng: random.Random) -> list[list[bytes]]:
    """Malformed, truncated, wrongly typed and oversized messages on subscribed topics."""
    good = encode(b"console/event", Event(kind="noop"))
    big = JointState(q=np.zeros(2_000_000))  # 16 MB
    frames = [
        [b"console/event", b"\xc1\xff not msgpack"],
        [b"console/event"],
        [bytes(f) for f in good][:1] + [bytes(good[1])[: max(1, len(bytes(good[1])) // 2)]],
        [bytes(f) for f in encode(b"console/event", JointState(q=np.zeros(7)))],
        [bytes(f) if i < 2 else bytes(f)[:100] for i, f in enumerate(encode(b"console/mode", big))],
        [b"console/mode", os.urandom(rng.randint(1, 512))],
    ]
    return frames


def run_campaign(cfg: ChaosConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the campaign (see the module docstring) and return its summary."""
    from abc_robot.nodes.registry import load_graph
    from abc_robot.recording.reader import EpisodeReader, list_episodes
    from abc_robot.recording.recovery import recover_all

    rng = random.Random(cfg.seed)
    tmp = tempfile.TemporaryDirectory(prefix="abc-chaos-")
    episodes_dir = cfg.episodes_dir or str(Path(tmp.name) / "episodes")
    run_dir = str(Path(tmp.name) / "run")
    os.makedirs(run_dir, exist_ok=True)
    overrides: dict[str, dict[str, Any]] = {
        "sim": {"sim": {"task": cfg.task}, "rate_hz": cfg.world_hz},
        "leader": {"source": "demo", "console": ["ipc://${run}/console"], "rate_hz": cfg.follower_hz},
        "recorder": {"root": episodes_dir},
        **{f"follower_{a}": {"initial_mode": "HOLD", "rate_hz": cfg.follower_hz, "stale_timeout_ms": cfg.stale_timeout_ms} for a in ("left", "right")},
        **{c: {"world": {"task": cfg.task}} for c in ("camera_top", "camera_left", "camera_right")},
    }
    graph = chaos_graph(load_graph(cfg.launch, overrides), run_dir)
    kinds = {n.name: n.kind for n in graph.nodes}
    sup = Supervisor(graph, run_dir=run_dir, log=sys.stderr, echo_logs=True)
    os.environ["ABC_RUN_DIR"] = run_dir
    # A bare PUB socket: it sends raw frames, what no well-formed publisher would.
    rogue: zmq.Socket = zmq.Context.instance().socket(zmq.PUB)
    rogue.bind(f"ipc://{run_dir}/chaos")
    started = {"episodes": 0, "episode_errors": 0}
    spans: dict[str, list[int]] = {}  # episode token → [start, end] [monotonic ns]
    current = {"token": ""}
    done = threading.Event()

    def episodes(d: EpisodeDirector) -> None:
        send = d.event

        def counted(kind: str, **data: Any) -> None:  # an episode counts once the recorder is told
            if kind == "episode_start":
                started["episodes"] += 1
                data.setdefault("episode", uuid.uuid4().hex[:12])
                current["token"] = data["episode"]
                spans[current["token"]] = [time.monotonic_ns(), 0]
                log(f"chaos: episode_start {data.get('seed')} ({data['episode']})")
            elif kind in END_KINDS and current["token"] in spans:
                spans[current["token"]][1] = time.monotonic_ns()
            send(kind, **data)

        d.event = counted  # type: ignore[method-assign]
        k = 0
        while not done.is_set():
            try:
                d.demo_episode(cfg.seed * 1000 + k)
            except AbcRobotError as exc:  # the world or a follower was killed mid-episode
                started["episode_errors"] += 1
                log(f"chaos: episode {k} cut short: {exc}")
                d.mode("HOLD", "episode cut short")
                d.event("episode_stop", reason=str(exc))  # what an operator would press
                d.sleep(1.0)
            k += 1

    director = EpisodeDirector(
        DirectorConfig(task=cfg.task), ready=lambda: graph_ready(sup.statuses(), kinds), on_done=lambda why: None
    )
    followers = [n.params["bind"].replace("${run}", run_dir) for n in graph.nodes if n.kind == "follower"]
    commands = _Commands(followers)
    recorders = _RecorderWatch(sup, [n for n, k in kinds.items() if k == "recorder"])
    records: list[FaultRecord] = []
    rss0: dict[str, float | None] = {}
    rss1: dict[str, float | None] = {}
    restarts0: dict[str, int] = {}

    def injector() -> None:
        t0 = time.monotonic()
        while not director.ready() and time.monotonic() - t0 < 180:
            time.sleep(0.2)
        time.sleep(2.0)
        for name, np_ in sup.nodes.items():
            rss0[name] = _rss_mb(np_.proc.pid if np_.proc else None)
            restarts0[name] = np_.restarts
        t_start = time.monotonic()
        while time.monotonic() - t_start < cfg.duration_s and not sup.stop_reason:
            gap = max(1.0, rng.expovariate(1.0 / cfg.mean_gap_s))
            time.sleep(min(gap, max(0.0, cfg.duration_s - (time.monotonic() - t_start))))
            if time.monotonic() - t_start >= cfg.duration_s:
                break
            kind = rng.choice(cfg.faults)
            rec = _inject(kind, sup, kinds, commands, rogue, rng, cfg, time.monotonic() - t_start, log)
            if rec is not None:
                records.append(rec)
        done.set()
        for name, np_ in sup.nodes.items():  # before the ordered stop ends them
            rss1[name] = _rss_mb(np_.proc.pid if np_.proc else None)
        sup.request_stop("chaos: campaign over")

    director.start(episodes)
    inj = threading.Thread(target=injector, daemon=True)
    inj.start()
    try:
        code = sup.run(cfg.duration_s + 400)
    finally:
        done.set()
        director.stop()
        commands.stop()
        recorders.stop()
        rogue.close(linger=0)
    inj.join(30)
    statuses = sup.statuses()
    # What the recorder's next start would do: recover the episodes it was cut off in.
    recovered = recover_all(episodes_dir) if Path(episodes_dir).exists() else []
    readable, unreadable, on_disk = 0, [], set()
    for path in list_episodes(episodes_dir):
        try:
            r = EpisodeReader(path)
            if len(r.states) > 0:
                readable += 1
                on_disk.add(str(r.metadata.get("episode_start", {}).get("episode", "")))
            else:
                unreadable.append(f"{path.name}: no rows")
        except Exception as exc:  # any failure to read is what the campaign counts
            unreadable.append(f"{path.name}: {exc}")
    summary = _summarize(cfg, records, started, readable, unreadable, sup, restarts0, rss0, rss1, statuses)
    summary["recording"].update(_losses(spans, on_disk, recorders.outages()))
    rec = summary["recording"]
    rec["recovered_at_end"] = [{"episode": r.path.name, "status": r.status, "steps": r.num_steps, "reason": r.reason} for r in recovered]
    rec["unrecoverable"] = _unrecoverable(Path(episodes_dir))
    # The declared window: a cut-off episode loses at most its last group of frames
    # (one second), so an episode cut within its first second may be lost whole.
    within = [u for u in rec["unrecoverable"] if (u["rows"] or 0) <= _GROUP_ROWS]
    rec["lost_beyond_window"] = len(rec["unrecoverable"]) - len(within)
    summary["exit"] = code
    summary["stop_reason"] = sup.stop_reason
    if not cfg.episodes_dir:
        tmp.cleanup()
    return summary


_GROUP_ROWS = 30  # rows of one group of frames (a keyframe every 30 frames at 30 Hz)
_WINDOW_NS = 1_000_000_000  # the declared window: a killed recorder loses at most its last second


def _losses(spans: dict[str, list[int]], on_disk: set[str], outages: list[tuple[int, int]]) -> dict[str, Any]:
    """Episodes started but not on disk, split by whether a recorder outage explains them.

    An episode that overlapped a recorder outage (from one second, the declared window,
    before the old recorder's last heartbeat until the new recorder's first) may be partial or, if it lay
    inside the outage, absent; it is joined late when the recorder returns in time. An
    episode no outage touched must be on disk: ``lost`` counts those that are not.
    """
    end_all = time.monotonic_ns()
    lost: list[str] = []
    excused: list[str] = []
    for token, (t0, t1) in spans.items():
        if token in on_disk:
            continue
        t1 = t1 or end_all
        touched = any(a - _WINDOW_NS <= t1 and t0 <= b for a, b in outages)
        (excused if touched else lost).append(token)
    return {
        "lost": lost,
        "lost_in_recorder_outages": excused,
        "missing": len(lost),
        "recorder_outages_s": [round((b - a) / 1e9, 2) for a, b in outages],
    }


def _unrecoverable(root: Path) -> list[dict[str, Any]]:
    """What recovery gave up on (``_unrecoverable/*/recovery.json``), with the rows it had."""
    import json

    out = []
    for f in sorted((root / "_unrecoverable").glob("*/recovery.json")):
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            data = {}
        out.append({"episode": f.parent.name, "reason": data.get("reason", "?"), "rows": data.get("rows_written")})
    return out


def _pick(sup: Supervisor, kinds: dict[str, str], what: str, rng: random.Random) -> str | None:
    names = [n for n, k in kinds.items() if k in _KIND_NODES[what]]
    alive = [n for n in names if (p := sup.nodes[n].proc) is not None and p.poll() is None]
    return rng.choice(alive) if alive else None


def _inject(
    kind: str,
    sup: Supervisor,
    kinds: dict[str, str],
    commands: _Commands,
    rogue: zmq.Socket,
    rng: random.Random,
    cfg: ChaosConfig,
    t_s: float,
    log: Callable[[str], None],
) -> FaultRecord | None:
    verb, _, what = kind.partition(":")
    if verb in ("kill", "stop"):
        node = _pick(sup, kinds, what, rng)
        if node is None:
            return None
        if kind in _INPUT_LOSS:
            # Judge the watchdog while the arms follow the leader: wait (a little) for TELEOP.
            deadline = time.monotonic() + 8.0
            while time.monotonic() < deadline and set(commands.modes_at(time.monotonic_ns()).values()) != {"TELEOP"}:
                time.sleep(0.05)
        proc = sup.nodes[node].proc
        assert proc is not None
        arms_before = {a for a, m in commands.modes_at(time.monotonic_ns()).items() if m != "HOLD"}
        t_ns = time.monotonic_ns()
        rec = FaultRecord(kind, node, round(t_s, 2))
        if verb == "kill":
            os.killpg(proc.pid, signal.SIGKILL)
            if what == "recorder":  # the outage lasts until the new recorder heartbeats
                np_ = sup.nodes[node]
                deadline = time.monotonic() + 90.0
                while time.monotonic() < deadline and not (np_.proc is not None and np_.proc.pid != proc.pid and np_.last_heartbeat_ns):
                    time.sleep(0.05)
                rec.note = f"recorder down {(time.monotonic_ns() - t_ns) / 1e9:.1f} s"
        else:
            pause = rng.uniform(0.2, 2.0)
            os.killpg(proc.pid, signal.SIGSTOP)
            time.sleep(pause)
            os.killpg(proc.pid, signal.SIGCONT)
            rec.note = f"stopped {pause:.2f} s"
        if kind in _INPUT_LOSS:
            if arms_before:
                # Judged on the followers' own stamps, once the collector has read past the
                # bound: a slow reader here cannot make an arm look late or early.
                commands.wait_past(t_ns + int(2 * cfg.hold_bound_ms * 1e6), timeout_s=15.0)
                rec.hold_ms = commands.held_after(t_ns, arms_before)
            else:
                rec.note = (rec.note + "; arms already held").strip("; ")
        log(f"chaos: {kind} {node} at {t_s:.1f} s{'' if rec.hold_ms is None else f', held in {rec.hold_ms:.1f} ms'}")
        return rec
    if kind == "rogue":
        sock = rogue
        frames = _rogue_frames(rng)
        for msg in frames:
            sock.send_multipart(msg)
        log(f"chaos: rogue sent {len(frames)} malformed messages at {t_s:.1f} s")
        return FaultRecord(kind, "rogue", round(t_s, 2), note=f"{len(frames)} messages")
    if kind == "hog":
        secs = rng.uniform(2.0, 5.0)
        hogs = [subprocess.Popen([sys.executable, "-c", f"import time\nt=time.monotonic()\nwhile time.monotonic()-t<{secs}: pass"]) for _ in range(2)]
        for h in hogs:
            h.wait()
        log(f"chaos: two CPU hogs for {secs:.1f} s at {t_s:.1f} s")
        return FaultRecord(kind, "hog", round(t_s, 2), note=f"{secs:.1f} s")
    raise ValueError(f"unknown fault kind {kind!r}")


def _summarize(
    cfg: ChaosConfig,
    records: list[FaultRecord],
    started: dict[str, int],
    readable: int,
    unreadable: list[str],
    sup: Supervisor,
    restarts0: dict[str, int],
    rss0: dict[str, float | None],
    rss1: dict[str, float | None],
    statuses: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    per_kind: dict[str, dict[str, Any]] = {}
    for rec in records:
        k = per_kind.setdefault(rec.kind, {"injected": 0, "hold_ms": [], "unheld": 0})
        k["injected"] += 1
        if rec.kind in _INPUT_LOSS and "already held" not in rec.note:
            if rec.hold_ms is None:
                k["unheld"] += 1
            else:
                k["hold_ms"].append(round(rec.hold_ms, 2))
    for k in per_kind.values():
        k["hold_ms_max"] = max(k["hold_ms"]) if k["hold_ms"] else None
    restarts = {n: np_.restarts - restarts0.get(n, 0) for n, np_ in sup.nodes.items()}
    hours = max(cfg.duration_s, 1.0) / 3600
    nodes = {
        n: {
            "rss_mb_start": None if rss0.get(n) is None else round(rss0[n] or 0.0, 1),
            "rss_mb_end": None if rss1.get(n) is None else round(rss1[n] or 0.0, 1),
            "restarts": restarts[n],
            "alive": statuses.get(n, {}).get("alive"),
        }
        for n in sup.nodes
    }
    # Memory growth only means something for a process that lived through the campaign.
    for n, v in nodes.items():
        if v["restarts"] == 0 and v["rss_mb_start"] is not None and v["rss_mb_end"] is not None:
            v["rss_mb_per_h"] = round((v["rss_mb_end"] - v["rss_mb_start"]) / hours, 1)
    recording = {
        "episodes_started": started["episodes"],
        "episodes_cut_short": started["episode_errors"],
        "episodes_readable": readable,
        "unreadable": unreadable,
    }
    return {
        "duration_s": cfg.duration_s,
        "seed": cfg.seed,
        "hold_bound_ms": cfg.hold_bound_ms,
        "faults": per_kind,
        "records": [dataclasses.asdict(r) for r in records],
        "recording": recording,
        "nodes": nodes,
    }

