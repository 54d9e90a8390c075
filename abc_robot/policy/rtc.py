"""Between-chunk math in numpy: guidance masks, guidance weights, covariance gains.

Real-time chunking (Black, Galliker, Levine 2025, "Real-Time Execution of Action
Chunking Flow Policies"): while a chunk executes, the next one is computed from a newer
observation; its first d actions (those that fall inside the inference delay) are
already committed, and the rest should stay consistent with what executes meanwhile.
The flow sampler is guided towards the executing actions Y with the weights W of
:func:`soft_mask`; the guidance itself (a vector-Jacobian product through the model)
lives in the torch sampler, :mod:`abc_robot.policy.sampler`.

Correlated-noise inpainting (the BEHAVIOR-1K challenge winner): with flow noise
correlated along the chunk's time axis (covariance Σ), fixing the overlap to the
executing actions moves the rest by the Gaussian conditional mean,
``δ_rest = Σ_ro Σ_oo⁻¹ δ_overlap`` (:func:`gaussian_gain`).

This module imports only numpy: the follower may import it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "soft_mask",
    "hard_mask",
    "guidance_weight",
    "gaussian_gain",
    "covariance_correct",
    "ensemble_weights",
    "rbf_covariance",
]


def soft_mask(d: int, s: int, horizon: int) -> np.ndarray:
    """RTC soft guidance mask W (paper eq. 5).

    ``W_i = 1`` for ``i < d`` (committed: executes during inference),
    ``W_i = c_i (e^{c_i} - 1) / (e - 1)`` with ``c_i = (H - s - i) / (H - s - d + 1)`` for
    ``d <= i < H - s`` (the overlap, decaying), and ``W_i = 0`` for ``i >= H - s`` (past the
    end of the executing chunk).

    Args:
        d: inference delay [actions], 0 <= d.
        s: execution horizon [actions]: how many actions of a chunk execute before the
            next one starts; the executing chunk covers the new one up to ``H - s``.
        horizon: chunk length H.
    """
    if d < 0 or s < 0 or horizon <= 0:
        raise ValueError(f"need d >= 0, s >= 0, H > 0; got d={d}, s={s}, H={horizon}")
    if d > horizon - s:
        raise ValueError(f"delay d={d} exceeds the overlap H - s = {horizon - s}: the executing chunk runs out first")
    i = np.arange(horizon, dtype=np.float64)
    c = (horizon - s - i) / (horizon - s - d + 1)
    w = c * np.expm1(c) / (math.e - 1.0)
    w = np.where(i < d, 1.0, w)
    return np.where(i >= horizon - s, 0.0, w)


def hard_mask(d: int, horizon: int) -> np.ndarray:
    """1 for the first ``d`` actions, 0 after (hard prefix / inpainting)."""
    if not 0 <= d <= horizon:
        raise ValueError(f"need 0 <= d <= H, got d={d}, H={horizon}")
    w = np.zeros(horizon)
    w[:d] = 1.0
    return w


def guidance_weight(tau: float, beta: float) -> float:
    """Clipped ΠGDM guidance weight ``min(β, (1 - τ) / (τ r_τ²))``, ``r_τ² = (1-τ)² / (τ² + (1-τ)²)``.

    τ runs from 0 (noise) to 1 (actions); the unclipped weight diverges at both ends,
    which is why it is clipped at β.
    """
    if beta <= 0.0:
        return 0.0
    if tau <= 0.0 or tau >= 1.0:
        return float(beta)
    r2 = (1.0 - tau) ** 2 / (tau**2 + (1.0 - tau) ** 2)
    return float(min(beta, (1.0 - tau) / (tau * r2)))


def gaussian_gain(cov: np.ndarray, d: int) -> np.ndarray:
    """The H×H matrix G with ``Δ = G @ δ`` for a correction δ that is zero past the first ``d`` rows.

    Rows ``i < d`` of ``G @ δ`` reproduce δ (the overlap is set exactly); rows ``i >= d``
    are ``Σ_ro Σ_oo⁻¹ δ_o``, the conditional mean of a zero-mean Gaussian with covariance
    Σ given its first d values moved by δ_o. With Σ diagonal (no correlation), the rest
    does not move.
    """
    cov = np.asarray(cov, dtype=np.float64)
    horizon = cov.shape[0]
    if cov.shape != (horizon, horizon):
        raise ValueError(f"cov must be square, got {cov.shape}")
    if not 0 <= d <= horizon:
        raise ValueError(f"need 0 <= d <= H, got d={d}, H={horizon}")
    g = np.zeros((horizon, horizon))
    if d == 0:
        return g
    g[:d, :d] = np.eye(d)
    # Σ_ro Σ_oo⁻¹ = (Σ_oo⁻¹ Σ_or)ᵀ, solved rather than inverted.
    g[d:, :d] = np.linalg.solve(cov[:d, :d], cov[:d, d:]).T
    return g


def covariance_correct(actions: np.ndarray, prefix: np.ndarray, d: int, cov: np.ndarray) -> np.ndarray:
    """Set the first ``d`` actions to ``prefix`` and move the rest through Σ.

    Args:
        actions: (H, D) new chunk (normalized units, where Σ was estimated).
        prefix: (H, D) or (d, D) executing actions for the overlap.
        d: overlap length.
        cov: H×H time covariance shared by all D dimensions.

    Returns:
        (H, D) corrected chunk.
    """
    delta = np.zeros_like(actions, dtype=np.float64)
    delta[:d] = prefix[:d] - actions[:d]
    return actions + gaussian_gain(cov, d) @ delta


def ensemble_weights(n: int, m: float) -> np.ndarray:
    """ACT temporal-ensemble weights ``w_i = exp(-m i)``, normalized; ``i = 0`` is the oldest chunk."""
    if n <= 0:
        raise ValueError(f"need at least one chunk, got {n}")
    w = np.exp(-m * np.arange(n, dtype=np.float64))
    return w / w.sum()


def rbf_covariance(horizon: int, length_scale: float, jitter: float = 1e-4) -> np.ndarray:
    """A unit-diagonal squared-exponential time covariance (for correlated noise)."""
    i = np.arange(horizon, dtype=np.float64)
    k = np.exp(-0.5 * ((i[:, None] - i[None, :]) / length_scale) ** 2)
    return (k + jitter * np.eye(horizon)) / (1.0 + jitter)
