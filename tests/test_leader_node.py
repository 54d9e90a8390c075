"""The GELLO leader node as a real process: emulated leader in, ``leader/<arm>`` out, faults survived."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import zmq

from abc_robot.calibration.schema import LeaderCalibration, save_leader_calibration
from abc_robot.runtime.node import EXIT_CONFIG
from abc_robot.testing.dynamixel_leader import EmulatedLeader, sine_motion
from abc_robot.transport.bus import LatestSubscriber
from abc_robot.transport.codec import decode
from abc_robot.transport.messages import LeaderState

from .utils import REPO, wait_for

OFF = (1.6, -0.02, 3.1, -1.57, 0.01, 0.0)
SGN = (1.0, -1.0, 1.0, -1.0, -1.0, 1.0)
CENTER = np.array([0.2, 1.3, 1.2, -1.2, 0.1, 0.3])


def _spawn(params: dict, env: dict[str, str], kind: str = "gello_leader") -> subprocess.Popen:
    e = {**os.environ, **env, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "abc_robot.nodes", "--kind", kind, "--name", "leader_left"]
    cmd += ["--params", json.dumps(params), "--where", "launch/test.yaml: nodes.leader_left"]
    return subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.communicate()[0]


class Heartbeats:
    """Stands in for the supervisor: collects the node's heartbeat status."""

    def __init__(self, endpoint: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.PULL)
        self.sock.bind(endpoint)
        self.status: dict = {}

    def latest(self) -> dict:
        while self.sock.poll(0):
            _, hb = decode(self.sock.recv_multipart())
            self.status = hb.status
        return self.status

    def close(self) -> None:
        self.sock.close(linger=0)


def _cal_file(tmp_path, port: str) -> str:
    cal = LeaderCalibration(arm="left", offsets_rad=OFF, signs=SGN, gripper_open_rad=0.4, gripper_closed_rad=1.1, port=port)
    return str(save_leader_calibration(cal, tmp_path / "rig" / "left.yaml"))


def test_publishes_stops_while_faulted_and_resumes(tmp_path, run_dir):
    endpoint = f"ipc://{run_dir}/leader_left"
    hb = Heartbeats(f"ipc://{run_dir}/supervisor")
    with EmulatedLeader(
        tmp_path / "ttyDXL0", offsets_rad=OFF, signs=SGN, gripper_open_rad=0.4, gripper_closed_rad=1.1,
        motion=sine_motion(CENTER, 0.1, 2.0), wraps=[0, 2, -1, 0, 1, 0, 3],
    ) as em:  # fmt: skip
        params = {"arm": "left", "bind": endpoint, "calibration": _cal_file(tmp_path, str(em.link)), "rate_hz": 200,
                  "timeout_ms": 10.0, "reconnect_interval_s": 0.1}  # fmt: skip
        spawned_ns = time.monotonic_ns()
        proc = _spawn(params, {"ABC_SUPERVISOR": f"ipc://{run_dir}/supervisor"})
        sub = LatestSubscriber(endpoint, ["leader/left"])
        got: list[LeaderState] = []

        def received(n: int = 1) -> bool:
            msg = sub.poll().get("leader/left")
            if msg is not None:
                got.append(msg)
            return len(got) >= n

        def quiet(for_s: float = 0.3) -> bool:
            sub.poll()  # what was in flight before the fault
            time.sleep(for_s)
            return not sub.poll()

        try:
            assert wait_for(lambda: received(5), 60), _stop(proc)
            m = got[-1]
            assert isinstance(m, LeaderState) and m.source == "leader_left"
            assert np.max(np.abs(m.q - CENTER)) < 0.11  # calibrated, turns resolved
            assert 0.0 <= m.gripper <= 1.0 and m.T_base_ee.shape == (4, 4) and m.T_base_ee[3, 3] == 1.0
            assert spawned_ns < m.stamp_ns <= time.monotonic_ns()  # stamped at a read since the start, same clock
            assert wait_for(lambda: hb.latest().get("reads_per_s", 0) > 0, 10)
            for inject, clear, words in [
                (em.chain.mute, lambda: em.chain.mute(False), "no reply"),
                (lambda: em.chain.set_missing(3), lambda: em.chain.set_missing(3, False), "servo 3"),
                (em.chain.corrupt_all, lambda: em.chain.corrupt_all(False), "CRC"),
                (em.chain.unplug, em.chain.replug, "port"),
            ]:
                inject()
                assert wait_for(quiet, 5), f"still publishing during {words}"
                assert wait_for(lambda w=words: w in (hb.latest().get("fault") or ""), 5), hb.latest()
                assert hb.latest()["stale"]
                clear()
                n = len(got)
                assert wait_for(lambda n=n: received(n + 3), 10), f"no data after {words}: {hb.latest()}"
                assert np.max(np.abs(got[-1].q - CENTER)) < 0.11
            assert wait_for(lambda: hb.latest().get("reconnects") == 1 and hb.latest().get("fault") is None, 5), hb.latest()
            status = hb.latest()
            assert status["timeouts"] > 0 and status["corrupt"] > 0 and status["published"] > 0
            assert proc.poll() is None  # the node never died
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            out = _stop(proc)
            sub.close()
            hb.close()
    assert "no data" in out and "data back" in out


def test_emulated_leader_for_the_hardware_graph(tmp_path, run_dir):
    endpoint = f"ipc://{run_dir}/leader_left"
    params = {"arm": "left", "bind": endpoint, "calibration": _cal_file(tmp_path, "${run}/ttyDXL_left"), "fk": False,
              "emulation": {"center_q_rad": CENTER.tolist(), "amplitude_rad": 0.05, "wraps": [1, 0, 0, -1, 0, 2, 0]}}  # fmt: skip
    proc = _spawn(params, {}, kind="gello_leader_emulated")
    sub = LatestSubscriber(endpoint, ["leader/left"])
    try:
        msgs: list[LeaderState] = []
        assert wait_for(lambda: bool(m := sub.poll().get("leader/left")) and not msgs.append(m), 60), _stop(proc)
        assert np.max(np.abs(msgs[-1].q - CENTER)) < 0.06
    finally:
        _stop(proc)
        sub.close()
    assert not os.path.exists(f"{run_dir}/ttyDXL_left")  # the emulator went away with the node


def test_refuses_the_other_arms_calibration(tmp_path, run_dir):
    params = {"arm": "right", "bind": f"ipc://{run_dir}/leader_right", "calibration": _cal_file(tmp_path, "/dev/null")}
    proc = _spawn(params, {})
    out = _stop(proc) if proc.wait(timeout=60) is None else proc.communicate()[0]
    assert proc.returncode == EXIT_CONFIG
    assert "left.yaml: arm: this file calibrates the 'left' arm" in out
