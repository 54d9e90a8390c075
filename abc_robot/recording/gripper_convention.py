"""Rewrite episodes recorded with the legacy gripper convention into ABC's.

Legacy episodes (no ``gripper`` entry in ``episode_metadata.json``) hold the gripper
as 0 = open, 1 = closed; ABC's data, its sim and the YAM vendor's driver use 0 = closed,
1 = open (see :data:`~abc_robot.recording.metadata.GRIPPER_CONVENTION`). Converting
maps every gripper column ``g`` of ``states_actions.bin`` (state and action, both arms)
to ``1 − g`` and records the convention in the metadata, so converting twice changes
nothing.

Crash safety: the flipped rows are written beside the old ones first, the metadata then
names them as staged, and only then are they renamed over ``states_actions.bin``; a
conversion cut off at any point is finished (never applied twice) by the next run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abc_robot.errors import EpisodeError
from abc_robot.recording.layout import (
    EPISODE_PREFIX,
    METADATA,
    NORM_STATS,
    ROW_DTYPE,
    ROW_FLOATS,
    STATE_DIM,
    STATES_ACTIONS,
)
from abc_robot.recording.metadata import GRIPPER_CONVENTION, gripper_convention, read_json, write_json_atomic

__all__ = ["GRIPPER_COLUMNS", "ConvertResult", "convert_episode", "convert_paths", "episode_dirs"]

#: Columns of a ``states_actions.bin`` row holding a gripper value: each arm's 7th value,
#: in the state (left, right) and in the action (left, right).
GRIPPER_COLUMNS: tuple[int, ...] = (6, 13, STATE_DIM + 6, STATE_DIM + 13)
#: Suffix of the staged, converted rows beside ``states_actions.bin``.
STAGED_SUFFIX = ".abc_gripper"


@dataclass(frozen=True)
class ConvertResult:
    """What happened to one episode.

    Attributes:
        episode: the episode directory.
        action: ``converted`` (rows rewritten), ``already`` (it was in ABC's convention).
        rows: rows in ``states_actions.bin``.
    """

    episode: Path
    action: str
    rows: int


def _flip(rows: np.ndarray) -> np.ndarray:
    out = rows.copy()
    cols = list(GRIPPER_COLUMNS)
    out[:, cols] = 1.0 - out[:, cols]  # NaN (no sample) stays NaN
    return out


def _read_rows(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=ROW_DTYPE)
    if raw.size % ROW_FLOATS:
        raise EpisodeError(f"{path}: {raw.size} floats is not a whole number of {ROW_FLOATS}-float rows")
    return raw.reshape(-1, ROW_FLOATS)


def _write_rows(path: Path, rows: np.ndarray) -> None:
    with open(path, "wb") as f:
        f.write(np.ascontiguousarray(rows, dtype=ROW_DTYPE).tobytes())
        f.flush()
        os.fsync(f.fileno())


def convert_episode(episode: str | Path) -> ConvertResult:
    """Bring one finished episode to ABC's gripper convention (idempotent, crash-safe).

    Raises:
        EpisodeError: no metadata or rows, a malformed row file, or an unknown convention
            (the message names the file and field).
    """
    ep = Path(episode)
    meta_path, rows_path = ep / METADATA, ep / STATES_ACTIONS
    staged = ep / (STATES_ACTIONS + STAGED_SUFFIX)
    if not meta_path.is_file() or not rows_path.is_file():
        raise EpisodeError(f"{ep}: not a finished episode (needs {METADATA} and {STATES_ACTIONS})")
    meta = read_json(meta_path)
    try:
        convention = gripper_convention(meta)
    except ValueError as exc:
        raise EpisodeError(f"{meta_path}: {exc}") from exc
    pending = isinstance(meta.get("gripper"), dict) and meta["gripper"].get("staged")
    if convention == "abc" and not pending:
        return ConvertResult(ep, "already", _read_rows(rows_path).shape[0])
    if convention != "abc":
        # A staged file left by a run cut off before the metadata named it: redo it.
        rows = _flip(_read_rows(rows_path))
        _write_rows(staged, rows)
        meta["gripper"] = {**GRIPPER_CONVENTION, "converted_from": "legacy", "staged": staged.name}
        write_json_atomic(meta_path, meta)
    if staged.exists():  # else: renamed already by the run that was cut off
        os.replace(staged, rows_path)
    meta["gripper"] = {k: v for k, v in meta["gripper"].items() if k != "staged"}
    write_json_atomic(meta_path, meta)
    return ConvertResult(ep, "converted", _read_rows(rows_path).shape[0])


def episode_dirs(path: str | Path) -> list[Path]:
    """``path`` itself if it is an episode, else its finished ``episode_*`` children.

    Raises:
        EpisodeError: neither an episode nor a directory holding any.
    """
    p = Path(path)
    if (p / METADATA).is_file():
        return [p]
    eps = sorted(d for d in p.glob(EPISODE_PREFIX + "*") if d.is_dir() and (d / METADATA).is_file()) if p.is_dir() else []
    if not eps:
        raise EpisodeError(f"{p}: neither an episode nor a directory of {EPISODE_PREFIX}* episodes")
    return eps


def convert_paths(paths: list[str | Path]) -> tuple[list[ConvertResult], list[Path]]:
    """Convert every episode under ``paths``; rewrite each root's ``norm_stats.json``.

    Returns:
        the per-episode results and the norm-stats files rewritten (a root's stats
        describe its episodes' rows, so they are recomputed when any of them changed).
    """
    from abc_robot.recording.norm_stats import write_norm_stats

    results: list[ConvertResult] = []
    stats: list[Path] = []
    for path in paths:
        eps = episode_dirs(path)
        done = [convert_episode(ep) for ep in eps]
        results.extend(done)
        root = Path(path) if len(eps) > 1 or eps[0] != Path(path) else Path(path).parent
        if any(r.action == "converted" for r in done) and (root / NORM_STATS).is_file():
            stats.append(write_norm_stats(root))
    return results, stats
