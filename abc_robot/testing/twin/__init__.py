"""The hardware twin: a rig's devices emulated at the protocol level, coupled to one MuJoCo world.

``abc-rig twin R`` calls :func:`twin_main`. Production code never imports this package.
"""

from __future__ import annotations

from abc_robot.testing.twin.cli import twin_main

__all__ = ["twin_main"]
