"""``abc-replay``: look at a recorded episode, or replay its commands.

    abc-replay EPISODE                      summary (task, steps, outcome, camera health)
    abc-replay EPISODE --sim                replay the recorded actions in MuJoCo; report
                                            how closely the arms follow the recorded states
    abc-replay EPISODE --show               show the video (with --sim: beside the sim's
                                            own cameras) in a window
    abc-replay EPISODE --save-video OUT.mp4 the same frames into a file (headless machines)
    abc-replay EPISODE --rig DIR            on the robot: recorded actions as time-indexed chunks,
                                            engaged with the followers' ramp, through their
                                            safety filter (preflight first)
    abc-replay EPISODE --view               serve it to Foxglove (ws://127.0.0.1:8765) with
                                            play, pause, speed and seeking; Ctrl-C ends it

``--sim`` resets the task with the episode's seed, starts both arms at the recorded
first state, and plays the action rows at their 30 Hz ticks, each interpolated
linearly to the next over the physics steps of the tick.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from abc_robot.errors import AbcRobotError

__all__ = ["main"]

ARMS = ("left", "right")


def _summary(ep: Any) -> dict[str, Any]:
    m = ep.metadata
    return {
        "path": str(ep.path),
        "task_name": ep.task_name,
        "num_steps": ep.num_steps,
        "duration_s": round(ep.num_steps * ep.tick_ns / 1e9, 3),
        "cameras": list(ep.cameras),
        "outcome": m.get("outcome"),
        "control_source_segments": m.get("control_source_segments"),
        "cameras_lost": m.get("cameras_lost", []),
        "dropped_frames": m.get("dropped_frames", {}),
        "seq_gaps_total": m.get("seq_gaps_total", 0),
        "recovered": "recovery" in m,
    }


class _Display:
    """A window (``--show``) and/or a video file (``--save-video``) of replayed frames."""

    def __init__(self, show: bool, save: str | None, width: int, height: int) -> None:
        self.show, self.writer = show, None
        self._due = time.monotonic()
        if show:
            import cv2

            try:
                cv2.namedWindow("abc-replay")
            except cv2.error:
                raise AbcRobotError(
                    "this OpenCV has no GUI (opencv-python-headless); use --save-video OUT.mp4 and open the file in a player"
                ) from None
        if save:
            from abc_robot.recording.video import StackedVideoWriter

            self.writer = StackedVideoWriter(save, width, height)

    def frame(self, img: np.ndarray, period_s: float) -> None:
        if self.writer is not None:
            self.writer.write(img)
        if self.show:
            import cv2

            # Paced on the monotonic clock: a slow frame is followed by shorter waits.
            self._due += period_s
            time.sleep(max(0.0, self._due - time.monotonic()))
            cv2.imshow("abc-replay", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            cv2.waitKey(1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _replay_sim(ep: Any, display: _Display | None, speed: float) -> dict[str, Any]:
    from abc_robot.sim.gl import ensure_gl_backend

    ensure_gl_backend()
    from abc_robot.recording.video import stack_views
    from abc_robot.sim.config import SimConfig
    from abc_robot.sim.world import SimWorld

    world = SimWorld(SimConfig(task=ep.task_name))
    seed = (ep.metadata.get("episode_start") or {}).get("seed")
    states, actions = ep.states, ep.actions
    world.reset(seed, arm_q={arm: states[0, 7 * a : 7 * a + 7] for a, arm in enumerate(ARMS)})
    dt = world.cfg.timestep_s
    tick_s = ep.tick_ns / 1e9
    err = np.zeros((ep.num_steps, 2))
    try:
        for k in range(ep.num_steps):
            nxt = actions[min(k + 1, ep.num_steps - 1)]
            n = round((k + 1) * tick_s / dt) - round(k * tick_s / dt)
            for j in range(n):
                a = actions[k] + (nxt - actions[k]) * (j + 1) / n
                for i, arm in enumerate(ARMS):
                    world.set_targets(arm, a[7 * i : 7 * i + 7])
                world.step()
            if k + 1 < ep.num_steps:
                q = np.concatenate([world.arm_state(arm)[0] for arm in ARMS])
                d = np.abs(q - states[k + 1])
                err[k + 1] = [d[[*range(6), *range(7, 13)]].max(), d[[6, 13]].max()]
            if display is not None:
                sim_views = stack_views({c: world.render(c) for c in ep.cameras}, ep.cameras)
                display.frame(np.concatenate([ep.frame(k), sim_views], axis=1), tick_s / speed)
        return {
            "sim_success": bool(world.task.success(world)),
            "sim_progress": float(world.task.progress(world)),
            "joint_error_rad_p50": float(np.median(err[1:, 0])) if ep.num_steps > 1 else 0.0,
            "joint_error_rad_max": float(err[:, 0].max()),
            "gripper_error_max": float(err[:, 1].max()),
        }
    finally:
        world.close()


def _view(args: argparse.Namespace) -> int:
    """Serve the episode to Foxglove until Ctrl-C (see :mod:`abc_robot.nodes.foxglove_replay`)."""
    import signal
    import threading

    from abc_robot.nodes.foxglove_replay import EpisodePlayer

    try:
        player = EpisodePlayer(args.episode, host=args.view_host, port=args.view_port)
    except AbcRobotError as exc:
        print(f"abc-replay: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    name, n = player.ep.path.name, player.ep.num_steps
    print(f"abc-replay: serving {name} ({n} steps) on ws://{args.view_host}:{player.port}", flush=True)
    try:
        player.run(stop=stop)
    finally:
        player.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="abc-replay", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("episode", help="an episode directory (episode_<uuid>)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--sim", action="store_true", help="replay the recorded actions in MuJoCo")
    where.add_argument("--rig", help="replay on the robot of this rig directory (rigs/<name>)")
    ap.add_argument("--show", action="store_true", help="show the video in a window")
    ap.add_argument("--save-video", metavar="OUT.mp4", help="write the shown frames to a video file")
    ap.add_argument("--speed", type=float, default=1.0, help="playback speed for --show (1 = real time)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    from abc_robot.cli.view import add_view_args

    add_view_args(ap)
    from abc_robot.cli.rig import add_rig_arguments

    add_rig_arguments(ap)
    ap.add_argument("--headless", action="store_true", help="--rig: no operator keys on the terminal")
    args = ap.parse_args(argv)
    if args.view:
        return _view(args)

    from abc_robot.recording import EpisodeReader

    if args.rig:
        from abc_robot.cli.rig import run_rig_replay

        try:
            return run_rig_replay(EpisodeReader(args.episode), args)
        except AbcRobotError as exc:
            print(f"abc-replay: {exc}", file=sys.stderr)
            return 1
    if args.speed <= 0:
        print("abc-replay: --speed must be positive", file=sys.stderr)
        return 2
    try:
        ep = EpisodeReader(args.episode)
        out = _summary(ep)
        width = 224 * (2 if args.sim else 1)
        display = (
            _Display(args.show, args.save_video, width, 224 * len(ep.cameras))
            if (args.show or args.save_video)
            else None
        )
        try:
            if args.sim:
                out.update(_replay_sim(ep, display, args.speed))
            elif display is not None:
                for frame in ep.frames():
                    display.frame(frame, ep.tick_ns / 1e9 / args.speed)
        finally:
            if display is not None:
                display.close()
    except AbcRobotError as exc:
        print(f"abc-replay: {exc}", file=sys.stderr)
        return 1
    if args.save_video:
        out["video"] = args.save_video
    if args.json:
        print(json.dumps(out, default=str))
    else:
        for key, value in out.items():
            print(f"{key:>26}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
