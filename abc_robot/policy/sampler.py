"""Fixed-shape flow sampler with the between-chunk guidance modes.

Flow convention: ``x_τ = τ·x₁ + (1 − τ)·ε``, τ = 0 noise, τ = 1 actions; Euler steps
``x ← x + v/n`` for a fixed number n of steps. Every mode takes the same tensors of
the same shapes, so one compiled graph (or CUDA graph) serves every call:

    images  (1, C, h, w, 3) uint8     state_n (1, Ds)      noise (1, H, D)
    prefix  (1, H, D) normalized      weights (1, H)       gain  (H, H)

Modes (``mode`` and ``beta`` are Python constants, one graph each):

- ``plain``: no guidance (prefix, weights and gain are ignored).
- ``soft``: real-time chunking (Black et al. 2025, Algorithm 1): at each step the
  predicted end point ``x̂₁ = x + (1 − τ)·v`` is pulled towards the prefix with the
  weighted error's vector-Jacobian product through ``x̂₁``, scaled by the clipped
  ΠGDM weight ``min(β, (1 − τ)/(τ r_τ²))`` (:func:`~abc_robot.policy.rtc.guidance_weight`).
- ``hard``: prefix-conditioned model: tokens with weight 1 are set to the prefix and
  given τ = 1 (clean), as in training.
- ``hard_inpaint``: any model: tokens with weight 1 are replaced by the noised prefix
  ``τ·y + (1 − τ)·ε`` at every step and by y at the end.
- ``cov``: correlated-noise inpainting: like ``hard_inpaint``, but the correction of the
  overlap moves the rest of the chunk by ``gain`` (:func:`~abc_robot.policy.rtc.gaussian_gain`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from abc_robot.policy.model import DiTFlowModel
from abc_robot.policy.rtc import guidance_weight

__all__ = ["FlowSampler", "SAMPLER_MODES"]

SAMPLER_MODES = ("plain", "soft", "hard", "hard_inpaint", "cov")


class FlowSampler(nn.Module):
    """Integrates the model's flow from noise to a normalized action chunk.

    Args:
        model: the velocity network.
        flow_steps: Euler steps n.
        noise_cov: optional H×H time covariance of the flow noise (correlated noise);
            :meth:`make_noise` then draws ``L z`` with ``L Lᵀ = Σ``.
    """

    noise_chol: torch.Tensor

    def __init__(self, model: DiTFlowModel, flow_steps: int, noise_cov: np.ndarray | None = None) -> None:
        super().__init__()
        self.model = model
        self.flow_steps = int(flow_steps)
        h = model.cfg.horizon
        chol = (
            torch.eye(h) if noise_cov is None else torch.as_tensor(np.linalg.cholesky(noise_cov), dtype=torch.float32)
        )
        self.register_buffer("noise_chol", chol, persistent=False)
        self.correlated = noise_cov is not None

    @property
    def horizon(self) -> int:
        return self.model.cfg.horizon

    @property
    def action_dim(self) -> int:
        return self.model.cfg.action_dim

    def make_noise(self, generator: torch.Generator | None = None, batch: int = 1) -> torch.Tensor:
        """Flow noise (batch, H, D), correlated along H when the checkpoint says so."""
        z = torch.randn(batch, self.horizon, self.action_dim, generator=generator, device=self.noise_chol.device)
        return self.noise_chol @ z if self.correlated else z

    def forward(
        self,
        images: torch.Tensor,
        state_n: torch.Tensor,
        noise: torch.Tensor,
        prefix: torch.Tensor,
        weights: torch.Tensor,
        gain: torch.Tensor,
        mode: str = "plain",
        beta: float = 5.0,
    ) -> torch.Tensor:
        """Sample one chunk; see the module docstring for shapes and modes."""
        if mode not in SAMPLER_MODES:
            raise ValueError(f"mode must be one of {list(SAMPLER_MODES)}, got {mode!r}")
        model = self.model
        c = model.encode(images, state_n)
        n = self.flow_steps
        dt = 1.0 / n
        x = noise
        w = weights.unsqueeze(-1)
        hard = (weights > 0.5).to(x.dtype).unsqueeze(-1)
        ones = torch.ones_like(weights)
        for k in range(n):
            t = k / n
            tau = ones * t
            if mode == "hard":
                x = hard * prefix + (1.0 - hard) * x
                tau = hard.squeeze(-1) + (1.0 - hard.squeeze(-1)) * tau
            elif mode == "hard_inpaint":
                x = hard * (t * prefix + (1.0 - t) * noise) + (1.0 - hard) * x
            elif mode == "cov":
                x = x + gain @ (hard * (t * prefix + (1.0 - t) * noise - x))
            if mode == "soft":
                gw = guidance_weight(t, beta)

                def end_point(
                    xx: torch.Tensor, tau: torch.Tensor = tau, t: float = t
                ) -> tuple[torch.Tensor, torch.Tensor]:
                    v = model.velocity(xx, tau, c)
                    return xx + (1.0 - t) * v, v

                x1_hat, vjp_fn, v = torch.func.vjp(end_point, x, has_aux=True)  # type: ignore[misc]
                (g,) = vjp_fn((prefix - x1_hat) * w)
                x = x + dt * (v + gw * g)
            else:
                x = x + dt * model.velocity(x, tau, c)
        if mode in ("hard", "hard_inpaint"):
            x = hard * prefix + (1.0 - hard) * x
        elif mode == "cov":
            x = x + gain @ (hard * (prefix - x))
        return x
