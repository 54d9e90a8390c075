"""ABC-DiT: the released architecture, module for module under the released key names.

A DiT over the chunk of H action tokens, conditioned (adaLN-Zero, 9-way modulation per
block) on ``c = cond_proj([state, task, flow time])`` and cross-attending to vision
tokens: each camera's DINOv3 tokens pooled by 12 learned queries, projected to the DiT
width and tagged with a camera embedding.

Flow convention here is ABC's: ``t = 1`` noise, ``t = 0`` actions, the network predicts
``noise − actions``. :meth:`AbcDiT.velocity` converts to the convention of
:mod:`abc_robot.policy.sampler` (τ = 1 − t, v = actions − noise) so every sampler
mode and compile rung of the policy package runs on it.

The split of the work per chunk: :meth:`AbcDiT.encode` (vision tokens and the
flow-time-independent part of the conditioning, once per chunk) and
:meth:`AbcDiT.velocity` (the network evaluated at each flow step).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from abc_robot.policy.abc_dit.config import AbcDitConfig
from abc_robot.policy.abc_dit.vision import DinoBackbone, _Mlp

__all__ = ["AbcDiT", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORM_EPS = 1e-6  # ABC's preprocessing divides by (std + 1e-6)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    if shift.ndim == 2:  # one conditioning vector per sample, broadcast over tokens
        shift, scale = shift.unsqueeze(1), scale.unsqueeze(1)
    return x * (1 + scale) + shift


def _gate(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (g.unsqueeze(1) if g.ndim == 2 else g) * x


def sincos_1d(dim: int, length: int) -> np.ndarray:
    """Fixed sin/cos position table (length, dim): sin half then cos half."""
    freq = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    ang = np.arange(length, dtype=np.float64)[:, None] * freq[None]
    return np.concatenate([np.sin(ang), np.cos(ang)], axis=1)


class _TimeEmbed(nn.Module):
    def __init__(self, hidden: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.n_freq = freq_dim // 2

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """t: any shape → (*t.shape, hidden)."""
        # Frequencies made here in fp32 (not a buffer) so a bf16 model keeps them exact.
        k = torch.arange(self.n_freq, dtype=torch.float32, device=t.device)
        arg = t.reshape(-1, 1).float() * torch.exp(-math.log(10000) * k / self.n_freq)
        emb = torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)
        first: nn.Linear = self.mlp[0]  # type: ignore[assignment]
        return self.mlp(emb.to(first.weight.dtype)).reshape(*t.shape, -1)


class _SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class AbcDitBlock(nn.Module):
    """adaLN-Zero block: self-attention, cross-attention to vision tokens, MLP; each modulated and gated."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        ln = lambda: nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)  # noqa: E731
        self.norm1, self.norm2, self.norm_xattn, self.norm_xattn_kv = ln(), ln(), ln(), ln()
        self.attn = _SelfAttention(dim, heads)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio), approximate="tanh")
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 9 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        """x (B, H, W) tokens; c (B, W) or (B, H, W) conditioning; kv (B, N, W) vision tokens after norm_xattn_kv."""
        m = self.adaLN_modulation(c).chunk(9, dim=-1)
        x = x + _gate(m[2], self.attn(_modulate(self.norm1(x), m[0], m[1])))
        q = _modulate(self.norm_xattn(x), m[3], m[4])
        x = x + _gate(m[5], self.cross_attn(q, kv, kv, need_weights=False)[0])
        return x + _gate(m[8], self.mlp(_modulate(self.norm2(x), m[6], m[7])))


