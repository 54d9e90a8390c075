"""Dynamixel (Protocol 2.0) devices: the bus, the GELLO leader reader, the follower arm.

Exports resolve lazily so that the emulator (and the benchmark's emulator process),
which need only :mod:`.control_table` and :mod:`.packet`, import nothing else.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BusConfig",
    "DynamixelBus",
    "Reading",
    "SyncRead",
    "LeaderReader",
    "LeaderSample",
    "DynamixelArm",
    "DynamixelArmConfig",
    "LatencyCheck",
    "check_latency_timer",
]

_WHERE = {
    "BusConfig": "config",
    "DynamixelBus": "bus",
    "Reading": "bus",
    "SyncRead": "bus",
    "LeaderReader": "leader",
    "LeaderSample": "leader",
    "DynamixelArm": "arm",
    "DynamixelArmConfig": "config",
    "LatencyCheck": "usb",
    "check_latency_timer": "usb",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
