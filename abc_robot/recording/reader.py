"""EpisodeReader: a finished episode's arrays, frames and per-step data.

``frame(i)`` / ``view(i, camera)`` find the frame from its index alone (the keyframe
of frame ``i`` is ``i // 30 * 30`` at pts ``512 · keyframe``) and decode forward, so a
random frame costs at most one group of frames, never a scan of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import EpisodeError
from abc_robot.recording.layout import (
    EPISODE_PREFIX,
    METADATA,
    ROW_BYTES,
    ROW_DTYPE,
    ROW_FLOATS,
    STATE_DIM,
    STATES_ACTIONS,
    STEP_DATA,
    VIDEO,
    VIEW_SIZE,
)
from abc_robot.recording.metadata import read_json
from abc_robot.recording.steps import read_steps
from abc_robot.recording.video import VideoReader

__all__ = ["EpisodeReader", "iter_episodes", "list_episodes"]


class EpisodeReader:
    """Opens a finished (or recovered) episode directory.

    Args:
        path: ``.../episode_<uuid>``.
        threads: video decoder threads.

    Raises:
        EpisodeError: not a finished episode, or its files disagree on the step count.
    """

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        self.path = Path(path)
        meta_path = self.path / METADATA
        if not meta_path.is_file():
            raise EpisodeError(
                f"{self.path}: no {METADATA}; an episode cut off while recording is in "
                "_recording/ until abc_robot.recording.recover() (or the recorder's next start) finishes it"
            )
        try:
            self.metadata: dict[str, Any] = read_json(meta_path)
        except (OSError, ValueError) as exc:
            raise EpisodeError(f"{meta_path}: unreadable ({exc})") from exc
        self.num_steps = int(self.metadata["num_steps"])
        self.cameras: tuple[str, ...] = tuple(self.metadata["cameras"])
        size = (self.path / STATES_ACTIONS).stat().st_size if (self.path / STATES_ACTIONS).exists() else -1
        if size != self.num_steps * ROW_BYTES:
            raise EpisodeError(
                f"{self.path}: {STATES_ACTIONS} has {size} bytes, expected {self.num_steps} rows of {ROW_BYTES}"
            )
        self._threads = threads
        self._rows: np.ndarray | None = None
        self._steps: list[dict[str, Any]] | None = None
        self._video: VideoReader | None = None

    # ---- arrays ------------------------------------------------------------------
    @property
    def rows(self) -> np.ndarray:
        """(N, 28) float64: state then action."""
        if self._rows is None:
            data = np.fromfile(self.path / STATES_ACTIONS, dtype=ROW_DTYPE)
            self._rows = data.reshape(self.num_steps, ROW_FLOATS)
        return self._rows

    @property
    def states(self) -> np.ndarray:
        """(N, 14) measured q, left then right [rad, gripper in [0, 1]]."""
        return self.rows[:, :STATE_DIM]

    @property
    def actions(self) -> np.ndarray:
        """(N, 14) commanded q, same layout."""
        return self.rows[:, STATE_DIM:]

    @property
    def steps(self) -> list[dict[str, Any]]:
        """Our per-step records (stamps, EE poses, mode, control source), one per row."""
        if self._steps is None:
            self._steps = read_steps(self.path / STEP_DATA, limit=self.num_steps)
        return self._steps

    @property
    def control_sources(self) -> list[str]:
        """The rig's control source at every step (``none`` where unknown)."""
        src = [str(s.get("control_source", "none")) for s in self.steps]
        return src + ["none"] * (self.num_steps - len(src))

    @property
    def task_name(self) -> str:
        return str(self.metadata.get("task_name", ""))

    @property
    def t0_ns(self) -> int:
        return int(self.metadata["t0_ns"])

    @property
    def tick_ns(self) -> int:
        return int(self.metadata["tick_ns"])

    @property
    def outcome(self) -> dict[str, Any]:
        return dict(self.metadata.get("outcome", {}))

    # ---- frames -----------------------------------------------------------------
    @property
    def video(self) -> VideoReader:
        if self._video is None:
            self._video = VideoReader(self.path / VIDEO, num_frames=self.num_steps, threads=self._threads)
        return self._video

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i``: every view stacked, (224·C, 224, 3) RGB uint8."""
        return self.video.frame(i)

    def view(self, i: int, camera: str) -> np.ndarray:
        """Camera ``camera``'s 224×224×3 view at step ``i``."""
        try:
            k = self.cameras.index(camera)
        except ValueError:
            raise EpisodeError(f"{self.path}: no camera {camera!r}; cameras: {list(self.cameras)}") from None
        return self.frame(i)[k * VIEW_SIZE : (k + 1) * VIEW_SIZE]

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in order (one decoding pass)."""
        yield from self.video  # a generator method keeps this reader (and its file) alive

    def close(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None

    def __enter__(self) -> EpisodeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"EpisodeReader({str(self.path)!r}, num_steps={self.num_steps}, task={self.task_name!r})"


def list_episodes(directory: str | Path) -> list[Path]:
    """Finished episode directories under ``directory``, oldest first.

    ``directory`` may also be one episode itself. Episodes still being written (in
    ``_recording/``) and unrecoverable ones are not listed.
    """
    d = Path(directory)
    if (d / METADATA).is_file():
        return [d]
    if not d.is_dir():
        raise EpisodeError(f"{d}: no such directory")
    found = []
    for p in d.iterdir():
        if p.is_dir() and p.name.startswith(EPISODE_PREFIX) and (p / METADATA).is_file():
            try:
                created = int(read_json(p / METADATA).get("created_unix_ns", 0))
            except (OSError, ValueError):
                created = 0
            found.append((created, p.name, p))
    return [p for _, _, p in sorted(found)]


def iter_episodes(directory: str | Path, threads: int = 1) -> Iterator[EpisodeReader]:
    """An :class:`EpisodeReader` for every finished episode under ``directory``, oldest first."""
    for p in list_episodes(directory):
        yield EpisodeReader(p, threads=threads)
