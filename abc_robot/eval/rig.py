"""``abc-eval --policies A B --rig R``: the blind protocol on a rig, the operator judging.

The rig's eval graph (``launch/templates/eval.yaml``: followers, leaders, cameras,
console, recorder and one policy worker) is built from the rig directory as every
``--rig`` command builds its graph (overlay, preflight, layout, calibration hashes),
and its worker is put behind the blind policy mux (:func:`~abc_robot.eval.graph.mux_policies`):
one worker per alias, the mux forwarding only the model under test.

No sim director on a rig: for each trial of the queue the mux selects the trial's
alias and one line asks the operator to set the scene up (the group's setup number,
the same for every model of a group) and to start the episode (``r`` or console
button A: the arms go to the policy, :class:`~abc_robot.cli.rig_session.OperatorEpisodes`).
The operator watches and judges (``s`` / ``f``, or button B short / long), knowing
only the alias; a stopped or discarded episode is not a verdict, and the same trial
is started again. Every line shown passes the :class:`~abc_robot.eval.blind.Redactor`;
node logs (the workers name their checkpoints) are never echoed. The results are
de-anonymized only at the end (:func:`~abc_robot.eval.report.build_report`).
The command that runs all this is :mod:`abc_robot.cli.eval_rig` (commands sit above
this layer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from abc_robot.eval.report import TrialRecord
from abc_robot.eval.runner import progress_line
from abc_robot.eval.trials import Trial

__all__ = ["rig_eval_graph", "run_operator_queue", "JUDGED"]

#: Verdicts that judge a trial (a stop or a discard asks for the trial again).
JUDGED = ("success", "fail")


def rig_eval_graph(
    rig: Any,
    checkpoints: dict[str, str],
    overrides: dict[str, dict[str, Any]],
    *,
    layout: str | None = None,
    calibration_dir: str | None = None,
    heartbeat_timeout_s: float | None = None,
    realtime: bool = True,
) -> Any:
    """The eval graph of a loaded rig with ``checkpoints`` (alias → path) behind the mux.

    Builds ``launch/templates/eval.yaml`` for ``rig`` (:func:`~abc_robot.rig.graphs.build_graph`
    with ``layout`` and ``calibration_dir``), applies ``overrides`` (``policy`` params
    reach every worker), then the mux. ``realtime=False`` drops the followers'
    SCHED_FIFO priority (a twin whose emulated devices share two cores with them).

    Returns:
        the checked :class:`~abc_robot.runtime.launch.LaunchGraph`.

    Raises:
        ConfigError: a template, override or mux problem (naming the field).
    """
    from abc_robot.eval.graph import mux_policies
    from abc_robot.rig.graphs import build_graph, rig_launch_graph
    from abc_robot.runtime.launch import apply_overrides

    source = f"{rig.root}/rig.yaml (eval template)"
    data = build_graph(rig, "eval", layout=layout, calibration_dir=calibration_dir)
    if overrides:
        data = apply_overrides(data, overrides, source)
    data = mux_policies(data, checkpoints, file=source)
    if heartbeat_timeout_s is not None:
        data["heartbeat_timeout_s"] = heartbeat_timeout_s
    if not realtime:
        for node in data["nodes"]:
            node["rt_priority"] = 0
    return rig_launch_graph(data, None, source=source)


def run_operator_queue(
    queue: list[Trial],
    select: Callable[[str | None], None],
    next_verdict: Callable[[float], Any],
    say: Callable[[str], None],
    records: list[TrialRecord],
    running: Callable[[], bool],
) -> None:
    """Run every trial of ``queue`` with the operator starting and judging each.

    Args:
        queue: the trials (see :func:`~abc_robot.eval.trials.make_trial_queue`).
        select: puts an alias behind the policy endpoint (:meth:`MuxSelector.select`).
        next_verdict: the operator's next verdict within a timeout [s], or None
            (a :class:`~abc_robot.cli.rig_session.Verdict`: ``outcome``, ``duration_s``).
        say: shows an operator-visible line (aliases only).
        records: receives the judged trials (kept by the caller if the run is cut short).
        running: False once the graph is stopping (the trial in progress is not judged).
    """
    for trial in queue:
        select(trial.alias)
        say(
            f"trial {trial.index + 1}/{len(queue)}, group {trial.group + 1}: model {trial.alias}: "
            f"set up scene {trial.seed}, then start the episode (r or button A); judge it with s / f (button B short / long)"
        )
        while running():
            v = next_verdict(0.2)
            if v is None:
                continue
            if v.outcome in JUDGED:
                ok = v.outcome == "success"
                rec = TrialRecord(trial, ok, 1.0 if ok else 0.0, float(v.duration_s), "operator")
                records.append(rec)
                say(progress_line(trial, len(queue), rec))
                break
            say(f"trial {trial.index + 1}/{len(queue)}: episode {v.outcome}, not judged: start it again")
        else:
            return  # the graph is stopping: nothing left to select on
    select(None)
