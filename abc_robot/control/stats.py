"""Ring buffers of samples with percentiles, for status lines and summaries."""

from __future__ import annotations

import numpy as np

__all__ = ["Samples"]


class Samples:
    """Keeps the last ``capacity`` float samples; percentiles on demand."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._buf = np.zeros(capacity)
        self.count = 0

    def add(self, x: float) -> None:
        self._buf[self.count % len(self._buf)] = x
        self.count += 1

    def values(self) -> np.ndarray:
        return self._buf[: min(self.count, len(self._buf))]

    def summary(self, prefix: str) -> dict[str, float]:
        """``{prefix_p50, prefix_p99, prefix_max}`` (empty dict when no samples)."""
        v = self.values()
        if len(v) == 0:
            return {}
        p50, p99 = np.percentile(v, [50, 99])
        return {f"{prefix}_p50": float(p50), f"{prefix}_p99": float(p99), f"{prefix}_max": float(v.max())}
