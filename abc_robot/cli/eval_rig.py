"""``abc-eval --policies A B --rig R``: the blind protocol on a rig, the operator judging.

The command side of :mod:`abc_robot.eval.rig`: the rig is loaded (with ``--rig-overlay``)
and checked (the preflight refuses with its table), its eval graph built with the
checkpoints behind the blind mux and supervised with the operator's keys; the console
events (keys or board) drive :class:`~abc_robot.cli.rig_session.OperatorEpisodes`
(episode start → POLICY, a verdict → HOLD) and :func:`~abc_robot.eval.rig.run_operator_queue`
walks the trial queue. Node logs are never echoed (the workers name their checkpoints);
every line shown passes the redactor; the results are de-anonymized at the end.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO, cast

__all__ = ["run_rig_eval"]


def run_rig_eval(args: Any, checkpoints: list[str], prog: str = "abc-eval") -> int:
    """``abc-eval --policies ... --rig R``; ``args`` as parsed by ``cli/eval.py``."""
    from abc_robot.cli.keys import ConsoleKeys
    from abc_robot.cli.launch import parse_sets
    from abc_robot.cli.rig import preflight_or_refuse
    from abc_robot.cli.rig_session import OperatorEpisodes
    from abc_robot.errors import AbcRobotError, ConfigError
    from abc_robot.eval.aliasing import assign_aliases, make_rng
    from abc_robot.eval.blind import Redactor, secrets_of
    from abc_robot.eval.graph import MUX_CONTROL, worker_name
    from abc_robot.eval.report import TrialRecord, build_report, format_report
    from abc_robot.eval.rig import rig_eval_graph, run_operator_queue
    from abc_robot.eval.runner import MuxSelector
    from abc_robot.eval.trials import make_trial_queue
    from abc_robot.rig import load_rig
    from abc_robot.rig.graphs import write_calibration_dir, write_layout
    from abc_robot.runtime.supervisor import Supervisor
    from abc_robot.transport.bus import Publisher

    task = args.task or "rig"
    try:
        overrides = parse_sets(args.set)
        overrides.setdefault("policy", {})["compile"] = args.compile
        if args.task:
            overrides.setdefault("recorder", {})["task_name"] = args.task
        rng = make_rng(args.seed)
        mapping = assign_aliases(checkpoints, rng)
        queue = make_trial_queue(mapping.aliases, args.groups, args.episode_seed, rng)
    except (AbcRobotError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    try:
        rig = load_rig(args.rig, args.rig_overlay)
    except ConfigError as exc:
        print(f"{prog}: config error: {exc}", file=sys.stderr)
        return 2
    if not preflight_or_refuse(rig, prog, args.skip_check):
        return 2
    try:
        work = Path(tempfile.mkdtemp(prefix=f"abc_rig_{rig.name}_"))
        graph = rig_eval_graph(
            rig,
            mapping.checkpoints,
            overrides,
            layout=str(write_layout(rig, work / "layout.yaml")),
            calibration_dir=str(write_calibration_dir(rig, work / "calibration")),
            heartbeat_timeout_s=args.heartbeat_timeout,
            realtime=not args.no_rt,
        )
    except ConfigError as exc:
        print(f"{prog}: config error: {exc}", file=sys.stderr)
        return 2

    # Everything the operator sees from here to the report goes through the redactor.
    screen = Redactor(sys.stderr if args.json else sys.stdout, secrets_of([*checkpoints, *args.policies]))
    say = screen.say
    sup = Supervisor(graph, run_dir=args.run_dir, log=cast(TextIO, screen), echo_logs=False)
    os.environ["ABC_RUN_DIR"] = sup.run_dir  # the console endpoint lives in the graph's run dir
    keys = ConsoleKeys(Publisher("ipc://${run}/console", "console"), on_quit=lambda: sup.request_stop("q pressed"))
    consoles = [f"ipc://{sup.run_dir}/console"] + (
        [f"ipc://{sup.run_dir}/console_board"] if rig.console is not None else []
    )
    verdicts: list[Any] = []

    def mode(m: Any) -> None:
        keys.pub.publish("console/mode", m)
        if m.mode == "POLICY":  # OperatorEpisodes took the operator's start
            say(f"{prog}: episode started: the model drives; judge it with s / f (button B short / long)")

    ops = OperatorEpisodes(consoles, mode)
    workers = [worker_name("policy", a) for a in mapping.aliases]
    say(
        f"{prog}: {len(checkpoints)} checkpoints behind aliases {', '.join(mapping.aliases)} on rig {rig.name}; "
        f"{args.groups} groups, {len(queue)} trials; judged by the operator"
    )
    if args.seed is not None:
        say(f"{prog}: --seed given: aliases are reproducible by whoever knows the seed")

    def pending() -> list[str]:
        """What the first trial still waits for (node names carry aliases only)."""
        st = sup.statuses()
        out = [f"{w} (loading)" for w in workers if st.get(w, {}).get("status", {}).get("ready") is not True]
        if "alias" not in st.get("policy", {}).get("status", {}):
            out.append("policy mux")
        for arm in rig.followers:
            fst = st.get(f"follower_{arm}", {}).get("status", {})
            if "arm" not in fst or fst.get("backend_fault") is not None:
                out.append(f"follower_{arm} ({fst.get('backend_fault') or 'starting'})")
        return out

    def next_verdict(timeout_s: float) -> Any:
        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end:
            if len(ops.verdicts) > len(verdicts):
                verdicts.append(ops.verdicts[len(verdicts)])
                return verdicts[-1]
            time.sleep(0.02)
        return None

    records: list[TrialRecord] = []
    stopping = threading.Event()
    errors: list[str] = []

    def trials() -> None:
        try:
            t_said = time.monotonic()
            while not stopping.is_set() and (waiting := pending()):
                if time.monotonic() - t_said > 30.0:
                    say(f"{prog}: waiting for {', '.join(waiting)}")
                    t_said = time.monotonic()
                time.sleep(0.2)
            if stopping.is_set():
                return
            selector = MuxSelector(MUX_CONTROL.replace("${run}", sup.run_dir))
            try:
                say(f"{prog}: every model is loaded and warmed up; trials start")
                run_operator_queue(queue, selector.select, next_verdict, say, records, lambda: not stopping.is_set())
            finally:
                selector.close()
            if not stopping.is_set():
                sup.request_stop("every trial judged")
        except Exception as exc:  # noqa: BLE001 - reported with the results, the graph stopped
            errors.append(f"{type(exc).__name__}: {exc}")
            sup.request_stop(f"trial loop failed: {exc}")

    ops.start()
    if not args.headless:
        keys.start()
    runner = threading.Thread(target=trials, name="rig-eval-trials", daemon=True)
    runner.start()
    try:
        code = sup.run(None)
    finally:
        stopping.set()
        runner.join(5.0)
        keys.stop()
        ops.stop()

    # ---- de-anonymized from here on ------------------------------------------------------
    report = build_report(mapping, records, len(queue))
    report.update(
        task=task,
        rig=rig.name,
        groups=args.groups,
        episode_seeds=sorted({t.seed for t in queue}),
        judge="operator",
        seed=args.seed,
        stop_reason=sup.stop_reason,
        exit=code,
        run_dir=sup.run_dir,
    )
    if errors:
        report["director_error"] = errors[0]
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
        for n, tail in failed.items():
            print(f"node {n} failed; last lines:\n  " + "\n  ".join(tail))
        if args.out:
            print(f"results and alias mapping written to {args.out}")
    return 0 if code == 0 and report["complete"] and not errors else 1
