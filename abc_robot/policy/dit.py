"""DiT building blocks: flow-time embedding and adaLN-Zero transformer blocks.

Every action token carries its own flow time τ (so a prefix of clean actions can sit at
τ = 1 next to noisy ones) and the block is modulated per token by that time's embedding
plus the observation's conditioning vector (Peebles & Xie 2023, adaLN-Zero).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["TimeEmbedding", "DiTBlock", "FinalLayer"]


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of τ in [0, 1], then a 2-layer MLP."""

    freqs: torch.Tensor

    def __init__(self, width: int, freq_dim: int = 128, max_period: float = 10_000.0) -> None:
        super().__init__()
        half = freq_dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs, persistent=False)
        self.mlp = nn.Sequential(nn.Linear(freq_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, tau: torch.Tensor) -> torch.Tensor:
        """tau: (B, H) -> (B, H, width)."""
        args = (tau * 1000.0).unsqueeze(-1) * self.freqs
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1.0 + scale) + shift


class DiTBlock(nn.Module):
    """Self-attention + MLP over the action tokens, modulated per token (adaLN-Zero)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be divisible by heads {heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[1].weight)  # type: ignore[arg-type]  # adaLN-Zero: every block starts as the identity
        nn.init.zeros_(self.ada[1].bias)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W) tokens; c: (B, H, W) per-token conditioning."""
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(c).chunk(6, dim=-1)
        b, n, w = x.shape
        h = _modulate(self.norm1(x), sh1, sc1)
        q, k, v = self.qkv(h).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, w)
        x = x + g1 * self.proj(a)
        return x + g2 * self.mlp(_modulate(self.norm2(x), sh2, sc2))


class FinalLayer(nn.Module):
    """Modulated norm and a zero-initialised projection to the action dimension."""

    def __init__(self, width: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, out_dim)
        for layer in (self.ada[1], self.out):
            nn.init.zeros_(layer.weight)  # type: ignore[arg-type]
            nn.init.zeros_(layer.bias)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(c).chunk(2, dim=-1)
        return self.out(_modulate(self.norm(x), shift, scale))
