"""``abc-rig``: set up and verify a rig directory (``rigs/<name>/``).

    abc-rig discover [--port P ...] [--can IFACE:CHANNEL ...] [--name NAME]
                                      what is plugged in, then a starter rig.yaml
    abc-rig check R [--rig-overlay F] [--no-devices] [--json]
                                      pass/fail table with the fix for each failure
    abc-rig udev R                    udev rules: stable names, 1 ms latency timer
    abc-rig graph R teleop|rollout|eval|replay [--rig-overlay F] [-o FILE]
                                      the launch file a --rig command runs
    abc-rig twin R [...]              the rig's hardware twin (emulated devices + MuJoCo)

Exit status: 0 pass, 1 a check failed, 2 a refused rig file or bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from abc_robot.errors import ConfigError

__all__ = [
    "main",
    "preflight_or_refuse",
    "add_rig_arguments",
    "load_rig_graph",
    "run_rig_rollout",
    "run_rig_replay",
    "TWIN_MAIN",
]

#: The hardware twin's command line (``abc-rig twin`` hands its arguments over).
TWIN_MAIN = "abc_robot.testing.twin.cli:main"


def add_rig_arguments(ap: argparse.ArgumentParser) -> None:
    """``--rig-overlay`` and ``--skip-check``, for every command that takes ``--rig``."""
    ap.add_argument(
        "--rig-overlay", metavar="FILE", help="YAML deep-merged onto rig.yaml (device addresses, e.g. a twin's)"
    )
    ap.add_argument("--skip-check", action="store_true", help="start without the preflight checks (not advised)")


def preflight_or_refuse(rig: object, prog: str, skip: bool) -> bool:
    """Run the preflight of a ``--rig`` command; print the table and return False on a failure."""
    from abc_robot.rig.preflight import run_preflight

    if skip:
        print(f"{prog}: preflight skipped (--skip-check)", file=sys.stderr)
        return True
    report = run_preflight(rig)  # type: ignore[arg-type]
    if report.ok:
        print(f"{prog}: preflight passed ({len(report.results)} checks)", file=sys.stderr)
        return True
    print(report.table(only_problems=True), file=sys.stderr)
    print(f"{prog}: refusing to start: fix the failures above (or --skip-check)", file=sys.stderr)
    return False


def load_rig_graph(
    rig_path: str, graph: str, overlay: str | None, overrides: dict, prog: str, skip_check: bool
) -> tuple[object, object] | None:
    """Load the rig, run the preflight, build ``graph`` with ``--set`` overrides.

    Returns (rig, LaunchGraph), or None after printing why it refuses.
    """
    import tempfile

    from abc_robot.rig import load_rig
    from abc_robot.rig.graphs import build_graph, rig_launch_graph, write_calibration_dir, write_layout

    try:
        rig = load_rig(rig_path, overlay)
    except ConfigError as exc:
        print(f"{prog}: config error: {exc}", file=sys.stderr)
        return None
    if not preflight_or_refuse(rig, prog, skip_check):
        return None
    try:
        work = Path(tempfile.mkdtemp(prefix=f"abc_rig_{rig.name}_"))
        layout = write_layout(rig, work / "layout.yaml")
        calibration = write_calibration_dir(rig, work / "calibration")
        data = build_graph(rig, graph, layout=str(layout), calibration_dir=str(calibration))
        return rig, rig_launch_graph(data, overrides, source=f"{rig.root}/rig.yaml ({graph} template)")
    except ConfigError as exc:
        print(f"{prog}: config error: {exc}", file=sys.stderr)
        return None


def _supervise(
    graph: Any, prog: str, run_dir: str | None, body: Callable[[Any, Any], None], headless: bool
) -> tuple[Any, int]:
    """Run ``graph`` with the operator keys; ``body(sup, keys)`` starts what the command adds.

    Returns (supervisor, exit status)."""
    import os

    from abc_robot.cli.keys import ConsoleKeys
    from abc_robot.runtime.supervisor import Supervisor
    from abc_robot.transport.bus import Publisher

    sup = Supervisor(graph, run_dir=run_dir, echo_logs=True)
    os.environ["ABC_RUN_DIR"] = sup.run_dir  # the console endpoint lives in the graph's run dir
    keys = ConsoleKeys(Publisher("ipc://${run}/console", "console"), on_quit=lambda: sup.request_stop("q pressed"))
    if not headless:
        keys.start()
    try:
        body(sup, keys)
        code = sup.run(None)
    finally:
        keys.stop()
    return sup, code


def run_rig_rollout(args: argparse.Namespace, overrides: dict, graph_name: str, prog: str) -> int:
    """``abc-rollout --rig R``: the rig's rollout graph, the operator starting and judging
    each episode (:class:`~abc_robot.cli.rig_session.OperatorEpisodes`)."""
    from abc_robot.cli.rig_session import OperatorEpisodes

    built = load_rig_graph(args.rig, graph_name, args.rig_overlay, overrides, prog, args.skip_check)
    if built is None:
        return 2
    rig, graph = built
    consoles = ["ipc://${run}/console"] + (["ipc://${run}/console_board"] if rig.console is not None else [])  # type: ignore[attr-defined]
    episodes: list[OperatorEpisodes] = []

    def body(sup: Any, keys: Any) -> None:
        ops = OperatorEpisodes([c.replace("${run}", sup.run_dir) for c in consoles],
                               lambda m: keys.pub.publish("console/mode", m), args.episodes,
                               lambda: sup.request_stop(f"{args.episodes} episodes judged"))  # fmt: skip
        ops.start()
        episodes.append(ops)
        print(
            f"{prog}: r starts an episode (the policy drives), s / f judge it, i takes over, q quits", file=sys.stderr
        )

    sup, code = _supervise(graph, prog, getattr(args, "run_dir", None), body, args.headless)
    for ops in episodes:
        ops.stop()
    summary = dict(episodes[0].summary() if episodes else {}, exit=code, stop_reason=sup.stop_reason)
    print(json.dumps(summary, default=str) if args.json else f"{prog}: {summary}")
    return code


def run_rig_replay(episode: Any, args: argparse.Namespace, prog: str = "abc-replay") -> int:
    """``abc-replay EPISODE --rig R``: the recorded actions through the followers' ramp and
    safety filter (:func:`~abc_robot.cli.rig_session.stream_replay`)."""
    import threading

    from abc_robot.cli.rig_session import stream_replay
    from abc_robot.transport.bus import Publisher

    built = load_rig_graph(args.rig, "replay", args.rig_overlay, {}, prog, args.skip_check)
    if built is None:
        return 2
    _, graph = built
    kinds = {n.name: n.kind for n in graph.nodes}  # type: ignore[attr-defined]
    stop = threading.Event()
    sent: list[int] = []

    def body(sup: Any, keys: Any) -> None:
        from abc_robot.cli.director import graph_ready

        def play() -> None:
            while not stop.is_set() and not graph_ready(sup.statuses(), kinds):
                time.sleep(0.1)
            pub = Publisher(f"ipc://{sup.run_dir}/policy", "replay")
            try:
                sent.append(stream_replay(lambda c: pub.publish("policy/chunk", c),
                                          lambda m: keys.pub.publish("console/mode", m),
                                          episode.actions, episode.tick_ns, stop))  # fmt: skip
            finally:
                pub.close()
                sup.request_stop("replay finished")

        threading.Thread(target=play, name="replay", daemon=True).start()

    try:
        _, code = _supervise(graph, prog, None, body, args.headless)
    finally:
        stop.set()
    print(f"{prog}: replayed {episode.num_steps} steps in {sent[0] if sent else 0} chunks; exit {code}")
    return code


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="abc-rig", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="command", required=True)
    disc = sub.add_parser("discover", help="list the devices plugged in and print a starter rig.yaml")
    disc.add_argument("--port", action="append", default=[], help="also scan this serial device (e.g. a twin's pty)")
    disc.add_argument("--can", action="append", default=[], metavar="IFACE:CHANNEL[:PORT]",
                      help="also scan this python-can bus (e.g. udp_multicast:239.0.0.1:5000)")  # fmt: skip
    disc.add_argument("--max-id", type=int, default=10, help="highest servo / motor id scanned")
    disc.add_argument("--name", default="my_rig", help="name of the starter rig")
    disc.add_argument("--no-cameras", action="store_true", help="do not look for cameras")
    chk = sub.add_parser("check", help="verify the rig: pass/fail table with fixes")
    chk.add_argument("rig")
    chk.add_argument("--rig-overlay", metavar="FILE")
    chk.add_argument("--no-devices", action="store_true", help="files, ports and host only (no pings, no cameras)")
    chk.add_argument("--camera-s", type=float, default=2.0, help="seconds each camera is read")
    chk.add_argument("--json", action="store_true")
    udev = sub.add_parser("udev", help="print udev rules for the rig's serial devices")
    udev.add_argument("rig")
    udev.add_argument("--rig-overlay", metavar="FILE")
    gr = sub.add_parser("graph", help="print the launch file a --rig command builds")
    gr.add_argument("rig")
    gr.add_argument("graph", choices=["teleop", "rollout", "eval", "replay"])
    gr.add_argument("--rig-overlay", metavar="FILE")
    gr.add_argument("-o", "--out", help="write it here instead of stdout")
    tw = sub.add_parser("twin", help="start the rig's hardware twin", add_help=False)
    tw.add_argument("args", nargs=argparse.REMAINDER)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(_COMMANDS[args.command](args))
    except ConfigError as exc:
        print(f"abc-rig: config error: {exc}", file=sys.stderr)
        return 2


def _discover(args: argparse.Namespace) -> int:
    from abc_robot.rig.discover import CanFound, discover, starter_rig

    extra_can = []
    for spec in args.can:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            print(f"abc-rig: --can {spec!r}: expected IFACE:CHANNEL[:PORT]", file=sys.stderr)
            return 2
        opts = {"port": int(parts[2])} if len(parts) == 3 else {}
        extra_can.append(CanFound(parts[0], parts[1], bus_options=opts))
    found = discover(extra_ports=args.port, extra_can=extra_can, max_id=args.max_id, cameras=not args.no_cameras)
    print(found.table(), file=sys.stderr)
    print(f"# starter rigs/{args.name}/rig.yaml: complete it, then abc-rig check rigs/{args.name}")
    print(yaml.safe_dump(starter_rig(found, args.name), sort_keys=False), end="")
    return 0


def _check(args: argparse.Namespace) -> int:
    from abc_robot.rig import load_rig
    from abc_robot.rig.preflight import PreflightOptions, run_preflight

    rig = load_rig(args.rig, args.rig_overlay)
    report = run_preflight(rig, PreflightOptions(devices=not args.no_devices, camera_s=args.camera_s))
    print(json.dumps(report.as_dict()) if args.json else report.table())
    return 0 if report.ok else 1


def _udev(args: argparse.Namespace) -> int:
    from abc_robot.rig import load_rig
    from abc_robot.rig.udev import install_hint, udev_rules

    rig = load_rig(args.rig, args.rig_overlay)
    print(udev_rules(rig), end="")
    print(install_hint(rig), file=sys.stderr)
    return 0


def _graph(args: argparse.Namespace) -> int:
    from abc_robot.rig import load_rig
    from abc_robot.rig.graphs import build_graph, write_graph

    rig = load_rig(args.rig, args.rig_overlay)
    data = build_graph(rig, args.graph)
    if args.out:
        print(f"wrote {write_graph(data, args.out)}", file=sys.stderr)
    else:
        print(yaml.safe_dump(data, sort_keys=False), end="")
    return 0


def _twin(args: argparse.Namespace) -> int:
    module, _, name = TWIN_MAIN.partition(":")
    try:
        twin_main = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        print(f"abc-rig twin: the hardware twin is not installed here ({exc})", file=sys.stderr)
        return 2
    return int(twin_main(list(args.args)))


_COMMANDS = {"discover": _discover, "check": _check, "udev": _udev, "graph": _graph, "twin": _twin}


if __name__ == "__main__":
    sys.exit(main())
