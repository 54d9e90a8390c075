"""The reference DiT flow policy behind the :class:`~abc_robot.policy.interface.Policy` interface.

``from_checkpoint`` is the factory registered as architecture ``abc_dit``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from abc_robot.errors import CheckpointError, ConfigError
from abc_robot.policy.checkpoint import Checkpoint
from abc_robot.policy.compile import (
    COMPILE_CHOICES,
    RUNGS,
    RungReport,
    RungUnavailable,
    build_runner,
    clone_sampler,
    measure,
    unavailable_reason,
)
from abc_robot.policy.interface import Guidance, Policy, PolicyInput
from abc_robot.policy.model import DiTConfig, DiTFlowModel
from abc_robot.policy.rtc import gaussian_gain
from abc_robot.policy.sampler import FlowSampler
from abc_robot.runtime.config import from_dict

__all__ = ["DiTPolicy", "from_checkpoint", "sampler_mode"]


def sampler_mode(guidance: Guidance | None, prefix_steps: int) -> str:
    """The :data:`~abc_robot.policy.sampler.SAMPLER_MODES` entry that honours ``guidance``."""
    if guidance is None:
        return "plain"
    if guidance.mode == "hard":
        return "hard" if 0 < guidance.d <= prefix_steps else "hard_inpaint"
    return guidance.mode  # soft | cov


class DiTPolicy(Policy):
    """Normalizes, samples on the chosen compile rung, unnormalizes.

    Args:
        model: the trained network (moved to ``device``).
        checkpoint: the validated checkpoint (spec, norm stats, noise covariance).
        device: torch device string.
        compile: a rung of :data:`~abc_robot.policy.compile.COMPILE_CHOICES`.
        seed: seed of the flow-noise generator.
    """

    guidance_modes = frozenset({"soft", "hard", "cov"})

    def __init__(
        self, model: DiTFlowModel, checkpoint: Checkpoint, device: str = "cpu", compile: str = "eager", seed: int = 0
    ) -> None:
        if compile not in COMPILE_CHOICES:
            raise ConfigError(
                f"unknown compile rung {compile!r}; choose one of {list(COMPILE_CHOICES)}", field="compile"
            )
        cfg = checkpoint.config
        self.checkpoint = checkpoint
        self.horizon = cfg.action.chunk
        self.action_dim = cfg.action.dim
        self.cameras = cfg.observation.cameras
        self.image_hw = tuple(cfg.observation.image_size)
        self.prefix_steps = cfg.sampler.prefix_steps
        self.device = torch.device(device)
        self.stats = checkpoint.norm_stats
        self.sampler = FlowSampler(model.eval(), cfg.sampler.flow_steps, checkpoint.noise_cov).to(self.device)
        self._generator = torch.Generator(device=self.device).manual_seed(seed)
        self._seed = seed
        self._cov = checkpoint.noise_cov if checkpoint.noise_cov is not None else np.eye(self.horizon)
        self._gains: dict[int, torch.Tensor] = {}
        self.requested_rung = compile
        self.reports: dict[str, RungReport] = {}
        # Compiled rungs are built on copies at warm-up, so eager stays the reference.
        self.runner = build_runner(self.sampler, "eager", self.device)
        self.warmed_up = False

    @property
    def rung(self) -> str:
        return self.runner.rung

    def reset(self) -> None:
        self._generator.manual_seed(self._seed)

    # ---- tensors -----------------------------------------------------------------------
    def _args(self, obs: PolicyInput, noise: torch.Tensor | None = None) -> tuple[tuple[torch.Tensor, ...], str, float]:
        missing = [c for c in self.cameras if c not in obs.images]
        if missing:
            raise ValueError(f"observation lacks cameras {missing} (has {sorted(obs.images)})")
        imgs = np.stack([np.asarray(obs.images[c], dtype=np.uint8) for c in self.cameras])
        if imgs.shape[1:3] != self.image_hw:
            raise ValueError(f"images must be {self.image_hw} (h, w) as the checkpoint says, got {imgs.shape[1:3]}")
        dev = self.device
        images = torch.from_numpy(imgs).unsqueeze(0).to(dev)
        state_n = torch.as_tensor(
            self.stats.normalize_state(np.asarray(obs.state, np.float64)), dtype=torch.float32, device=dev
        )[None]
        if noise is None:
            noise = self.sampler.make_noise(self._generator)
        h, d = self.horizon, self.action_dim
        g = obs.guidance
        mode = "plain" if g is None or g.mode not in self.guidance_modes else sampler_mode(g, self.prefix_steps)
        beta = 0.0
        if g is None or mode == "plain":
            prefix_n = np.zeros((h, d))
            weights = np.zeros(h)
        else:
            prefix_n = self.stats.normalize_actions(np.asarray(g.prefix, np.float64))
            weights = np.asarray(g.weights, np.float64)
            beta = float(g.beta) if mode == "soft" else 0.0
        gain = self._gain(g.d) if (g is not None and mode == "cov") else self._gain(0)
        as_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=dev)  # noqa: E731
        return (images, state_n, noise, as_t(prefix_n)[None], as_t(weights)[None], gain), mode, beta

    def _gain(self, d: int) -> torch.Tensor:
        if d not in self._gains:
            self._gains[d] = torch.as_tensor(gaussian_gain(self._cov, d), dtype=torch.float32, device=self.device)
        return self._gains[d]

    def infer(self, obs: PolicyInput) -> np.ndarray:
        args, mode, beta = self._args(obs)
        with torch.no_grad():
            out = self.runner(args, mode, beta)
        return self.stats.unnormalize_actions(out[0].double().cpu().numpy())

    def infer_with_noise(self, obs: PolicyInput, noise: np.ndarray) -> np.ndarray:
        """Like :meth:`infer` with given (H, D) flow noise (tests, reproducible comparisons)."""
        t = torch.as_tensor(noise, dtype=torch.float32, device=self.device)[None]
        args, mode, beta = self._args(obs, t)
        with torch.no_grad():
            out = self.runner(args, mode, beta)
        return self.stats.unnormalize_actions(out[0].double().cpu().numpy())

    # ---- warm-up and the ladder -----------------------------------------------------------
    def dummy_input(self, guidance: Guidance | None = None) -> PolicyInput:
        h, w = self.image_hw
        rng = np.random.default_rng(0)
        images = {c: rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for c in self.cameras}
        return PolicyInput(state=self.stats.state_mean.copy(), images=images, guidance=guidance)

    def warmup(
        self, guidances: list[Guidance | None] | None = None, iters: int = 10, log: Any = print
    ) -> dict[str, RungReport]:
        """Compile, check against eager and time the sampler before serving.

        The requested rung takes effect here (until then :meth:`infer` runs eager).

        With ``compile="best"`` every available rung is built and the fastest one that
        matches eager is kept. Returns the reports by rung (skipped rungs included).
        """
        guidances = guidances or [None]
        first = guidances[0]
        args, mode, beta = self._args(
            self.dummy_input(first), self.sampler.make_noise(torch.Generator(self.device).manual_seed(1))
        )
        eager = build_runner(self.sampler, "eager", self.device)
        ref_rep = measure(eager, args, mode, beta, iters=iters)
        with torch.no_grad():
            reference = eager(args, mode, beta)
        rungs = RUNGS if self.requested_rung == "best" else (self.requested_rung,)
        reports: dict[str, RungReport] = {"eager": ref_rep}
        best = ("eager", ref_rep.median_ms, eager)
        for rung in rungs:
            if rung == "eager":
                continue
            reason = unavailable_reason(rung, self.device)
            if reason is not None:
                reports[rung] = RungReport(rung, skipped=reason)
                log(reports[rung].line())
                continue
            try:
                runner = build_runner(clone_sampler(self.sampler), rung, self.device)
                reports[rung] = rep = measure(runner, args, mode, beta, iters=iters, reference=reference)
            except RungUnavailable as exc:
                reports[rung] = RungReport(rung, skipped=str(exc))
                log(reports[rung].line())
                continue
            if rep.median_ms < best[1]:
                best = (rung, rep.median_ms, runner)
        if self.requested_rung == "best":
            self.runner = best[2]
        elif self.requested_rung != "eager":
            rep = reports[self.requested_rung]
            if rep.skipped:
                raise RungUnavailable(rep.skipped)
            self.runner = runner
        for g in guidances[1:]:  # build (compile) the other modes the worker will use
            a, m, b = self._args(self.dummy_input(g))
            measure(self.runner, a, m, b, iters=1)
        for rep in reports.values():
            if not rep.skipped:
                log(rep.line())
        log(f"policy: serving on rung {self.rung} ({self.device})")
        self.reports = reports
        self.warmed_up = True
        return reports


def build_model(checkpoint: Checkpoint) -> DiTFlowModel:
    """The network described by the checkpoint (random weights)."""
    params = dict(checkpoint.config.model.params)
    cfg = from_dict(DiTConfig, params, file=str(checkpoint.file("config.json")), prefix="model.params")
    obs, act = checkpoint.config.observation, checkpoint.config.action
    mismatch = {
        "cameras": (cfg.cameras, len(obs.cameras)),
        "state_dim": (cfg.state_dim, obs.state_dim),
        "action_dim": (cfg.action_dim, act.dim),
        "horizon": (cfg.horizon, act.chunk),
    }
    bad = {k: v for k, v in mismatch.items() if v[0] != v[1]}
    if bad:
        raise CheckpointError(
            f"{checkpoint.path}: model.params disagree with the specs: "
            + ", ".join(f"{k} {a} vs {b}" for k, (a, b) in bad.items())
        )
    return DiTFlowModel(cfg)


def from_checkpoint(checkpoint: Checkpoint, device: str = "cpu", compile: str = "eager", seed: int = 0) -> DiTPolicy:
    """Factory of the ``abc_dit`` architecture."""
    model = build_model(checkpoint)
    weights = checkpoint.config.model.weights
    if weights is None:
        raise CheckpointError(f"{checkpoint.path}: abc_dit needs model.weights (a state dict file)")
    try:
        state = torch.load(checkpoint.file(weights), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, OSError, KeyError) as exc:
        raise CheckpointError(
            f"{checkpoint.file(weights)}: cannot load weights into abc_dit ({str(exc).splitlines()[0]})"
        ) from exc
    return DiTPolicy(model.to(device), checkpoint, device=device, compile=compile, seed=seed)
