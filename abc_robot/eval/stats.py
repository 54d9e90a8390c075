"""Statistics of an evaluation: intervals for success rates and mean progress.

- Success rate: the Wilson score interval, which keeps sensible coverage for the
  small n and the rates near 0 or 1 that robot evaluations have (the normal
  "p ± z·√(p(1-p)/n)" interval collapses to a point at 0/n or n/n).
- Mean progress: Student's t interval, clipped to the score's range [0, 1].
- Paired comparison: every group runs every model on the same seed, so two models
  are compared per seed: the mean progress difference with a t interval, and the
  success outcomes that differ (discordant pairs) with McNemar's exact test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Z95",
    "wilson_interval",
    "mean_interval",
    "paired_comparison",
    "PairedComparison",
    "mcnemar_exact_p",
]

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a success rate (95% at the default ``z``).

    Returns:
        (low, high) in [0, 1]; (0, 1) when ``n == 0`` (nothing is known).

    Raises:
        ValueError: ``successes`` outside 0..n.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n))
    # Exact at the ends: 0/n has low 0, n/n has high 1 (rounding would leave 1e-17).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def _t_quantile(conf: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + conf / 2.0, dof))


def mean_interval(
    values: Sequence[float], conf: float = 0.95, bounds: tuple[float, float] | None = (0.0, 1.0)
) -> tuple[float, float | None, float | None]:
    """Mean and its Student-t confidence interval.

    Args:
        values: samples (e.g. per-trial progress in [0, 1]).
        conf: confidence level.
        bounds: clip the interval to these (the score's range); None: no clipping.

    Returns:
        (mean, low, high); low and high are None with fewer than two samples (no
        spread can be estimated); the mean is nan with none.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return float("nan"), None, None
    m = float(x.mean())
    if x.size < 2:
        return m, None, None
    half = _t_quantile(conf, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    lo, hi = m - half, m + half
    if bounds is not None:
        lo, hi = max(bounds[0], lo), min(bounds[1], hi)
    return m, lo, hi


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts ``b`` and ``c``.

    Under "no difference" each discordant pair goes either way with probability 1/2.
    """
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class PairedComparison:
    """Model X against a reference model R on the seeds both ran.

    Attributes:
        pairs: seeds (groups) with a trial of both.
        progress_diff: mean of progress(X) − progress(R).
        progress_diff_ci95: its t interval (None with fewer than two pairs).
        only_x_succeeded, only_ref_succeeded: discordant pairs.
        mcnemar_p: exact McNemar p-value of the success difference.
    """

    pairs: int
    progress_diff: float
    progress_diff_ci95: tuple[float, float] | None
    only_x_succeeded: int
    only_ref_succeeded: int
    mcnemar_p: float


def paired_comparison(
    x: dict[int, tuple[bool, float]], ref: dict[int, tuple[bool, float]], conf: float = 0.95
) -> PairedComparison:
    """Compare two models group by group.

    Args:
        x, ref: group → (success, progress) of each model.
    """
    common = sorted(set(x) & set(ref))
    diffs = [x[g][1] - ref[g][1] for g in common]
    m, lo, hi = mean_interval(diffs, conf, bounds=(-1.0, 1.0))
    only_x = sum(1 for g in common if x[g][0] and not ref[g][0])
    only_r = sum(1 for g in common if ref[g][0] and not x[g][0])
    ci = None if lo is None or hi is None else (lo, hi)
    return PairedComparison(len(common), m, ci, only_x, only_r, mcnemar_exact_p(only_x, only_r))
