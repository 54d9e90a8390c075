"""``abc-bench SUITE [--json] [--quick]``: benchmark tables with ratios to baselines.

Suites: transport, ik, teleop, follower, leader, recording, policy, sim, rig, remote
(``abc-bench all`` runs each).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from abc_robot.bench.common import report

__all__ = ["main", "SUITES"]

SUITES = {
    "transport": "abc_robot.bench.transport",
    "ik": "abc_robot.bench.ik",
    "teleop": "abc_robot.bench.teleop",
    "follower": "abc_robot.bench.follower",
    "leader": "abc_robot.bench.leader",
    "recording": "abc_robot.bench.recording",
    "policy": "abc_robot.bench.policy",
    "sim": "abc_robot.bench.sim",
    "rig": "abc_robot.bench.rig",
    "remote": "abc_robot.bench.remote",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="abc-bench", description=__doc__)
    ap.add_argument("suite", choices=[*SUITES, "all"])
    ap.add_argument("--json", action="store_true", help="print one JSON object per suite")
    ap.add_argument("--quick", action="store_true", help="a few-second smoke run (numbers not meaningful)")
    ap.add_argument("--model", default=None, help="policy suite: abc-dit-small | abc-dit-xl (ABC-DiT's ladder)")
    args = ap.parse_args(argv)
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    for name in suites:
        try:
            mod = importlib.import_module(SUITES[name])
        except ImportError as exc:
            print(f"abc-bench {name}: not available ({exc})", file=sys.stderr)
            if args.suite != "all":
                return 2
            continue
        rows = mod.run(quick=args.quick, **({"model": args.model} if args.model else {}))
        report(name, rows, as_json=args.json, note=getattr(mod, "NOTE", None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
