"""``abc-teleop``: the teleoperation graph, in MuJoCo (``--sim``) or on the rig.

    abc-teleop --sim [--headless] [--duration S] [--json]
    abc-teleop --rig rigs/<name> [--rig-overlay F] [--skip-check]

``--sim`` runs ``launch/teleop_sim.yaml``: the MuJoCo world, a scripted leader, two
followers (IK + safety), the three rendered cameras and the recorder. A live status
table is shown on a terminal unless ``--headless``; a summary (tracking error and
leader→follower latency per arm, node rates) is printed at exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from abc_robot.cli.page import add_page_args, with_page
from abc_robot.cli.view import add_view_args, with_view
from abc_robot.errors import ConfigError

__all__ = ["main", "LAUNCH_DIR"]

LAUNCH_DIR = Path(__file__).resolve().parents[2] / "launch"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="abc-teleop", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--sim", action="store_true", help="MuJoCo world instead of hardware")
    where.add_argument("--rig", help="rig directory rigs/<name> (hardware graph from launch/templates/teleop.yaml)")
    ap.add_argument("--launch", help="launch file (default: launch/teleop_sim.yaml; with --rig: the rig's teleop graph)")
    ap.add_argument("--headless", action="store_true", help="no live status table")
    ap.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object at exit")
    ap.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE")
    ap.add_argument("--episodes", type=int, default=0, help="sim: record N scripted demonstrations of --task, then stop")
    ap.add_argument("--task", default=None, help="sim task (default: the launch file's)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the first episode (then seed+1, ...)")
    ap.add_argument("--episodes-dir", default=None, help="where the recorder writes episodes")
    from abc_robot.cli.rig import add_rig_arguments, load_rig_graph

    add_rig_arguments(ap)
    add_page_args(ap)
    add_view_args(ap)
    args = ap.parse_args(argv)

    from abc_robot.cli.launch import parse_sets
    from abc_robot.runtime.launch import load_launch
    from abc_robot.runtime.supervisor import Supervisor

    launch = Path(args.launch) if args.launch else LAUNCH_DIR / "teleop_sim.yaml"
    overrides = parse_sets(args.set)
    if args.sim:
        _sim_overrides(overrides, args)
    if args.episodes_dir and args.rig:
        overrides.setdefault("recorder", {})["root"] = args.episodes_dir
    try:
        if args.rig and not args.launch:
            built = load_rig_graph(args.rig, "teleop", args.rig_overlay, overrides, "abc-teleop", args.skip_check)
            if built is None:
                return 2
            graph = with_view(with_page(built[1], args), args)
        else:
            graph = with_view(with_page(load_launch(launch, overrides), args), args)
    except ConfigError as exc:
        print(f"abc-teleop: config error: {exc}", file=sys.stderr)
        return 2
    from abc_robot.cli.preflight import preflight_graph

    if (refused := preflight_graph("abc-teleop", graph)) is not None:
        return refused  # a bad checkpoint or calibration file: nothing was started
    live = not args.headless and sys.stdout.isatty()
    sup = Supervisor(graph, echo_logs=not live)
    os.environ["ABC_RUN_DIR"] = sup.run_dir  # the console endpoint lives in the graph's run dir
    director = None
    keys = None
    if args.sim and args.episodes > 0:
        from abc_robot.cli.director import DirectorConfig, EpisodeDirector, graph_ready

        task = args.task or _launch_task(graph)
        kinds = {n.name: n.kind for n in graph.nodes}
        director = EpisodeDirector(DirectorConfig(task=task), ready=lambda: graph_ready(sup.statuses(), kinds), on_done=sup.request_stop)
        director.start(lambda d: [d.demo_episode(args.seed + k) for k in range(args.episodes)])
    else:
        from abc_robot.cli.keys import ConsoleKeys
        from abc_robot.transport.bus import Publisher

        keys = ConsoleKeys(Publisher("ipc://${run}/console", "console"), on_quit=lambda: sup.request_stop("q pressed"))
        if not args.headless:
            keys.start()
    on_tick = None
    if live:
        from rich.live import Live

        from abc_robot.cli.console import status_table

        view = Live(status_table({}), refresh_per_second=4)
        view.start()
        on_tick = lambda s: view.update(status_table(s.statuses(), f"abc-teleop — {graph.graph}"))  # noqa: E731
    try:
        code = sup.run(args.duration, on_tick=on_tick)
    finally:
        if live:
            view.stop()
        if director is not None:
            director.stop()
        if keys is not None:
            keys.stop()
    from abc_robot.cli.console import format_summary, teleop_summary

    summary = teleop_summary(sup.statuses())
    summary["exit"] = code
    summary["stop_reason"] = sup.stop_reason
    if director is not None:
        summary["episodes"] = [vars(r) for r in director.results]
        summary["success_rate"] = sum(r.success for r in director.results) / max(1, len(director.results))
        if director.error:
            summary["director_error"] = director.error
            code = summary["exit"] = 1
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(format_summary(summary))
    return code


def _sim_overrides(overrides: dict, args: argparse.Namespace) -> None:
    """Task, episode directory and scripted-demo leader, as the command line asks."""
    if args.task:
        overrides.setdefault("sim", {})["sim"] = {"task": args.task}
        for cam in ("camera_top", "camera_left", "camera_right"):
            overrides.setdefault(cam, {})["world"] = {"task": args.task}
    if args.episodes > 0:
        overrides.setdefault("leader", {}).update({"source": "demo", "console": ["ipc://${run}/console"]})
        for arm in ("left", "right"):
            overrides.setdefault(f"follower_{arm}", {})["initial_mode"] = "HOLD"
    if args.episodes_dir:
        overrides.setdefault("recorder", {})["root"] = args.episodes_dir


def _launch_task(graph: object) -> str:
    for n in graph.nodes:  # type: ignore[attr-defined]
        if n.kind == "sim":
            return str(n.params.get("sim", {}).get("task", "lift_cube"))
    return "lift_cube"


if __name__ == "__main__":
    sys.exit(main())
