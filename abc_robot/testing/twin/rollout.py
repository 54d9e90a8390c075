"""A checkpoint rolled out on the hardware twin, with one operator takeover per episode.

:func:`rollout_on_twin` runs abc_yam's rollout graph (``launch/templates/rollout.yaml``:
followers, cameras, policy worker, leaders, console board, recorder) against a twin
through the real YAM and GELLO drivers, and plays the operator of an ``abc-rollout
--rig`` session, episode by episode, as the sim graph's director plays it in
``abc-rollout --sim`` (same seeds, same start pose, same judge):

1. brings the arms to the start pose (the sim's ``HOME_Q``) through the leaders: the
   hand holds each leader at that pose and the operator's keyboard (``console/mode``
   on the console endpoint) puts the followers in TELEOP until they are there, then
   HOLD (the sim director resets the arms to the same pose);
2. places the task's objects from the seed (what the sim director's ``sim/reset`` does);
3. starts the episode with the console board's button A and hands the arms to the
   policy (POLICY);
4. takes over ``takeover_arm`` with its leader after ``takeover_at_s`` (steps labelled
   ``intervention``) and hands it back after ``takeover_s`` (the keyboard's
   ``intervene_off`` for that arm). ``takeover="move"``: the hand moves the leader and
   the follower's motion trigger switches the arm to INTERVENE; it follows the leader
   and comes back with it. ``takeover="hold"``: the keyboard's ``intervene_on`` for
   that arm, the hand holding the leader still (the arm holds under the leader's zero
   correction). A policy that never saw that arm move in its demonstrations sees the
   moved arm as out of its data unless it holds such state dimensions at their
   training mean (see the README's twin section): measured on lift_cube_easy with
   "move", 0/5 without, 5/5 with;
5. judges as an operator watching the arms does and as the sim director does: success
   as soon as the twin world's task check holds (the episode ends then, once the
   takeover is over), fail at ``episode_s``; button B short = success, long = fail.

The views are rendered at the checkpoint's own image size by default: the sim graph
renders what the policy was trained on (224×224), and a 4:3 view padded to a square
is a different picture (wider, letterboxed).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.sim.world import HOME_Q
from abc_robot.testing.twin.graph import CI_SETS, build_twin_graph, launch_twin_graph
from abc_robot.testing.twin.hand import hold_hand
from abc_robot.testing.twin.rig_twin import RigTwin
from abc_robot.transport import Publisher
from abc_robot.transport.messages import Event, ModeCommand

__all__ = ["rollout_on_twin", "checkpoint_image_size", "view_size", "leader_q_for", "START_TOLERANCE_RAD", "CI_VIEW_PX"]

_REPO = Path(__file__).resolve().parents[3]

#: [rad] every joint of both arms this close to the start pose before an episode starts.
START_TOLERANCE_RAD = 0.05
#: [rad] leader joint offsets of the takeover (joints 1 and 2: about 6 cm at the gripper,
#: past the follower's 2 cm motion trigger).
TAKEOVER_DELTA_RAD = (0.1, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0)


#: [px] longest side of the views a CI run renders (the checkpoint's aspect ratio kept).
CI_VIEW_PX = 96


def checkpoint_image_size(checkpoint: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` [px] of the views a checkpoint was trained on (None: unknown)."""
    cfg = Path(checkpoint) / "config.json"
    if not cfg.is_file():
        return None
    h, w = json.loads(cfg.read_text()).get("observation", {}).get("image_size", (0, 0))
    return (int(w), int(h)) if h and w else None


def view_size(checkpoint: str | Path, longest_px: int | None = None) -> tuple[int, int]:
    """The twin's render size for ``checkpoint``: its training views' aspect ratio (the
    policy pads any other to it: a wider, letterboxed picture), scaled down so that the
    longest side is at most ``longest_px`` (None: the training size itself).

    Measured on lift_cube_easy (seed 1000, start pose): what the model sees after its
    pad-resize to 224² and area-resize to 64² differs from the 224×224 render by a mean
    of 0.7-1.7 grey levels (of 255) at 96×96, and by 41-54 at 96×72.
    """
    w, h = checkpoint_image_size(checkpoint) or (224, 224)
    if longest_px is not None and max(w, h) > longest_px:
        scale = longest_px / max(w, h)
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
    return int(w), int(h)


def leader_q_for(
    start_q: Sequence[float] | np.ndarray,
    leader_urdf: str = "yam_leader.urdf",
    follower_urdf: str = "yam_follower.urdf",
) -> np.ndarray:
    """Leader joints (and trigger) that put a follower at ``start_q`` in TELEOP.

    The follower tracks the leader's end-effector pose (the leader's own forward
    kinematics, then the follower's IK), and the GELLO's links are not the YAM's: the
    leader held at the follower's joint angles puts the follower 0.1-0.2 rad away from
    them. The hand holds the leader's IK solution of the follower's pose instead.
    """
    from abc_robot.kinematics.ik import IKSolver
    from abc_robot.kinematics.model import ArmModel

    q = np.asarray(start_q, dtype=np.float64)
    T = ArmModel.from_urdf(follower_urdf).fk(q[:6])
    res = IKSolver(ArmModel.from_urdf(leader_urdf)).solve(T, q[:6])
    return np.append(res.q, q[6] if q.shape[0] > 6 else 1.0)


