"""``abc-chaos``: the sim teleop-and-record graph under injected faults, with a report.

    abc-chaos [--duration S] [--quick] [--faults kill:leader,rogue,...] [--seed N]
              [--episodes-dir DIR] [--json] [--check]

Records scripted demonstrations back to back while faults are injected at random
times (SIGKILL and SIGSTOP of nodes, malformed messages, CPU hogs; the list and what
is not injected are in :mod:`abc_robot.eval.chaos`), then stops the graph in order and
reports per fault kind: injected, time until every arm held, restarts, episodes
started against episodes readable on disk, and each node's memory at start and end.
``--quick`` is the two-minute version CI runs; ``--check`` exits 1 when a bound is
broken (an input loss not held within the watchdog plus two control periods, an
episode lost, a node dead at the end).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "violations"]

LAUNCH = Path(__file__).resolve().parents[2] / "launch" / "teleop_sim.yaml"


def violations(summary: dict[str, Any]) -> list[str]:
    """The broken bounds of a campaign summary (empty: all held)."""
    out = []
    bound = summary["hold_bound_ms"]
    for kind, k in summary["faults"].items():
        late = [h for h in k["hold_ms"] if h > bound]
        if late or k["unheld"]:
            out.append(f"{kind}: arms held in {k['hold_ms']} ms ({k['unheld']} never) against a bound of {bound:.0f} ms")
    rec = summary["recording"]
    if rec["missing"] or rec["lost_beyond_window"] or rec["unreadable"]:
        out.append(
            f"episodes: {rec['episodes_started']} started, {rec['episodes_readable']} readable, {rec['missing']} missing outside recorder outages, "
            f"{rec['lost_beyond_window']} lost beyond the declared window; unreadable: {rec['unreadable']}"
        )
    if summary.get("stop_reason") != "chaos: campaign over":
        out.append(f"the graph did not survive the campaign: stopped with {summary.get('stop_reason')!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    from abc_robot.eval.chaos import FAULT_KINDS, ChaosConfig, run_campaign

    ap = argparse.ArgumentParser(prog="abc-chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of fault injection (default 600)")
    ap.add_argument("--quick", action="store_true", help="the two-minute CI version (100 s, a fault every ~5 s)")
    ap.add_argument("--faults", default=",".join(FAULT_KINDS), help=f"comma-separated kinds of {list(FAULT_KINDS)}")
    ap.add_argument("--mean-gap", type=float, default=None, help="mean seconds between faults (default 6, quick 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--task", default="lift_cube_easy")
    ap.add_argument("--launch", default=str(LAUNCH), help="the sim teleop graph")
    ap.add_argument("--episodes-dir", default="", help="keep the recorded episodes here (default: a temporary directory)")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    ap.add_argument("--check", action="store_true", help="exit 1 when a bound is broken")
    args = ap.parse_args(argv)
    try:
        cfg = ChaosConfig(
            launch=args.launch,
            duration_s=100.0 if args.quick else args.duration,
            mean_gap_s=args.mean_gap or (5.0 if args.quick else 6.0),
            faults=tuple(f.strip() for f in args.faults.split(",") if f.strip()),
            seed=args.seed,
            task=args.task,
            episodes_dir=args.episodes_dir,
        )
    except ValueError as exc:
        print(f"abc-chaos: {exc}", file=sys.stderr)
        return 2
    summary = run_campaign(cfg, log=lambda s: print(s, file=sys.stderr, flush=True))
    broken = violations(summary)
    summary["violations"] = broken
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(f"abc-chaos: {cfg.duration_s:.0f} s, seed {cfg.seed}, hold bound {cfg.hold_bound_ms:.0f} ms")
        for kind, k in sorted(summary["faults"].items()):
            print(f"  {kind:16s} injected {k['injected']:3d}  held in {k['hold_ms_max'] if k['hold_ms_max'] is not None else '-'} ms (max)")
        r = summary["recording"]
        print(f"  episodes: started {r['episodes_started']}, readable {r['episodes_readable']}, missing {r['missing']}, lost beyond the window {r['lost_beyond_window']}")
        for n, v in summary["nodes"].items():
            print(f"  {n:15s} restarts {v['restarts']:3d}  RSS {v['rss_mb_start']} → {v['rss_mb_end']} MB")
        for b in broken:
            print(f"  BROKEN: {b}")
    return 1 if (args.check and broken) else 0


if __name__ == "__main__":
    sys.exit(main())
