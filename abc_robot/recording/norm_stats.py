"""``norm_stats.json`` for a directory of episodes, in the ABC shape.

::

    {"norm_stats": {"state":   {"mean": [14], "std": [14], "q01": [14], "q99": [14]},
                    "actions": {"mean": [14], "std": [14], "q01": [14], "q99": [14]}},
     "num_episodes": E, "num_steps": N}

``mean``/``std`` are what the ABC loader z-scores with; ``q01``/``q99`` (1st and 99th
percentiles) are there for quantile normalization. Stats are over every row of every
finished episode (population std). This module is the one definition of the shape:
:func:`norm_stats_document` writes it, :func:`read_norm_stats` reads it (checkpoints
use both).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import EpisodeError
from abc_robot.recording.layout import NORM_STATS
from abc_robot.recording.metadata import write_json_atomic
from abc_robot.recording.reader import iter_episodes

__all__ = ["compute_norm_stats", "write_norm_stats", "norm_stats_document", "read_norm_stats", "NORM_STATS_GROUPS"]

#: The groups of the shape, in order.
NORM_STATS_GROUPS = ("state", "actions")


def norm_stats_document(state: Mapping[str, Any], actions: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The ``norm_stats.json`` document: ``{"norm_stats": {"state": ..., "actions": ...}, **extra}``.

    Args:
        state, actions: statistic name (``mean``, ``std``, ``q01``, ...) → values
            (arrays become lists).
        extra: top-level fields beside ``norm_stats`` (``num_episodes``, ...).
    """

    def plain(stats: Mapping[str, Any]) -> dict[str, Any]:
        return {k: np.asarray(v, dtype=np.float64).tolist() for k, v in stats.items()}

    return {"norm_stats": {"state": plain(state), "actions": plain(actions)}, **extra}


def read_norm_stats(data: Any, required: tuple[str, ...] = ("mean", "std")) -> dict[str, dict[str, np.ndarray]]:
    """``{"state": {stat: array}, "actions": {...}}`` (float64) from a ``norm_stats.json`` document.

    Raises:
        ValueError: the shape is wrong, a ``required`` statistic is missing, or a value
            is not finite (the message names the field, e.g. ``state.std``).
    """
    try:
        ns = data["norm_stats"]
        out = {g: {k: np.asarray(v, dtype=np.float64) for k, v in ns[g].items()} for g in NORM_STATS_GROUPS}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"expected {{'norm_stats': {{'state': {{'mean','std'}}, 'actions': {{'mean','std'}}}}}} ({exc!r})") from exc
    for g in NORM_STATS_GROUPS:
        for k in required:
            if k not in out[g]:
                raise ValueError(f"{g}.{k} missing")
        for k, v in out[g].items():
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{g}.{k} holds non-finite values")
    return out


def _stats(x: np.ndarray) -> dict[str, list[float]]:
    return {
        "mean": x.mean(axis=0).tolist(),
        "std": x.std(axis=0).tolist(),
        "q01": np.quantile(x, 0.01, axis=0).tolist(),
        "q99": np.quantile(x, 0.99, axis=0).tolist(),
    }


def compute_norm_stats(directory: str | Path) -> dict[str, Any]:
    """Mean/std (and 1%/99% quantiles) of states and actions over a directory's episodes.

    Raises:
        EpisodeError: no finished episode in ``directory``.
    """
    states, actions = [], []
    for ep in iter_episodes(directory):
        states.append(np.array(ep.states))
        actions.append(np.array(ep.actions))
    if not states:
        raise EpisodeError(f"{directory}: no finished episodes to compute norm stats from")
    s, a = np.concatenate(states), np.concatenate(actions)
    return norm_stats_document(_stats(s), _stats(a), num_episodes=len(states), num_steps=int(s.shape[0]))


def write_norm_stats(directory: str | Path, out: str | Path | None = None) -> Path:
    """Compute the stats and write them (default ``<directory>/norm_stats.json``); return the path."""
    stats = compute_norm_stats(directory)
    path = Path(out) if out is not None else Path(directory) / NORM_STATS
    write_json_atomic(path, stats)
    return path