class _FinalLayer(nn.Module):
    def __init__(self, dim: int, out: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(_modulate(self.norm_final(x), shift, scale))


class _PoolBlock(nn.Module):
    """Learned queries attend to one camera's ViT tokens."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, dim * mlp_ratio)

    def forward(self, tokens: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        kv = self.ln_1(tokens)
        out = self.attention(self.ln_1(queries), kv, kv, need_weights=False)[0]
        return out + self.mlp(self.ln_2(out))


class AbcDiT(nn.Module):
    """The ABC-DiT network; its ``state_dict`` has the released checkpoint's keys and shapes.

    Attributes:
        cfg: the sizes.
        task_vec: (1, task_embed_dim) CLIP text embedding of the prompt (set by
            :meth:`set_task`; not part of the state dict).
    """

    task_vec: torch.Tensor
    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor

    def __init__(self, cfg: AbcDitConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h, v = cfg.hidden_size, cfg.vit_embed_dim
        self.x_embedder = nn.Linear(cfg.state_dim, h)  # state
        self.y_embedder = nn.Linear(cfg.action_dim, h)  # noisy action tokens
        self.img_proj = nn.Linear(v, h).requires_grad_(False)  # in released weights, unused by the network
        self.t_embedder = _TimeEmbed(h)
        self.pos_embed = nn.Parameter(
            torch.from_numpy(sincos_1d(h, cfg.chunk_length)).float()[None], requires_grad=False
        )
        self.img_backbone = DinoBackbone(v, cfg.vit_depth, cfg.vit_num_heads, cfg.patch_size)
        q = cfg.vision_pool_num_queries
        self.apool_queries = nn.ParameterDict({c: nn.Parameter(torch.randn(1, q, v) * 0.02) for c in cfg.camera_keys})
        self.apool = nn.ModuleDict(
            {c: _PoolBlock(v, cfg.vision_pool_num_heads, cfg.vision_pool_mlp_ratio) for c in cfg.camera_keys}
        )
        self.vision_tokens_proj = nn.Linear(v, h)
        self.vision_camera_embed = nn.Embedding(len(cfg.camera_keys), h)
        self.task_to_hidden = nn.Linear(cfg.task_embed_dim, h)
        self.blocks = nn.ModuleList(AbcDitBlock(h, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.final_layer = _FinalLayer(h, cfg.action_dim)
        self.cond_proj = nn.Sequential(nn.Linear(3 * h, h), nn.SiLU(), nn.Linear(h, h), nn.LayerNorm(h))
        # Stored in released weights (named after CLIP), unused by the released network.
        self.register_buffer("clip_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("clip_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + NORM_EPS, persistent=False)
        self.register_buffer("task_vec", torch.zeros(1, cfg.task_embed_dim), persistent=False)

    def set_task(self, task_vec: torch.Tensor) -> None:
        """Use ``task_vec`` ((task_embed_dim,) or (1, task_embed_dim)) as the task embedding."""
        t = torch.as_tensor(task_vec, dtype=self.task_vec.dtype).reshape(1, -1)
        if t.shape[1] != self.cfg.task_embed_dim:
            raise ValueError(f"task embedding must have {self.cfg.task_embed_dim} values, got {t.shape[1]}")
        self.task_vec.copy_(t.to(self.task_vec.device))

    def compile_units(self) -> list[nn.Module]:
        """Modules the ``compile`` rung compiles one by one."""
        return [self.img_backbone, *self.blocks]  # the pooling blocks are small: left eager

    # ---- once per chunk ----------------------------------------------------------------
    def vision_tokens(self, pixels: dict[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """ImageNet-normalized (B, C, 3, h, w) (or a camera → (B, 3, h, w) dict) → (B, C·K, hidden)."""
        cams = self.cfg.camera_keys
        x = torch.stack([pixels[c] for c in cams], dim=1) if isinstance(pixels, dict) else pixels
        b, nc = x.shape[:2]
        feats = self.img_backbone(x.flatten(0, 1)).unflatten(0, (b, nc))  # every camera in one batch
        pooled = [self.apool[c](feats[:, i], self.apool_queries[c].expand(b, -1, -1)) for i, c in enumerate(cams)]
        tok = self.vision_tokens_proj(torch.stack(pooled, dim=1))  # (B, C, K, hidden)
        tok = tok + self.vision_camera_embed.weight[:, None, :]
        return tok.flatten(1, 2)

    def encode(self, images: torch.Tensor, state_n: torch.Tensor) -> torch.Tensor:
        """images (B, C, h, w, 3) uint8, state_n (B, Ds) normalized → the per-chunk context.

        The context packs, along dim 1: the vision tokens (C·K), the state embedding and
        the task embedding (one token each), all (B, ·, hidden).
        """
        x = images.permute(0, 1, 4, 2, 3).to(self.pixel_mean.dtype) * (1.0 / 255.0)
        x = (x - self.pixel_mean.unsqueeze(1)) / self.pixel_std.unsqueeze(1)
        return self.context(self.vision_tokens(x), state_n)

    def context(self, vision_tokens: torch.Tensor, state_n: torch.Tensor) -> torch.Tensor:
        """Per-chunk context: vision tokens as every block's cross-attention reads them, state, task."""
        b = state_n.shape[0]
        st = self.x_embedder(state_n)
        task = self.task_to_hidden(self.task_vec.expand(b, -1))
        # Each block's norm_xattn_kv is the same parameter-free LayerNorm: applied once per chunk.
        first: AbcDitBlock = self.blocks[0]  # type: ignore[assignment]
        return torch.cat([first.norm_xattn_kv(vision_tokens), st[:, None], task[:, None]], dim=1)

    # ---- every flow step -----------------------------------------------------------------
    def cond(self, ctx: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Conditioning from the context and ABC flow time t ((B,) or per token (B, H))."""
        st, task = ctx[:, -2], ctx[:, -1]
        tv = self.t_embedder(t)
        if tv.ndim == 3:
            st = st.unsqueeze(1).expand(-1, tv.shape[1], -1)
            task = task.unsqueeze(1).expand(-1, tv.shape[1], -1)
        return self.cond_proj(torch.cat([st, task, tv], dim=-1))

    def abc_velocity(self, x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """ABC's prediction ``noise − actions`` at ABC flow time t ((B,) or (B, H))."""
        c = self.cond(ctx, t)
        kv = ctx[:, :-2]
        z = self.y_embedder(x) + self.pos_embed[:, : x.shape[1]]
        for blk in self.blocks:
            z = blk(z, c, kv)
        return self.final_layer(z, c)

    def velocity(self, x: torch.Tensor, tau: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """Our convention (:mod:`abc_robot.policy.sampler`): τ = 1 − t, v = actions − noise."""
        return -self.abc_velocity(x, 1.0 - tau, ctx)
