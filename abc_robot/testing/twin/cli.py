"""``abc-rig twin R``: run a rig's hardware twin until Ctrl-C, having written its overlay."""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["twin_main", "main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="abc-rig twin",
        description=(
            "Emulate every device of a rig (GELLO leaders on ptys, YAM arms on a udp_multicast CAN bus, "
            "the console board, cameras as rendered views), coupled to one MuJoCo world with gravity. "
            "Then run e.g. `abc-teleop --rig R --rig-overlay OVERLAY`."
        ),
    )
    p.add_argument("rig", help="rig directory (rigs/<name>)")
    p.add_argument("--run-dir", default="", help="where ptys, sockets and the overlay go (default: a temp dir)")
    p.add_argument("--overlay", default="", help="overlay YAML to write (default: RUN_DIR/twin_overlay.yaml)")
    p.add_argument("--task", default="lift_cube", help="sim task whose objects are on the table")
    p.add_argument("--seed", type=int, default=0, help="object placement seed")
    p.add_argument(
        "--hand",
        choices=("hold", "scripted"),
        default="hold",
        help="the operator's hand on the leaders: hold the ready pose, or play the task's scripted demonstration",
    )
    p.add_argument("--delay", type=float, default=5.0, help="[s] a scripted hand waits this long before moving")
    p.add_argument("--camera-size", default="", help="WIDTHxHEIGHT the cameras render (default: the rig's)")
    p.add_argument("--motor-timeout", type=float, default=0.4, help="[s] the Damiao motors' CAN timeout")
    return p


def twin_main(argv: Sequence[str] | None = None) -> int:
    """Entry of ``abc-rig twin``; returns the exit status."""
    args = build_parser().parse_args(argv)
    from abc_robot.sim.gl import ensure_gl_backend

    ensure_gl_backend()
    import numpy as np

    from abc_robot.sim.world import HOME_Q
    from abc_robot.testing.twin.hand import scripted_hand
    from abc_robot.testing.twin.rig_twin import RigTwin

    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="abc_twin_"))
    size = None
    if args.camera_size:
        w, h = args.camera_size.lower().split("x")
        size = (int(w), int(h))
    twin = RigTwin(
        args.rig, run_dir, task=args.task, seed=args.seed, camera_size=size, motor_timeout_s=args.motor_timeout
    )
    if args.hand == "scripted":
        start = {arm: np.asarray(HOME_Q) for arm in twin.rig.leaders}
        hands, duration = scripted_hand(args.task, twin.world.world.snapshot(), start, delay_s=args.delay)
        twin.set_hands(hands)
        print(f"scripted hand: {args.task} seed {args.seed}, {duration:.1f} s from the leaders' start")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with twin:
        overlay = twin.write_overlay(args.overlay or None)
        print(f"twin of {twin.rig.name} running; overlay: {overlay}")
        for arm, lead in twin.leaders.items():
            print(f"  leader {arm}: {lead.link}")
        for arm, bus in twin.can.items():
            print(f"  follower {arm}: udp_multicast {bus['channel']} port {bus['bus_options']['port']}")
        if twin.console is not None:
            print(f"  console board: {twin.console.link}")
        print(f"  cameras: kind sim, sim/qpos on {twin.qpos_endpoint}")
        print(f"run: abc-teleop --rig {args.rig} --rig-overlay {overlay}")
        stop.wait()
    return 0


#: What `abc-rig twin` calls (the rig CLI imports it lazily by name).
main = twin_main
