"""Recorder node: episodes in the ABC layout from the live graph.

Subscribes reliably (every message, gaps counted by sequence number) to both
followers' ``state``/``command``/``ee``, the cameras and ``console/event``:

- ``episode_start`` (``data``: task, seed, source) starts an episode at the event's
  stamp, as soon as both followers have published (tick 0 samples the latest data
  at or before it);
- ``success`` / ``fail`` (``data.progress``) and ``episode_stop`` end it: every tick up
  to the event's stamp is written, then the episode is finalized with that outcome;
- ``episode_discard`` drops the episode being recorded.

Rows are placed on the 30 Hz tick clock by the samples' own stamps (see
:mod:`abc_robot.recording.session`); a late or dead camera delays rows by at most
``max_delay_ms`` and is reported in the metadata, its view keeping its last frame.
The loop only takes messages in and aligns rows; the writing (letterbox, H.264 encode,
appends, MCAP messages, an episode's close) runs in order on one writer thread
(:class:`~abc_robot.recording.write_queue.WriteQueue`), so the heartbeat never waits
for the encoder: on a starved machine the encoder falls behind, the queue holds every
row (nothing is dropped; ``queued_rows`` and ``write_queue`` in the status say how
far behind), and the supervisor still sees a live recorder. A loop tick takes in at
most ``max_messages_per_step`` messages, heartbeating every 100 of them.
At start the node recovers any episode a previous run left cut off in its root.

``format`` picks what is written: ``abc`` (the training layout, what ABC's trainer
reads), ``mcap`` (the ABC-130k release layout under ``mcap_root``: every message
streamed at its own stamp, cameras H.264-encoded as they arrive) or ``both`` (one
uuid for the two). The default is ``abc``: it is what the learning loop and the
sim graphs train from, and on a 2-core machine the second encoder is not free; the
hardware teleop graph records ``both`` so a rig's episodes can join ABC-130k as
they are and still train without a conversion.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import EpisodeError
from abc_robot.recording.layout import DEFAULT_CAMERAS
from abc_robot.recording.mcap_recovery import recover_mcap_all
from abc_robot.recording.mcap_writer import McapEpisodeWriter
from abc_robot.recording.metadata import file_hashes
from abc_robot.recording.recovery import recover_all
from abc_robot.recording.session import EpisodeSession, camera_topic, follower_topics
from abc_robot.recording.video import VideoConfig
from abc_robot.recording.write_queue import WriteQueue
from abc_robot.runtime.episode_state import STATE_KIND
from abc_robot.runtime.node import Node
from abc_robot.runtime.stats import percentiles
from abc_robot.transport.messages import CameraFrame, Event

__all__ = ["RecorderNode", "RecorderConfig"]

END_EVENTS = ("success", "fail", "episode_stop")


@dataclass(frozen=True)
class RecorderConfig:
    """Recorder settings (launch file ``params``).

    Attributes:
        root: episodes directory (relative to the working directory).
        followers: endpoints of the follower nodes.
        cameras: camera name → endpoint of the node publishing ``camera/<name>``.
        stack: the views in the video, top to bottom (names in ``cameras``).
        console: endpoints publishing ``console/event``.
        arms: follower arms in row order.
        task_name: task when ``episode_start`` names none.
        rig: rig name for the metadata.
        calibration: calibration file or directory whose sha256 go in the metadata.
        rate_hz: loop rate [Hz].
        max_delay_ms: longest a row waits for a late source [ms].
        camera_timeout_ms: a camera silent this long is reported lost [ms].
        start_timeout_s: give up starting an episode when a follower has not
            published for this long [s].
        recover_on_start: recover cut-off episodes in ``root`` at start.
        max_rows_per_step: rows written per loop tick at most (catching up after a
            stall takes a few ticks, none of them long).
        max_messages_per_step: messages taken in per loop tick at most (about 2 s of
            the sim graph's traffic); the rest wait in the socket's queue.
        video: encoder settings.
        format: ``abc``, ``mcap`` or ``both`` (see the module docstring).
        mcap_root: where MCAP episodes go (default ``<root>/mcap``).
        mcap_video: ``h264`` or ``h265`` for the MCAP's camera streams.
        mcap_crf: the MCAP encoder's constant rate factor.
        operator: operator id for the MCAP's ``episode-metadata``.
    """

    root: str = "episodes"
    followers: list[str] = field(default_factory=lambda: ["ipc://${run}/follower_left", "ipc://${run}/follower_right"])
    cameras: dict[str, str] = field(default_factory=lambda: {c: f"ipc://${{run}}/camera_{c}" for c in DEFAULT_CAMERAS})
    stack: list[str] = field(default_factory=lambda: list(DEFAULT_CAMERAS))
    console: list[str] = field(default_factory=lambda: ["ipc://${run}/console"])
    arms: list[str] = field(default_factory=lambda: ["left", "right"])
    task_name: str = "unknown"
    rig: str = "sim"
    calibration: str = ""
    rate_hz: float = 30.0  # [Hz]
    max_delay_ms: float = 250.0  # [ms]
    camera_timeout_ms: float = 500.0  # [ms]
    start_timeout_s: float = 3.0  # [s]
    recover_on_start: bool = True
    max_rows_per_step: int = 4
    max_messages_per_step: int = 4000
    video: VideoConfig = field(default_factory=VideoConfig)
    format: str = "abc"
    mcap_root: str = ""
    mcap_video: str = "h264"
    mcap_crf: int = 23
    operator: str = ""

    def __post_init__(self) -> None:
        if self.format not in ("abc", "mcap", "both"):
            raise ValueError(f"format must be one of ['abc', 'mcap', 'both'], got {self.format!r}")
        if self.mcap_video not in ("h264", "h265"):
            raise ValueError(f"mcap_video must be 'h264' or 'h265', got {self.mcap_video!r}")
        if not 0 <= self.mcap_crf <= 51:
            raise ValueError(f"mcap_crf must be in [0, 51], got {self.mcap_crf}")
        missing = [c for c in self.stack if c not in self.cameras]
        if missing or not self.stack:
            raise ValueError(f"stack must name cameras of `cameras` ({sorted(self.cameras)}), got {self.stack}")
        if self.max_messages_per_step < 100:
            raise ValueError(f"max_messages_per_step must be >= 100, got {self.max_messages_per_step}")
        if self.max_rows_per_step < 2:
            raise ValueError(f"max_rows_per_step must be >= 2 (to catch up), got {self.max_rows_per_step}")
        if self.rate_hz <= 0 or self.max_delay_ms < 0 or self.camera_timeout_ms <= 0:
            raise ValueError("rate_hz and camera_timeout_ms must be positive, max_delay_ms non-negative")


class RecorderNode(Node):
    Config = RecorderConfig

    def setup(self) -> None:
        cfg: RecorderConfig = self.config
        # Loaded now, not when the first episode starts inside the loop.
        import av  # noqa: F401
        import cv2  # noqa: F401

        self.episodes = 0
        self.mcap_root = cfg.mcap_root or str(Path(cfg.root) / "mcap")
        self.finish_failures = 0
        # Every write of every episode, in order, off the loop (see the module docstring).
        self.writes = WriteQueue(name=f"{self.name}-writes")
        self.hb_gap_ns_max = 0  # longest time between two heartbeats' status snapshots
        self._last_status_ns = 0
        self.recovered: list[dict[str, Any]] = []
        if cfg.recover_on_start:
            for res in recover_all(cfg.root):
                self.log(
                    f"recovery: {res.path} {res.status}, {res.num_steps} steps kept, {res.lost_steps} lost {res.reason}".rstrip()
                )
                self.recovered.append({"path": str(res.path), "status": res.status, "steps": res.num_steps})
            if cfg.format != "abc":
                for res in recover_mcap_all(self.mcap_root):
                    self.log(f"recovery: {res.path} {res.status}, {res.num_steps} messages kept {res.reason}".rstrip())
                    self.recovered.append({"path": str(res.path), "status": res.status, "messages": res.num_steps})
        self.state_topics = [t for arm in cfg.arms for t in follower_topics(arm)[:2]]
        self.topics = [t for arm in cfg.arms for t in follower_topics(arm)] + [camera_topic(c) for c in cfg.stack]
        endpoints = [*cfg.followers, *cfg.cameras.values(), *cfg.console]
        prefixes = [f"follower/{arm}/" for arm in cfg.arms] + [camera_topic(c) for c in cfg.stack] + ["console/event"]
        self.sub = self.reliable(endpoints, prefixes)
        # About two seconds of every source, so tick 0 has the samples before it.
        self.history: dict[str, deque[Any]] = {
            t: deque(maxlen=60 if t.startswith("camera/") else 1000) for t in self.topics
        }
        self.session: EpisodeSession | None = None
        self.pending: tuple[int, dict[str, Any]] | None = None  # (start stamp, event data)
        self.ending: tuple[int, str, float | None] | None = None  # (end stamp, outcome, progress)
        self.start_gaps: dict[tuple[str, str], int] = {}
        self.episode_token = ""  # the console's token for the episode being recorded
        self.ended_tokens: deque[str] = deque(maxlen=64)  # episodes over: never joined again
        self.joined_late = 0  # episodes joined from an announcement (their start was missed)
        self.last_episode = ""
        self.last_outcome = ""
        self.start_failures = 0
        self.drained = 0
        self.encode_ms: dict[str, float] = {}
        self.pump_ms = np.zeros(256)
        self.n_pumps = 0
        self.intrinsics: dict[str, dict[str, Any]] = {}  # camera → intrinsics its frames carry

    # ---- events ------------------------------------------------------------------------
    def _on_event(self, ev: Event, now_ns: int) -> None:
        if ev.kind == "episode_start":
            if self.session is not None:
                self._finalize(now_ns, "episode_stop")
            self.pending = (int(ev.stamp_ns) or now_ns, dict(ev.data))
            self.episode_token = str(ev.data.get("episode", ""))
        elif ev.kind == STATE_KIND:
            self._on_state(ev, now_ns)
        elif ev.kind in END_EVENTS:
            self.ended_tokens.append(self.episode_token)
            progress = ev.data.get("progress")
            if self.pending is not None and self.session is None:
                # A recorder that fell behind reads start and end in one batch: start the
                # episode now (the history holds its samples) rather than lose it.
                self._try_start(now_ns)
            if self.pending is not None:
                self.log(f"{ev.kind} before the episode could start: nothing recorded")
                self.pending = None
            elif self.session is not None and self.ending is None:
                self.ending = (int(ev.stamp_ns) or now_ns, ev.kind, None if progress is None else float(progress))
                self.session.note(self.ending[0], f"{ev.kind} {dict(ev.data)}")
                self.session.end_at(self.ending[0])
        elif ev.kind == "episode_discard":
            self.ended_tokens.append(self.episode_token)
            self.pending = None
            if self.session is not None:
                self.log(f"episode discarded after {self.session.num_steps} steps")
                self.session.discard()
                self.session, self.ending = None, None
        elif self.session is not None:  # interventions, pedal, keys: a line in the MCAP's log
            self.session.note(int(ev.stamp_ns) or now_ns, f"{ev.kind} {dict(ev.data)}")

    def _on_state(self, ev: Event, now_ns: int) -> None:
        """The console's announcement of the episode in progress (:mod:`abc_robot.runtime.episode_state`)."""
        d = dict(ev.data)
        token = str(d.get("episode", ""))
        if not token:
            return
        if d.get("active"):
            if self.session is None and self.pending is None and token not in self.ended_tokens:
                # Its start went by while this recorder was down: join it with what is here.
                self.log(f"joining episode {token} in progress: its start was missed (recorder restarted?)")
                start = {k: v for k, v in d.items() if k not in ("active", "started_ns")}
                self.pending = (int(d.get("started_ns") or now_ns), {**start, "joined_late": True})
                self.episode_token = token
                self.joined_late += 1
            return
        if token == self.episode_token and token not in self.ended_tokens:
            # The end event was missed; the announcement says how it ended.
            end = str(d.get("end") or "episode_stop")
            self._on_event(Event(kind=end if end in (*END_EVENTS, "episode_discard") else "episode_stop", stamp_ns=ev.stamp_ns), now_ns)

    def _try_start(self, now_ns: int) -> None:
        assert self.pending is not None
        cfg: RecorderConfig = self.config
        start_ns, data = self.pending
        silent = [t for t in self.state_topics if not self.history[t]]
        if silent:
            if now_ns - start_ns > cfg.start_timeout_s * 1e9:
                self.log(f"episode not started: no data on {silent} for {cfg.start_timeout_s} s")
                self.start_failures += 1
                self.pending = None
            return
        # Every row has both arms' state and command.
        t0 = max([start_ns, *(int(self.history[t][0].stamp_ns) for t in self.state_topics)])
        meta = {
            "rig": cfg.rig,
            "calibration": file_hashes(cfg.calibration),
            "episode_start": data,
            "recorder": {
                "node": self.name,
                "max_delay_ms": cfg.max_delay_ms,
                "camera_timeout_ms": cfg.camera_timeout_ms,
            },
            "arms": list(cfg.arms),
        }
        episode_id = uuid.uuid4().hex
        task = str(data.get("task") or cfg.task_name)
        mcap = None
        if cfg.format != "abc":
            mcap = McapEpisodeWriter(
                self.mcap_root,
                task,
                episode_id=episode_id,
                arms=cfg.arms,
                cameras=cfg.stack,
                video_format=cfg.mcap_video,
                crf=cfg.mcap_crf,
                metadata=meta,
                operator_id=cfg.operator,
                instruction=str(data.get("instruction") or task.replace("_", " ")),
            )
        self.session = EpisodeSession(
            cfg.root,
            str(data.get("task") or cfg.task_name),
            t0,
            cfg.arms,
            cfg.stack,
            history=self.history,
            max_delay_ns=int(cfg.max_delay_ms * 1e6),
            camera_timeout_ns=int(cfg.camera_timeout_ms * 1e6),
            video=cfg.video,
            metadata=meta,
            mcap=mcap,
            write_abc=cfg.format != "mcap",
            episode_id=episode_id,
            beat=self._beat,
            writes=self.writes,
        )
        self.session.note(t0, "episode_start")
        self.start_gaps = dict(self.sub.gaps.gaps)
        self.pending = None
        self.log(f"recording {self.session.path.name} (task {data.get('task') or cfg.task_name})")

    def _finalize(self, now_ns: int, outcome: str, progress: float | None = None) -> None:
        """Align every tick up to the end (the end event's stamp, else now); queue the close."""
        assert self.session is not None
        until = now_ns
        if self.ending is not None:
            until, outcome, progress = self.ending
        while self.session.pump(now_ns, until, force=True, max_rows=self.config.max_rows_per_step):
            self._beat()
        gaps = {
            f"{src} {topic}": n - self.start_gaps.get((src, topic), 0)
            for (src, topic), n in self.sub.gaps.gaps.items()
            if n - self.start_gaps.get((src, topic), 0) > 0
        }
        steps = self.session.steps
        extra: dict[str, Any] = {"seq_gaps": gaps, "seq_gaps_total": sum(gaps.values())}
        if self.intrinsics:
            extra["camera_intrinsics"] = {c: dict(i) for c, i in self.intrinsics.items()}
        session = self.session
        self.session, self.ending = None, None

        def finish() -> None:  # on the write queue: after the episode's last row
            if session.error is not None:
                self.log(f"writing {session.path.name} failed: {session.error}; it will be recovered at the next start")
                self.finish_failures += 1
                return
            self.encode_ms = _percentiles(session.encode_ns)
            try:
                path = session.finish(outcome, progress, {**extra, "write_ms": self.encode_ms})
            except Exception as exc:  # the episode stays in _recording/ for recovery
                self.log(f"finishing {session.path.name} failed: {exc!r}; it will be recovered at the next start")
                self.finish_failures += 1
                return
            if path is not None:
                self.episodes += 1
                self.last_episode = path.name
                self.log(f"episode {path.name}: {steps} steps, {outcome}")
            self.last_outcome = outcome

        # Closing waits on the encoder and the disk (fsync, rename): queued behind the
        # episode's rows, so episodes close in the order they ended, and the loop (its
        # subscription, its heartbeat) never waits. The next episode may start meanwhile.
        self.writes.submit(finish)

    # ---- the loop ---------------------------------------------------------------------
    def _ingest(self, beat: Any = None) -> int:
        """Take in what is queued, a bounded batch (events in arrival order); returns the time after.

        ``beat`` is called every 100 messages (a recorder that fell behind, on a starved
        machine, heartbeats through the batch it takes in).
        """
        msgs = self.sub.drain(self.config.max_messages_per_step)
        self.drained = len(msgs)
        now = time.monotonic_ns()
        for i, (topic, msg) in enumerate(msgs):
            if beat is not None and i % 100 == 99:
                beat()
            if topic == "console/event":
                if isinstance(msg, Event):
                    self._on_event(msg, now)
                continue
            hist = self.history.get(topic)
            if hist is None:
                continue
            hist.append(msg)
            if isinstance(msg, CameraFrame) and msg.intrinsics:
                self.intrinsics[msg.camera] = msg.intrinsics
            if self.session is not None:
                self.session.add(topic, msg)
        return now

    def step(self, now_ns: int) -> None:
        t = time.perf_counter_ns()
        if self.session is not None and self.session.error is not None:
            # A write failed (a full disk...): end the process as a failing step always
            # did; the supervisor's policy applies and the next start recovers the episode.
            raise EpisodeError(f"writing {self.session.path.name} failed: {self.session.error}")
        now = self._ingest(self._beat)
        if self.pending is not None and self.session is None:
            self._try_start(now)
        s = self.session
        if s is not None:
            # A bounded number of rows aligned per tick: a recorder that fell behind (a
            # busy machine) catches up over a few ticks; the writing is queued. While
            # messages still wait in its socket (the batch was full), a source is not
            # late: the sample the tick waits for may be among them, so only settled
            # ticks go out until it has caught up.
            rows = self.config.max_rows_per_step
            caught_up = self.drained < self.config.max_messages_per_step
            if self.ending is not None:
                end = self.ending[0]
                force = caught_up and now - end > s.aligner.max_delay_ns
                s.pump(now, until_ns=end, force=force, max_rows=rows, deadline=caught_up)
                if s.done(end):
                    self._finalize(now, self.ending[1])
            else:
                s.pump(now, max_rows=rows, deadline=caught_up)
        self.pump_ms[self.n_pumps % len(self.pump_ms)] = (time.perf_counter_ns() - t) / 1e6
        self.n_pumps += 1

    def teardown(self) -> None:
        # An ordered stop (SIGTERM) finalizes the episode with what has arrived. A recorder
        # that fell behind (a busy machine) may need seconds to write its backlog: it
        # heartbeats meanwhile, and the supervisor's ordered stop waits for a sink that
        # does (it would kill a silent one after the graph's stop timeout).
        if not hasattr(self, "session"):  # setup ended early (the write queue comes before it)
            return
        try:
            # Everything queued, the end event included (one drain takes a bounded batch).
            while self._ingest(self._beat) and self.drained >= self.config.max_messages_per_step:
                self._beat()
        except Exception as exc:  # finalize with what we have
            self.log(f"teardown: {exc!r}")
        s = self.session
        if s is None and self.pending is not None:
            self._try_start(time.monotonic_ns())  # a start that came with the stop: keep it
            s = self.session
        if s is not None:
            now = time.monotonic_ns()
            until = self.ending[0] if self.ending is not None else now
            while s.pump(now, until_ns=until, force=True, max_rows=self.config.max_rows_per_step):
                self._beat()
            self._finalize(now, "recorder_stopped")
        # Every queued row and close is written before the process ends.
        while not self.writes.wait(self.heartbeat_period_ns / 1e9):
            self._beat()
        self.writes.close()

    def _beat(self) -> None:
        """A heartbeat from inside a long step (a big batch taken in, a backlog written
        at a stop), at the heartbeat rate: the loop is alive and getting through it."""
        now = time.monotonic_ns()
        if now >= self._next_hb_ns:
            self._send_heartbeat(final=False)
            self._next_hb_ns = now + self.heartbeat_period_ns

    def status(self) -> dict[str, Any]:
        if not hasattr(self, "sub"):
            return {}
        # Called once per heartbeat: the gaps between calls are this recorder's own
        # heartbeat gaps (what the supervisor's silence limit judges).
        t = time.monotonic_ns()
        if self._last_status_ns:
            self.hb_gap_ns_max = max(self.hb_gap_ns_max, t - self._last_status_ns)
        self._last_status_ns = t
        s = self.session
        n = min(self.n_pumps, len(self.pump_ms))
        out: dict[str, Any] = {
            "recording": s is not None,
            "episodes": self.episodes,
            "steps": s.num_steps if s is not None else 0,
            "gaps": self.sub.gaps.total_missing,
            "undecodable": self.sub.dropped,
            "drained": self.drained,
            "last_episode": self.last_episode,
            "last_outcome": self.last_outcome,
            "recovered": len(self.recovered),
            "start_failures": self.start_failures,
            "joined_late": self.joined_late,
            "finish_failures": self.finish_failures,
            "queued_rows": s.queued_rows if s is not None else 0,
            "write_queue": self.writes.pending,
            "write_queue_max": self.writes.max_pending,
            "heartbeat_gap_ms_max": round(self.hb_gap_ns_max / 1e6, 1),
        }
        if n:
            out["loop_ms_p50"] = round(percentiles(self.pump_ms[:n], (50,))[0], 2)
            out["loop_ms_max"] = round(float(self.pump_ms[:n].max()), 2)
        if s is not None:
            out["dropped_frames"] = sum(h.dropped for h in s.health.values())
            out["cameras_lost"] = [c for c, h in s.health.items() if h.lost]
        enc = _percentiles(s.encode_ns[-300:]) if s is not None and s.encode_ns else self.encode_ms
        out.update({f"write_ms_{k}": v for k, v in enc.items()})
        return out


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    """p50/p99/max of per-row write times (letterbox + encode + append) [ms]."""
    if not samples_ns:
        return {}
    a = np.asarray(samples_ns, dtype=np.float64) / 1e6
    p50, p99 = percentiles(a, (50, 99))
    return {
        "p50": round(p50, 2),
        "p99": round(p99, 2),
        "max": round(float(a.max()), 2),
    }
