"""EpisodeWriter: one episode in the ABC layout, written so a crash loses little.

The episode is written under ``<root>/_recording/episode_<uuid>/``, append-only: each
row of ``states_actions.bin`` and each line of ``step_data.jsonl`` reaches the OS as
it is appended (a killed process loses none of them), the video muxer hands each
finished group of frames to the OS, and once a group is complete everything is
``fsync``-ed (a power cut loses at most about a second). The ``fsync`` calls run in a
background thread: on a busy disk one can take seconds, and the caller (the recorder's
loop) must never wait for the disk. The writing process holds an
``flock`` on the episode, which the kernel drops when it dies: that is how recovery
tells a live episode from a cut-off one.

``finish()`` closes the video, writes ``episode_metadata.json`` atomically and
renames the directory to ``<root>/episode_<uuid>``: a loader sees a whole episode or
none.
"""

from __future__ import annotations

import fcntl
import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import EpisodeError
from abc_robot.recording.layout import (
    ACTION_DIM,
    DEFAULT_CAMERAS,
    EPISODE_PREFIX,
    GOP,
    LOCK,
    METADATA,
    RECORDING_DIR,
    ROW_DTYPE,
    START_METADATA,
    STATE_DIM,
    STATES_ACTIONS,
    STEP_DATA,
    TICK_NS,
    VIDEO,
    VIEW_SIZE,
)
from abc_robot.recording.metadata import final_metadata, outcome_record, start_metadata, write_json_atomic
from abc_robot.recording.steps import StepLog
from abc_robot.recording.video import StackedVideoWriter, VideoConfig, stack_views

