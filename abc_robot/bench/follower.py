"""``abc-bench follower``: CPU time of one follower tick, in-process and deterministic.

A :class:`~abc_robot.nodes.follower.FollowerNode` (sim backend, leader, other arm,
console, policy endpoints as in ``launch/teleop_sim.yaml``) runs in this process; the
test harness plays the world (``sim/left/state`` following the commands), the leader
(``leader/left`` tracing the scripted leader's Lissajous figure), the other arm and
the console on local publishers. Each tick publishes the inputs, waits until every one
has reached the follower's sockets, then times ``step()`` on this thread's CPU clock
(``time.thread_time_ns``): the figure is the follower's own work, not the machine's
load, so it can be compared across runs on a shared machine. Also: the codec's encode
and decode of a 7-joint state, the hot path's building block.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import tempfile
import time
from typing import Any

import numpy as np
import zmq

from abc_robot.bench.common import Row

__all__ = ["run", "step_cpu_us", "codec_us"]

HOME = np.array([0.0, 1.3, 1.2, -1.47, 0.0, 0.0, 0.0])


def _wait_readable(socks: list[Any], timeout_s: float = 1.0) -> None:
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        ready = dict(poller.poll(int(max(1, (end - time.monotonic()) * 1000))))
        if all(s in ready for s in socks):
            return


def step_cpu_us(ticks: int = 2000, warmup: int = 600) -> np.ndarray:
    """CPU time [µs] of ``ticks`` follower steps in TELEOP, engaged, after at least ``warmup`` ticks."""
    from abc_robot.kinematics.ik import IKSolver
    from abc_robot.kinematics.model import ArmModel
    from abc_robot.nodes.follower import BackendSpec, FollowerConfig, FollowerNode
    from abc_robot.nodes.scripted_leader import ScriptedLeaderConfig, lissajous_pose
    from abc_robot.transport.bus import LatestSubscriber, Publisher
    from abc_robot.transport.messages import JointCommand, JointState, LeaderState

    d = tempfile.mkdtemp(prefix="abcf-")
    world = Publisher(f"ipc://{d}/sim", "sim")
    leader = Publisher(f"ipc://{d}/leader", "leader")
    other = Publisher(f"ipc://{d}/follower_right", "follower_right")
    console = Publisher(f"ipc://{d}/console", "console")
    policy = Publisher(f"ipc://{d}/policy", "policy")
    cfg = FollowerConfig(
        arm="left",
        bind=f"ipc://{d}/follower_left",
        leader=f"ipc://{d}/leader",
        policy=f"ipc://{d}/policy",
        console=[f"ipc://{d}/console"],
        other_arm=f"ipc://{d}/follower_right",
        # The harness's own pace must never trip the watchdog: every timed tick follows.
        stale_timeout_ms=5000.0,
        backend=BackendSpec("sim", {"endpoint": f"ipc://{d}/sim", "stale_ms": 5000.0}),
    )
    node = FollowerNode("follower_left", cfg)
    node.setup()
    gc.freeze()  # as Node.run does after setup
    cmd = LatestSubscriber(f"ipc://{d}/follower_left", ["sim/left/command"])
    model = ArmModel.from_urdf("yam_leader.urdf")
    lik = IKSolver(model)
    lcfg = ScriptedLeaderConfig(bind="")
    q_world = HOME.copy()
    q_lead = HOME[:6].copy()
    q_other = np.array([0.0, 1.3, 1.2, -1.47, 0.0, 0.0, 0.0])
    time.sleep(0.3)  # slow joiners
    out = np.zeros(ticks)
    dt_s = 0.004
    t_s = 0.0
    timed = 0
    i = 0
    # Warm up until engaged (the engage ramp's pace follows the wall clock), then time.
    # Ticks are paced at the leader's 250 Hz: the safety filter's limits see real dt.
    next_ns = time.monotonic_ns()
    while timed < ticks:
        next_ns += int(dt_s * 1e9)
        pause = (next_ns - time.monotonic_ns()) / 1e9
        if pause > 0:
            time.sleep(pause)
        t_s += dt_s
        T, g = lissajous_pose(lcfg, t_s, 0.0)
        q_lead = lik.solve(T, q_lead).q
        now = time.monotonic_ns()
        world.publish("sim/left/state", JointState(q=q_world.copy(), dq=np.zeros(7), stamp_ns=now))
        leader.publish(
            "leader/left", LeaderState(q=np.append(q_lead, g), T_base_ee=model.fk(q_lead), gripper=g, stamp_ns=now)
        )
        other.publish("follower/right/state", JointState(q=q_other, dq=np.zeros(7), stamp_ns=now))
        socks = [node.leader_sub.socket, node.backend.sub.socket, node.other_sub.socket]  # type: ignore[union-attr]
        _wait_readable(socks)
        c0 = time.thread_time_ns()
        node.step(time.monotonic_ns())
        c1 = time.thread_time_ns()
        i += 1
        if i > warmup and not node.arbiter.engaging:
            out[timed] = (c1 - c0) / 1e3
            timed += 1
        elif i > warmup + 50_000:
            break
        got = cmd.poll(0.05).get("sim/left/command")
        if isinstance(got, JointCommand) and len(got.q) == 7:
            q_world += (np.asarray(got.q) - q_world) * 0.4
    mode, engaged = node.mode, node.arbiter.status(time.monotonic_ns())["engaged"]
    node.teardown()
    for s in (world, leader, other, console, policy, cmd):
        s.close()
    node._close_sockets()
    if mode != "TELEOP" or not engaged or timed < ticks:
        raise RuntimeError(f"follower not engaged in TELEOP after warm-up: mode {mode}, engaged {engaged}")
    return out


def codec_us(n: int = 20000) -> dict[str, float]:
    """Median µs of encode / decode of a 7-joint JointState (best of 3 batches)."""
    from abc_robot.transport.codec import decode, encode
    from abc_robot.transport.messages import JointState

    msg = JointState(q=np.arange(7.0), dq=np.zeros(7), seq=3, stamp_ns=123, source="bench")
    frames = encode(b"sim/left/state", msg)
    res = {}
    for name, fn in (("encode", lambda: encode(b"sim/left/state", msg)), ("decode", lambda: decode(frames))):
        best = float("inf")
        for _ in range(3):
            t0 = time.thread_time_ns()
            for _ in range(n):
                fn()
            best = min(best, (time.thread_time_ns() - t0) / n / 1e3)
        res[name] = best
    return res


def run(quick: bool = False) -> list[Row]:
    # The node's log lines go to stderr: stdout carries the table (or --json).
    with contextlib.redirect_stdout(sys.stderr):
        lat = step_cpu_us(300 if quick else 3000, 300 if quick else 600)
    c = codec_us(2000 if quick else 20000)
    return [
        Row("follower/step_cpu/p50", float(np.percentile(lat, 50)), "us"),
        Row("follower/step_cpu/p99", float(np.percentile(lat, 99)), "us"),
        Row("follower/step_cpu/mean", float(lat.mean()), "us"),
        Row("codec/joint_state/encode", c["encode"], "us"),
        Row("codec/joint_state/decode", c["decode"], "us"),
    ]


if __name__ == "__main__":
    from abc_robot.bench.common import report

    report("follower", run())
