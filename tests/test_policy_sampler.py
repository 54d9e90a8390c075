"""The torch sampler's guidance modes (known answers on an analytic flow) and the compile ladder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from abc_robot.errors import CheckpointError, ConfigError
from abc_robot.policy.compile import RungUnavailable, build_runner, unavailable_reason
from abc_robot.policy.interface import Guidance, PolicyInput
from abc_robot.policy.load import load_policy
from abc_robot.policy.model import DiTConfig
from abc_robot.policy.rtc import gaussian_gain, hard_mask, rbf_covariance, soft_mask
from abc_robot.policy.sampler import FlowSampler

from .utils import perturbed_checkpoint

torch.set_num_threads(1)

H, D = 12, 3
TINY = DiTConfig(
    image_size=16, enc_channels=(8,), keypoints=4, width=32, depth=1, heads=2, horizon=H, state_dim=4, action_dim=D
)


@dataclass(frozen=True)
class _Cfg:
    horizon: int = H
    action_dim: int = D


class GaussianFlow(nn.Module):
    """Exact flow velocity for data x₁ ~ N(μ, s²) per coordinate (a known-answer model)."""

    def __init__(self, mu: float = 0.5, s: float = 1.0) -> None:
        super().__init__()
        self.cfg = _Cfg()
        self.mu, self.s2 = mu, s * s

    def encode(self, images: torch.Tensor, state_n: torch.Tensor) -> torch.Tensor:
        return torch.zeros(images.shape[0], 1)

    def velocity(self, x: torch.Tensor, tau: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        t = tau.unsqueeze(-1)
        post = t * self.s2 / (t * t * self.s2 + (1 - t) ** 2)
        x1_hat = self.mu + post * (x - t * self.mu)  # E[x₁ | x_τ]
        return (x1_hat - x) / (1 - t).clamp_min(1e-3)


def _args(
    noise: torch.Tensor,
    prefix: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    gain: np.ndarray | None = None,
):
    f = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return (
        torch.zeros(1, 1, 4, 4, 3, dtype=torch.uint8),
        torch.zeros(1, 4),
        noise,
        f(np.zeros((H, D)) if prefix is None else prefix)[None],
        f(np.zeros(H) if weights is None else weights)[None],
        f(np.zeros((H, H)) if gain is None else gain),
    )


@pytest.fixture()
def gauss():
    return FlowSampler(GaussianFlow(), flow_steps=10)  # type: ignore[arg-type]


@pytest.fixture()
def noise():
    return torch.randn(1, H, D, generator=torch.Generator().manual_seed(3))


def test_plain_sampler_follows_the_analytic_flow(noise):
    fine = FlowSampler(GaussianFlow(), flow_steps=50)  # type: ignore[arg-type]
    with torch.no_grad():
        out = fine(*_args(noise), mode="plain")
    # The flow between N(0, 1) and N(μ, 1) maps ε to μ + ε; Euler lands close to it.
    np.testing.assert_allclose(out.numpy(), 0.5 + noise.numpy(), atol=0.05)


def test_zero_guidance_reproduces_the_plain_sampler(gauss, noise):
    prefix = np.full((H, D), 3.0)
    with torch.no_grad():
        plain = gauss(*_args(noise), mode="plain")
        soft_beta0 = gauss(*_args(noise, prefix, soft_mask(4, 3, H)), mode="soft", beta=0.0)
        soft_w0 = gauss(*_args(noise, prefix, np.zeros(H)), mode="soft", beta=5.0)
    torch.testing.assert_close(soft_beta0, plain, atol=1e-6, rtol=0)
    torch.testing.assert_close(soft_w0, plain, atol=1e-6, rtol=0)


def test_strong_guidance_reproduces_the_prefix(gauss, noise):
    prefix = np.full((H, D), 3.0)
    d = 5
    with torch.no_grad():
        plain = gauss(*_args(noise), mode="plain").numpy()[0]
        out = gauss(*_args(noise, prefix, hard_mask(d, H)), mode="soft", beta=10.0).numpy()[0]
    before = np.abs(plain[:d] - 3.0).max()
    after = np.abs(out[:d] - 3.0).max()
    assert before > 1.0
    assert after < 0.02 * before
    np.testing.assert_allclose(out[d:], plain[d:], atol=1e-5)  # zero weight: untouched (no coupling here)
    with torch.no_grad():
        weak = gauss(*_args(noise, prefix, hard_mask(d, H)), mode="soft", beta=0.5).numpy()[0]
    assert after < np.abs(weak[:d] - 3.0).max() < before  # guidance strength orders the error


@pytest.mark.parametrize("mode", ["hard", "hard_inpaint", "cov"])
def test_hard_prefix_modes_reproduce_the_prefix_exactly(gauss, noise, mode):
    prefix = np.random.default_rng(0).normal(size=(H, D))
    gain = gaussian_gain(np.eye(H), 4)
    with torch.no_grad():
        out = gauss(*_args(noise, prefix, hard_mask(4, H), gain), mode=mode).numpy()[0]
    np.testing.assert_allclose(out[:4], prefix[:4], atol=1e-6)


def test_cov_mode_with_identity_covariance_is_plain_inpainting(gauss, noise):
    prefix = np.full((H, D), 2.0)
    w = hard_mask(4, H)
    with torch.no_grad():
        inpaint = gauss(*_args(noise, prefix, w), mode="hard_inpaint")
        cov_i = gauss(*_args(noise, prefix, w, gaussian_gain(np.eye(H), 4)), mode="cov")
    torch.testing.assert_close(cov_i, inpaint, atol=1e-6, rtol=0)


def test_cov_mode_propagates_the_correction_through_the_covariance():
    # AR(1) noise, ρ = 0.8: fixing the overlap moves action i past it by ρ^(i-d+1) times
    # the last overlap action's correction (the Gaussian conditional mean).
    d, rho = 4, 0.8
    i = np.arange(H)
    cov = rho ** np.abs(i[:, None] - i[None, :])
    s = FlowSampler(GaussianFlow(), 10, cov)  # type: ignore[arg-type]
    eps = s.make_noise(torch.Generator().manual_seed(3))
    prefix = np.full((H, D), 2.0)
    with torch.no_grad():
        plain = s(*_args(eps), mode="plain").numpy()[0]
        inpaint = s(*_args(eps, prefix, hard_mask(d, H)), mode="hard_inpaint").numpy()[0]
        cov_out = s(*_args(eps, prefix, hard_mask(d, H), gaussian_gain(cov, d)), mode="cov").numpy()[0]
    np.testing.assert_allclose(cov_out[:d], prefix[:d], atol=1e-6)
    moved = cov_out[d:] - inpaint[d:]
    expected = rho ** (i[d:] - d + 1)[:, None] * (prefix[d - 1] - plain[d - 1])[None]
    np.testing.assert_allclose(moved, expected, atol=0.03)


def test_correlated_noise_has_the_checkpoint_covariance():
    cov = rbf_covariance(H, 2.0)
    s = FlowSampler(GaussianFlow(), 10, cov)  # type: ignore[arg-type]
    z = s.make_noise(torch.Generator().manual_seed(0), batch=4000).numpy()  # (B, H, D)
    emp = np.cov(z.transpose(0, 2, 1).reshape(-1, H), rowvar=False)
    np.testing.assert_allclose(emp, cov, atol=0.05)


# ---- the reference policy end to end (tiny, random but non-trivial weights) -----------------
@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    return perturbed_checkpoint(tmp_path_factory.mktemp("ck"), TINY, scale=0.2, cameras=("top",), image_size=(32, 32))


def _obs(guidance=None):
    img = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    return PolicyInput(state=np.zeros(4), images={"top": img}, guidance=guidance)


def test_policy_guidance_through_the_real_network(tiny_ckpt):
    pol = load_policy(tiny_ckpt)
    noise = np.random.default_rng(2).normal(size=(H, D))
    plain = pol.infer_with_noise(_obs(), noise)  # type: ignore[attr-defined]
    assert plain.shape == (H, D) and np.all(np.isfinite(plain))
    assert np.abs(plain).max() > 1e-3
    prefix = plain + 1.0
    zero = pol.infer_with_noise(_obs(Guidance("soft", prefix, soft_mask(3, 4, H), beta=0.0)), noise)  # type: ignore[attr-defined]
    np.testing.assert_allclose(zero, plain, atol=1e-5)
    hard = pol.infer_with_noise(_obs(Guidance("hard", prefix, hard_mask(3, H))), noise)  # type: ignore[attr-defined]
    np.testing.assert_allclose(hard[:3], prefix[:3], atol=1e-5)
    with pytest.raises(ValueError, match="lacks cameras"):
        pol.infer(PolicyInput(state=np.zeros(4), images={}))


def test_unavailable_rungs_say_why():
    trt = unavailable_reason("tensorrt", "cpu")
    assert trt is not None and "torch-tensorrt is not installed" in trt and "abc_robot[tensorrt]" in trt
    cg = unavailable_reason("cudagraphs", "cpu")
    assert cg is not None and "CUDA" in cg
    assert unavailable_reason("eager", "cpu") is None
    with pytest.raises(ConfigError, match="choose one of"):
        unavailable_reason("turbo", "cpu")
    with pytest.raises(RungUnavailable, match="tensorrt: torch-tensorrt"):
        build_runner(FlowSampler(GaussianFlow(), 2), "tensorrt", "cpu")  # type: ignore[arg-type]


def test_requested_rung_that_cannot_run_is_refused_at_warmup(tiny_ckpt):
    pol = load_policy(tiny_ckpt, compile="cudagraphs")
    with pytest.raises(RungUnavailable, match="needs CUDA"):
        pol.warmup(iters=1, log=lambda s: None)  # type: ignore[attr-defined]


def test_best_reports_skipped_rungs_and_keeps_a_working_one(tiny_ckpt, monkeypatch):
    import abc_robot.policy.dit_policy as dp

    real = dp.unavailable_reason

    def no_compiler(rung, device="cpu"):  # this machine without a C++ toolchain
        return (
            "torch.compile on the CPU needs a C++ compiler (g++) on PATH"
            if rung in ("compile", "fullgraph")
            else real(rung, device)
        )

    monkeypatch.setattr(dp, "unavailable_reason", no_compiler)
    pol = load_policy(tiny_ckpt, compile="best")
    lines: list[str] = []
    reports = pol.warmup(iters=2, log=lines.append)  # type: ignore[attr-defined]
    assert pol.rung == "eager"  # type: ignore[attr-defined]
    assert {r for r, rep in reports.items() if rep.skipped} == {"compile", "fullgraph", "cudagraphs", "tensorrt"}
    assert any("tensorrt" in line and "skipped" in line for line in lines)
    assert reports["eager"].latencies_ms and pol.infer(_obs()).shape == (H, D)


@pytest.mark.slow
def test_compile_rung_matches_eager(tiny_ckpt):
    pol = load_policy(tiny_ckpt, compile="compile")
    reports = pol.warmup(iters=2, log=lambda s: None)  # type: ignore[attr-defined]
    assert pol.rung == "compile"  # type: ignore[attr-defined]
    assert reports["compile"].max_abs_err < 1e-3
    assert pol.infer(_obs()).shape == (H, D)


def test_checkpoint_model_params_must_agree_with_specs(tiny_ckpt, tmp_path):
    import json
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_ckpt, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["model"]["params"]["horizon"] = H + 1
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="horizon 13 vs 12"):
        load_policy(bad)
