"""``abc-convert-gripper DIR...``: rewrite episodes into ABC's gripper convention.

    abc-convert-gripper episodes/                 every episode_*/ under episodes/
    abc-convert-gripper episodes/episode_<uuid>   one episode

Episodes recorded before the stack adopted ABC's convention hold the gripper as 0 =
open, 1 = closed; ABC's (and the YAM vendor's) is 0 = closed, 1 = open. Each episode's
``episode_metadata.json`` says which it holds (``gripper.convention``; no entry: the
legacy one), so running the command again changes nothing. A root's
``norm_stats.json`` is recomputed when any of its episodes changed. Exit status: 0
done, 1 a path that is not an episode (or a malformed one; the message names it).
"""

from __future__ import annotations

import argparse
import json
import sys

from abc_robot.errors import AbcRobotError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="abc-convert-gripper", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("paths", nargs="+", help="episode directories or directories holding episode_<uuid>/ episodes")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args(argv)

    from abc_robot.recording.gripper_convention import convert_paths

    try:
        results, stats = convert_paths(args.paths)
    except AbcRobotError as exc:
        print(f"abc-convert-gripper: {exc}", file=sys.stderr)
        return 1
    converted = [r for r in results if r.action == "converted"]
    if args.json:
        print(json.dumps({
            "converted": [str(r.episode) for r in converted],
            "already": [str(r.episode) for r in results if r.action == "already"],
            "norm_stats": [str(p) for p in stats],
        }))
    else:
        for r in results:
            print(f"{r.episode}: {'converted' if r.action == 'converted' else 'already in the abc convention'} ({r.rows} rows)")
        for p in stats:
            print(f"rewrote {p}")
        print(f"{len(converted)} of {len(results)} episodes converted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
