"""The DINOv3 ViT-B/16 image backbone of ABC-DiT, under the released checkpoint's key names.

Written here rather than taken from timm: timm (and open_clip) depend on torchvision,
which pip resolves to a different torch than the pinned CPU build, and PyPI's
torchvision does not load beside it (see the README's dependency notes).

DINOv3 particulars kept: 4 storage ("register") tokens after the class token, 2-D
rotary position embedding on the patch tokens only (coordinates in [-1, 1] at patch
centres, periods ``base^(2i/(d/2))``, base 100), LayerScale, and a qkv bias whose key
third is multiplied by a stored mask (zeros in released weights).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DinoV3", "DinoBackbone", "STORAGE_TOKENS"]

STORAGE_TOKENS = 4
ROPE_BASE = 100.0


class _MaskedBiasLinear(nn.Linear):
    """Linear whose bias is multiplied element-wise by the ``bias_mask`` buffer (state-dict entry)."""

    bias_mask: torch.Tensor

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features, bias=True)
        mask = torch.ones(out_features)
        mask[out_features // 3 : 2 * out_features // 3] = 0.0  # the key third carries no bias
        self.register_buffer("bias_mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias * self.bias_mask.to(self.bias.dtype))


class _Rope(nn.Module):
    periods: torch.Tensor

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        n = head_dim // 4
        self.register_buffer("periods", ROPE_BASE ** (2 * torch.arange(n, dtype=torch.float32) / (head_dim // 2)))

    def forward(self, gh: int, gw: int) -> tuple[torch.Tensor, torch.Tensor]:
        """sin, cos of shape (gh·gw, head_dim) for a gh×gw patch grid."""
        dev = self.periods.device
        ys = torch.arange(0.5, gh, device=dev, dtype=torch.float32) / gh
        xs = torch.arange(0.5, gw, device=dev, dtype=torch.float32) / gw
        yx = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).flatten(0, 1) * 2.0 - 1.0
        ang = (2 * math.pi * yx[:, :, None] / self.periods).flatten(1, 2).repeat(1, 2)
        return torch.sin(ang), torch.cos(ang)


def _rotate(x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-b, a], dim=-1) * sin


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = _MaskedBiasLinear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        p = n - sin.shape[0]  # class + storage tokens are not rotated
        dt = q.dtype
        q = torch.cat([q[:, :, :p], _rotate(q[:, :, p:].to(sin.dtype), sin, cos).to(dt)], dim=2)
        k = torch.cat([k[:, :, :p], _rotate(k[:, :, p:].to(sin.dtype), sin, cos).to(dt)], dim=2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class _LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, approximate: str = "none") -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate=approximate)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = _Attention(dim, heads)
        self.ls1 = _LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = _Mlp(dim, 4 * dim)
        self.ls2 = _LayerScale(dim)

    def forward(self, x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), sin, cos))
        return x + self.ls2(self.mlp(self.norm2(x)))


class _PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)


class DinoV3(nn.Module):
    """DINOv3 ViT: (N, 3, h, w) normalized images → (N, 1 + h/16·w/16, dim) class + patch tokens."""

    def __init__(self, dim: int = 768, depth: int = 12, heads: int = 12, patch: int = 16) -> None:
        super().__init__()
        self.patch_embed = _PatchEmbed(dim, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.storage_tokens = nn.Parameter(torch.randn(1, STORAGE_TOKENS, dim) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # masked-image training only; kept for the keys
        self.rope_embed = _Rope(dim // heads)
        self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        f = self.patch_embed.proj(images)
        gh, gw = f.shape[-2:]
        x = f.flatten(2).transpose(1, 2)
        n = x.shape[0]
        cls = (self.cls_token + 0 * self.mask_token).expand(n, -1, -1)  # the released graph adds 0·mask_token
        x = torch.cat([cls, self.storage_tokens.expand(n, -1, -1), x], dim=1)
        sin, cos = self.rope_embed(int(gh), int(gw))
        for blk in self.blocks:
            x = blk(x, sin, cos)
        x = self.norm(x)
        return torch.cat([x[:, :1], x[:, 1 + STORAGE_TOKENS :]], dim=1)


class DinoBackbone(nn.Module):
    """Holds :class:`DinoV3` as ``dinov3_model`` (the released key prefix ``img_backbone.dinov3_model.``)."""

    def __init__(self, dim: int, depth: int, heads: int, patch: int) -> None:
        super().__init__()
        self.dinov3_model = DinoV3(dim, depth, heads, patch)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.dinov3_model(images)
