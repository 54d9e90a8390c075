"""The randomized trial queue of a grouped blind evaluation.

A group runs every alias once, in its own random order, on the same episode seed:
the models are compared on identical initial conditions (a paired design), and no
model benefits from a fixed slot (first after a reset, last before a break, drift of
the scene or the operator over the session).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Trial", "make_trial_queue"]


@dataclass(frozen=True)
class Trial:
    """One entry of the queue.

    Attributes:
        index: 0-based position in the whole queue.
        group: 0-based group.
        slot: 0-based position inside the group.
        alias: the model under test (never the checkpoint).
        seed: the episode seed (shared by every trial of the group).
    """

    index: int
    group: int
    slot: int
    alias: str
    seed: int


def make_trial_queue(aliases: Sequence[str], groups: int, first_seed: int, rng: np.random.Generator) -> list[Trial]:
    """``groups`` groups, each every alias once in a shuffled order, seed ``first_seed + group``.

    Raises:
        ValueError: no alias, a repeated alias, or ``groups < 1``.
    """
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if not aliases or len(set(aliases)) != len(aliases):
        raise ValueError(f"aliases must be non-empty and distinct, got {list(aliases)}")
    queue: list[Trial] = []
    for g in range(groups):
        order = rng.permutation(len(aliases))
        for slot, i in enumerate(order):
            queue.append(Trial(len(queue), g, slot, aliases[int(i)], first_seed + g))
    return queue
