"""Train the reference DiT flow policy on the CPU and write a checkpoint in the contract.

Conditional flow matching: for a chunk x₁ (normalized actions), noise ε (correlated
along the chunk when asked) and τ ~ 1 − Beta(1.5, 1) (more samples near the noisy end,
where the observation matters most, as in π0), the model regresses ``v = x₁ − ε`` at
``x_τ = τ x₁ + (1 − τ) ε``. Each observation is paired with several (ε, τ) draws so
the image encoder runs once for several flow samples. With ``prefix_steps > 0`` half
the samples get k ≤ prefix_steps clean leading actions at τ = 1 and no loss on them
(training for the hard-prefix real-time-chunking variant). Weights are averaged (EMA)
and the average is what gets saved.

Fine-tuning (``init``, ``abc-train --init CKPT``): the weights start from a checkpoint of
the same architecture and shape, e.g. the policy of the previous DAgger round. The
normalization statistics are computed again from the new data: an arm that stood still
in the first round's demonstrations (a zero range) gets its range from the corrections.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from abc_robot.errors import CheckpointError
from abc_robot.policy.checkpoint import (
    ActionSpec,
    CheckpointConfig,
    ModelSpec,
    NoiseSpec,
    NormStats,
    ObservationSpec,
    SamplerSpec,
    load_checkpoint,
    save_checkpoint_files,
)
from abc_robot.policy.dataset import ChunkDataset
from abc_robot.policy.model import DiTConfig, DiTFlowModel

__all__ = [
    "TrainConfig",
    "TrainResult",
    "train_policy",
    "norm_stats_from",
    "noise_covariance_from",
    "write_untrained_checkpoint",
]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1500  # optimizer steps
    batch: int = 32  # observations per step
    flow_samples: int = 2  # (noise, τ) draws per observation
    lr: float = 1e-3  # peak learning rate (AdamW), cosine decay after warm-up
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    ema: float = 0.995  # EMA decay of the saved weights
    shift_px: int = 4  # random image shift augmentation [px at model resolution]
    correlated_noise: bool = False  # estimate an H×H noise covariance from the data
    noise_shrinkage: float = 0.1  # Σ = (1-λ)·C + λ·I
    seed: int = 0
    model: DiTConfig = field(default_factory=DiTConfig)

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.batch <= 0 or self.flow_samples <= 0:
            raise ValueError("steps, batch and flow_samples must be positive")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")


@dataclass
class TrainResult:
    path: Path
    seconds: float
    final_loss: float  # mean loss over the last 10% of steps
    losses: list[float]


def norm_stats_from(data: ChunkDataset) -> NormStats:
    """Per-dimension z-score statistics of the states and actions."""
    s, a = data.all_states(), data.all_actions()
    return NormStats(s.mean(0), s.std(0), a.mean(0), a.std(0))


def noise_covariance_from(data: ChunkDataset, stats: NormStats, shrinkage: float) -> np.ndarray:
    """H×H correlation of normalized chunks along time (dims pooled), shrunk towards I."""
    chunks = stats.normalize_actions(data.all_chunks())  # (M, H, D)
    x = chunks - chunks.mean(axis=0, keepdims=True)
    x = x.transpose(0, 2, 1).reshape(-1, chunks.shape[1])  # (M·D, H)
    c = np.cov(x, rowvar=False)
    sd = np.sqrt(np.clip(np.diag(c), 1e-12, None))
    corr = c / np.outer(sd, sd)
    cov = (1.0 - shrinkage) * corr + shrinkage * np.eye(corr.shape[0])
    return 0.5 * (cov + cov.T)


def _shift(images: torch.Tensor, px: int, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``px`` pixels (replicate padding), one offset per image."""
    if px <= 0:
        return images
    b, c, h, w, _ = images.shape
    x = images.reshape(b * c, h, w, 3).permute(0, 3, 1, 2).float()
    x = F.pad(x, (px, px, px, px), mode="replicate")
    dx, dy = torch.randint(0, 2 * px + 1, (2,), generator=gen).tolist()  # one shift per batch: cheap
    x = x[:, :, dy : dy + h, dx : dx + w]
    return x.permute(0, 2, 3, 1).reshape(b, c, h, w, 3).to(torch.uint8)


