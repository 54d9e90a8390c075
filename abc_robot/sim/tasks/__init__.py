"""Sim tasks (objects, randomized starts, success, progress) and their scripted demos.

Registry: :data:`TASKS` maps a name to its class; :func:`make_task` builds one and
names the valid choices when the name is wrong. Adding a task is a module here plus
one line in :data:`TASKS`. Nothing here imports MuJoCo.
"""

from __future__ import annotations

from abc_robot.errors import ConfigError
from abc_robot.sim.tasks.base import Task
from abc_robot.sim.tasks.bottle_in_bin import BottleInBin
from abc_robot.sim.tasks.handover import Handover
from abc_robot.sim.tasks.lift_cube import LiftCube
from abc_robot.sim.tasks.lift_cube_easy import LiftCubeEasy, LiftCubeEither

__all__ = ["Task", "TASKS", "make_task", "task_names", "LiftCube", "LiftCubeEasy", "LiftCubeEither", "BottleInBin", "Handover"]

#: Task classes by name, easiest first.
TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (LiftCubeEasy, LiftCubeEither, LiftCube, BottleInBin, Handover)}


def task_names() -> list[str]:
    """Registered task names, easiest first."""
    return list(TASKS)


def make_task(name: str) -> Task:
    """A new task instance by name.

    Raises:
        ConfigError: unknown name (the message lists the valid ones).
    """
    cls = TASKS.get(name)
    if cls is None:
        raise ConfigError(f"unknown task {name!r}; tasks: {task_names()}", field="task")
    return cls()
