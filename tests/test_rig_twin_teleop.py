"""abc_yam's teleop graph (launch/templates/teleop.yaml) on the hardware twin, end to end.

The graph is built from rigs/abc_yam plus the twin's overlay exactly as ``abc-teleop
--rig`` builds it and runs as real processes over real sockets: GELLO leader readers on
the twin's ptys, YAM followers on its CAN bus, three sim cameras rendering the twin's
world, the console board and the recorder. The operator's hand plays the sim task's
scripted demonstration on the leaders; episodes start and end from the console board.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from abc_robot.recording.reader import EpisodeReader
from abc_robot.sim.world import HOME_Q
from abc_robot.testing.twin.graph import CI_SETS, build_twin_graph, launch_twin_graph
from abc_robot.testing.twin.hand import scripted_hand
from abc_robot.testing.twin.rig_twin import RigTwin
from abc_robot.transport import LatestSubscriber

from .utils import REPO, wait_for

RIG = REPO / "rigs" / "abc_yam"
ARMS = ("left", "right")
TASK = "lift_cube"


def _click(twin: RigTwin, button: str) -> None:
    assert twin.console is not None
    twin.console.press(button)
    time.sleep(0.15)
    twin.console.release(button)


@pytest.mark.slow
def test_two_scripted_demonstrations_recorded_through_the_hardware_graph(run_dir):
    run = Path(run_dir)
    episodes = run / "episodes"
    twin = RigTwin(RIG, run, task=TASK, camera_size=(96, 72), motor_timeout_s=2.0).start()
    sub = LatestSubscriber([f"ipc://{run}/follower_{arm}" for arm in ARMS], [f"follower/{arm}/command" for arm in ARMS])
    proc = None
    try:
        data = build_twin_graph(twin, "teleop", run, heartbeat_timeout_s=8.0)
        proc, log = launch_twin_graph(data, run, [*CI_SETS(list(ARMS), list(ARMS)), f"recorder.root={episodes}"])

        def operating() -> bool:
            sub.poll()
            cmds = [sub.get(f"follower/{arm}/command") for arm in ARMS]
            return all(c is not None and c.control_source == "operator" for c in cmds)

        assert wait_for(operating, 90), "the followers never followed the leaders"
        # The followers ramp from the folded rest pose (joint 2 on its stop at 0) to the leaders' pose.
        assert wait_for(lambda: all(twin.arm_q(a)[1] > 0.8 for a in ARMS), 90), {
            a: twin.arm_q(a)[:6].round(2).tolist() for a in ARMS
        }
        time.sleep(1.0)  # settled: the demonstration plans from the arms' pose
        for k, seed in enumerate((3, 4)):
            twin.reset_objects(seed)
            start = {arm: np.asarray(HOME_Q) for arm in ARMS}
            hands, duration = scripted_hand(TASK, twin.world.world.snapshot(), start, delay_s=0.5)
            _click(twin, "button_a")  # episode_start
            assert wait_for(lambda k=k: log.read_text().count("] recording episode_") >= k + 1, 20)
            twin.play(hands)
            time.sleep(duration)
            # The script ends with the cube in a closed gripper: wait for the fingers (a slow
            # machine lags) before the operator marks success.
            assert wait_for(lambda: min(twin.arm_q(a)[6] for a in ARMS) < 0.9, 30), "no gripper closed"
            time.sleep(0.5)
            _click(twin, "button_b")  # short press: success, ends the episode
            assert wait_for(lambda k=k: log.read_text().count(", success") >= k + 1, 30), "no success recorded"
            # Button A follows the episode state: after success, the next press starts the
            # next episode (no stop press in between).
            for arm in ARMS:
                twin.move_leader(arm, None)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    except BaseException:
        if proc is not None:
            lines = (run / "launch.log").read_text().splitlines()
            # The leaders' and followers' stale-data lines would crowd out the rest.
            print("\n".join(ln for ln in lines if "stale" not in ln and "data back" not in ln)[-8000:])
        raise
    finally:
        sub.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        twin.stop()

    dirs = sorted(episodes.glob("episode_*"))
    assert len(dirs) == 2, dirs
    for d in dirs:
        meta = json.loads((d / "episode_metadata.json").read_text())
        with EpisodeReader(d) as ep:
            rows = ep.rows
            assert rows.shape[1] == 28 and rows.shape[0] == meta["num_steps"] > 30
            assert ep.outcome["success"] is True
            assert meta["cameras"] == ["top", "left", "right"]
            # One stacked frame per step, every view there.
            assert len(ep.video.packets()) == rows.shape[0]
            for cam in ("top", "left", "right"):
                view = ep.view(rows.shape[0] - 1, cam)
                assert view.shape[:2] == tuple(meta["camera_resolutions"][cam][::-1]) and view.std() > 1.0
            # The followers moved with the demonstration: lift_cube's script reaches for the
            # cube with one arm and closes its gripper (0 closed, 1 open).
            states = ep.states
            moved = np.ptp(states[:, [*range(6), *range(7, 13)]], axis=0).max()
            assert moved > 0.3, f"the arms hardly moved ({moved:.3f} rad)"
            assert min(states[:, 6].min(), states[:, 13].min()) < 0.9, "no gripper closed (on the cube)"
        assert set(meta["camera_intrinsics"]) == {"top", "left", "right"}
        assert meta["camera_intrinsics"]["top"]["fx"] > 0
        assert "rig.yaml" in meta["calibration"]
        assert all(meta["counts"]["missing_views"][c] == 0 for c in ("top", "left", "right"))
        steps = meta["num_steps"]
        rates = {c: round(h["frames"] / meta["duration_s"], 1) for c, h in meta["cameras_health"].items()}
        print(
            f"{d.name}: {steps} steps, camera frame rates [Hz]: {rates}, stale steps: "
            f"{ {c: h['stale_steps'] for c, h in meta['cameras_health'].items()} }"
        )
