"""A checkpoint rolled out on the hardware twin, with one operator takeover per episode.

:func:`rollout_on_twin` runs abc_yam's rollout graph (``launch/templates/rollout.yaml``:
followers, cameras, policy worker, leaders, console board, recorder) against a twin
through the real YAM and GELLO drivers. For each seed it places the task's objects,
starts an episode from the console board and hands the arms to the policy (the
operator's keyboard: ``console/mode`` POLICY on the console endpoint), takes over for
``takeover_s`` with the left leader (pedal A held: intervene; the hand moves the leader),
hands back, and judges the episode from the twin world's own task check (button B short
= success, long = fail), as an operator watching the arms would.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.testing.twin.graph import CI_SETS, build_twin_graph, launch_twin_graph
from abc_robot.testing.twin.hand import hold_hand
from abc_robot.testing.twin.rig_twin import RigTwin
from abc_robot.transport import Publisher
from abc_robot.transport.messages import ModeCommand

__all__ = ["rollout_on_twin"]

_REPO = Path(__file__).resolve().parents[3]


def _press(twin: RigTwin, button: str, hold_s: float = 0.15) -> None:
    assert twin.console is not None
    twin.console.press(button)
    time.sleep(hold_s)
    twin.console.release(button)


def _wait(pred: Any, timeout_s: float) -> bool:
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def rollout_on_twin(
    checkpoint: str | Path,
    seeds: Sequence[int],
    *,
    run_dir: str | Path,
    task: str = "lift_cube",
    rig: str | Path = _REPO / "rigs" / "abc_yam",
    episode_s: float = 12.0,
    takeover_at_s: float = 3.0,
    takeover_s: float = 2.0,
    camera_size: tuple[int, int] = (96, 72),
    ci: bool = True,
) -> dict[str, Any]:
    """Roll ``checkpoint`` out on the twin of ``rig`` for each seed, with one takeover each.

    Args:
        checkpoint: the policy checkpoint (what ``abc-rollout --policy`` takes).
        seeds: object placements, one episode each.
        run_dir: ptys, sockets, the overlay, the launch log and ``episodes/``.
        task: sim task (objects in the twin world, and its success check).
        episode_s: [s] each episode's length before it is judged.
        takeover_at_s / takeover_s: [s] when the operator takes over and for how long.
        camera_size: rendered view size [px] (the checkpoint's image size is its own).
        ci: rates and timeouts for a shared 2-core machine (:data:`CI_SETS`).

    Returns:
        ``{"seeds", "success" (per seed), "success_rate", "episodes" (dirs), and per
        episode the steps labelled "policy_steps", "intervention_steps" (the
        takeover) and "held_steps" (nobody in control: HOLD, or the policy's chunk stale)}``.
    """
    run = Path(run_dir)
    episodes = run / "episodes"
    twin = RigTwin(rig, run, task=task, camera_size=camera_size, motor_timeout_s=2.0 if ci else 0.4).start()
    proc = None
    keys = None
    successes: list[bool] = []
    try:
        data = build_twin_graph(twin, "rollout", run, heartbeat_timeout_s=8.0 if ci else None)
        arms = list(twin.rig.followers)
        sets = [
            f"policy.checkpoint={checkpoint}",
            f"recorder.root={episodes}",
            f"recorder.task_name={task}",
            *(CI_SETS(list(twin.rig.leaders), arms) if ci else []),
        ]
        proc, log = launch_twin_graph(data, run, sets)
        # The operator's keyboard (what abc-rollout's terminal console binds): hands the
        # arms to the policy and takes them back.
        keys = Publisher(f"ipc://{run}/console", "twin_keys")
        if not _wait(lambda: "[policy] ready in" in log.read_text(), 300):
            raise RuntimeError(f"the rollout graph never came up; see {log}")
        time.sleep(3.0)
        for k, seed in enumerate(seeds):
            twin.reset_objects(int(seed))
            _press(twin, "button_a")  # episode_start
            if not _wait(lambda k=k: log.read_text().count("] recording episode_") >= k + 1, 30):
                raise RuntimeError(f"episode {k} never started; see {log}")
            keys.publish("console/mode", ModeCommand(mode="POLICY", reason="twin operator: episode start"))
            time.sleep(takeover_at_s)
            # Takeover with the left leader: pedal A held, the hand moves the leader a little.
            assert twin.console is not None
            twin.console.press("pedal_a")
            base = np.array([0.0, 1.3, 1.2, -1.47, 0.0, 0.0, 1.0])
            twin.move_leader("left", hold_hand(base + np.array([0.1, 0.1, 0, 0, 0, 0, 0])))
            time.sleep(takeover_s)
            twin.console.release("pedal_a")  # hand back to the policy
            twin.move_leader("left", hold_hand(base))
            time.sleep(max(0.0, episode_s - takeover_at_s - takeover_s))
            with twin.world.lock:
                ok = bool(twin.world.world.task.success(twin.world.world))
            successes.append(ok)
            keys.publish("console/mode", ModeCommand(mode="HOLD", reason="twin operator: judged"))
            _press(twin, "button_b", 0.15 if ok else 1.5)  # short: success, long: fail
            if not _wait(lambda k=k: log.read_text().count("steps, ") >= k + 1, 30):
                raise RuntimeError(f"episode {k} was not finalized; see {log}")
            _press(twin, "button_a")  # the start/stop button's stop (the episode already ended)
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
        "episodes": [str(d) for d in dirs],
        "policy_steps": [int(c.get("policy", 0)) for c in counts],
        "intervention_steps": [int(c.get("intervention", 0)) for c in counts],
        "held_steps": [int(c.get("none", 0)) for c in counts],
    }