def _press(twin: RigTwin, button: str, hold_s: float = 0.15) -> None:
    assert twin.console is not None
    twin.console.press(button)
    time.sleep(hold_s)
    twin.console.release(button)


def _wait(pred: Any, timeout_s: float, poll_s: float = 0.05) -> bool:
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        if pred():
            return True
        time.sleep(poll_s)
    return False


def _start_error(twin: RigTwin, start_q: np.ndarray) -> float:
    """Largest joint error [rad] of any arm from ``start_q`` (joints 1-6)."""
    return max(float(np.max(np.abs(twin.arm_q(arm)[:6] - start_q[:6]))) for arm in twin.rig.followers)


def _to_start_pose(
    twin: RigTwin, keys: Publisher, start_q: np.ndarray, leader_q: np.ndarray, timeout_s: float
) -> float:
    """TELEOP onto the leaders held at ``leader_q`` until both arms are at ``start_q``, then HOLD.

    Returns:
        the largest joint error [rad] left when the arms were put on HOLD.
    """
    for arm in twin.rig.leaders:
        twin.move_leader(arm, hold_hand(leader_q))
    keys.publish("console/mode", ModeCommand(mode="TELEOP", reason="twin operator: to the start pose"))
    t_end = time.monotonic() + timeout_s
    settled_since = None
    while time.monotonic() < t_end:
        if _start_error(twin, start_q) < START_TOLERANCE_RAD:
            settled_since = settled_since or time.monotonic()
            if time.monotonic() - settled_since > 0.5:
                break
        else:
            settled_since = None
        time.sleep(0.05)
    keys.publish("console/mode", ModeCommand(mode="HOLD", reason="twin operator: at the start pose"))
    time.sleep(0.3)
    return _start_error(twin, start_q)


def _arm_counts(episode: Path, arm: str) -> dict[str, int]:
    """Steps per control source of one arm (``step_data.jsonl``)."""
    counts: dict[str, int] = {}
    for line in (episode / "step_data.jsonl").read_text().splitlines():
        if line.strip():
            src = json.loads(line).get("control_sources", {}).get(arm, "none")
            counts[src] = counts.get(src, 0) + 1
    return counts


