"""``abc-norm-stats DIR``: write ``DIR/norm_stats.json`` for a directory of episodes.

    abc-norm-stats episodes/                 → episodes/norm_stats.json
    abc-norm-stats episodes/ --out ns.json   → ns.json

The ABC shape: ``{"norm_stats": {"state": {"mean", "std", "q01", "q99"}, "actions":
{...}}}`` over every row of every finished episode (cut-off ones are recovered by the
recorder first; they are not read here).
"""

from __future__ import annotations

import argparse
import json
import sys

from abc_robot.errors import AbcRobotError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="abc-norm-stats", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("directory", help="directory holding episode_<uuid>/ episodes")
    ap.add_argument("--out", default=None, help="output file (default DIR/norm_stats.json)")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args(argv)

    from abc_robot.recording import write_norm_stats
    from abc_robot.recording.metadata import read_json

    try:
        path = write_norm_stats(args.directory, args.out)
    except AbcRobotError as exc:
        print(f"abc-norm-stats: {exc}", file=sys.stderr)
        return 1
    stats = read_json(path)
    summary = {"path": str(path), "num_episodes": stats["num_episodes"], "num_steps": stats["num_steps"]}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {path}: {stats['num_episodes']} episodes, {stats['num_steps']} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
