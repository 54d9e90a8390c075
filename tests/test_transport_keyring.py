"""The CURVE key ring: making, trusting, and what the node base does with it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from abc_robot.cli.keyring import main as keys_main
from abc_robot.errors import ConfigError
from abc_robot.runtime.node import _with_curve
from abc_robot.transport.bus import LatestSubscriber, Publisher
from abc_robot.transport.keyring import KEYS_ENV, KeyRing
from abc_robot.transport.messages import JointState


def _pair(tmp_path: Path) -> tuple[KeyRing, KeyRing]:
    rig, gpu = KeyRing.init(tmp_path / "rig"), KeyRing.init(tmp_path / "gpu")
    rig.authorize(gpu.public_key_file, "gpu", ["10.77.0.2"])
    gpu.authorize(rig.public_key_file, "rig", ["10.77.0.1"])
    return rig, gpu


def _receive(sub: LatestSubscriber, pub: Publisher, timeout_s: float = 3.0) -> JointState | None:
    """Publish until the subscriber gets one (a PUB drops what precedes the handshake)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pub.publish("follower/left/state", JointState(q=np.arange(7.0)))
        got = sub.poll(timeout_s=0.05).get("follower/left/state")
        if isinstance(got, JointState):
            return got
    return None


def test_a_ring_is_made_once_and_refuses_a_secret_key_as_a_peer(tmp_path: Path) -> None:
    ring = KeyRing.init(tmp_path / "k")
    assert (ring.secret_key_file.stat().st_mode & 0o777) == 0o600
    with pytest.raises(ConfigError, match="--force"):
        KeyRing.init(tmp_path / "k")
    with pytest.raises(ConfigError, match="secret key"):
        ring.authorize(ring.secret_key_file, "me")
    with pytest.raises(ConfigError, match="abc-keys init"):
        KeyRing(str(tmp_path / "none")).server()


def test_a_client_expects_the_key_of_the_peer_at_that_host(tmp_path: Path) -> None:
    rig, gpu = _pair(tmp_path)
    client = rig.client("tcp://10.77.0.2:5601")
    assert Path(client.server_public_key_file).name == "gpu.key"
    KeyRing.init(tmp_path / "other").authorize(gpu.public_key_file, "a")
    other = KeyRing(str(tmp_path / "other"))
    other.authorize(rig.public_key_file, "b")
    with pytest.raises(ConfigError, match="abc-keys authorize"):
        other.client("tcp://10.9.9.9:1")  # two peers, neither named for that host
    rig.revoke("gpu")
    with pytest.raises(ConfigError, match="no authorized peer"):
        rig.client("tcp://10.77.0.2:5601")


def test_authorized_peers_talk_and_a_stranger_receives_nothing(tmp_path: Path) -> None:
    rig, gpu = _pair(tmp_path)
    pub = Publisher("tcp://127.0.0.1:*", "rig", curve=rig.server())
    ep = pub.bound
    gpu.authorize(rig.public_key_file, "rig", ["127.0.0.1"])
    friend = LatestSubscriber(ep, ["follower/"], curve=gpu.client(ep))
    stranger_ring = KeyRing.init(tmp_path / "stranger")
    stranger_ring.authorize(rig.public_key_file, "rig")  # knows the server's key, is not known by it
    stranger = LatestSubscriber(ep, ["follower/"], curve=stranger_ring.client(ep))
    plain = LatestSubscriber(ep, ["follower/"])  # no CURVE at all
    try:
        got = _receive(friend, pub)
        assert got is not None and np.array_equal(got.q, np.arange(7.0))
        for _ in range(20):
            pub.publish("follower/left/state", JointState(q=np.zeros(7)))
            time.sleep(0.01)
        assert stranger.poll(timeout_s=0.2) == {} and plain.poll(timeout_s=0.2) == {}
    finally:
        for s in (friend, stranger, plain, pub):
            s.close()


def test_the_node_base_secures_tcp_and_leaves_ipc_plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig, _ = _pair(tmp_path)
    assert _with_curve({}, ["tcp://0.0.0.0:5600"], server=True) == {}  # no ring: nothing changes
    monkeypatch.setenv(KEYS_ENV, rig.directory)
    assert _with_curve({}, ["ipc:///tmp/x"], server=True) == {}
    assert _with_curve({}, ["tcp://0.0.0.0:5600"], server=True)["curve"].authorized_dir == str(rig.authorized_dir)
    assert Path(_with_curve({}, ["tcp://10.77.0.2:5601"], server=False)["curve"].server_public_key_file).stem == "gpu"
    with pytest.raises(ConfigError, match="mixes"):
        _with_curve({}, ["tcp://10.77.0.2:5601", "ipc:///tmp/x"], server=False)


def test_abc_keys_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert keys_main(["init", "--keys", a]) == 0 and keys_main(["init", "--keys", b]) == 0
    assert keys_main(["init", "--keys", a]) == 2
    assert keys_main(["authorize", f"{b}/host.key", "--name", "gpu", "--host", "gpu.lab", "--keys", a]) == 0
    capsys.readouterr()
    assert keys_main(["show", "--keys", a]) == 0
    out = capsys.readouterr().out
    assert KeyRing(b).public_key() in out and "gpu.lab" in out
