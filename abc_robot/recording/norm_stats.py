"""``norm_stats.json`` for a directory of episodes, in the ABC shape.

::

    {"norm_stats": {"state":   {"mean": [14], "std": [14], "q01": [14], "q99": [14]},
                    "actions": {"mean": [14], "std": [14], "q01": [14], "q99": [14]}},
     "num_episodes": E, "num_steps": N}

``mean``/``std`` are what the ABC loader z-scores with; ``q01``/``q99`` (1st and 99th
percentiles) are there for quantile normalization. Stats are over every row of every
finished episode (population std).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import EpisodeError
from abc_robot.recording.layout import NORM_STATS
from abc_robot.recording.metadata import write_json_atomic
from abc_robot.recording.reader import iter_episodes

__all__ = ["compute_norm_stats", "write_norm_stats"]


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
    return {
        "norm_stats": {"state": _stats(s), "actions": _stats(a)},
        "num_episodes": len(states),
        "num_steps": int(s.shape[0]),
    }


def write_norm_stats(directory: str | Path, out: str | Path | None = None) -> Path:
    """Compute the stats and write them (default ``<directory>/norm_stats.json``); return the path."""
    stats = compute_norm_stats(directory)
    path = Path(out) if out is not None else Path(directory) / NORM_STATS
    write_json_atomic(path, stats)
    return path
