"""Finish an episode whose writer died: keep every step that has its video frame.

A cut-off episode sits in ``<root>/_recording/episode_<uuid>/`` without
``episode_metadata.json``. Its rows and step lines were appended as they came; its
video holds whole groups of 30 frames up to the last fragment the muxer wrote.
:func:`recover` keeps the longest prefix in which all three agree, a whole number of
complete fragments that decode, truncates the files to it, writes the metadata
(``outcome.ended_by = "recovered"``, a ``recovery`` record of what was lost) and
publishes the episode as ``<root>/episode_<uuid>``. What cannot be saved (no start
metadata, no complete group of frames) moves to ``<root>/_unrecoverable/`` with a
``recovery.json`` that says why.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from abc_robot.errors import EpisodeError
from abc_robot.recording.layout import (
    LOCK,
    METADATA,
    RECORDING_DIR,
    ROW_BYTES,
    START_METADATA,
    STATES_ACTIONS,
    STEP_DATA,
    UNRECOVERABLE_DIR,
    VIDEO,
)
from abc_robot.recording.metadata import final_metadata, outcome_record, read_json, write_json_atomic
from abc_robot.recording.mp4frag import scan_fragments
from abc_robot.recording.steps import read_steps, truncate_lines

__all__ = ["RecoveryResult", "recover", "recover_all", "find_incomplete"]


@dataclass(frozen=True)
class RecoveryResult:
    """What :func:`recover` did.

    Attributes:
        status: ``recovered`` (a readable episode now) or ``unrecoverable``.
        path: where the episode is now.
        num_steps: steps kept.
        lost_steps: rows that were written but had no complete video to go with them.
        reason: why it is unrecoverable (or a note).
    """

    status: Literal["recovered", "unrecoverable"]
    path: Path
    num_steps: int = 0
    lost_steps: int = 0
    reason: str = ""


def _locked_by_a_live_writer(path: Path) -> bool:
    lock = path / LOCK
    if not lock.exists():
        return False
    with open(lock, "a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    return False


def find_incomplete(root: str | Path) -> list[Path]:
    """Episodes in ``<root>/_recording/`` that no live process is writing."""
    d = Path(root) / RECORDING_DIR
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_dir() and not _locked_by_a_live_writer(p))


def _root_of(path: Path) -> Path:
    return path.parent.parent if path.parent.name == RECORDING_DIR else path.parent


def _give_up(path: Path, reason: str, details: dict[str, Any]) -> RecoveryResult:
    dest_dir = _root_of(path) / UNRECOVERABLE_DIR
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / path.name
    os.rename(path, dest)
    (dest / LOCK).unlink(missing_ok=True)
    write_json_atomic(dest / "recovery.json", {"status": "unrecoverable", "reason": reason, **details})
    return RecoveryResult("unrecoverable", dest, 0, int(details.get("rows_written", 0)), reason)


def _decodes(video: Path, n: int) -> bool:
    from abc_robot.recording.video import VideoReader

    try:
        with VideoReader(video, num_frames=n) as r:
            r.frame(n - 1)
            r.frame(0)
        return True
    except Exception:  # whatever the decoder says, the file is not whole this far
        return False


def recover(path: str | Path) -> RecoveryResult:
    """Recover the cut-off episode at ``path`` (see the module docstring).

    Raises:
        EpisodeError: a live process is still writing it.
    """
    p = Path(path)
    if _locked_by_a_live_writer(p):
        raise EpisodeError(f"{p}: a live process is still writing this episode")
    if (p / METADATA).is_file():  # finished writing, died before the rename
        dest = _root_of(p) / p.name
        (p / LOCK).unlink(missing_ok=True)
        (p / START_METADATA).unlink(missing_ok=True)
        os.rename(p, dest)
        n = int(read_json(dest / METADATA)["num_steps"])
        return RecoveryResult("recovered", dest, n, 0, "already complete")
    try:
        start = read_json(p / START_METADATA)
    except (OSError, ValueError) as exc:
        return _give_up(p, f"no readable {START_METADATA} ({exc})", {})
    rows = (p / STATES_ACTIONS).stat().st_size // ROW_BYTES if (p / STATES_ACTIONS).exists() else 0
    steps = read_steps(p / STEP_DATA)
    details: dict[str, Any] = {"rows_written": rows, "step_lines": len(steps)}
    if not (p / VIDEO).exists():
        return _give_up(p, "no video file", details)
    scan = scan_fragments(p / VIDEO)
    details["video_frames_in_complete_fragments"] = scan.frames
    limit = min(rows, len(steps))
    # Whole fragments only, none past the rows, and the last one must decode.
    frags = list(scan.fragments)
    while frags and sum(f.frames for f in frags) > limit:
        frags.pop()
    n = sum(f.frames for f in frags)
    while n > 0:
        os.truncate(p / VIDEO, frags[-1].end)
        if _decodes(p / VIDEO, n):
            break
        frags.pop()
        n = sum(f.frames for f in frags)
    if n == 0:
        return _give_up(p, "no complete group of frames was written (or none decodes)", details)
    os.truncate(p / STATES_ACTIONS, n * ROW_BYTES)
    truncate_lines(p / STEP_DATA, n)
    recovery = {**details, "lost_steps": rows - n, "recovered_unix_ns": time.time_ns()}
    sources = [str(s.get("control_source", "none")) for s in steps[:n]]
    meta = final_metadata(start, n, sources, outcome_record("recovered"), {"recovery": recovery})
    meta.setdefault("counts", {})["steps"] = n
    write_json_atomic(p / METADATA, meta)
    (p / START_METADATA).unlink(missing_ok=True)
    (p / LOCK).unlink(missing_ok=True)
    dest = _root_of(p) / p.name
    os.rename(p, dest)
    return RecoveryResult("recovered", dest, n, rows - n)


def recover_all(root: str | Path) -> list[RecoveryResult]:
    """Recover every cut-off episode under ``root`` (those no live process holds)."""
    out = []
    for p in find_incomplete(root):
        try:
            out.append(recover(p))
        except EpisodeError:
            continue  # its writer came back to life between the listing and now
        except OSError as exc:
            out.append(RecoveryResult("unrecoverable", p, 0, 0, f"recovery failed: {exc}"))
    try:  # leave no empty staging directory behind (rmdir refuses a non-empty one)
        (Path(root) / RECORDING_DIR).rmdir()
    except OSError:
        pass
    return out
