"""The sim and sim-camera nodes as real processes over real sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
import zmq

from abc_robot.transport.bus import LatestSubscriber, Publisher, Requester, context
from abc_robot.transport.codec import decode
from abc_robot.transport.messages import CameraFrame, Event, Heartbeat, JointCommand, JointState

from .utils import REPO, wait_for

WORLD = {"task": "lift_cube", "image_width": 64, "image_height": 48}


def _spawn(kind: str, name: str, params: dict, env: dict[str, str]) -> subprocess.Popen:
    e = dict(os.environ, **env)
    e["PYTHONPATH"] = f"{REPO}{os.pathsep}{e.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "abc_robot.nodes", "--kind", kind, "--name", name]
    return subprocess.Popen(
        [*cmd, "--params", json.dumps(params)], env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture(scope="module")
def graph():
    """A sim node, a camera node (top + left), and this test as both followers."""
    run = tempfile.mkdtemp(prefix="abcs-", dir="/tmp")
    old_run = os.environ.get("ABC_RUN_DIR")
    os.environ["ABC_RUN_DIR"] = run  # this process's sockets expand ${run} the same way
    hb_ep = f"ipc://{run}/sup"
    hb = context().socket(zmq.PULL)
    hb.bind(hb_ep)
    followers = {arm: Publisher(f"ipc://{run}/follower_{arm}", f"follower_{arm}") for arm in ("left", "right")}
    env = {"ABC_RUN_DIR": run, "ABC_SUPERVISOR": hb_ep, "MUJOCO_GL": "egl"}
    sim = _spawn(
        "sim",
        "sim",
        {
            "bind": "ipc://${run}/sim",
            "control": "ipc://${run}/sim_ctl",
            "followers": {arm: f"ipc://${{run}}/follower_{arm}" for arm in ("left", "right")},
            "rate_hz": 250,
            "qpos_hz": 100,
            "reset_grace_s": 2.0,
            "sim": WORLD,
        },
        env,
    )
    cam = _spawn(
        "sim_camera",
        "camera",
        {
            "bind": "ipc://${run}/camera",
            "sim": "ipc://${run}/sim",
            "cameras": ["top", "left"],
            "world": WORLD,
        },
        env,
    )
    states = LatestSubscriber(f"ipc://{run}/sim", ["sim/"])
    ctl = Requester(f"ipc://{run}/sim_ctl", "test")
    frames = LatestSubscriber(f"ipc://{run}/camera", ["camera/"])
    try:
        assert wait_for(lambda: (states.poll(), "sim/left/state" in states.latest)[1], 60), "sim never published"
        yield {"states": states, "ctl": ctl, "frames": frames, "followers": followers, "hb": hb, "sim": sim, "cam": cam}
    finally:
        for p in (cam, sim):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for p in (cam, sim):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for s in (states, ctl, frames, *followers.values()):
            s.close()
        hb.close(linger=0)
        if old_run is None:
            os.environ.pop("ABC_RUN_DIR", None)
        else:
            os.environ["ABC_RUN_DIR"] = old_run


def _latest_heartbeat(hb: zmq.Socket, node: str, timeout_s: float = 3.0) -> Heartbeat:
    end = time.monotonic() + timeout_s
    found = None
    while time.monotonic() < end:
        if hb.poll(100):
            _, msg = decode(hb.recv_multipart(copy=False))
            if isinstance(msg, Heartbeat) and msg.node == node:
                found = msg
        elif found is not None:
            return found
    assert found is not None, f"no heartbeat from {node}"
    return found


def test_states_and_qpos_look_like_a_driver(graph) -> None:
    states: LatestSubscriber = graph["states"]
    seen = {}
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        for topic, msg in states.poll(0.05).items():
            seen.setdefault(topic, []).append(msg)
    for arm in ("left", "right"):
        msgs = seen[f"sim/{arm}/state"]
        assert all(isinstance(m, JointState) and m.q.shape == (7,) and m.dq.shape == (7,) for m in msgs)
        stamps = [m.stamp_ns for m in msgs]
        assert stamps == sorted(stamps) and stamps[-1] <= time.monotonic_ns()
        assert 0.0 <= msgs[-1].q[6] <= 1.0
    qpos = seen["sim/qpos"][-1]
    assert qpos.q.shape == (23,) and not qpos.has_gripper


def test_commands_move_the_arm_and_reset_brings_it_home(graph) -> None:
    states, ctl, pub = graph["states"], graph["ctl"], graph["followers"]["left"]
    reply = ctl.request("sim/reset", Event(kind="reset", data={"seed": 4}), timeout_s=5.0)
    assert reply.ok and reply.data["task"] == "lift_cube" and reply.data["seed"] == 4
    home = np.asarray(reply.data["snapshot"]["T_base_ee"]["left"])
    target = np.array([0.2, 1.5, 1.1, -1.2, 0.1, 0.2, 0.6])

    def at_target() -> bool:
        pub.publish("sim/left/command", JointCommand(q=target, mode="TELEOP", control_source="operator"))
        states.poll(0.02)
        msg = states.get("sim/left/state")
        return msg is not None and np.abs(msg.q[:6] - target[:6]).max() < 5e-3

    assert wait_for(at_target, 10.0), "the sim arm never reached the commanded joints"
    assert abs(states.get("sim/left/state").q[6] - 0.6) < 0.02
    # The other arm did not move.
    right = states.get("sim/right/state").q
    np.testing.assert_allclose(right[:6], [0.0, 1.30, 1.20, -1.47, 0.0, 0.0], atol=5e-3)

    before_reset_ns = time.monotonic_ns()
    reply = ctl.request("sim/reset", Event(kind="reset", data={"seed": 4}), timeout_s=5.0)
    assert reply.ok and reply.data["reset_ns"] > before_reset_ns
    reset_s = time.monotonic()
    np.testing.assert_allclose(np.asarray(reply.data["snapshot"]["T_base_ee"]["left"]), home, atol=1e-9)
    home_q = [0.0, 1.30, 1.20, -1.47, 0.0, 0.0]
    # A follower still holding its pre-reset pose: ignored during the grace period...
    for _ in range(10):
        pub.publish("sim/left/command", JointCommand(q=target))
        time.sleep(0.02)
    assert time.monotonic() - reset_s < 2.0  # (else this part proves nothing)
    states.poll()
    np.testing.assert_allclose(states.get("sim/left/state").q[:6], home_q, atol=5e-3)
    # ... and commands computed before the reset are ignored for good.
    time.sleep(max(0.0, 2.05 - (time.monotonic() - reset_s)))
    for _ in range(10):
        pub.publish("sim/left/command", JointCommand(q=target, stamp_ns=before_reset_ns))
        time.sleep(0.02)
    states.poll()
    np.testing.assert_allclose(states.get("sim/left/state").q[:6], home_q, atol=5e-3)
    assert wait_for(at_target, 10.0), "fresh commands after the grace period are followed again"


def test_task_requests_and_heartbeat_status(graph) -> None:
    ctl = graph["ctl"]
    r = ctl.request("sim/task", Event(kind="query"), timeout_s=5.0)
    assert r.ok and r.data["task"] == "lift_cube" and r.data["success"] is False
    assert 0.0 <= r.data["progress"] <= 1.0
    r = ctl.request("sim/snapshot", Event(kind="query"), timeout_s=5.0)
    assert set(r.data["snapshot"]["objects"]) == {"cube"}
    r = ctl.request("sim/teleport", Event(kind="query"), timeout_s=5.0)
    assert not r.ok and "sim/reset" in r.message
    r = ctl.request("sim/reset", Event(kind="reset", data={"arms": "sideways"}), timeout_s=5.0)
    assert not r.ok and "home" in r.message
    hb = _latest_heartbeat(graph["hb"], "sim")
    for key in ("success", "progress", "progress_max", "realtime_factor", "lag_steps", "step_us_p50", "limp"):
        assert key in hb.status, key
    assert hb.loop["count"] > 0


def test_torque_off_makes_the_arm_limp_and_torque_on_holds_it(graph) -> None:
    pub, hb = graph["followers"]["right"], graph["hb"]
    pub.publish("sim/right/command", JointCommand(q=np.full(7, np.nan)))
    assert wait_for(lambda: _latest_heartbeat(hb, "sim", 0.5).status["bad_commands"] >= 1, 5.0)
    pub.publish("sim/right/command", JointCommand(q=np.zeros(0), torque=False))
    assert wait_for(lambda: _latest_heartbeat(hb, "sim", 0.5).status["limp"]["right"], 5.0)
    q = np.array([0.0, 1.30, 1.20, -1.47, 0.0, 0.0, 0.0])
    pub.publish("sim/right/command", JointCommand(q=q))
    assert wait_for(lambda: not _latest_heartbeat(hb, "sim", 0.5).status["limp"]["right"], 5.0)


def test_camera_renders_from_qpos_and_a_stopped_camera_never_stalls_physics(graph) -> None:
    frames, states, cam = graph["frames"], graph["states"], graph["cam"]
    got: dict[str, CameraFrame] = {}

    def both() -> bool:
        for topic, msg in frames.poll(0.05).items():
            got[topic] = msg
        return {"camera/top", "camera/left"} <= set(got)

    assert wait_for(both, 60.0), "no camera frames"
    end = time.monotonic() + 0.5  # drain what queued up while the other tests ran
    while time.monotonic() < end:
        both()
    for name in ("top", "left"):
        f = got[f"camera/{name}"]
        assert f.camera == name and f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8
        assert f.image.mean() > 20
        assert 0 < f.stamp_ns <= time.monotonic_ns()
    # Frames carry the stamp of the qpos they were rendered from: close behind the sim.
    states.poll()
    assert states.get("sim/qpos").stamp_ns - got["camera/top"].stamp_ns < 2e9

    cam.send_signal(signal.SIGSTOP)
    try:
        states.poll()
        first = states.get("sim/left/state").seq
        time.sleep(0.5)
        states.poll()
        assert states.get("sim/left/state").seq - first > 25  # 250 Hz loop: far more than 25
    finally:
        cam.send_signal(signal.SIGCONT)
