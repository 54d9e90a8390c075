"""Node base, rate loop, configuration, launch files and the supervisor.

Exports load on first use: a module that only reads configuration (a checkpoint
loader on a GPU host, say) does not import the node base and pyzmq with it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Node", "RateLoop", "from_dict", "load_config", "load_yaml"]

_WHERE = {
    "Node": "abc_robot.runtime.node",
    "RateLoop": "abc_robot.runtime.rate",
    "from_dict": "abc_robot.runtime.config",
    "load_config": "abc_robot.runtime.config",
    "load_yaml": "abc_robot.runtime.config",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'abc_robot.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
