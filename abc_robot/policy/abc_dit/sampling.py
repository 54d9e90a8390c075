"""The flow sampler for ABC-DiT: every mode of :mod:`abc_robot.policy.sampler` on the released network.

Same tensors, same modes, same Euler steps as :class:`~abc_robot.policy.sampler.FlowSampler`
(so the compile ladder and the policy wrapper drive it unchanged); what differs:

- ``plain`` (ABC's ``sample_actions``): one flow time per sample, so the conditioning is
  one vector per step, not one per token.
- ``hard`` (ABC's prefix conditioning, ``sample_actions_rtc``): the first d ≤ 4
  positions hold the prefix and carry flow time 0 (ABC's clean end) per token, at
  every step and at the end. The released models were trained for it (max prefix 4).
- ``soft`` (real-time-chunking guidance), ``hard_inpaint`` and ``cov`` as in the
  generic sampler, on the same network.

The context (vision tokens, state and task embeddings) is computed once per chunk.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from abc_robot.policy.abc_dit.model import AbcDiT
from abc_robot.policy.rtc import guidance_weight
from abc_robot.policy.sampler import SAMPLER_MODES, FlowSampler

__all__ = ["AbcDitSampler", "BF16_TOLERANCE"]

#: |bf16 CUDA-graph rung − fp32 eager| accepted, relative to max(1, max |eager|) (bf16 keeps
#: ~3 digits; a tiny random ABC-DiT measured 1.7 % on the CPU).
BF16_TOLERANCE = 0.05


class AbcDitSampler(FlowSampler):
    """:class:`FlowSampler` over an :class:`AbcDiT` (see the module docstring)."""

    model: AbcDiT  # type: ignore[assignment]

    def __init__(self, model: AbcDiT, flow_steps: int = 10) -> None:
        super().__init__(model, flow_steps)  # type: ignore[arg-type]
        self.dtype = torch.float32  # of the weights and the flow state; inputs are cast to it
        self.compiled_velocity: Callable[..., torch.Tensor] | None = None

    def prepare_cuda_graph(self) -> float:
        """Make this (cloned) sampler the CUDA-graph rung: bf16 weights, the velocity network compiled.

        As ABC deploys it: vision tokens and the static conditioning once per chunk
        (:meth:`AbcDiT.encode`), the velocity network through ``torch.compile`` (mode from
        ``$ABC_DIT_COMPILE_MODE``, default inductor's default), and the whole 10-step loop
        captured as one graph by the caller. Returns the tolerance against fp32 eager
        (relative, see :data:`BF16_TOLERANCE`).
        """
        self.model.to(torch.bfloat16)
        self.dtype = torch.bfloat16
        mode = os.environ.get("ABC_DIT_COMPILE_MODE") or None
        # ``soft`` differentiates through the network (vector-Jacobian product): it stays eager.
        self.compiled_velocity = torch.compile(self.model.abc_velocity, dynamic=False, mode=mode)
        return BF16_TOLERANCE

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
        if mode not in SAMPLER_MODES:
            raise ValueError(f"mode must be one of {list(SAMPLER_MODES)}, got {mode!r}")
        model = self.model
        out_dtype = noise.dtype
        state_n, noise, prefix, weights, gain = (a.to(self.dtype) for a in (state_n, noise, prefix, weights, gain))
        ctx = model.encode(images, state_n)
        velocity = self.compiled_velocity or model.abc_velocity
        n = self.flow_steps
        dt = 1.0 / n
        b = noise.shape[0]
        x = noise
        hard = (weights > 0.5).to(x.dtype).unsqueeze(-1)
        if mode == "hard":
            x = hard * prefix + (1.0 - hard) * x
            t_prefix = 1.0 - hard.squeeze(-1)  # ABC time: 0 on the prefix
        for k in range(n):
            t_abc = 1.0 - k * dt  # ABC time of this step: 1 (noise) → 1/n
            if mode == "hard":
                t = t_prefix * t_abc
                x = x - dt * velocity(x, t, ctx)
                x = hard * prefix + (1.0 - hard) * x
                continue
            t = torch.full((b,), t_abc, dtype=x.dtype, device=x.device)
            tau = k * dt
            if mode == "hard_inpaint":
                x = hard * (tau * prefix + (1.0 - tau) * noise) + (1.0 - hard) * x
            elif mode == "cov":
                x = x + gain @ (hard * (tau * prefix + (1.0 - tau) * noise - x))
            if mode == "soft":
                gw = guidance_weight(tau, beta)
                w = weights.unsqueeze(-1)

                def end_point(
                    xx: torch.Tensor, t: torch.Tensor = t, tau: float = tau
                ) -> tuple[torch.Tensor, torch.Tensor]:
                    v = -model.abc_velocity(xx, t, ctx)
                    return xx + (1.0 - tau) * v, v

                x1_hat, vjp_fn, v = torch.func.vjp(end_point, x, has_aux=True)  # type: ignore[misc]
                (g,) = vjp_fn((prefix - x1_hat) * w)
                x = x + dt * (v + gw * g)
            else:
                x = x - dt * velocity(x, t, ctx)
        if mode == "hard_inpaint":
            x = hard * prefix + (1.0 - hard) * x
        elif mode == "cov":
            x = x + gain @ (hard * (prefix - x))
        return x.to(out_dtype)
