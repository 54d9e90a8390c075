"""Who decides whether a trial succeeded.

In sim the task's success test decides (scripted judgment, :class:`SimJudge`). On a
rig the operator does, after watching the trial, knowing only the alias
(:class:`OperatorJudge`: ``s`` / ``f`` as on the console keys of
:mod:`abc_robot.cli.keys`, optionally with a progress score).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "OutcomeJudge", "SimJudge", "OperatorJudge", "JUDGES"]


@dataclass(frozen=True)
class Outcome:
    """A judged trial.

    Attributes:
        success: the task was done.
        progress: task progress score in [0, 1].
        judged_by: ``sim`` or ``operator``.
    """

    success: bool
    progress: float
    judged_by: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.progress <= 1.0:
            raise ValueError(f"progress must be in [0, 1], got {self.progress}")


class OutcomeJudge(abc.ABC):
    """Turns a finished trial into an :class:`Outcome`, knowing only the alias."""

    name: str = ""

    @abc.abstractmethod
    def judge(self, alias: str, episode: Any) -> Outcome:
        """Judge the trial of ``alias``; ``episode`` is the director's EpisodeResult."""


class SimJudge(OutcomeJudge):
    """The task's own success test and progress score, evaluated by the sim node."""

    name = "sim"

    def judge(self, alias: str, episode: Any) -> Outcome:
        return Outcome(bool(episode.success), float(min(1.0, max(0.0, episode.progress))), self.name)


class OperatorJudge(OutcomeJudge):
    """Asks the operator: ``s`` (success) or ``f`` (failure), optionally ``f 0.4`` (progress).

    Args:
        read_line: returns one line typed by the operator (default :func:`input`).
        say: shows the prompt (default :func:`print`).
    """

    name = "operator"

    def __init__(self, read_line: Callable[[str], str] | None = None, say: Callable[[str], None] | None = None) -> None:
        self.read_line = read_line or input
        self.say = say or print

    def judge(self, alias: str, episode: Any) -> Outcome:
        prompt = f"model {alias}: outcome? s = success, f = failure (optionally a progress 0..1, e.g. 'f 0.4'): "
        while True:
            parts = self.read_line(prompt).strip().lower().split()
            if parts and parts[0] in ("s", "f"):
                ok = parts[0] == "s"
                try:
                    progress = float(parts[1]) if len(parts) > 1 else (1.0 if ok else 0.0)
                except ValueError:
                    progress = -1.0
                if 0.0 <= progress <= 1.0:
                    return Outcome(ok, progress, self.name)
            self.say("  please type s or f, optionally followed by a progress between 0 and 1")


#: Judges by name (``abc-eval --judge``).
JUDGES: dict[str, type[OutcomeJudge]] = {"sim": SimJudge, "operator": OperatorJudge}
