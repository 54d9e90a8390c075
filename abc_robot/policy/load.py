"""Build a runnable policy from a checkpoint directory (imports torch).

The architecture name (``ARCHITECTURES``) or the entry point in the checkpoint's
config names a factory ``factory(checkpoint, device, compile=...) -> Policy``; a
``torch.export`` program is wrapped by :class:`ExportedPolicy`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import CheckpointError
from abc_robot.policy.checkpoint import ARCHITECTURES, Checkpoint, RigSpec, load_checkpoint
from abc_robot.policy.interface import Policy, PolicyInput

__all__ = ["load_policy", "resolve_factory", "ExportedPolicy", "export_program"]


def resolve_factory(target: str) -> Callable[..., Policy]:
    """Import ``package.module:factory``.

    Raises:
        CheckpointError: the module or the attribute cannot be imported.
    """
    module, _, attr = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(f"policy factory {target!r} cannot be loaded: {exc}") from exc
    if not callable(fn):
        raise CheckpointError(f"policy factory {target!r} is not callable")
    return fn


class ExportedPolicy(Policy):
    """A ``torch.export`` program of the whole sampler (no guidance).

    The program maps ``(images uint8 (1, C, h, w, 3), state (1, Ds) normalized, noise
    (1, H, D))`` to normalized actions (1, H, D).
    """

    def __init__(self, checkpoint: Checkpoint, device: str = "cpu", seed: int = 0) -> None:
        import torch

        cfg = checkpoint.config
        name = cfg.model.program
        assert name is not None
        try:
            self._program = torch.export.load(str(checkpoint.file(name))).module().to(device)
        except Exception as exc:
            raise CheckpointError(f"{checkpoint.file(name)}: cannot load torch.export program ({exc})") from exc
        self.checkpoint = checkpoint
        self.horizon, self.action_dim = cfg.action.chunk, cfg.action.dim
        self._device = device
        self._gen = torch.Generator(device=device).manual_seed(seed)
        self._seed = seed
        chol = None
        if checkpoint.noise_cov is not None:
            chol = torch.as_tensor(np.linalg.cholesky(checkpoint.noise_cov), dtype=torch.float32, device=device)
        self._chol = chol

    def reset(self) -> None:
        self._gen.manual_seed(self._seed)

    def infer(self, obs: PolicyInput) -> np.ndarray:
        import torch

        cams = self.checkpoint.config.observation.cameras
        stats = self.checkpoint.norm_stats
        images = torch.from_numpy(np.stack([np.asarray(obs.images[c], np.uint8) for c in cams]))[None].to(self._device)
        state = torch.as_tensor(
            stats.normalize_state(np.asarray(obs.state, np.float64)), dtype=torch.float32, device=self._device
        )[None]
        noise = torch.randn(1, self.horizon, self.action_dim, generator=self._gen, device=self._device)
        if self._chol is not None:
            noise = self._chol @ noise
        with torch.no_grad():
            out = self._program(images, state, noise)
        return stats.unnormalize_actions(out[0].double().cpu().numpy())


def export_program(policy: Any, path: str | Path) -> Path:
    """Write the reference policy's plain sampler as a ``torch.export`` program to ``path``."""
    import torch

    from abc_robot.policy.dit_policy import DiTPolicy

    if not isinstance(policy, DiTPolicy):
        raise TypeError("export_program takes a DiTPolicy")
    sampler = policy.sampler

    class _Plain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sampler = sampler

        def forward(self, images: torch.Tensor, state_n: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
            h = noise.shape[1]
            zeros_w = torch.zeros(noise.shape[0], h, device=noise.device)
            gain = torch.zeros(h, h, device=noise.device)
            return self.sampler(images, state_n, noise, torch.zeros_like(noise), zeros_w, gain, mode="plain")

    args, _, _ = policy._args(policy.dummy_input())
    program = torch.export.export(_Plain().eval(), args[:3])
    torch.export.save(program, str(path))
    return Path(path)


def load_policy(
    path: str | Path, rig: RigSpec | None = None, device: str = "cpu", compile: str = "eager", seed: int = 0
) -> Policy:
    """Validate the checkpoint at ``path`` against ``rig`` and build its policy.

    Args:
        path: checkpoint directory.
        rig: what the rig offers; None skips the rig check.
        device: torch device string.
        compile: compile rung for policies that support the ladder (passed to factories
            that accept a ``compile`` argument).
        seed: flow-noise seed.

    Raises:
        CheckpointError: malformed checkpoint, rig mismatch, or a factory that fails.
    """
    ckpt = load_checkpoint(path, rig)
    model = ckpt.config.model
    if model.program is not None and model.entry_point is None:
        return ExportedPolicy(ckpt, device, seed)
    target = model.entry_point or ARCHITECTURES[model.architecture or ""]
    factory = resolve_factory(target)
    kwargs: dict[str, Any] = {}
    params = inspect.signature(factory).parameters
    if "compile" in params:
        kwargs["compile"] = compile
    if "seed" in params:
        kwargs["seed"] = seed
    policy = factory(ckpt, device, **kwargs)
    if not hasattr(policy, "infer") or not hasattr(policy, "reset"):
        raise CheckpointError(
            f"policy factory {target!r} returned {type(policy).__name__}, which lacks infer()/reset()"
        )
    return policy
