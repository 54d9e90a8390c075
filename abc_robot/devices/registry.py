"""Arm backends by name: the follower's ``backend.kind`` picks one, no if/elif.

Each entry builds a backend from its params (checked against its own config
dataclass, errors naming the launch file and field) and the follower's context.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from abc_robot.devices.backend import ArmBackend
from abc_robot.errors import ConfigError
from abc_robot.runtime.config import from_dict
from abc_robot.transport.bus import Publisher

__all__ = ["BackendContext", "BACKENDS", "make_backend"]


@dataclass
class BackendContext:
    """What a backend may use from its follower process."""

    arm: str
    publisher: Publisher
    file: str | None = None
    prefix: str = "backend.params"


def _sim(params: dict[str, Any], ctx: BackendContext) -> ArmBackend:
    from abc_robot.devices.sim_backend import SimArmBackend, SimBackendConfig

    return SimArmBackend(from_dict(SimBackendConfig, params, file=ctx.file, prefix=ctx.prefix), ctx.arm, ctx.publisher)


def _by_path(target: str) -> Callable[[dict[str, Any], BackendContext], ArmBackend]:
    """A backend class with ``Config`` and ``from_config(cfg, arm)``."""

    def build(params: dict[str, Any], ctx: BackendContext) -> ArmBackend:
        module, _, name = target.partition(":")
        cls = getattr(importlib.import_module(module), name)
        cfg = from_dict(cls.Config, params, file=ctx.file, prefix=ctx.prefix)
        return cls.from_config(cfg, ctx.arm)

    return build


BACKENDS: dict[str, Callable[[dict[str, Any], BackendContext], ArmBackend]] = {
    "sim": _sim,
    "dynamixel": _by_path("abc_robot.devices.dynamixel.arm:DynamixelArm"),
    "yam": _by_path("abc_robot.devices.damiao.arm:YamArm"),
    # The same drivers with their devices emulated in-process (demos, launch tests).
    "dynamixel_emulated": _by_path("abc_robot.testing.emulated:EmulatedDynamixelArm"),
    "yam_emulated": _by_path("abc_robot.testing.emulated:EmulatedYamArm"),
}


def make_backend(kind: str, params: dict[str, Any], ctx: BackendContext) -> ArmBackend:
    """Build the backend named ``kind``.

    Raises:
        ConfigError: unknown kind (listing the valid ones) or bad params.
    """
    build = BACKENDS.get(kind)
    if build is None:
        raise ConfigError(f"unknown backend {kind!r}; valid: {sorted(BACKENDS)}", file=ctx.file, field="backend.kind")
    return build(params, ctx)
