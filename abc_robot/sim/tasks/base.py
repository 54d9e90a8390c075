"""The task role: objects, randomized start, success test, progress score, a script.

A task never imports MuJoCo: it reads and writes the world through
:class:`~abc_robot.sim.world.SimWorld`'s methods (object poses, finger contacts), and
its script plans from a :class:`~abc_robot.sim.snapshot.WorldSnapshot`, so a scripted
leader process can play a demonstration without a physics engine.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from abc_robot.sim.objects import SceneObject
from abc_robot.sim.snapshot import WorldSnapshot
from abc_robot.sim.trajectory import PoseTrajectory

if TYPE_CHECKING:
    from abc_robot.sim.world import SimWorld

__all__ = ["Task"]


class Task(abc.ABC):
    """Contract of a sim task.

    - :meth:`objects`: the rigid objects the scene must contain (fixed per task).
    - :meth:`reset`: place them from ``rng`` (called after the arms went home); the
      same seed gives the same start.
    - :meth:`success`: the task's own outcome test, checked on the current state.
    - :meth:`progress`: a score in [0, 1] of the current state (1 when successful);
      stages of the task, so partial attempts can be compared.
    - :meth:`script`: a scripted demonstration from an initial snapshot: one
      end-effector trajectory per arm in that arm's base frame, starting at the
      snapshot's poses and ending well inside :attr:`time_limit_s`.
    """

    #: Registry name.
    name: ClassVar[str] = ""
    #: Episode time limit [s].
    time_limit_s: ClassVar[float] = 20.0
    #: One line for operators and episode metadata.
    description: ClassVar[str] = ""

    @abc.abstractmethod
    def objects(self) -> tuple[SceneObject, ...]:
        """The task's objects (added to the scene at build time)."""

    @abc.abstractmethod
    def reset(self, world: SimWorld, rng: np.random.Generator) -> None:
        """Randomise the initial object poses."""

    @abc.abstractmethod
    def success(self, world: SimWorld) -> bool:
        """True when the task is accomplished in the current state."""

    @abc.abstractmethod
    def progress(self, world: SimWorld) -> float:
        """Score of the current state in [0, 1]."""

    @abc.abstractmethod
    def script(self, snapshot: WorldSnapshot) -> dict[str, PoseTrajectory]:
        """A scripted demonstration from ``snapshot``: trajectory per arm (base frame)."""

    def info(self) -> dict[str, Any]:
        """Name, description and time limit (for replies and episode metadata)."""
        return {"task": self.name, "description": self.description, "time_limit_s": self.time_limit_s}