__all__ = ["EpisodeWriter"]


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EpisodeWriter:
    """Writes one episode.

    Args:
        root: the episodes directory.
        task_name: recorded as ``task_name``.
        cameras: the views in stack order (names of the ``views`` given to :meth:`append`).
        t0_ns: time of row 0 [monotonic ns]; rows are at ``t0_ns + k * tick_ns``
            (default: now).
        tick_ns: the row period [ns].
        video: encoder settings.
        metadata: extra fields for ``episode_metadata.json`` (rig, calibration...).
        episode_id: the uuid part of the directory name (default: a new uuid4).
    """

    def __init__(
        self,
        root: str | Path,
        task_name: str,
        cameras: Sequence[str] = DEFAULT_CAMERAS,
        *,
        t0_ns: int | None = None,
        tick_ns: int = TICK_NS,
        video: VideoConfig | None = None,
        metadata: Mapping[str, Any] | None = None,
        episode_id: str | None = None,
    ) -> None:
        if not cameras or len(set(cameras)) != len(cameras):
            raise ValueError(f"cameras must be distinct and non-empty, got {list(cameras)}")
        self.root = Path(root)
        self.cameras = tuple(cameras)
        self.episode_id = episode_id or uuid.uuid4().hex
        self.name = f"{EPISODE_PREFIX}{self.episode_id}"
        self.path = self.root / RECORDING_DIR / self.name
        self.t0_ns = time.monotonic_ns() if t0_ns is None else int(t0_ns)
        self.tick_ns = int(tick_ns)
        self.video_config = video or VideoConfig()
        try:
            self.path.mkdir(parents=True, exist_ok=False)
        except FileNotFoundError:  # another writer removed the empty staging dir meanwhile
            self.path.mkdir(parents=True, exist_ok=False)
        self._lock = open(self.path / LOCK, "w")
        fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock.write(str(os.getpid()))
        self._lock.flush()
        self.metadata = start_metadata(
            episode_id=self.episode_id,
            task_name=task_name,
            cameras=self.cameras,
            t0_ns=self.t0_ns,
            tick_ns=self.tick_ns,
            video={"preset": self.video_config.preset, "crf": self.video_config.crf},
            extra=metadata,
        )
        # Durable at the first checkpoint (fsync in the background), not here.
        write_json_atomic(self.path / START_METADATA, self.metadata, fsync=False)
        self._rows = open(self.path / STATES_ACTIONS, "ab")
        self._steps = StepLog(self.path / STEP_DATA)
        self._video = StackedVideoWriter(self.path / VIDEO, VIEW_SIZE, VIEW_SIZE * len(self.cameras), self.video_config)
        self._frame = np.zeros((VIEW_SIZE * len(self.cameras), VIEW_SIZE, 3), np.uint8)
        self._row = np.zeros(STATE_DIM + ACTION_DIM, dtype=ROW_DTYPE)
        self._sources: list[str] = []
        self.missing_views = {c: 0 for c in self.cameras}
        self.num_steps = 0
        self.closed = False
        self.final_path: Path | None = None
        self._sync_jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._syncer = threading.Thread(target=self._sync_loop, name=f"fsync-{self.episode_id[:8]}", daemon=True)
        self._syncer.start()
        #: The last error of a background fsync (None: all fine).
        self.sync_error: str | None = None

    # ---- writing ------------------------------------------------------------------
    def append(
        self,
        state14: np.ndarray | Sequence[float],
        action14: np.ndarray | Sequence[float],
        views: Mapping[str, np.ndarray | None],
        step: Mapping[str, Any] | None = None,
    ) -> int:
        """Append row ``k`` (state, action), video frame ``k`` and step record ``k``.

        Args:
            state14: measured q, left then right [rad, gripper in [0, 1]].
            action14: commanded q, same layout.
            views: H×W×3 uint8 RGB per camera name; a missing camera is a black view
                (counted in ``counts.missing_views``).
            step: our per-step record (JSON-able); ``i`` and ``t_ns`` are added.

        Returns:
            the row index ``k``.
        """
        if self.closed:
            raise EpisodeError(f"{self.path}: episode already finished or discarded")
        s = np.asarray(state14, dtype=np.float64).reshape(-1)
        a = np.asarray(action14, dtype=np.float64).reshape(-1)
        if s.shape != (STATE_DIM,) or a.shape != (ACTION_DIM,):
            raise ValueError(f"expected {STATE_DIM} state and {ACTION_DIM} action values, got {s.shape} and {a.shape}")
        k = self.num_steps
        for c in self.cameras:
            if views.get(c) is None:
                self.missing_views[c] += 1
        # Frame first, then row, then step line: the muxer writes a group of frames
        # out when the next group's keyframe is encoded, so at any instant the file's
        # complete groups never run ahead of the rows, and a crash loses at most the
        # group being written.
        stack_views(views, self.cameras, out=self._frame)
        self._video.write(self._frame)
        self._row[:STATE_DIM] = s
        self._row[STATE_DIM:] = a
        self._rows.write(self._row.tobytes())
        self._rows.flush()
        record = {"i": k, "t_ns": self.t0_ns + k * self.tick_ns, **(dict(step) if step else {})}
        self._steps.append(record)
        self._sources.append(str(record.get("control_source", "none")))
        self.num_steps = k + 1
        if self.num_steps % GOP == 0:
            self._checkpoint()
        return k

    def update_metadata(self, fields: Mapping[str, Any]) -> None:
        """Merge ``fields`` into the metadata (kept in the start file at each checkpoint)."""
        self.metadata.update(fields)

    def _checkpoint(self) -> None:
        # A group of frames just closed: make everything written so far durable, and
        # refresh what recovery would report (counts so far). Only the newest job
        # matters, so a slow disk never builds a queue.
        while not self._sync_jobs.empty():
            try:
                self._sync_jobs.get_nowait()
            except queue.Empty:
                break
        self._sync_jobs.put({**self.metadata, "num_steps": self.num_steps})

    def _sync_loop(self) -> None:
        rows_fd, steps_fd = self._rows.fileno(), self._steps.fileno()
        while True:
            job = self._sync_jobs.get()
            if job is None:
                return
            try:
                os.fsync(rows_fd)
                os.fsync(steps_fd)
                _fsync_path(self.path / VIDEO)
                write_json_atomic(self.path / START_METADATA, job)
            except OSError as exc:  # reported, never fatal: the data is still in the OS
                self.sync_error = f"{type(exc).__name__}: {exc}"

    def _stop_syncer(self) -> None:
        self._sync_jobs.put(None)
        self._syncer.join()

    # ---- ending -----------------------------------------------------------------------
    def finish(
        self,
        outcome: str | Mapping[str, Any] | None = None,
        progress: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Path | None:
        """Close the episode and publish it atomically as ``<root>/episode_<uuid>``.

        Args:
            outcome: ``success``, ``fail``, another ending (``episode_stop``...) or a
                dict ``{success, progress, ended_by}``.
            progress: task progress in [0, 1] if known.
            metadata: last fields to add (final counts).

        Returns:
            the episode's directory; None when it had no step (it is discarded).
        """
        if self.closed:
            return self.final_path
        if self.num_steps == 0:
            self.discard()
            return None
        self._stop_syncer()
        self._video.close()
        self._close_files()
        counts = {**self.metadata.get("counts", {}), **(metadata or {}).get("counts", {})}
        counts.update({"steps": self.num_steps, "missing_views": dict(self.missing_views)})
        meta = final_metadata(self.metadata, self.num_steps, self._sources, outcome_record(outcome, progress), metadata)
        meta["counts"] = counts
        write_json_atomic(self.path / METADATA, meta)
        self.metadata = meta
        (self.path / START_METADATA).unlink(missing_ok=True)
        self._release_lock()
        final = self.root / self.name
        os.rename(self.path, final)
        _fsync_path(self.root)
        self._drop_staging()
        self.closed = True
        self.final_path = final
        return final

    def discard(self) -> None:
        """Drop the episode: nothing of it stays on disk."""
        if self.closed:
            return
        self._stop_syncer()
        self._video.abandon()
        self._close_files()
        self._release_lock()
        shutil.rmtree(self.path, ignore_errors=True)
        self._drop_staging()
        self.closed = True

    def _drop_staging(self) -> None:
        try:  # rmdir refuses a staging dir that still holds another episode
            self.path.parent.rmdir()
        except OSError:
            pass

    def _close_files(self) -> None:
        self._rows.flush()
        os.fsync(self._rows.fileno())
        self._rows.close()
        self._steps.close()

    def _release_lock(self) -> None:
        try:
            (self.path / LOCK).unlink(missing_ok=True)
        finally:
            self._lock.close()  # closing the descriptor drops the flock

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        # On an exception the episode stays in _recording/ for recover().
        if exc_type is None:
            self.finish("episode_stop")
