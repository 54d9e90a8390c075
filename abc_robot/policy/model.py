"""The reference policy network: a small DiT flow-matching model trained from scratch.

Observation → conditioning: each camera image (uint8, any size) is area-resized to a
small square (64 px by default, so CPU training takes minutes), encoded by a shared
conv net whose features are read out as spatial-softmax keypoints plus a global average,
tagged with a learned camera embedding; the normalized state goes through an MLP. All
of it is fused into one conditioning vector c.

Action head: the chunk of H normalized actions is a sequence of H tokens; a stack of
adaLN-Zero DiT blocks (:mod:`abc_robot.policy.dit`) predicts the flow velocity
``v = x₁ − ε`` at per-token flow time τ (τ = 0 noise, τ = 1 actions), modulated by
``c + emb(τ_i)``. Per-token τ lets the model take up to ``prefix_steps`` clean
leading actions as given (training-time prefix conditioning for the hard-prefix
real-time-chunking variant).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from abc_robot.policy.dit import DiTBlock, FinalLayer, TimeEmbedding

__all__ = ["DiTConfig", "ImageEncoder", "DiTFlowModel"]


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of :class:`DiTFlowModel` (stored as ``model.params`` in the checkpoint)."""

    cameras: int = 3  # number of camera images per observation
    image_size: int = 64  # px; images are area-resized to this square before the encoder
    state_dim: int = 14
    action_dim: int = 14
    horizon: int = 30  # chunk length H
    width: int = 96  # token width
    depth: int = 3  # DiT blocks
    heads: int = 4
    mlp_ratio: float = 2.0
    enc_channels: tuple[int, ...] = (16, 32, 64)  # conv stages (each halves the resolution)
    keypoints: int = 16  # spatial-softmax keypoints per camera
    prefix_steps: int = 0  # leading clean actions the model is trained to condition on (0..4)

    def __post_init__(self) -> None:
        if min(self.cameras, self.image_size, self.state_dim, self.action_dim, self.horizon, self.depth) <= 0:
            raise ValueError("every size in DiTConfig must be positive")
        if not 0 <= self.prefix_steps < self.horizon:
            raise ValueError(f"prefix_steps must be in 0..{self.horizon - 1}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["enc_channels"] = list(self.enc_channels)
        return d


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout), cout), nn.SiLU())


class ImageEncoder(nn.Module):
    """Shared conv net → [spatial-softmax keypoints (x, y), global average] per image."""

    grid_x: torch.Tensor
    grid_y: torch.Tensor

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for c in cfg.enc_channels:
            layers += [_conv(cin, c, 2), _conv(c, c, 1)]
            cin = c
        self.backbone = nn.Sequential(*layers)
        self.kp = nn.Conv2d(cin, cfg.keypoints, 1)
        self.out_dim = 2 * cfg.keypoints + cin
        side = cfg.image_size
        for _ in cfg.enc_channels:
            side = (side + 1) // 2
        lin = torch.linspace(-1.0, 1.0, side)
        self.register_buffer("grid_x", lin.repeat(side), persistent=False)  # row-major (y, x) flattening
        self.register_buffer("grid_y", lin.repeat_interleave(side), persistent=False)
        self.image_size = cfg.image_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (N, h, w, 3) uint8 → (N, out_dim)."""
        x = images.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="area")
        f = self.backbone((x - 0.5) * 4.0)
        attn = torch.softmax(self.kp(f).flatten(2), dim=-1)  # (N, K, S)
        kx = attn @ self.grid_x
        ky = attn @ self.grid_y
        return torch.cat([kx, ky, f.mean(dim=(2, 3))], dim=-1)


class DiTFlowModel(nn.Module):
    """Conditioning from images + state, velocity of the action chunk from a DiT."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.encoder = ImageEncoder(cfg)
        self.cam_proj = nn.Linear(self.encoder.out_dim, w)
        self.cam_embed = nn.Parameter(torch.zeros(cfg.cameras, w))
        self.state_proj = nn.Sequential(nn.Linear(cfg.state_dim, w), nn.SiLU(), nn.Linear(w, w))
        self.fuse = nn.Sequential(nn.SiLU(), nn.Linear((cfg.cameras + 1) * w, w), nn.SiLU(), nn.Linear(w, w))
        self.time = TimeEmbedding(w)
        self.action_in = nn.Linear(cfg.action_dim, w)
        self.cond_in = nn.Linear(w, w)  # the observation also enters the tokens, not only the modulation
        self.pos = nn.Parameter(torch.randn(cfg.horizon, w) * 0.02)
        self.blocks = nn.ModuleList([DiTBlock(w, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.final = FinalLayer(w, cfg.action_dim)

    def encode(self, images: torch.Tensor, state_n: torch.Tensor) -> torch.Tensor:
        """images: (B, C, h, w, 3) uint8; state_n: (B, Ds) normalized → c: (B, width)."""
        b, ncam = images.shape[:2]
        feats = self.encoder(images.reshape(b * ncam, *images.shape[2:]))
        cam = self.cam_proj(feats).view(b, ncam, -1) + self.cam_embed
        return self.fuse(torch.cat([cam.flatten(1), self.state_proj(state_n)], dim=-1))

    def velocity(self, x: torch.Tensor, tau: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x: (B, H, D) noisy actions; tau: (B, H) per-token flow time; c: (B, width) → v (B, H, D)."""
        h = self.action_in(x) + self.pos + self.cond_in(c).unsqueeze(1)
        cond = c.unsqueeze(1) + self.time(tau)
        for blk in self.blocks:
            h = blk(h, cond)
        return self.final(h, cond)
