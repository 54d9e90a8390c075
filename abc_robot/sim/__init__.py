"""The MuJoCo world of the rig, its tasks and scripted demonstrators.

``SimWorld`` and the renderer import MuJoCo; tasks, snapshots, trajectories and
demonstrators do not (a scripted leader uses them without a physics engine), so
the heavy names here load lazily on first access.
"""

from __future__ import annotations

from typing import Any

from abc_robot.sim.config import CAMERAS, SimConfig
from abc_robot.sim.layout import ARMS, BimanualLayout
from abc_robot.sim.snapshot import WorldSnapshot

__all__ = [
    "SimConfig",
    "CAMERAS",
    "ARMS",
    "BimanualLayout",
    "WorldSnapshot",
    "SimWorld",
    "HOME_Q",
    "Demonstrator",
    "JointDemonstrator",
]

_LAZY = {
    "SimWorld": "abc_robot.sim.world",
    "HOME_Q": "abc_robot.sim.world",
    "Demonstrator": "abc_robot.sim.demonstrator",
    "JointDemonstrator": "abc_robot.sim.demonstrator",
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'abc_robot.sim' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(mod), name)
