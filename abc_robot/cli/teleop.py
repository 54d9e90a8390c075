"""``abc-teleop``: the teleoperation graph, in MuJoCo (``--sim``) or on the rig.

    abc-teleop --sim [--headless] [--duration S] [--json]
    abc-teleop --rig calibration/<rig>

``--sim`` runs ``launch/teleop_sim.yaml``: the MuJoCo world, a scripted leader, two
followers (IK + safety), the three rendered cameras and the recorder. A live status
table is shown on a terminal unless ``--headless``; a summary (tracking error and
leader→follower latency per arm, node rates) is printed at exit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from abc_robot.errors import ConfigError

__all__ = ["main", "LAUNCH_DIR"]

LAUNCH_DIR = Path(__file__).resolve().parents[2] / "launch"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="abc-teleop", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--sim", action="store_true", help="MuJoCo world instead of hardware")
    where.add_argument("--rig", help="rig calibration directory (hardware graph)")
    ap.add_argument("--launch", help="launch file (default: launch/teleop_sim.yaml or launch/teleop_hw.yaml)")
    ap.add_argument("--headless", action="store_true", help="no live status table")
    ap.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object at exit")
    ap.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE")
    args = ap.parse_args(argv)

    from abc_robot.cli.launch import parse_sets
    from abc_robot.runtime.launch import load_launch
    from abc_robot.runtime.supervisor import Supervisor

    launch = Path(args.launch) if args.launch else LAUNCH_DIR / ("teleop_sim.yaml" if args.sim else "teleop_hw.yaml")
    overrides = parse_sets(args.set)
    if args.rig:
        rig = Path(args.rig)
        if not rig.is_dir():
            print(f"abc-teleop: rig directory {rig} does not exist (expected calibration/<rig>/ with left.yaml, right.yaml)", file=sys.stderr)
            return 2
    try:
        graph = load_launch(launch, overrides)
    except ConfigError as exc:
        print(f"abc-teleop: config error: {exc}", file=sys.stderr)
        return 2
    live = not args.headless and sys.stdout.isatty()
    sup = Supervisor(graph, echo_logs=not live)
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
    from abc_robot.cli.console import format_summary, teleop_summary

    summary = teleop_summary(sup.statuses())
    summary["exit"] = code
    summary["stop_reason"] = sup.stop_reason
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(format_summary(summary))
    return code


if __name__ == "__main__":
    sys.exit(main())
