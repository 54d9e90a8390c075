"""Percentiles and ring buffers of samples, for heartbeats, status lines and summaries."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Samples", "percentiles"]


def percentiles(values: Any, qs: Sequence[float]) -> list[float]:
    """``np.percentile(values, qs)`` (linear interpolation), by partial partition.

    Heartbeats compute a few percentiles of rings of thousands of samples ten times a
    second in every node; ``np.percentile`` sorts a copy each time, a partition around
    the needed ranks does less work (figures in the CHANGELOG).
    """
    v = np.asarray(values).ravel()
    n = len(v)
    if n == 0:
        raise ValueError("percentiles of an empty sequence")
    pos = [min(max(float(q), 0.0), 100.0) / 100.0 * (n - 1) for q in qs]
    ranks = sorted({math.floor(p) for p in pos} | {min(math.floor(p) + 1, n - 1) for p in pos})
    part = np.partition(v, ranks)
    out = []
    for p in pos:
        lo = math.floor(p)
        a, b = float(part[lo]), float(part[min(lo + 1, n - 1)])
        out.append(a + (b - a) * (p - lo))
    return out


class Samples:
    """Keeps the last ``capacity`` float samples; percentiles on demand.

    Args:
        capacity: ring size.
        refresh_s: :meth:`summary` recomputes its percentiles at most this often
            (heartbeats ask ten times a second); 0 recomputes every call.
    """

    def __init__(self, capacity: int = 20_000, refresh_s: float = 0.5) -> None:
        self._buf = np.zeros(capacity)
        self.count = 0
        self.refresh_s = refresh_s
        self._cached: tuple[float, int, dict[str, float]] | None = None

    def add(self, x: float) -> None:
        self._buf[self.count % len(self._buf)] = x
        self.count += 1

    def values(self) -> np.ndarray:
        return self._buf[: min(self.count, len(self._buf))]

    def summary(self, prefix: str) -> dict[str, float]:
        """``{prefix_p50, prefix_p99, prefix_max}`` (empty dict when no samples)."""
        now = time.monotonic()
        if self._cached is not None:
            t, count, out = self._cached
            if count == self.count or now - t < self.refresh_s:
                return {f"{prefix}_{k}": x for k, x in out.items()}
        v = self.values()
        if len(v) == 0:
            return {}
        p50, p99 = percentiles(v, (50, 99))
        out = {"p50": p50, "p99": p99, "max": float(v.max())}
        self._cached = (now, self.count, out)
        return {f"{prefix}_{k}": x for k, x in out.items()}
