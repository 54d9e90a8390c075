"""One episode being recorded from live messages: align on the tick clock, then write.

The recorder node feeds every message it receives (followers' state, command and EE
pose, camera frames) into :meth:`EpisodeSession.add` and calls :meth:`pump` each
loop; rows come out when their tick is settled (see
:class:`~abc_robot.recording.aligner.TickAligner`). No sockets here, so this is
tested with plain message objects.

Camera health is tracked on the episode's own clock: a camera whose newest frame at
a tick is older than ``camera_timeout_ns`` is *lost* from that step (its view keeps
its last frame, black if it never sent one) and *back* when fresh frames resume;
both are events in the metadata, with per-camera counts of frames the camera itself
dropped (``frame_index`` gaps) and of steps that reused an old frame.

With an MCAP writer (``mcap=``, the release layout), every message is also streamed
into it as it arrives, at its own stamp and rate: from each source's latest sample at
or before ``t0_ns`` on, up to the end stamp (:meth:`EpisodeSession.end_at`). With
``write_abc=False`` only the MCAP is written (rows are still counted on the clock).

With a :class:`~abc_robot.recording.write_queue.WriteQueue` (``writes=``, what the
recorder node gives), aligning stays with the caller and every write (a row's views
letterboxed and encoded, its row and step line appended, each MCAP message) runs on the
queue's thread in order: the caller never waits for the encoder. :attr:`num_steps`
counts rows written, :attr:`queued_rows` those aligned and not written yet. A write
that fails marks the session (:attr:`error`) and its later writes are skipped, so the
episode stays cut off in ``_recording/`` for recovery; the caller decides what then.
Without a queue everything is written in the caller's thread, as it comes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.recording.aligner import Tick, TickAligner
from abc_robot.recording.layout import GOP, TICK_NS, combine_sources
from abc_robot.recording.mcap_writer import McapEpisodeWriter
from abc_robot.recording.steps import pose7
from abc_robot.recording.video import VideoConfig
from abc_robot.recording.write_queue import WriteQueue
from abc_robot.recording.writer import EpisodeWriter

__all__ = ["EpisodeSession", "follower_topics", "camera_topic"]


def follower_topics(arm: str) -> tuple[str, str, str]:
    """``(state, command, ee)`` topics of one follower."""
    return f"follower/{arm}/state", f"follower/{arm}/command", f"follower/{arm}/ee"


def camera_topic(camera: str) -> str:
    return f"camera/{camera}"


class _CameraHealth:
    def __init__(self) -> None:
        self.frames = 0
        self.dropped = 0  # gaps in the camera's own frame counter
        self.restarts = 0
        self.last_index: int | None = None
        self.stale_steps = 0
        self.missing_steps = 0
        self.lost = False
        self.events: list[dict[str, Any]] = []

    def frame(self, index: int) -> None:
        self.frames += 1
        if self.last_index is not None:
            if index > self.last_index:
                self.dropped += index - self.last_index - 1
            else:  # the camera process restarted its counter
                self.restarts += 1
        self.last_index = index

    def summary(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "dropped_frames": self.dropped,
            "restarts": self.restarts,
            "stale_steps": self.stale_steps,
            "missing_steps": self.missing_steps,
            "lost": any(e["event"] == "lost" for e in self.events),
            "events": list(self.events),
        }


class EpisodeSession:
    """Aligns live messages on the 30 Hz clock from ``t0_ns`` and writes the episode.

    Args:
        root: episodes directory.
        task_name: the task.
        t0_ns: tick 0 [monotonic ns].
        arms: follower arms in row order (``left``, ``right``).
        cameras: views in stack order.
        history: messages received before the start, per topic in arrival order (so
            tick 0 can take the latest sample before it).
        max_delay_ns: a tick waits at most this long for a late source [ns].
        camera_timeout_ns: a camera with no frame this long at a tick is lost [ns].
        video: encoder settings.
        metadata: extra metadata fields (rig, calibration, start event...).
        mcap: an MCAP writer to stream every message into (the release layout).
        write_abc: write the training layout (False: the MCAP alone).
        intrinsics: camera → intrinsics for the MCAP's calibration topics.
        episode_id: the episode's uuid (shared by both formats; default: a new one).
        beat: called every 100 history messages taken in (a caller that must keep
            heartbeating while the history is taken in).
        writes: the queue that runs the writes (None: written in the caller's thread).
            With a queue, :meth:`finish` must run on it too (after the last row), or
            after :meth:`WriteQueue.wait`.
    """

    def __init__(
        self,
        root: str | Path,
        task_name: str,
        t0_ns: int,
        arms: Sequence[str] = ("left", "right"),
        cameras: Sequence[str] = ("top", "left", "right"),
        history: Mapping[str, Iterable[Any]] | None = None,
        max_delay_ns: int = 250_000_000,
        camera_timeout_ns: int = 500_000_000,
        video: VideoConfig | None = None,
        metadata: Mapping[str, Any] | None = None,
        mcap: McapEpisodeWriter | None = None,
        write_abc: bool = True,
        intrinsics: Mapping[str, Mapping[str, Any]] | None = None,
        episode_id: str | None = None,
        beat: Callable[[], None] | None = None,
        writes: WriteQueue | None = None,
    ) -> None:
        if mcap is None and not write_abc:
            raise ValueError("nothing to write: give an MCAP writer or write_abc=True")
        self.arms = tuple(arms)
        self.cameras = tuple(cameras)
        self.writes = writes
        #: The first write that failed (None: all fine so far).
        self.error: str | None = None
        self._dropped = False  # discarded: queued writes are skipped
        self.camera_timeout_ns = camera_timeout_ns
        self.topics = [t for arm in self.arms for t in follower_topics(arm)] + [camera_topic(c) for c in self.cameras]
        self.aligner = TickAligner(self.topics, t0_ns, TICK_NS, max_delay_ns)
        self.health = {c: _CameraHealth() for c in self.cameras}
        self.samples = {t: 0 for t in self.topics}
        self.late_ticks = 0
        self.encode_ns: list[int] = []
        self.mcap = mcap
        self.mcap_ns: list[int] = []
        self.mcap_until_ns: int | None = None
        self.intrinsics = dict(intrinsics or {})
        self._calibrated: set[str] = set()
        self._last_mode: dict[str, tuple[str, str]] = {}
        self.writer: EpisodeWriter | None = None
        if write_abc:
            self.writer = EpisodeWriter(
                root, task_name, self.cameras, t0_ns=t0_ns, video=video, metadata=metadata, episode_id=episode_id
            )
        self.steps = 0
        self._mcap_rows = 0  # MCAP alone: rows whose messages have reached the MCAP writer
        for topic, msgs in (history or {}).items():
            seq = list(msgs)
            # The MCAP starts at each source's latest sample at or before t0.
            first = max([i for i, m in enumerate(seq) if int(m.stamp_ns) <= t0_ns] or [0])
            for i, msg in enumerate(seq):
                self.add(topic, msg, to_mcap=i >= first)
                if beat is not None and i % 100 == 99:
                    beat()

    @property
    def num_steps(self) -> int:
        """Rows written (the MCAP alone: rows whose messages up to their tick have been
        handed to the MCAP writer)."""
        return self.writer.num_steps if self.writer is not None else self._mcap_rows

    @property
    def queued_rows(self) -> int:
        """Rows aligned and waiting on the write queue."""
        return self.steps - self.num_steps

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.writes is None:
            fn(*args)
        else:
            self.writes.submit(self._guarded, fn, args)

    def _guarded(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        if self.error is not None or self._dropped:
            return
        try:
            fn(*args)
        except Exception as exc:  # the episode stays cut off for recovery
            self.error = f"{type(exc).__name__}: {exc}"

    @property
    def path(self) -> Path:
        if self.writer is not None:
            return self.writer.path
        assert self.mcap is not None
        return self.mcap.path

    def end_at(self, until_ns: int) -> None:
        """The episode ends at ``until_ns``: later messages stay out of the MCAP."""
        self.mcap_until_ns = int(until_ns)

    def note(self, stamp_ns: int, text: str, topic: str = "/abc/events") -> None:
        """A line in the MCAP's event log (episode events, interventions)."""
        if self.mcap is not None and (self.mcap_until_ns is None or stamp_ns <= self.mcap_until_ns):
            self._submit(self.mcap.log, topic, stamp_ns, text)

    def add(self, topic: str, msg: Any, to_mcap: bool = True) -> None:
        """Offer a message (topics the episode does not record are ignored)."""
        if topic not in self.samples:
            return
        if self.aligner.push(topic, int(msg.stamp_ns), msg):
            self.samples[topic] += 1
            if topic.startswith("camera/"):
                self.health[topic[len("camera/") :]].frame(int(getattr(msg, "frame_index", 0)))
            if to_mcap and self.mcap is not None:
                if self.mcap_until_ns is None or int(msg.stamp_ns) <= self.mcap_until_ns:
                    self._submit(self._to_mcap, topic, msg)

    def _to_mcap(self, topic: str, msg: Any) -> None:
        assert self.mcap is not None
        t = time.perf_counter_ns()
        self._mcap_message(topic, msg)
        self.mcap_ns.append(time.perf_counter_ns() - t)

    def _mcap_message(self, topic: str, msg: Any) -> None:
        assert self.mcap is not None
        stamp = int(msg.stamp_ns)
        parts = topic.split("/")
        if parts[0] == "camera":
            cam = parts[1]
            img = msg.image
            if cam not in self._calibrated:
                self._calibrated.add(cam)
                intr = getattr(msg, "intrinsics", None) or self.intrinsics.get(cam)
                self.mcap.calibration(cam, stamp, intr, img.shape[1], img.shape[0])
            self.mcap.frame(cam, stamp, img, int(getattr(msg, "frame_index", 0)), int(getattr(msg, "seq", 0)))
            return
        arm, kind = parts[1], parts[2]
        if kind == "state":
            self.mcap.joints(arm, "state", stamp, msg.q, velocity=msg.dq, torque=msg.effort)
        elif kind == "command":
            self.mcap.joints(arm, "action", stamp, msg.q)
            mode = (str(msg.mode), str(msg.control_source))
            if self._last_mode.get(arm) != mode:
                self._last_mode[arm] = mode
                self.mcap.log(f"/abc/{arm}/mode", stamp, f"mode {mode[0]}, control source {mode[1]}", name=arm)
        elif kind == "ee":
            self.mcap.ee_pose(arm, stamp, msg.T_base_ee)

    def pump(
        self,
        now_ns: int,
        until_ns: int | None = None,
        force: bool = False,
        max_rows: int | None = None,
        deadline: bool = True,
    ) -> int:
        """Write the ticks that are final now (at most ``max_rows``); returns how many.

        ``deadline=False``: only ticks every source has settled (see
        :meth:`TickAligner.ready`)."""
        n = 0
        for tick in self.aligner.ready(now_ns, until_ns, force, deadline):
            self._write(tick)
            n += 1
            if max_rows is not None and n >= max_rows:
                break
        return n

    def done(self, until_ns: int) -> bool:
        """True once every tick at or before ``until_ns`` is written."""
        return self.aligner.tick_time(self.aligner.next_index) > until_ns

    def _write(self, tick: Tick) -> None:
        s = tick.samples
        state, action = [], []
        step: dict[str, Any] = {"stamps": {}, "frame_index": {}, "ee": {}, "mode": {}, "control_sources": {}}
        for arm in self.arms:
            st, cmd, ee = follower_topics(arm)
            command, pose = s[cmd], s[ee]
            state.append(_q7(s[st]))
            action.append(_q7(command))
            if command is not None:
                step["mode"][arm] = str(getattr(command.value, "mode", ""))
                step["control_sources"][arm] = str(getattr(command.value, "control_source", "none"))
            else:
                step["control_sources"][arm] = "none"
            if pose is not None:
                step["ee"][arm] = pose7(pose.value.T_base_ee)
        views: dict[str, np.ndarray | None] = {}
        for cam in self.cameras:
            topic = camera_topic(cam)
            sample = s[topic]
            h = self.health[cam]
            if sample is None:
                views[cam] = None
                h.missing_steps += 1
                age = None
            else:
                views[cam] = sample.value.image
                step["frame_index"][cam] = int(getattr(sample.value, "frame_index", 0))
                age = tick.t_ns - sample.stamp_ns
                if age > 2 * TICK_NS:
                    h.stale_steps += 1
            lost_now = age is None or age > self.camera_timeout_ns
            if lost_now != h.lost:
                h.events.append({"event": "lost" if lost_now else "back", "step": tick.index, "t_ns": tick.t_ns})
            h.lost = lost_now
        step["stamps"] = {t: (None if v is None else v.stamp_ns) for t, v in s.items()}
        step["control_source"] = combine_sources(list(step["control_sources"].values()))
        if tick.late:
            self.late_ticks += 1
            step["late"] = list(tick.late)
        self.steps += 1
        if self.writer is None:
            self._submit(self._mcap_row)  # queued behind the messages taken in before the row
            return
        # The counts as of this row (taken here: the aligning goes on meanwhile).
        report = self.report() if self.steps % GOP == 0 else None
        self._submit(self._append, np.concatenate(state), np.concatenate(action), views, step, report)

    def _mcap_row(self) -> None:
        self._mcap_rows += 1

    def _append(
        self,
        state: np.ndarray,
        action: np.ndarray,
        views: dict[str, np.ndarray | None],
        step: dict[str, Any],
        report: dict[str, Any] | None,
    ) -> None:
        assert self.writer is not None
        t = time.perf_counter_ns()
        self.writer.append(state, action, views, step)
        self.encode_ns.append(time.perf_counter_ns() - t)
        if report is not None:
            self.writer.update_metadata(report)

    def report(self) -> dict[str, Any]:
        """Counts so far, for the metadata."""
        cams = {c: h.summary() for c, h in self.health.items()}
        return {
            "cameras_health": cams,
            "dropped_frames": {c: h.dropped for c, h in self.health.items()},
            "cameras_lost": [c for c, h in cams.items() if h["lost"]],
            "late_ticks": self.late_ticks,
            "source_samples": dict(self.samples),
            "out_of_order": {t: n for t, n in self.aligner.out_of_order.items() if n},
        }

    def finish(
        self,
        outcome: str | Mapping[str, Any] | None,
        progress: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Path | None:
        """Finalize (the caller has pumped every tick it wants); returns the episode path
        (the training layout's when it is written, else the MCAP's)."""
        extra = {**self.report(), **(metadata or {})}
        path = None
        if self.writer is not None:
            path = self.writer.finish(outcome, progress, extra)
        if self.mcap is not None and self.writer is not None and path is None:
            self.mcap.discard()  # no row: the episode is dropped in both formats
        elif self.mcap is not None:
            ours = {
                "outcome": {"ended_by": outcome, "progress": progress}
                if not isinstance(outcome, Mapping)
                else dict(outcome)
            }
            if self.writer is not None:
                ours["training_layout"] = {"episode": None if path is None else path.name, "num_steps": self.num_steps}
            mpath = self.mcap.finish({**ours, **extra})
            path = path if self.writer is not None else mpath
        return path

    def discard(self) -> None:
        """Drop the episode in both formats (with a queue: once the write running now ends)."""
        self._dropped = True  # queued writes of it are skipped
        if self.writes is None:
            self._discard_now()
        else:
            self.writes.submit(self._discard_now)

    def _discard_now(self) -> None:
        if self.writer is not None:
            self.writer.discard()
        if self.mcap is not None:
            self.mcap.discard()


def _q7(sample: Any) -> np.ndarray:
    """The 7 values of an arm (6 joints + gripper); NaN where there is no sample."""
    out = np.full(7, np.nan)
    if sample is not None:
        q = np.asarray(sample.value.q, dtype=np.float64).reshape(-1)[:7]
        out[: q.size] = q
    return out
