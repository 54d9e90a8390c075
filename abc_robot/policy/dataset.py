"""Training data for the reference policy: episodes as arrays, chunks sampled from them.

An :class:`EpisodeArrays` holds one episode in memory (states, actions, per-step
control source, and camera images already shrunk to the model's resolution); it is
built from recorded episodes (:func:`load_recorded_episodes`, through
:mod:`abc_robot.recording`) or directly from arrays in tests. :class:`ChunkDataset`
indexes every step whose control source is kept and draws (images, state, chunk)
batches, padding chunks that run past the episode's end with its last action.

Idle starts are trimmed: an operator (or a scripted demonstrator) holds still for a
moment after taking control, so the same observation — the arm at rest where the
segment began — is paired both with "stay" and with "move" chunks. A chunk policy
replanning every few steps then keeps choosing "stay for a while" and never leaves
the start. The steps of a demonstration or intervention segment before its action
first moves (more than ``idle_threshold`` from the segment's first action) are not
used as observations (the usual clean-up in behaviour-cloning pipelines); a segment
that never moves is kept whole (holding still is then the demonstration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import EpisodeError

__all__ = [
    "EpisodeArrays",
    "ChunkDataset",
    "canonical_source",
    "load_recorded_episodes",
    "shrink_images",
    "DEFAULT_SOURCES",
]

#: Control sources kept by default: the operator's demonstrations and corrections (DAgger).
DEFAULT_SOURCES = ("demo", "intervention")
_ALIASES = {"operator": "demo", "teleop": "demo", "demonstration": "demo", "": "demo"}


def canonical_source(name: str) -> str:
    """``operator``/``teleop`` (how the follower labels a demonstration step) read as ``demo``."""
    return _ALIASES.get(name, name)


@dataclass
class EpisodeArrays:
    """One episode in memory.

    Attributes:
        states: (N, Ds) [rad, gripper in [0, 1]].
        actions: (N, D) commanded targets at each step.
        images: (N, C, s, s, 3) uint8 at the model's image size, or None (state-only).
        sources: (N,) control source per step (``demo``, ``intervention``, ``policy``, ``none``).
        name: for messages.
    """

    states: np.ndarray
    actions: np.ndarray
    images: np.ndarray | None = None
    sources: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        n = self.states.shape[0]
        if self.actions.shape[0] != n:
            raise EpisodeError(f"{self.name}: {n} states but {self.actions.shape[0]} actions")
        if self.images is not None and self.images.shape[0] != n:
            raise EpisodeError(f"{self.name}: {n} states but {self.images.shape[0]} image rows")
        if self.sources is None:
            self.sources = np.full(n, "demo")
        else:
            self.sources = np.array([canonical_source(str(s)) for s in self.sources])
            if self.sources.shape[0] != n:
                raise EpisodeError(f"{self.name}: {n} states but {self.sources.shape[0]} control sources")


class ChunkDataset:
    """Samples training chunks from episodes.

    Args:
        episodes: the episodes.
        horizon: chunk length H.
        sources: control sources whose steps start a training chunk (None keeps every step).
        source_weights: sampling weight per source (default 1), e.g. ``{"intervention": 2}``.
        idle_threshold: trim each segment's idle start: steps before the action first
            differs from the segment's first action by more than this (max abs, in
            action units: rad and gripper opening) are not sampled. None keeps them.
    """

    def __init__(
        self,
        episodes: Sequence[EpisodeArrays],
        horizon: int,
        sources: Iterable[str] | None = DEFAULT_SOURCES,
        source_weights: Mapping[str, float] | None = None,
        idle_threshold: float | None = 2e-3,
    ) -> None:
        if not episodes:
            raise EpisodeError("no episodes to train on")
        self.episodes = list(episodes)
        self.horizon = horizon
        keep = None if sources is None else {canonical_source(s) for s in sources}
        weights = {canonical_source(k): float(v) for k, v in (source_weights or {}).items()}
        idx, w = [], []
        counts: dict[str, int] = {}
        self.trimmed = 0
        for e, ep in enumerate(self.episodes):
            assert ep.sources is not None
            idle = _idle_starts(ep, idle_threshold) if idle_threshold is not None else np.zeros(len(ep.sources), bool)
            self.trimmed += int(idle.sum())
            for t, src in enumerate(ep.sources):
                if (keep is not None and src not in keep) or idle[t]:
                    continue
                idx.append((e, t))
                w.append(weights.get(src, 1.0))
                counts[str(src)] = counts.get(str(src), 0) + 1
        if not idx:
            have = sorted({s for ep in self.episodes for s in ep.sources})  # type: ignore[union-attr]
            raise EpisodeError(f"no steps with control source in {sorted(keep or [])} (the episodes have {have})")
        self.index = np.asarray(idx, dtype=np.int64)
        p = np.asarray(w, dtype=np.float64)
        self.probs = p / p.sum()
        self.source_counts = counts
        self.has_images = all(ep.images is not None for ep in self.episodes)

    def __len__(self) -> int:
        return len(self.index)

    def chunk(self, e: int, t: int) -> np.ndarray:
        """Actions t..t+H-1 of episode e, the last action repeated past the end."""
        a = self.episodes[e].actions
        rows = np.minimum(np.arange(t, t + self.horizon), a.shape[0] - 1)
        return a[rows]

    def sample(self, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
        """A batch: ``state`` (B, Ds), ``actions`` (B, H, D), ``images`` (B, C, s, s, 3) when present."""
        picks = self.index[rng.choice(len(self.index), size=batch, p=self.probs)]
        out = {
            "state": np.stack([self.episodes[e].states[t] for e, t in picks]),
            "actions": np.stack([self.chunk(e, t) for e, t in picks]),
        }
        if self.has_images:
            out["images"] = np.stack([self.episodes[e].images[t] for e, t in picks])  # type: ignore[index]
        return out

    def all_states(self) -> np.ndarray:
        return np.concatenate([ep.states for ep in self.episodes])

    def all_actions(self) -> np.ndarray:
        return np.concatenate([ep.actions for ep in self.episodes])

    def all_chunks(self, max_chunks: int = 20_000, seed: int = 0) -> np.ndarray:
        """(M, H, D) chunks at kept steps (a random subset past ``max_chunks``)."""
        rng = np.random.default_rng(seed)
        sel = (
            self.index
            if len(self.index) <= max_chunks
            else self.index[rng.choice(len(self.index), max_chunks, replace=False)]
        )
        return np.stack([self.chunk(e, t) for e, t in sel])


def _idle_starts(ep: EpisodeArrays, threshold: float) -> np.ndarray:
    """(N,) bool: the steps of each control-source segment before its action first moves."""
    assert ep.sources is not None
    n = len(ep.sources)
    idle = np.zeros(n, dtype=bool)
    start = 0
    while start < n:
        end = start
        while end < n and ep.sources[end] == ep.sources[start]:
            end += 1
        moved = np.abs(ep.actions[start:end] - ep.actions[start]).max(axis=1) > threshold
        if moved.any():  # the step just before the first move already has a moving chunk: keep it
            idle[start : start + max(0, int(np.argmax(moved)) - 1)] = True
        start = end
    return idle


def shrink_images(frames: np.ndarray, size: int) -> np.ndarray:
    """(N, C, h, w, 3) uint8 → (N, C, size, size, 3) uint8 with the model's own area resize.

    The same ``F.interpolate(mode="area")`` runs inside the model at inference, so the
    images the model trains on are exactly those it will see.
    """
    import torch
    from torch.nn import functional as F

    n, c, h, w, _ = frames.shape
    if (h, w) == (size, size):
        return frames
    out = np.empty((n, c, size, size, 3), np.uint8)
    for i in range(0, n, 64):
        x = torch.from_numpy(frames[i : i + 64]).reshape(-1, h, w, 3).permute(0, 3, 1, 2).float()
        y = F.interpolate(x, size=(size, size), mode="area").round().clamp(0, 255).to(torch.uint8)
        out[i : i + 64] = y.permute(0, 2, 3, 1).reshape(-1, c, size, size, 3).numpy()
    return out


def _step_sources(reader: Any, n: int) -> np.ndarray:
    """Per-step control source from a recorded episode's extras (``demo`` when absent)."""
    steps = getattr(reader, "steps", None)
    if steps is None:
        return np.full(n, "demo")
    if isinstance(steps, Mapping):
        for key in ("control_source", "source"):
            if key in steps:
                return np.asarray([str(s) for s in steps[key]])[:n]
        return np.full(n, "demo")
    values = [
        (s.get("control_source") or s.get("source") or "demo")
        if isinstance(s, Mapping)
        else getattr(s, "control_source", "demo")
        for s in steps
    ]
    return np.asarray([str(v) for v in values])[:n]


