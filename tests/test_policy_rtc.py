"""Known answers for the between-chunk math: RTC masks and weights, covariance gains, ensembling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.policy.rtc import (
    covariance_correct,
    ensemble_weights,
    gaussian_gain,
    guidance_weight,
    hard_mask,
    rbf_covariance,
    soft_mask,
)


def test_soft_mask_known_values():
    w = soft_mask(d=4, s=10, horizon=30)
    assert w.shape == (30,)
    np.testing.assert_array_equal(w[:4], 1.0)  # committed: executes during inference
    # c_i = (H - s - i) / (H - s - d + 1) = (20 - i) / 17; W_i = c_i (e^c_i - 1) / (e - 1)
    assert w[4] == pytest.approx(0.8561191945804587, abs=1e-12)
    assert w[5] == pytest.approx(0.7274259125093198, abs=1e-12)
    assert w[10] == pytest.approx(0.2741479035808839, abs=1e-12)
    assert w[19] == pytest.approx(0.0020741670929728382, abs=1e-12)
    np.testing.assert_array_equal(w[20:], 0.0)  # past the executing chunk's end (i >= H - s)


def test_soft_mask_edge_cases():
    np.testing.assert_array_equal(soft_mask(0, 30, 30), np.zeros(30))  # nothing overlaps
    w = soft_mask(0, 0, 5)  # full overlap, no delay: decays from the first action
    c0 = 5 / 6
    assert w[0] == pytest.approx(c0 * math.expm1(c0) / (math.e - 1)) and w[-1] > 0 and np.all(np.diff(w) < 0)
    with pytest.raises(ValueError, match="exceeds the overlap"):
        soft_mask(25, 10, 30)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(2, 60), data=st.data())
def test_soft_mask_properties(h, data):
    s = data.draw(st.integers(0, h - 1))
    d = data.draw(st.integers(0, h - s))
    w = soft_mask(d, s, h)
    assert np.all((w >= 0) & (w <= 1))
    assert np.all(np.diff(w) <= 1e-12)  # never increases along the chunk
    assert np.all(w[:d] == 1.0) and np.all(w[h - s :] == 0.0)
    assert np.all(w[d : h - s] < 1.0)


def test_hard_mask():
    np.testing.assert_array_equal(hard_mask(3, 6), [1, 1, 1, 0, 0, 0])
    with pytest.raises(ValueError):
        hard_mask(7, 6)


def test_guidance_weight_known_values():
    # τ = 0.5: r² = 0.25 / 0.5 = 0.5, (1 - τ) / (τ r²) = 0.5 / 0.25 = 2
    assert guidance_weight(0.5, 5.0) == pytest.approx(2.0)
    assert guidance_weight(0.5, 1.0) == pytest.approx(1.0)  # clipped at β
    assert guidance_weight(0.0, 5.0) == 5.0  # diverges at τ → 0: clipped
    assert guidance_weight(0.3, 0.0) == 0.0  # β = 0 switches guidance off
    tau = 0.2
    r2 = (1 - tau) ** 2 / (tau**2 + (1 - tau) ** 2)
    assert guidance_weight(tau, 100.0) == pytest.approx((1 - tau) / (tau * r2))


def test_covariance_correction_is_zero_for_identity_covariance():
    g = gaussian_gain(np.eye(10), d=4)
    np.testing.assert_array_equal(g[:4, :4], np.eye(4))
    np.testing.assert_array_equal(g[4:], 0.0)  # no cross-correlation: the rest does not move
    rng = np.random.default_rng(0)
    a, prefix = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    out = covariance_correct(a, prefix, 4, np.eye(10))
    np.testing.assert_allclose(out[:4], prefix[:4])
    np.testing.assert_array_equal(out[4:], a[4:])


def test_covariance_gain_markov_known_answer():
    # AR(1) covariance Σ_ij = ρ^|i-j|: given the first d values, the conditional mean of
    # value i depends only on the last observed one, with factor ρ^(i - d + 1).
    rho, h, d = 0.8, 8, 3
    i = np.arange(h)
    cov = rho ** np.abs(i[:, None] - i[None, :])
    g = gaussian_gain(cov, d)
    expected = np.zeros((h - d, h))
    expected[:, d - 1] = rho ** (np.arange(d, h) - d + 1)
    np.testing.assert_allclose(g[d:], expected, atol=1e-12)
    # two values with correlation ρ: moving the first by δ moves the second by ρ δ
    g2 = gaussian_gain(np.array([[1.0, 0.3], [0.3, 1.0]]), 1)
    assert g2[1, 0] == pytest.approx(0.3)


def test_covariance_correct_sets_the_overlap_and_propagates():
    cov = rbf_covariance(12, length_scale=3.0)
    a = np.zeros((12, 2))
    prefix = np.ones((12, 2))
    out = covariance_correct(a, prefix, 3, cov)
    np.testing.assert_allclose(out[:3], 1.0)
    assert 0.5 < out[3, 0] < 1.0  # the next action follows the moved prefix...
    assert abs(out[-1, 0]) < 0.05  # ...and the far end hardly moves


def test_ensemble_weights():
    w = ensemble_weights(3, 0.5)
    raw = np.array([1.0, math.exp(-0.5), math.exp(-1.0)])
    np.testing.assert_allclose(w, raw / raw.sum())
    assert w[0] > w[1] > w[2]  # ACT: w_0 is the oldest prediction
    np.testing.assert_allclose(ensemble_weights(4, 0.0), 0.25)
    np.testing.assert_allclose(ensemble_weights(1, 3.0), [1.0])
