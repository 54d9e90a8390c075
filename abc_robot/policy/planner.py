"""Ties each new chunk to the executing one: the worker's side of real-time chunking.

The executing trajectory is the chunk published last (followers run chunks as they
are, ``replace``), so the planner keeps it and, for a new observation, evaluates it at
the new chunk's target times. d covers a high percentile of recent delays from
observation stamp to publication (plus a configured link transit), rounded up to whole
action periods, plus the action the chunk arrives into; the overlap ``H - s`` is what
the executing chunk still covers. From these it builds the :class:`Guidance` for the
sampler, and after inference turns the model's actions into published joint targets
(representation, optional compression after the committed prefix).

Numpy only; the worker node and offline rollouts (tests, evaluation) share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from abc_robot.policy.checkpoint import ActionSpec
from abc_robot.policy.chunking import DelayEstimator, Trajectory, executing_prefix
from abc_robot.policy.compression import compress_chunk
from abc_robot.policy.interface import Guidance
from abc_robot.policy.representation import JOINT_REPRESENTATIONS, from_joint_targets, to_joint_targets
from abc_robot.policy.rtc import hard_mask, soft_mask

__all__ = ["PlannerConfig", "ChunkPlanner"]


@dataclass(frozen=True)
class PlannerConfig:
    guidance: Literal["soft", "hard", "cov", "none"] = "soft"  # how a chunk is tied to the executing one
    beta: float = 5.0  # RTC guidance clip β
    delay_percentile: float = 90.0  # percentile of recent delays used as d
    link_delay_ms: float = 0.0  # added to measured delays (remote link transit) [ms]
    compress_in: int = 0  # action compression: executed actions in...
    compress_out: int = 0  # ...resampled to this many (0 = off)
    gripper_threshold: float = 0.05  # no compression while a gripper moves more than this (opening)

    def __post_init__(self) -> None:
        if self.compress_out > self.compress_in:
            raise ValueError(
                f"compression must shorten: compress_out {self.compress_out} > compress_in {self.compress_in}"
            )
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")


class ChunkPlanner:
    """Guidance for the next chunk, published targets for the last one.

    Args:
        config: planner settings.
        action: the checkpoint's action spec (chunk length, rate, representation).
        supported: guidance modes the policy honours; others fall back to none.
    """

    def __init__(self, config: PlannerConfig, action: ActionSpec, supported: frozenset[str]) -> None:
        self.config = config
        self.action = action
        self.horizon = action.chunk
        self.period_ns = action.period_ns
        mode = config.guidance
        if mode != "none" and (mode not in supported or action.representation not in JOINT_REPRESENTATIONS):
            mode = "none"
        self.mode = mode
        self.delays = DelayEstimator(50, config.delay_percentile)
        self.executing: Trajectory | None = None
        self.last_d = 0
        self.guided = 0
        self.compressed = 0

    def reset(self) -> None:
        """Control left the policy: the next chunk starts afresh."""
        self.executing = None

    def d_steps(self) -> int:
        """Leading actions to tie: every action due before the expected arrival, and the
        first one after it, so both actions around the switch instant are the executing
        chunk's (the follower switches chunks at arrival, between two action times)."""
        link_ns = self.config.link_delay_ms * 1e6
        d = self.delays.delay_ns()
        return 0 if d is None else int(np.ceil((d + link_ns) / self.period_ns)) + 1

    def guidance(self, state: np.ndarray, t_obs_ns: int) -> Guidance | None:
        """The guidance for a chunk computed from an observation at ``t_obs_ns``, or None."""
        if self.mode == "none" or self.executing is None:
            return None
        prefix, n_cov = executing_prefix(self.executing, t_obs_ns, self.period_ns, self.horizon)
        d = min(self.d_steps(), n_cov)
        self.last_d = d
        if n_cov <= 0:
            return None
        a = self.action
        prefix_model = from_joint_targets(prefix, a.representation, state, a.gripper_dims)
        w = soft_mask(d, self.horizon - n_cov, self.horizon) if self.mode == "soft" else hard_mask(d, self.horizon)
        if not w.any():
            return None
        return Guidance(self.mode, prefix_model, w, self.config.beta)  # type: ignore[arg-type]

    def finish(
        self, actions: np.ndarray, state: np.ndarray, t_obs_ns: int, guidance: Guidance | None
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """Model actions → (targets (H', D), target times [ns], representation) to publish.

        The result becomes the executing trajectory for the next :meth:`guidance`.
        """
        cfg, a = self.config, self.action
        targets = to_joint_targets(actions, a.representation, state, a.gripper_dims)
        if cfg.compress_in and cfg.compress_out:
            start = guidance.d if guidance is not None else 0
            targets, did = compress_chunk(
                targets, start, cfg.compress_in, cfg.compress_out, a.gripper_dims, cfg.gripper_threshold
            )
            self.compressed += int(did)
        t_ns = t_obs_ns + self.period_ns * np.arange(targets.shape[0], dtype=np.int64)
        rep = "joint_abs" if a.representation in JOINT_REPRESENTATIONS else a.representation
        self.executing = Trajectory(targets, t_ns) if rep == "joint_abs" else None
        self.guided += int(guidance is not None)
        return np.ascontiguousarray(targets), t_ns, rep

    def record_delay(self, delay_ns: int) -> None:
        """A chunk's delay from its observation stamp to publication [ns]."""
        self.delays.add(delay_ns)
