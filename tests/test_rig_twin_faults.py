"""Devices unplugged during a run of abc_yam's teleop graph on the hardware twin.

A leader's USB cable, a camera and a follower motor's CAN link go away and come back
while the graph runs: the arms hold (no free fall; the joints whose motors answer stay
put, measured from the twin world's state), each fault is reported by name, and the
graph resumes when the device is back, without a snap.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from abc_robot.devices.damiao import MotorState
from abc_robot.testing.twin.graph import CI_SETS, build_twin_graph, launch_twin_graph
from abc_robot.testing.twin.rig_twin import RigTwin
from abc_robot.transport import LatestSubscriber

from .utils import REPO, wait_for

RIG = REPO / "rigs" / "abc_yam"
ARMS = ("left", "right")


def _no_free_fall(twin: RigTwin, arm: str, seconds: float) -> float:
    """Largest joint speed [rad/s] of ``arm`` seen over ``seconds`` (a dropped arm exceeds 2)."""
    return float(_joint_speeds(twin, arm, seconds).max())


def _joint_speeds(twin: RigTwin, arm: str, seconds: float) -> np.ndarray:
    """Peak speed [rad/s] of each of ``arm``'s six joints over ``seconds``, from the twin
    world's own state (what its motors sense)."""
    chain = twin.chains[arm]
    peak = np.zeros(6)
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        with chain.lock:
            v = np.array([abs(m.v) for m in chain.motors[:6]])
        peak = np.maximum(peak, v)
        time.sleep(0.01)
    return peak


