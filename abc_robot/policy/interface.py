"""The policy role: what the worker runs, whatever codebase the model comes from.

A policy maps one observation to one chunk of H actions. It is a small ABC so that a
lab's own architecture plugs in through a checkpoint entry point
(``package.module:factory``, see :mod:`abc_robot.policy.checkpoint`) without changes
here. This module imports only numpy: the follower and the console may import it.

Contract::

    policy.reset()                     # new episode / after an intervention
    chunk = policy.infer(PolicyInput(state=..., images={...}, guidance=None))
    chunk.shape == (H, D)              # raw units, in the checkpoint's representation

``infer`` never sees normalization: it takes raw state (rad, gripper in [0, 1]) and raw
uint8 images at the checkpoint's resolution, and returns raw actions.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

__all__ = ["Guidance", "GuidanceMode", "PolicyInput", "Policy", "GUIDANCE_MODES"]

#: How a chunk is tied to the chunk that is still executing (see :mod:`abc_robot.policy.rtc`).
#: ``soft``: real-time chunking, soft mask + clipped ΠGDM guidance (Black et al. 2025);
#: ``hard``: the first d actions are fixed to the prefix (prefix-conditioned models take
#: them as clean tokens, others are inpainted at every flow step);
#: ``cov``: correlated-noise inpainting, the prefix correction propagated to the rest of the
#: chunk through the action covariance.
GuidanceMode = Literal["soft", "hard", "cov"]
GUIDANCE_MODES: tuple[str, ...] = ("soft", "hard", "cov")


@dataclass(frozen=True)
class Guidance:
    """The executing chunk, aligned to the new chunk's action times.

    Attributes:
        mode: one of :data:`GUIDANCE_MODES`.
        prefix: (H, D) actions of the executing trajectory at the new chunk's target
            times, raw units in the checkpoint's representation (rows past the end of
            the executing chunk are ignored: their weight is 0).
        weights: (H,) guidance mask W in [0, 1] (``soft``: :func:`~abc_robot.policy.rtc.soft_mask`;
            ``hard``/``cov``: 1 for the first d actions, 0 after).
        beta: guidance weight clip β of ``soft`` guidance (paper default 5).
    """

    mode: GuidanceMode
    prefix: np.ndarray
    weights: np.ndarray
    beta: float = 5.0

    def __post_init__(self) -> None:
        if self.mode not in GUIDANCE_MODES:
            raise ValueError(f"guidance mode must be one of {list(GUIDANCE_MODES)}, got {self.mode!r}")
        if self.prefix.ndim != 2 or self.weights.shape != (self.prefix.shape[0],):
            raise ValueError(
                f"prefix must be (H, D) and weights (H,), got {self.prefix.shape} and {self.weights.shape}"
            )

    @property
    def d(self) -> int:
        """Number of leading actions fully tied to the prefix (weight 1)."""
        ones = np.flatnonzero(self.weights < 1.0)
        return int(ones[0]) if ones.size else int(self.weights.shape[0])


@dataclass(frozen=True)
class PolicyInput:
    """One observation.

    Attributes:
        state: (Ds,) robot state [rad, gripper in [0, 1]], 14 values for the ABC rig.
        images: camera name -> (h, w, 3) uint8 RGB at the checkpoint's resolution.
        guidance: the executing chunk to stay consistent with, or None (fresh chunk).
    """

    state: np.ndarray
    images: Mapping[str, np.ndarray] = field(default_factory=dict)
    guidance: Guidance | None = None


class Policy(abc.ABC):
    """A chunking policy.

    Attributes:
        horizon: chunk length H.
        action_dim: D.
        guidance_modes: the :data:`GUIDANCE_MODES` this policy honours; the worker
            falls back to no guidance (and says so) for the others.
    """

    horizon: int = 30
    action_dim: int = 14
    guidance_modes: ClassVar[frozenset[str]] = frozenset()

    def reset(self) -> None:  # noqa: B027  (optional hook, a stateless policy keeps it)
        """Forget any episode state (new episode, or control handed back after an intervention)."""

    @abc.abstractmethod
    def infer(self, obs: PolicyInput) -> np.ndarray:
        """Return an (H, D) chunk of raw actions for ``obs``."""
