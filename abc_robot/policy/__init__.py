"""Policies: checkpoint contract, chunk execution, the reference DiT flow policy.

Importing this package (or :mod:`abc_robot.policy.chunking`, :mod:`.rtc`,
:mod:`.compression`, :mod:`.checkpoint`, :mod:`.interface`) does not import torch;
the follower relies on that. The torch parts (:func:`load_policy`, :class:`DiTPolicy`,
the compile ladder, training) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from abc_robot.policy.checkpoint import (
    ARCHITECTURES,
    Checkpoint,
    CheckpointConfig,
    NormStats,
    RigSpec,
    load_checkpoint,
)
from abc_robot.policy.chunking import ChunkExecutor, DelayEstimator, ExecutorConfig, Trajectory, executing_prefix
from abc_robot.policy.interface import Guidance, Policy, PolicyInput
from abc_robot.policy.planner import ChunkPlanner, PlannerConfig

_LAZY = {
    "load_policy": "abc_robot.policy.load",
    "export_program": "abc_robot.policy.load",
    "DiTPolicy": "abc_robot.policy.dit_policy",
    "COMPILE_CHOICES": "abc_robot.policy.compile",
    "train_policy": "abc_robot.policy.training",
}

__all__ = [
    "ARCHITECTURES",
    "Checkpoint",
    "CheckpointConfig",
    "NormStats",
    "RigSpec",
    "load_checkpoint",
    "ChunkExecutor",
    "DelayEstimator",
    "ExecutorConfig",
    "Trajectory",
    "executing_prefix",
    "Guidance",
    "Policy",
    "PolicyInput",
    "ChunkPlanner",
    "PlannerConfig",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'abc_robot.policy' has no attribute {name!r}")