def _pose_trace(twin: RigTwin, arm: str, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Times [s] and ``arm``'s six joint angles [rad] sampled every 10 ms over ``seconds``."""
    ts, qs = [], []
    t0 = time.monotonic()
    while (now := time.monotonic()) - t0 < seconds:
        ts.append(now - t0)
        qs.append(twin.arm_q(arm)[:6])
        time.sleep(0.01)
    return np.array(ts), np.array(qs)


def _logged(log: Path, pattern: str) -> bool:
    return re.search(pattern, log.read_text()) is not None


@pytest.mark.slow
def test_leader_camera_and_motor_unplugged_and_back(run_dir):
    run = Path(run_dir)
    twin = RigTwin(RIG, run, camera_size=(96, 72), motor_timeout_s=2.0).start()
    sub = LatestSubscriber(
        [f"ipc://{run}/follower_{arm}" for arm in ARMS] + [f"ipc://{run}/camera_top"],
        [f"follower/{arm}/command" for arm in ARMS] + ["camera/top"],
    )
    proc = None

    def cmd(arm: str):
        sub.poll()
        return sub.get(f"follower/{arm}/command")

    def operating(arm: str) -> bool:
        c = cmd(arm)
        return c is not None and c.control_source == "operator"

    try:
        data = build_twin_graph(twin, "teleop", run, heartbeat_timeout_s=8.0)
        proc, log = launch_twin_graph(data, run, CI_SETS(list(ARMS), list(ARMS)))
        assert wait_for(lambda: all(operating(a) for a in ARMS), 90), "the followers never followed the leaders"
        assert wait_for(lambda: all(twin.arm_q(a)[1] > 0.8 for a in ARMS), 90), "the followers never engaged"

        # The engage ramp is over when the arms are still (the leaders hold still too).
        assert wait_for(lambda: all(_no_free_fall(twin, a, 0.2) < 0.02 for a in ARMS), 60), "the arms never settled"

        # 1. Leader unplugged: its follower holds, the leader node reports it; back: it follows again.
        twin.unplug_leader("left")
        assert wait_for(lambda: (c := cmd("left")) is not None and c.mode == "HOLD", 20), "follower_left kept going"
        q_held = twin.arm_q("left")
        assert _no_free_fall(twin, "left", 1.0) < 0.5
        assert np.abs(twin.arm_q("left")[:6] - q_held[:6]).max() < 0.05, "the left arm did not hold"
        assert wait_for(lambda: "leader left: no data" in log.read_text(), 20), "the leader fault was not reported"
        twin.unplug_leader("left", False)
        assert wait_for(lambda: operating("left"), 40), "follower_left did not resume after the leader came back"

        # 2. A camera frozen (its process stopped): the supervisor reports it and restarts it; frames flow again.
        # (On a loaded machine the supervisor may already have restarted it: take the newest pid.)
        marks = log.read_text().count("camera_top: silent")
        for _ in range(5):
            pid = int(re.findall(r"camera_top: started — pid (\d+)", log.read_text())[-1])
            try:
                os.kill(pid, signal.SIGSTOP)
                break
            except ProcessLookupError:
                time.sleep(1.0)
        try:
            assert wait_for(lambda: log.read_text().count("camera_top: silent") > marks, 40), (
                "the frozen camera was not reported"
            )
        finally:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass  # the supervisor killed it to restart it
        sub.poll()
        frame = sub.get("camera/top")
        seq = frame.seq if frame is not None else -1
        assert wait_for(
            lambda: (sub.poll() is not None) and (f := sub.get("camera/top")) is not None and f.seq != seq, 60
        ), "camera_top never delivered frames again"
        assert all(operating(a) for a in ARMS), "a camera fault stopped teleoperation"

        # 3. A follower motor's CAN link cut (joint3, the elbow: gravity-loaded in this pose).
        # The YAM driver's safe stop holds every motor that still answers, stiff, with the
        # gravity of the arm as it is; it reports the silent motor by name and returns no
        # samples, so the follower holds and logs why. The cut motor runs its last frame
        # until its own CAN timeout (2 s on this twin, 0.4 s on the rig), then only damps
        # (LOST_COMM): nobody can hold that joint, and it sinks at its damped speed.
        # Back: the driver re-enables it where it is, the follower re-anchors and resumes.
        cut = 2
        others = [j for j in range(6) if j != cut]
        q_before = twin.arm_q("right")
        twin.silence_motor("right", cut)
        assert wait_for(lambda: _logged(log, r"follower_right.*HOLD: backend: .*joint3 silent"), 20), (
            "follower_right did not report the silent motor by name"
        )
        sub.poll()
        seq = cmd("right").seq
        speeds = _joint_speeds(twin, "right", 3.0)
        q_cut = twin.arm_q("right")
        moved = np.abs(q_cut[:6] - q_before[:6])
        print(f"right arm during the motor cut: peak joint speeds {np.round(speeds, 3).tolist()} rad/s, "
              f"moved {np.round(moved, 3).tolist()} rad")  # fmt: skip
        # Bounds (measured 2026-12-03: held joints <= 0.95 rad/s peak, moved <= 0.04 rad on
        # joints 1-2 and 0.22 rad on joint4; the cut joint 3.5 rad/s, 1.39 rad to its stop):
        # the joints whose motors answer are held where they were, but as the cut elbow
        # swings down the gravity load on them changes and the driver cannot know by how
        # much (no feedback from the cut joint): their stiffness takes it, 80 N·m/rad on
        # joints 1-3 (< 0.08 rad) and 10 N·m/rad on the wrist (< 0.35 rad), never faster
        # than 1.5 rad/s. The cut joint sinks at its motor's LOST_COMM damping (< 4.5 rad/s;
        # the twin's free fall from this pose is ~6.8 rad/s, measured on the limp arm).
        assert speeds[others].max() < 1.5, f"a joint whose motor answers moved fast ({speeds}, {moved})"
        assert moved[[0, 1]].max() < 0.08 and moved[[3, 4, 5]].max() < 0.35, f"a held joint sagged ({moved})"
        assert speeds[cut] < 4.5, f"the cut joint fell freely ({speeds[cut]:.2f} rad/s)"
        assert twin.chains["right"].states[cut] == MotorState.LOST_COMM, twin.chains["right"].states
        sub.poll()
        assert cmd("right").seq == seq, "follower_right kept commanding an arm in its safe stop"
        twin.silence_motor("right", cut, False)
        assert wait_for(lambda: _logged(log, r"follower_right.*backend back after"), 20), "no resume reported"
        assert wait_for(lambda: twin.chains["right"].states[cut] == MotorState.ENABLED, 10)
        t, q = _pose_trace(twin, "right", 2.0)
        # No snap: the follower re-anchors on the measured pose and ramps back to the leader
        # at its engage speed, 0.6 rad/s (commanded against the time that really passed, so
        # a descheduled follower moves in bursts, never faster on average). Over any two
        # samples every joint moved at most 0.6 rad/s × the time between them + 0.3 rad
        # (servo lag, one burst; measured 0.03-0.10 rad at load averages 20-25); a snap
        # back to the old target (1.4 rad at the driver's 3 rad/s slew) exceeds it by ~1 rad.
        dq = np.abs(q[None, :, :] - q[:, None, :]).max(axis=2)
        excess = float((dq - 0.6 * np.abs(t[None, :] - t[:, None])).max())
        print(f"right arm resuming: {np.abs(q[-1] - q[0]).max():.2f} rad in 2 s, excess over 0.6 rad/s {excess:.3f} rad")
        assert excess < 0.3, f"the right arm snapped on resuming ({excess:.2f} rad faster than the engage ramp)"
        assert wait_for(lambda: operating("right"), 40), "follower_right did not resume after the motor came back"
        assert wait_for(lambda: np.abs(twin.arm_q("right")[:6] - q_before[:6]).max() < 0.1, 40), (
            "the right arm did not return to the leader's pose",
            twin.arm_q("right"),
            q_before,
        )

        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    except BaseException:
        if proc is not None:
            lines = (run / "launch.log").read_text().splitlines()
            print("\n".join(ln for ln in lines if "stale" not in ln and "data back" not in ln)[-8000:])
        raise
    finally:
        sub.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        twin.stop()
