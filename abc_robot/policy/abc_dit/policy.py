"""ABC-DiT behind the :class:`~abc_robot.policy.interface.Policy` interface.

The factory :func:`from_checkpoint` is registered as architecture ``abc_dit_released``:
it builds :class:`~abc_robot.policy.abc_dit.model.AbcDiT` from ``model.params.config``,
loads the released weights (zero missing and zero unexpected keys, or a
:class:`~abc_robot.errors.CheckpointError` listing them), sets the cached task
embedding, and serves it through the reference policy's wrapper (normalization,
explicit or seeded noise, guidance, the compile ladder, warm-up).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from abc_robot.errors import CheckpointError
from abc_robot.policy.abc_dit.config import AbcDitConfig
from abc_robot.policy.abc_dit.keys import strip_compiled_prefix
from abc_robot.policy.abc_dit.model import AbcDiT
from abc_robot.policy.abc_dit.sampling import AbcDitSampler
from abc_robot.policy.checkpoint import Checkpoint
from abc_robot.policy.compile import build_runner
from abc_robot.policy.dit_policy import DiTPolicy
from abc_robot.runtime.config import from_dict

__all__ = ["AbcDitPolicy", "build_model", "load_weights", "from_checkpoint", "random_policy", "abc_dit_bench_policy"]


class AbcDitPolicy(DiTPolicy):
    """:class:`DiTPolicy` whose sampler is :class:`AbcDitSampler` (ABC's prefix conditioning as ``hard``)."""

    def __init__(
        self, model: AbcDiT, checkpoint: Checkpoint, device: str = "cpu", compile: str = "eager", seed: int = 0
    ) -> None:
        super().__init__(model, checkpoint, device=device, compile=compile, seed=seed)  # type: ignore[arg-type]
        self.sampler = AbcDitSampler(model.eval(), checkpoint.config.sampler.flow_steps).to(self.device)
        self.runner = build_runner(self.sampler, "eager", self.device)


def build_model(checkpoint: Checkpoint) -> AbcDiT:
    """The network the checkpoint describes (random weights, task embedding set)."""
    params = dict(checkpoint.config.model.params)
    cfg_file = str(checkpoint.file("config.json"))
    cfg = from_dict(AbcDitConfig, dict(params.get("config", {})), file=cfg_file, prefix="model.params.config")
    obs, act = checkpoint.config.observation, checkpoint.config.action
    mismatch = {
        "camera_keys": (list(cfg.camera_keys), list(obs.cameras)),
        "state_dim": (cfg.state_dim, obs.state_dim),
        "action_dim": (cfg.action_dim, act.dim),
        "chunk_length": (cfg.chunk_length, act.chunk),
    }
    bad = {k: v for k, v in mismatch.items() if v[0] != v[1]}
    if bad:
        raise CheckpointError(
            f"{cfg_file}: model.params.config disagrees with the specs: "
            + ", ".join(f"{k} {a} vs {b}" for k, (a, b) in bad.items())
        )
    model = AbcDiT(cfg)
    emb = params.get("task_embedding")
    if not emb or not checkpoint.file(str(emb)).exists():
        raise CheckpointError(f"{cfg_file}: model.params.task_embedding names no file in the checkpoint ({emb!r})")
    vec = np.load(checkpoint.file(str(emb)))
    try:
        model.set_task(torch.from_numpy(np.asarray(vec, dtype=np.float32)))
    except ValueError as exc:
        raise CheckpointError(f"{checkpoint.file(str(emb))}: {exc}") from exc
    return model


def load_weights(model: AbcDiT, sd: dict[str, torch.Tensor], source: str) -> None:
    """Load a released state dict: every key and shape must match.

    Raises:
        CheckpointError: missing or unexpected keys, or shape mismatches (listed).
    """
    sd = strip_compiled_prefix(sd)
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{source}: weights do not fit ABC-DiT ({len(missing)} missing {missing[:5]}, "
            f"{len(unexpected)} unexpected {unexpected[:5]}, shape mismatches {shapes[:5]})"
        )
    model.load_state_dict(sd, strict=True)


def from_checkpoint(checkpoint: Checkpoint, device: str = "cpu", compile: str = "eager", seed: int = 0) -> AbcDitPolicy:
    """Factory of the ``abc_dit_released`` architecture."""
    from abc_robot.policy.abc_dit.released import read_released

    weights = checkpoint.config.model.weights
    if weights is None:
        raise CheckpointError(f"{checkpoint.path}: abc_dit_released needs model.weights (the released .pt)")
    model = build_model(checkpoint)
    sd, _ = read_released(checkpoint.file(weights))
    load_weights(model, sd, str(checkpoint.file(weights)))
    return AbcDitPolicy(model.to(device), checkpoint, device=device, compile=compile, seed=seed)


def random_policy(
    cfg: AbcDitConfig, device: str = "cpu", seed: int = 0, compile: str = "eager", flow_steps: int = 10
) -> AbcDitPolicy:
    """ABC-DiT of shape ``cfg`` with random weights, unit norm stats and a random task (benchmarks, tests).

    The network is built on ``device`` directly (the XL shape never passes through host memory).
    """
    from abc_robot.policy.abc_dit.released import checkpoint_config
    from abc_robot.policy.checkpoint import NormStats

    torch.manual_seed(seed)
    with torch.device(device):
        model = AbcDiT(cfg)
    model.set_task(torch.randn(cfg.task_embed_dim))
    zs, os_ = np.zeros(cfg.state_dim), np.ones(cfg.state_dim)
    za, oa = np.zeros(cfg.action_dim), np.ones(cfg.action_dim)
    config = checkpoint_config(None, cfg.to_dict(), "random", "")
    config = replace(config, sampler=replace(config.sampler, flow_steps=flow_steps))
    ckpt = Checkpoint(Path("<random>"), config, NormStats(zs, os_, za, oa))
    return AbcDitPolicy(model.eval(), ckpt, device=device, compile=compile, seed=seed)


def abc_dit_bench_policy(size: str, device: str) -> AbcDitPolicy:
    """``small`` (:data:`~abc_robot.policy.abc_dit.config.SMALL`) or ``xl`` (the released shape), random weights."""
    from abc_robot.policy.abc_dit.config import SMALL, XL

    return random_policy(XL if size == "xl" else SMALL, device)