def rollout_on_twin(
    checkpoint: str | Path,
    seeds: Sequence[int],
    *,
    run_dir: str | Path,
    task: str = "lift_cube",
    rig: str | Path = _REPO / "rigs" / "abc_yam",
    episode_s: float = 10.0,
    takeover_at_s: float = 1.0,
    takeover_s: float = 1.5,
    takeover_arm: str = "left",
    takeover: str = "move",
    camera_size: tuple[int, int] | None = None,
    start_q: Sequence[float] = HOME_Q,
    ci: bool = True,
) -> dict[str, Any]:
    """Roll ``checkpoint`` out on the twin of ``rig`` for each seed, with one takeover each.

    Args:
        checkpoint: the policy checkpoint directory (what ``abc-rollout --policy`` takes).
        seeds: object placements (the sim task's seeds), one episode each.
        run_dir: ptys, sockets, the overlay, the launch log and ``episodes/``.
        task: sim task (objects in the twin world, and its success check).
        episode_s: [s] an episode's limit (the sim graph's ``--time-limit``).
        takeover_at_s / takeover_s: [s] when the operator takes over and for how long.
        takeover_arm: the arm taken over (the other one stays with the policy).
        takeover: ``hold`` (the leader held still) or ``move`` (the leader moved by
            :data:`TAKEOVER_DELTA_RAD` and back); see the module docstring.
        camera_size: rendered view size ``(width, height)`` [px]; default
            :func:`view_size` (the checkpoint's aspect ratio; :data:`CI_VIEW_PX` with ``ci``).
        start_q: both arms' pose at each episode start (6 joints [rad], gripper).
        ci: rates and timeouts for a shared 2-core machine (:data:`CI_SETS`).

    Returns:
        ``{"seeds", "success" (per seed), "success_rate", "success_s" (seconds from
        POLICY to the first success, None if none), "start_error_rad" (largest joint
        error from ``start_q`` when the episode started), "episodes" (dirs), and per
        episode the steps labelled "policy_steps", "intervention_steps" (the
        takeover) and "held_steps" (nobody in control: HOLD, or the policy's chunk
        stale), "taken_over" (whether ``takeover_arm`` went to INTERVENE),
        "camera_size"}``.
    """
    if takeover not in ("hold", "move"):
        raise ValueError(f"takeover must be 'hold' or 'move', got {takeover!r}")
    run = Path(run_dir)
    episodes = run / "episodes"
    size = camera_size or view_size(checkpoint, CI_VIEW_PX if ci else None)
    q0 = np.asarray(start_q, dtype=np.float64)
    lq0 = leader_q_for(q0)
    twin = RigTwin(
        rig,
        run,
        task=task,
        camera_size=size,
        motor_timeout_s=2.0 if ci else 0.4,
        hands={a: hold_hand(lq0) for a in ("left", "right")},
    ).start()
    proc = None
    keys = None
    successes: list[bool] = []
    success_s: list[float | None] = []
    start_err: list[float] = []
    taken_over: list[bool] = []
    try:
        data = build_twin_graph(twin, "rollout", run, heartbeat_timeout_s=8.0 if ci else None)
        arms = list(twin.rig.followers)
        sets = [
            f"policy.checkpoint={checkpoint}",
            "policy.threads=1",
            f"recorder.root={episodes}",
            f"recorder.task_name={task}",
            *(CI_SETS(list(twin.rig.leaders), arms) if ci else []),
        ]
        proc, log = launch_twin_graph(data, run, sets)
        # The operator's keyboard (what abc-rollout's terminal console binds): modes, and
        # the hand-back of one arm.
        keys = Publisher(f"ipc://{run}/console", "twin_keys")
        if not _wait(lambda: "[policy] ready in" in log.read_text(), 300):
            raise RuntimeError(f"the rollout graph never came up; see {log}")
        time.sleep(2.0)
        for k, seed in enumerate(seeds):
            start_err.append(_to_start_pose(twin, keys, q0, lq0, 60.0 if ci else 20.0))
            twin.reset_objects(int(seed))
            _press(twin, "button_a")  # episode_start (button A follows the episode state)
            if not _wait(lambda k=k: log.read_text().count("] recording episode_") >= k + 1, 30.0):
                raise RuntimeError(f"episode {k} never started; see {log}")
            n_intervene = log.read_text().count(f"[follower_{takeover_arm}] mode POLICY -> INTERVENE")
            keys.publish("console/mode", ModeCommand(mode="POLICY", reason="twin operator: episode start"))
            t0 = time.monotonic()
            phase = "policy"  # -> "takeover" -> "back" -> "done"
            t_success: float | None = None
            while True:
                el = time.monotonic() - t0
                with twin.world.lock:
                    ok = bool(twin.world.world.task.success(twin.world.world))
                if ok and t_success is None:
                    t_success = el
                if phase == "policy" and el >= takeover_at_s:
                    if takeover == "move":
                        twin.move_leader(takeover_arm, hold_hand(lq0 + np.asarray(TAKEOVER_DELTA_RAD)))
                    else:
                        keys.publish("console/event", Event(kind="intervene_on", data={"arm": takeover_arm}))
                    phase = "takeover"
                elif phase == "takeover" and el >= takeover_at_s + takeover_s:
                    twin.move_leader(takeover_arm, hold_hand(lq0))  # the arm goes back with the leader
                    phase = "back"
                elif phase == "back" and el >= takeover_at_s + takeover_s + 0.5:
                    keys.publish("console/event", Event(kind="intervene_off", data={"arm": takeover_arm}))
                    phase = "done"
                if (t_success is not None and phase == "done") or el >= episode_s:
                    break
                time.sleep(0.1)
            successes.append(t_success is not None)
            success_s.append(None if t_success is None else round(t_success, 2))
            keys.publish("console/mode", ModeCommand(mode="HOLD", reason="twin operator: judged"))
            _press(twin, "button_b", 0.15 if t_success is not None else 1.5)  # short: success, long: fail
            if not _wait(lambda k=k: log.read_text().count("steps, ") >= k + 1, 30):
                raise RuntimeError(f"episode {k} was not finalized; see {log}")
            taken_over.append(
                log.read_text().count(f"[follower_{takeover_arm}] mode POLICY -> INTERVENE") > n_intervene
            )
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if keys is not None:
            keys.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        twin.stop()
    dirs = sorted(episodes.glob("episode_*"), key=lambda d: d.stat().st_mtime)
    counts = [json.loads((d / "episode_metadata.json").read_text()).get("control_source_counts", {}) for d in dirs]
    return {
        "seeds": list(seeds),
        "success": successes,
        "success_rate": float(np.mean(successes)) if successes else 0.0,
        "success_s": success_s,
        "start_error_rad": [round(e, 4) for e in start_err],
        "taken_over": taken_over,
        "episodes": [str(d) for d in dirs],
        "policy_steps": [int(c.get("policy", 0)) for c in counts],
        "intervention_steps": [int(c.get("intervention", 0)) for c in counts],
        "held_steps": [int(c.get("none", 0)) for c in counts],
        "arm_steps": [{arm: _arm_counts(d, arm) for arm in ("left", "right")} for d in dirs],
        "camera_size": list(size),
    }
