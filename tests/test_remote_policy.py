"""A policy worker on another host: two network namespaces joined by a veth pair.

The "rig" namespace runs the sim rollout graph with a policy link in the worker's
place; the "gpu" namespace runs ``abc-policy serve``. Observations and chunks cross
the veth link over tcp + CURVE; nothing else does, except the test oracle's own side
channel: the reference oracle policy (:mod:`abc_robot.eval.reference_policies`) reads
the world from the sim node over ipc to play the scripted demonstration, which the
shared filesystem allows. Where the sandbox refuses namespaces, the two hosts are two
loopback addresses (127.0.0.1 and 127.0.0.2), and the link cut becomes a stalled
server (SIGSTOP).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from abc_robot.eval.reference_policies import write_reference_checkpoint
from abc_robot.testing.hosts import Background, Hosts, two_hosts
from abc_robot.transport.bus import LatestSubscriber
from abc_robot.transport.keyring import KeyRing
from abc_robot.transport.messages import JointCommand

BIN = Path(sys.executable).parent
TASK = "lift_cube_easy"


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    with two_hosts() as h:
        if not h.namespaces:
            print("network namespaces refused here: the two hosts are 127.0.0.1 and 127.0.0.2")
        yield h


@pytest.fixture(scope="module")
def rings(tmp_path_factory: pytest.TempPathFactory, hosts: Hosts) -> tuple[KeyRing, KeyRing]:
    d = tmp_path_factory.mktemp("keys")
    rig, gpu = KeyRing.init(d / "rig"), KeyRing.init(d / "gpu")
    rig.authorize(gpu.public_key_file, "gpu", [hosts.gpu_addr])
    gpu.authorize(rig.public_key_file, "rig", [hosts.rig_addr])
    return rig, gpu


def _serve(hosts: Hosts, ring: KeyRing, ckpt: Path, port: int = 5601) -> Background:
    return Background(
        [*hosts.gpu, str(BIN / "abc-policy"), "serve", "--policy", str(ckpt), "--rig-host", hosts.rig_addr, "--rig-port", "5600",
         "--port", str(port), "--bind-host", hosts.gpu_addr, "--keys", ring.directory, "--compile", "eager", "--device", "cpu"]
    )  # fmt: skip


def _remote_rollout(hosts: Hosts, ring: KeyRing, run_dir: Path, *args: str, port: int = 5601) -> Background:
    return Background(
        [*hosts.rig, str(BIN / "abc-rollout"), "--sim", "--policy-host", f"tcp://{hosts.gpu_addr}:{port}", "--keys", ring.directory,
         "--uplink", f"tcp://{hosts.rig_addr}:5600", "--run-dir", str(run_dir), "--task", TASK, "--json", *args]
    )  # fmt: skip


def test_a_remote_rollout_succeeds_as_a_local_one_on_the_same_seeds(tmp_path: Path, hosts: Hosts, rings: tuple[KeyRing, KeyRing]) -> None:
    rig_ring, gpu_ring = rings
    run_dir = tmp_path / "rig_run"
    run_dir.mkdir()
    remote_ckpt = write_reference_checkpoint(tmp_path / "oracle_remote", "oracle", sim_control=f"ipc://{run_dir}/sim_ctl")
    local_ckpt = write_reference_checkpoint(tmp_path / "oracle_local", "oracle")
    seeds = ["--episodes", "2", "--seed", "11"]

    server = _serve(hosts, gpu_ring, remote_ckpt)
    try:
        rig = _remote_rollout(hosts, rig_ring, run_dir, *seeds)
        assert rig.finish(400) == 0, rig.tail()
    finally:
        server.stop()
    remote = rig.summary()
    local_p = Background([str(BIN / "abc-rollout"), "--sim", "--policy", str(local_ckpt), "--task", TASK, "--json", *seeds])
    assert local_p.finish(400) == 0, local_p.tail()
    local = local_p.summary()

    # Same seeds, same oracle: the same outcome per episode; the margin is one episode
    # (the oracle is timed by the sim clock, so a late chunk can cost a grasp).
    remote_ok = [e["success"] for e in remote["episodes"]]
    local_ok = [e["success"] for e in local["episodes"]]
    assert len(remote_ok) == len(local_ok) == 2
    assert abs(sum(remote_ok) - sum(local_ok)) <= 1, (remote_ok, local_ok)
    assert sum(local_ok) >= 1, local  # the oracle does the easy task
    link = remote["policy_worker"]
    assert link["handshake"] == "ok" and link["chunks"] > 10
    assert link["delay_ms_p50"] is not None and link["uplink_mbit_s"] > 0
    assert any("remote worker ready" in ln for ln in rig.lines)


def test_a_link_cut_or_a_server_restart_holds_the_arms_and_the_rollout_resumes(tmp_path: Path, hosts: Hosts, rings: tuple[KeyRing, KeyRing]) -> None:
    rig_ring, gpu_ring = rings
    run_dir = tmp_path / "rig_run"
    run_dir.mkdir()
    ckpt = write_reference_checkpoint(tmp_path / "still", "still")
    server = _serve(hosts, gpu_ring, ckpt)
    # One long episode, ended by a clean stop once the faults are judged.
    rig = _remote_rollout(hosts, rig_ring, run_dir, "--episodes", "1", "--time-limit", "600")
    try:
        assert rig.wait_for("remote worker ready", 240), rig.tail()
        modes = LatestSubscriber(f"ipc://{run_dir}/follower_left", ["follower/left/command"])

        def mode_within(want: str, timeout_s: float) -> bool:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                got = modes.poll(timeout_s=0.1).get("follower/left/command")
                if isinstance(got, JointCommand) and got.mode == want:
                    return True
            return False

        assert mode_within("POLICY", 60), rig.tail()
        cut = bool(hosts.namespaces)
        mark = len(rig.lines)
        if cut:
            hosts.link(up=False)
        else:
            server.signal(signal.SIGSTOP)
        try:
            assert mode_within("HOLD", 5), "the arm did not hold with the link cut"
            assert rig.wait_for("link down:", 10, since=mark)
        finally:
            if cut:
                hosts.link(up=True)
            else:
                server.signal(signal.SIGCONT)
        assert mode_within("POLICY", 20), "the rollout did not resume:\n" + rig.tail()
        assert rig.wait_for("link up again", 10, since=mark)
        # The server stops and comes back with the same keys: hold, then resume.
        mark = len(rig.lines)
        server.stop()
        assert mode_within("HOLD", 10), "the arm did not hold with the server gone"
        assert rig.wait_for("link down:", 10, since=mark)
        server = _serve(hosts, gpu_ring, ckpt)
        assert mode_within("POLICY", 240), "the rollout did not resume after the restart:\n" + rig.tail()
        assert rig.wait_for("link up again", 10, since=mark)
        modes.close()
        rig.stop()
    finally:
        rig.stop()
        server.stop()
    assert sum("link up again" in ln for ln in rig.lines) >= 2, rig.tail()


def test_a_wrong_server_key_is_refused_clearly_and_a_stranger_gets_nothing(
    tmp_path: Path, hosts: Hosts, rings: tuple[KeyRing, KeyRing]
) -> None:
    rig_ring, gpu_ring = rings
    impostor = KeyRing.init(tmp_path / "impostor")  # serves at the gpu host with a key the rig does not know
    impostor.authorize(rig_ring.public_key_file, "rig", [hosts.rig_addr])
    ckpt = write_reference_checkpoint(tmp_path / "still", "still")
    run_dir = tmp_path / "rig_run"
    run_dir.mkdir()
    server = _serve(hosts, impostor, ckpt, port=5611)
    rig = _remote_rollout(hosts, rig_ring, run_dir, "--episodes", "1", port=5611)
    try:
        assert server.wait_for("ready in", 240), server.tail()
        # Until the server is up the link says it has no connection; then it names the key.
        assert rig.wait_for("CURVE handshake", 60), rig.tail()
        down = next(ln for ln in rig.lines if "CURVE handshake" in ln)
        assert "link down:" in down and "key" in down, down
        # Nothing of the impostor's reached an arm: the followers never left HOLD.
        cmds = LatestSubscriber(f"ipc://{run_dir}/follower_right", ["follower/right/command"])
        got = cmds.poll(timeout_s=2.0).get("follower/right/command")
        cmds.close()
        assert isinstance(got, JointCommand) and got.mode == "HOLD" and got.control_source != "policy"
        # A stranger on the gpu host subscribing to the rig's uplink receives nothing.
        stranger = subprocess.run(
            [*hosts.gpu, sys.executable, "-c", _STRANGER, f"tcp://{hosts.rig_addr}:5600", str(tmp_path / "stranger"), rig_ring.public_key_file.as_posix()],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert stranger.returncode == 0, stranger.stderr
        assert stranger.stdout.strip() == "received 0", stranger.stdout
    finally:
        rig.stop()
        server.stop()


# A client with a key of its own that the rig never authorized: the handshake never
# completes, so not even the follower states reach it.
_STRANGER = """
import sys, time
from abc_robot.transport.bus import LatestSubscriber
from abc_robot.transport.keyring import KeyRing
ep, d, rig_pub = sys.argv[1:4]
ring = KeyRing.init(d)
ring.authorize(rig_pub, "rig")
sub = LatestSubscriber(ep, [""], curve=ring.client(ep))
n, t = 0, time.monotonic()
while time.monotonic() - t < 3.0:
    n += len(sub.poll(timeout_s=0.1))
print("received", n)
"""
