"""Anonymized aliases: which checkpoint hides behind "A", "B", "C".

The permutation is drawn from ``os.urandom`` unless a seed is given (tests, or
reproducing a session afterwards); whoever knows the seed can recompute the mapping,
so a blind session on a rig runs without one.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BlindMapping", "alias_names", "assign_aliases", "make_rng"]


def make_rng(seed: int | None) -> np.random.Generator:
    """A generator seeded by ``seed``, or by 128 bits of ``os.urandom`` when None."""
    if seed is None:
        seed = int.from_bytes(os.urandom(16), "little")
    return np.random.default_rng(seed)


def alias_names(n: int) -> list[str]:
    """``n`` aliases: A..Z, then AA, AB, ... (spreadsheet columns)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    out = []
    for i in range(n):
        name, k = "", i + 1
        while k:
            k, r = divmod(k - 1, 26)
            name = string.ascii_uppercase[r] + name
        out.append(name)
    return out


@dataclass(frozen=True)
class BlindMapping:
    """Alias → checkpoint, kept in memory until the de-anonymized report.

    Attributes:
        checkpoints: alias → checkpoint (path or name), aliases in alphabetical order.
    """

    checkpoints: dict[str, str]

    def __post_init__(self) -> None:
        values = list(self.checkpoints.values())
        if len(set(values)) != len(values):
            raise ValueError("a checkpoint appears under two aliases")

    @property
    def aliases(self) -> list[str]:
        return list(self.checkpoints)

    def checkpoint(self, alias: str) -> str:
        """The checkpoint behind ``alias``.

        Raises:
            KeyError: unknown alias (the message lists the valid ones).
        """
        try:
            return self.checkpoints[alias]
        except KeyError:
            raise KeyError(f"unknown alias {alias!r}; aliases: {self.aliases}") from None

    def alias(self, checkpoint: str) -> str:
        """The alias of ``checkpoint``."""
        for a, c in self.checkpoints.items():
            if c == checkpoint:
                return a
        raise KeyError(f"checkpoint {checkpoint!r} is not in this evaluation")


def assign_aliases(checkpoints: Sequence[str], rng: np.random.Generator) -> BlindMapping:
    """Map checkpoints to aliases A, B, C... through a random permutation.

    The order on the command line says nothing about the alias: checkpoint ``i`` gets
    alias ``perm[i]``, ``perm`` uniform over all permutations.

    Raises:
        ValueError: no checkpoint, or one given twice.
    """
    if not checkpoints:
        raise ValueError("at least one checkpoint is needed")
    if len(set(checkpoints)) != len(checkpoints):
        raise ValueError(f"a checkpoint is given twice: {list(checkpoints)}")
    names = alias_names(len(checkpoints))
    perm = rng.permutation(len(checkpoints))
    by_alias = {names[int(p)]: c for c, p in zip(checkpoints, perm, strict=True)}
    return BlindMapping({a: by_alias[a] for a in names})