def load_recorded_episodes(
    directory: str | Path,
    cameras: Sequence[str],
    image_size: int,
    log: Callable[[str], None] = print,
) -> list[EpisodeArrays]:
    """Read every episode under ``directory`` (ABC layout) into memory at ``image_size``.

    Raises:
        EpisodeError: no episodes, or an episode that cannot be read.
    """
    from abc_robot.recording import iter_episodes
    episodes: list[EpisodeArrays] = []
    for reader in iter_episodes(directory):
        states = np.asarray(reader.states, dtype=np.float64)
        actions = np.asarray(reader.actions, dtype=np.float64)
        n = states.shape[0]
        meta = getattr(reader, "metadata", {}) or {}
        rec_cams = list(meta.get("cameras", cameras)) if isinstance(meta, Mapping) else list(cameras)
        missing = [c for c in cameras if c not in rec_cams]
        if missing:
            raise EpisodeError(f"{getattr(reader, 'path', '?')}: episode lacks cameras {missing} (has {rec_cams})")
        views = np.stack([_split_views(reader.frame(i), len(rec_cams)) for i in range(n)])
        order = [rec_cams.index(c) for c in cameras]
        images = shrink_images(np.ascontiguousarray(views[:, order]), image_size)
        name = str(getattr(reader, "path", f"episode {len(episodes)}"))
        episodes.append(EpisodeArrays(states, actions, images, _step_sources(reader, n), name))
        log(f"  {name}: {n} steps")
    if not episodes:
        raise EpisodeError(f"{directory}: no episodes found")
    return episodes


def _split_views(frame: np.ndarray, n_views: int) -> np.ndarray:
    """A vertically stacked frame (n·h, w, 3) → (n, h, w, 3)."""
    h = frame.shape[0] // n_views
    return frame[: h * n_views].reshape(n_views, h, frame.shape[1], 3)
