"""The trial loop of a blind evaluation, on a live graph driven by the episode director.

For each trial of the queue: select the trial's alias on the policy mux, run one
policy episode on the group's seed (:meth:`EpisodeDirector.policy_episode`), have the
judge decide, and show one alias-level line. Outcomes stay under aliases until the
end (:func:`abc_robot.eval.report.build_report`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from abc_robot.errors import TransportError
from abc_robot.eval.judge import OutcomeJudge
from abc_robot.eval.report import TrialRecord
from abc_robot.eval.trials import Trial

__all__ = ["MuxSelector", "run_queue", "progress_line", "eval_director"]


def eval_director(cfg: Any, ready: Callable[[], bool], on_done: Callable[[str], None]) -> Any:
    """The :class:`~abc_robot.runtime.director.EpisodeDirector` for an evaluation.

    Its resets leave no trace of the last trial (the re-anchor waits for the world's
    reset state; see :meth:`EpisodeDirector.reset`), which a paired comparison needs.
    """
    from abc_robot.runtime.director import EpisodeDirector

    return EpisodeDirector(cfg, ready=ready, on_done=on_done)


class MuxSelector:
    """Selects the model behind the fixed policy endpoint (``mux/select`` requests).

    Args:
        control: the mux's request endpoint.
        timeout_s: per request [s].
    """

    def __init__(self, control: str, timeout_s: float = 2.0) -> None:
        from abc_robot.transport.bus import Requester

        self.req = Requester(control, "eval")
        self.timeout_s = timeout_s

    def select(self, alias: str | None) -> None:
        """Forward ``alias``'s chunks from now on (None: none).

        Raises:
            TransportError: no answer, or the mux refused (unknown alias).
        """
        from abc_robot.transport.messages import Event

        rep = self.req.request("mux/select", Event(kind="mux/select", data={"alias": alias}), timeout_s=self.timeout_s)
        if not rep.ok or rep.data.get("alias") != alias:
            raise TransportError(f"policy mux refused alias {alias!r}: {rep.message}")

    def close(self) -> None:
        self.req.close()


def progress_line(trial: Trial, total: int, rec: TrialRecord) -> str:
    """``trial 3/12, group 2: model B: success (progress 1.00, 5.3 s)`` — aliases only."""
    what = "success" if rec.success else "failure"
    return (
        f"trial {trial.index + 1}/{total}, group {trial.group + 1}: model {trial.alias}: {what} "
        f"(progress {rec.progress:.2f}, {rec.duration_s:.1f} s)"
    )


def run_queue(
    director: Any,
    queue: list[Trial],
    select: Callable[[str | None], None],
    judge: OutcomeJudge,
    say: Callable[[str], None],
    records: list[TrialRecord],
) -> None:
    """Run every trial of ``queue`` in order, appending to ``records`` as they are judged.

    Args:
        director: a started :class:`~abc_robot.runtime.director.EpisodeDirector` (its thread).
        queue: the trials (see :func:`~abc_robot.eval.trials.make_trial_queue`).
        select: puts an alias behind the policy endpoint (:meth:`MuxSelector.select`).
        judge: decides each outcome knowing only the alias.
        say: shows an operator-visible line.
        records: receives the judged trials (kept by the caller if the run is cut short).
    """
    for trial in queue:
        select(trial.alias)
        say(f"trial {trial.index + 1}/{len(queue)}, group {trial.group + 1}: model {trial.alias} (seed {trial.seed})")
        ep = director.policy_episode(trial.seed, label=f"eval:{trial.alias}")
        if not director.sleep(0.0):
            break  # stopped mid-trial (Ctrl-C, a failed node): that trial is not judged
        out = judge.judge(trial.alias, ep)
        rec = TrialRecord(trial, out.success, out.progress, float(ep.duration_s), out.judged_by)
        records.append(rec)
        say(progress_line(trial, len(queue), rec))
    select(None)
