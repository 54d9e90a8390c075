"""``abc-convert``: episodes between the ABC-130k release layout (MCAP) and the training layout.

    abc-convert to-abc  MCAP_ROOT OUT       every <task>/episode_*/episode.mcap → OUT/episode_<uuid>/
    abc-convert to-abc  EPISODE.mcap OUT    one file
    abc-convert to-mcap EPISODES OUT        every episode_<uuid>/ → OUT/<task>/episode_<uuid>/episode.mcap
    abc-convert to-mcap EPISODE_DIR OUT     one episode

``to-abc`` aligns every stream causally on the 30 Hz clock exactly as the public
``export_mcap.py`` does (rows from one tick after the latest stream start to the
earliest stream end; one eye of a stereo top camera chosen per episode); it reads
H.264 and H.265 streams, mono and stereo top cameras, and both metadata variants
(``session-metadata``/``session-uuid`` and ``episode-metadata``). ``to-mcap`` writes
each row at its tick and each view as its own stream (``--codec h264|h265``).
An episode that cannot be converted is named with the reason; the others go on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from abc_robot.errors import AbcRobotError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="abc-convert", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("direction", choices=["to-abc", "to-mcap"])
    ap.add_argument("source", help="MCAP root or file (to-abc); episodes directory or one episode (to-mcap)")
    ap.add_argument("out", help="output directory")
    ap.add_argument("--codec", choices=["h264", "h265"], default="h264", help="to-mcap: video codec")
    ap.add_argument("--crf", type=int, default=18, help="to-mcap: constant rate factor (lower: better)")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args(argv)

    from abc_robot.recording.convert import abc_to_mcap, find_mcap_episodes, mcap_to_abc
    from abc_robot.recording.reader import list_episodes

    src = Path(args.source)
    if not src.exists():
        print(f"abc-convert: {src}: no such file or directory", file=sys.stderr)
        return 2
    done: list[str] = []
    failed: dict[str, str] = {}
    if args.direction == "to-abc":
        jobs = find_mcap_episodes(src)
        for p in jobs:
            try:
                done.append(str(mcap_to_abc(p, args.out)))
            except AbcRobotError as exc:
                failed[str(p)] = str(exc)
    else:
        jobs = list_episodes(src)
        for p in jobs:
            try:
                done.append(str(abc_to_mcap(p, args.out, args.codec, args.crf)))
            except AbcRobotError as exc:
                failed[str(p)] = str(exc)
    result = {"direction": args.direction, "episodes": len(jobs), "converted": done, "failed": failed}
    if args.json:
        print(json.dumps(result))
    else:
        for d in done:
            print(f"converted {d}")
        for why in failed.values():
            print(f"abc-convert: {why}", file=sys.stderr)
        print(f"{len(done)}/{len(jobs)} episodes converted")
    if not jobs:
        print(f"abc-convert: no episode found in {src}", file=sys.stderr)
    return 0 if jobs and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
