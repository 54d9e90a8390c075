"""``abc-eval``: grouped blind evaluation of several checkpoints.

    abc-eval --policies CKPT1 CKPT2 [...] --sim [--groups G] [--task T] [--seed S]
             [--episode-seed E] [--time-limit S] [--judge sim|operator]
             [--json] [--out FILE]
    abc-eval --policies CKPT1 CKPT2 [...] --rig R [--rig-overlay F] [--groups G]
             [--seed S] [--json] [--out FILE]

On a rig (``--rig``, :mod:`abc_robot.cli.eval_rig`) the same blind protocol runs on the
rig's eval graph and the operator is the judge: each trial's line names the alias and
the scene to set up; the operator starts the episode (``r`` / console button A) and
judges it (``s`` / ``f`` / button B short or long).

Every checkpoint gets its own policy worker; all of them sit behind the one policy
endpoint the followers use, through a policy mux that forwards only the model under
test. Checkpoints are known by random aliases (A, B, C...) during the run; each group
runs every alias once, in a shuffled order, on the same episode seed (seed E + group):
a paired comparison on identical initial conditions.

Blind: the workers' logs (which name their checkpoints) are never shown; every line
shown passes a filter that hides checkpoint paths and names; progress is printed per
alias only ("trial 3/12, group 2: model B: success"). The outcome is judged by the
task's success test in sim (``--judge sim``), or typed by the operator (``s``/``f``)
with ``--judge operator``. Only at the end are the results de-anonymized: success
rate with a Wilson 95% interval, mean progress with a t 95% interval, ranking, and a
paired comparison with the first-ranked model. ``--out`` writes them with the
alias mapping and every trial; ``--json`` prints them as one JSON object on stdout
(progress lines then go to stderr).

``--seed`` makes the aliases and the trial order reproducible (tests); without it they
come from ``os.urandom``, so nobody present can know the mapping.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO, cast

from abc_robot.cli.page import add_page_args, with_page
from abc_robot.errors import AbcRobotError, ConfigError

__all__ = ["main"]

LAUNCH = Path(__file__).resolve().parents[2] / "launch" / "rollout_sim.yaml"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="abc-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--policies", nargs="+", required=True, metavar="CKPT", help="checkpoint directories (two or more)")
    ap.add_argument("--sim", action="store_true", help="evaluate in MuJoCo (the only mode without a rig)")
    ap.add_argument("--groups", type=int, default=5, help="groups; each runs every checkpoint once on one seed")
    ap.add_argument("--task", default=None, help="sim task (default: the launch file's)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the aliases and trial order (default: os.urandom)")
    ap.add_argument("--episode-seed", type=int, default=1000, help="episode seed of the first group")
    ap.add_argument("--time-limit", type=float, default=None, help="trial time limit [s] (default: the task's)")
    ap.add_argument("--judge", default="sim", choices=["sim", "operator"], help="who judges each trial")
    ap.add_argument("--compile", default="eager", help="compile rung of every worker")
    ap.add_argument("--launch", default=None, help="rollout launch file (default launch/rollout_sim.yaml)")
    ap.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object")
    ap.add_argument("--out", default=None, metavar="FILE", help="write results, alias mapping and trials (JSON)")
    add_page_args(ap)  # the page runs blind: nothing on it names a checkpoint
    rig = ap.add_argument_group("on a rig (the operator judges)")
    rig.add_argument(
        "--rig", default=None, help="rig directory rigs/<name>: its eval graph (launch/templates/eval.yaml)"
    )
    rig.add_argument(
        "--rig-overlay", metavar="FILE", help="YAML deep-merged onto rig.yaml (device addresses, e.g. a twin's)"
    )
    rig.add_argument("--skip-check", action="store_true", help="start without the preflight checks (not advised)")
    rig.add_argument("--run-dir", default=None, help="the graph's run directory (sockets; default a new temporary one)")
    rig.add_argument(
        "--headless", action="store_true", help="no terminal keys (console board or another console publisher)"
    )
    rig.add_argument(
        "--heartbeat-timeout", type=float, default=None, metavar="S", help="supervisor patience with a silent node [s]"
    )
    rig.add_argument("--no-rt", action="store_true", help="followers without SCHED_FIFO (a twin sharing the CPU)")
    return ap


def _task_overrides(graph_file: str | Path, task: str | None, overrides: dict[str, dict[str, Any]]) -> str:
    """Point the sim and the cameras at ``task``; return the task name in effect."""
    from abc_robot.runtime.config import load_yaml

    nodes = load_yaml(graph_file).get("nodes", [])
    if task:
        for n in nodes:
            if n.get("kind") == "sim":
                overrides.setdefault(n["name"], {})["sim"] = dict(n.get("params", {}).get("sim", {}), task=task)
            elif n.get("kind") == "sim_camera":
                overrides.setdefault(n["name"], {})["world"] = dict(n.get("params", {}).get("world", {}), task=task)
        return task
    return next(
        (str(n.get("params", {}).get("sim", {}).get("task", "lift_cube")) for n in nodes if n.get("kind") == "sim"),
        "lift_cube",
    )


def _check_checkpoints(paths: list[str]) -> list[str]:
    """Resolved, distinct, loadable checkpoint directories (errors may name them: nothing is blind yet)."""
    from abc_robot.policy.checkpoint import load_checkpoint

    out = [str(Path(p).resolve()) for p in paths]
    if len(out) < 2:
        raise ConfigError("a comparison needs at least two checkpoints (--policies CKPT1 CKPT2 ...)")
    if len(set(out)) != len(out):
        raise ConfigError(f"a checkpoint is given twice: {paths}")
    for p in out:
        load_checkpoint(p)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.rig and not args.sim:
        from abc_robot.cli.eval_rig import run_rig_eval

        try:
            checkpoints = _check_checkpoints(args.policies)
        except (AbcRobotError, ValueError) as exc:
            print(f"abc-eval: {exc}", file=sys.stderr)
            return 2
        return run_rig_eval(args, checkpoints)
    if not args.sim:
        print(
            "abc-eval: give --sim (MuJoCo) or --rig R (the operator judges); or --launch with a rollout graph and --judge operator",
            file=sys.stderr,
        )
        if not args.launch:
            return 2
    if args.groups < 1:
        print("abc-eval: --groups must be >= 1", file=sys.stderr)
        return 2

    from abc_robot.cli.director import DirectorConfig, EpisodeDirector
    from abc_robot.cli.launch import parse_sets
    from abc_robot.eval.aliasing import assign_aliases, make_rng
    from abc_robot.eval.blind import Redactor, secrets_of
    from abc_robot.eval.graph import MUX_CONTROL, build_eval_graph, worker_name
    from abc_robot.eval.judge import JUDGES, OperatorJudge
    from abc_robot.eval.report import TrialRecord, build_report, format_report
    from abc_robot.eval.runner import MuxSelector, eval_director, run_queue
    from abc_robot.eval.trials import make_trial_queue
    from abc_robot.runtime.supervisor import Supervisor

    launch = args.launch or LAUNCH
    try:
        checkpoints = _check_checkpoints(args.policies)
        overrides = parse_sets(args.set)
        overrides.setdefault("policy", {})["compile"] = args.compile
        task = _task_overrides(launch, args.task, overrides)
        rng = make_rng(args.seed)
        mapping = assign_aliases(checkpoints, rng)
        queue = make_trial_queue(mapping.aliases, args.groups, args.episode_seed, rng)
        graph = with_page(build_eval_graph(launch, mapping.checkpoints, overrides), args, blind=True)
        time_limit = args.time_limit
        if time_limit is None:
            from abc_robot.sim.tasks import make_task

            time_limit = float(make_task(task).time_limit_s)
    except (AbcRobotError, ValueError) as exc:
        print(f"abc-eval: {exc}", file=sys.stderr)
        return 2

    # Everything the operator sees from here to the report goes through the redactor.
    screen = Redactor(sys.stderr if args.json else sys.stdout, secrets_of([*checkpoints, *args.policies]))
    say = screen.say
    sup = Supervisor(graph, log=cast(TextIO, screen), echo_logs=False)  # workers' logs name their checkpoints
    os.environ["ABC_RUN_DIR"] = sup.run_dir
    workers = [worker_name("policy", a) for a in mapping.aliases]
    judge = OperatorJudge(say=say) if args.judge == "operator" else JUDGES[args.judge]()
    say(
        f"abc-eval: {len(checkpoints)} checkpoints behind aliases {', '.join(mapping.aliases)}; task {task}; "
        f"{args.groups} groups, {len(queue)} trials, {time_limit:g} s each; judged by {judge.name}"
    )
    if args.seed is not None:
        say("abc-eval: --seed given: aliases are reproducible by whoever knows the seed")

    def ready() -> bool:
        st = sup.statuses()
        workers_ready = all(st.get(w, {}).get("status", {}).get("ready") is True for w in workers)
        mux_up = "alias" in st.get("policy", {}).get("status", {})
        arms = [s for s in st.values() if "arm" in s.get("status", {}) and s["status"].get("backend_fault") is None]
        return workers_ready and mux_up and len(arms) == 2

    records: list[TrialRecord] = []

    def episodes(d: EpisodeDirector) -> None:
        selector = MuxSelector(MUX_CONTROL)
        try:
            say("abc-eval: every model is loaded and warmed up; trials start")
            run_queue(d, queue, selector.select, judge, say, records)
        finally:
            selector.close()

    director = eval_director(DirectorConfig(task=task, time_limit_s=time_limit), ready=ready, on_done=sup.request_stop)
    director.start(episodes)
    try:
        code = sup.run(None)
    finally:
        director.stop()

    # ---- de-anonymized from here on ------------------------------------------------------
    report = build_report(mapping, records, len(queue))
    report.update(
        task=task,
        groups=args.groups,
        episode_seeds=sorted({t.seed for t in queue}),
        time_limit_s=time_limit,
        judge=judge.name,
        seed=args.seed,
        stop_reason=sup.stop_reason,
        exit=code,
    )
    if director.error:
        report["director_error"] = director.error
    # A world that lagged behind real time (an overloaded machine) makes trials harder.
    sims = [sup.statuses()[n.name]["status"] for n in graph.nodes if n.kind == "sim"]
    if sims:
        report["sim"] = {k: sims[0].get(k) for k in ("realtime_factor", "lag_steps", "resets")}
    failed = {n: np_.tail[-5:] for n, np_ in sup.nodes.items() if np_.exit_code not in (None, 0, -15)}
    if failed:
        report["failed_nodes"] = failed
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    if args.json:
        print(json.dumps(report, default=str))
    else:
        print(format_report(report))
        if not report["complete"]:
            print(f"stopped early: {sup.stop_reason}")
        if director.error:
            print(f"director: {director.error}")
        for n, tail in failed.items():
            print(f"node {n} failed; last lines:\n  " + "\n  ".join(tail))
        if args.out:
            print(f"results and alias mapping written to {args.out}")
    return 0 if code == 0 and report["complete"] and not director.error else 1


if __name__ == "__main__":
    sys.exit(main())