def train_policy(
    data: ChunkDataset,
    out_dir: str | Path,
    config: TrainConfig,
    *,
    cameras: tuple[str, ...] = ("top", "left", "right"),
    image_size: tuple[int, int] = (224, 224),
    state_keys: dict[str, int] | None = None,
    rate_hz: float = 30.0,
    gripper_dims: tuple[int, ...] | None = None,
    info: dict | None = None,
    init: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train on ``data`` and write a checkpoint directory ``out_dir``.

    Args:
        data: chunks (images at ``config.model.image_size`` if the model uses cameras).
        out_dir: checkpoint directory to write.
        config: training and architecture settings (dims and horizon are taken from the data).
        cameras, image_size, state_keys, rate_hz, gripper_dims: the observation and action
            specs written into the checkpoint (what the worker will feed the model).
        info: provenance stored in ``config.json``.
        init: checkpoint directory whose weights training starts from (same
            architecture, dims, horizon, cameras and image size).

    Raises:
        CheckpointError: ``init`` is unreadable or does not fit the data and config.
    """
    t_start = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    state_dim = data.episodes[0].states.shape[1]
    action_dim = data.episodes[0].actions.shape[1]
    h = data.horizon
    if gripper_dims is None:  # the ABC rig's layout: 6 joints + gripper per arm
        gripper_dims = (6, 13) if action_dim == 14 else ()
    mcfg = replace(config.model, cameras=len(cameras), state_dim=state_dim, action_dim=action_dim, horizon=h)
    if not data.has_images:
        raise ValueError("the reference policy needs camera images in every episode")
    stats = norm_stats_from(data)
    cov = noise_covariance_from(data, stats, config.noise_shrinkage) if config.correlated_noise else None
    chol = torch.as_tensor(np.linalg.cholesky(cov), dtype=torch.float32) if cov is not None else None
    model = DiTFlowModel(mcfg)
    if init is not None:
        model.load_state_dict(_init_weights(init, mcfg, cameras))
        log(f"starting from the weights of {init}")
    ema = DiTFlowModel(mcfg)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"training abc_dit ({n_params / 1e6:.2f} M parameters) on {len(data)} chunks, sources {data.source_counts}")
    a_mean = torch.as_tensor(stats.action_mean, dtype=torch.float32)
    a_std = torch.as_tensor(stats.action_std + 1e-6, dtype=torch.float32)
    s_mean = torch.as_tensor(stats.state_mean, dtype=torch.float32)
    s_std = torch.as_tensor(stats.state_std + 1e-6, dtype=torch.float32)
    s_varied = torch.as_tensor(stats.state_varied(), dtype=torch.float32)  # as NormStats.normalize_state
    k = config.flow_samples
    losses: list[float] = []
    model.train()
    for step in range(config.steps):
        lr = (
            config.lr
            * min(1.0, (step + 1) / config.warmup_steps)
            * 0.5
            * (1.0 + math.cos(math.pi * step / config.steps))
        )
        for g in opt.param_groups:
            g["lr"] = lr
        batch = data.sample(rng, config.batch)
        images = _shift(torch.from_numpy(batch["images"]), config.shift_px, gen)
        state_n = (torch.as_tensor(batch["state"], dtype=torch.float32) - s_mean) / s_std * s_varied
        x1 = ((torch.as_tensor(batch["actions"], dtype=torch.float32) - a_mean) / a_std).repeat_interleave(k, 0)
        c = model.encode(images, state_n).repeat_interleave(k, 0)
        eps = torch.randn(x1.shape, generator=gen)
        if chol is not None:
            eps = chol @ eps
        # τ = 1 - Beta(1.5, 1): more weight on the noisy end, where the observation decides (as in π0)
        tau = (1.0 - torch.distributions.Beta(1.5, 1.0).sample((x1.shape[0], 1))).clamp(0.0, 0.999).expand(-1, h)
        loss_w = torch.ones(x1.shape[0], h)
        if mcfg.prefix_steps > 0:
            n_pre = torch.randint(0, mcfg.prefix_steps + 1, (x1.shape[0], 1), generator=gen)
            n_pre = n_pre * (torch.rand(x1.shape[0], 1, generator=gen) < 0.5)
            is_pre = torch.arange(h)[None] < n_pre
            tau = torch.where(is_pre, torch.ones_like(tau), tau)
            loss_w = (~is_pre).float()
        xt = tau[..., None] * x1 + (1.0 - tau[..., None]) * eps
        v = model.velocity(xt, tau, c)
        err = ((v - (x1 - eps)) ** 2).mean(-1)
        loss = (err * loss_w).sum() / loss_w.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(config.ema, (1.0 + step) / (10.0 + step))
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1.0 - decay)
        losses.append(float(loss.detach()))
        if step % max(1, config.steps // 10) == 0 or step == config.steps - 1:
            log(
                f"  step {step:5d}  loss {np.mean(losses[-50:]):.4f}  lr {lr:.2e}  {time.perf_counter() - t_start:6.1f} s"
            )
    for be, bm in zip(ema.buffers(), model.buffers(), strict=True):
        be.copy_(bm)
    seconds = time.perf_counter() - t_start
    path = _write(
        out_dir,
        ema,
        mcfg,
        stats,
        cov,
        cameras,
        image_size,
        state_keys,
        rate_hz,
        gripper_dims,
        config,
        info,
        seconds,
        losses,
    )
    tail = losses[-max(1, len(losses) // 10) :]
    log(f"wrote {path} in {seconds:.1f} s (final loss {np.mean(tail):.4f})")
    return TrainResult(path, seconds, float(np.mean(tail)), losses)


def _init_weights(path: str | Path, mcfg: DiTConfig, cameras: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """State dict of checkpoint ``path`` after checking it fits the network ``mcfg``."""
    from abc_robot.policy.dit_policy import build_model  # the worker's loader: same checks

    ck = load_checkpoint(path)
    if ck.config.model.architecture != "abc_dit":
        raise CheckpointError(f"{path}: --init needs an abc_dit checkpoint, got {ck.config.model.architecture!r}")
    if tuple(ck.config.observation.cameras) != tuple(cameras):
        raise CheckpointError(f"{path}: cameras {list(ck.config.observation.cameras)} vs {list(cameras)} here")
    have, want = build_model(ck).cfg.to_dict(), mcfg.to_dict()
    bad = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
    if bad:
        raise CheckpointError(
            f"{path}: does not fit this training run: " + ", ".join(f"{k} {a} vs {b} here" for k, (a, b) in bad.items())
        )
    try:
        return torch.load(ck.file(ck.config.model.weights or "model.pt"), map_location="cpu", weights_only=True)
    except (RuntimeError, OSError) as exc:
        raise CheckpointError(f"{path}: cannot read the weights ({str(exc).splitlines()[0]})") from exc


def _write(
    out_dir,
    model,
    mcfg,
    stats,
    cov,
    cameras,
    image_size,
    state_keys,
    rate_hz,
    gripper_dims,
    config,
    info,
    seconds,
    losses,
) -> Path:  # type: ignore[no-untyped-def]
    state_keys = state_keys or (
        {"left": mcfg.state_dim // 2, "right": mcfg.state_dim - mcfg.state_dim // 2}
        if mcfg.state_dim % 2 == 0
        else {"state": mcfg.state_dim}
    )
    ckpt = CheckpointConfig(
        model=ModelSpec(architecture="abc_dit", params=mcfg.to_dict(), weights="model.pt"),
        observation=ObservationSpec(cameras=tuple(cameras), image_size=tuple(image_size), state=dict(state_keys)),  # type: ignore[arg-type]
        action=ActionSpec(dim=mcfg.action_dim, chunk=mcfg.horizon, rate_hz=rate_hz, gripper_dims=tuple(gripper_dims)),
        sampler=SamplerSpec(
            flow_steps=10,
            noise=NoiseSpec(kind="correlated", cov_file="noise_cov.npy") if cov is not None else NoiseSpec(),
            prefix_steps=mcfg.prefix_steps,
        ),
        info={
            "trained_by": "abc-train",
            "steps": config.steps,
            "batch": config.batch,
            "seconds": round(seconds, 1),
            "final_loss": float(np.mean(losses[-max(1, len(losses) // 10) :])),
            **(info or {}),
        },
    )
    path = save_checkpoint_files(out_dir, ckpt, stats, cov)
    torch.save(model.state_dict(), path / "model.pt")
    (path / "train_log.json").write_text(json.dumps({"losses": losses[:: max(1, len(losses) // 500)]}))
    return path


def write_untrained_checkpoint(
    out_dir: str | Path,
    model: DiTConfig | None = None,
    *,
    cameras: tuple[str, ...] = ("top", "left", "right"),
    image_size: tuple[int, int] = (224, 224),
    noise_cov: np.ndarray | None = None,
    seed: int = 0,
) -> Path:
    """A checkpoint with random weights and unit norm stats (benchmarks, plumbing tests)."""
    torch.manual_seed(seed)
    mcfg = replace(model or DiTConfig(), cameras=len(cameras))
    net = DiTFlowModel(mcfg)
    stats = NormStats(
        np.zeros(mcfg.state_dim), np.ones(mcfg.state_dim), np.zeros(mcfg.action_dim), np.ones(mcfg.action_dim)
    )
    cfg = TrainConfig(steps=1, model=mcfg)
    gd = (6, 13) if mcfg.action_dim == 14 else ()
    return _write(
        out_dir, net, mcfg, stats, noise_cov, cameras, image_size, None, 30.0, gd, cfg, {"untrained": True}, 0.0, [0.0]
    )
