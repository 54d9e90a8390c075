"""``abc-teleop --sim --view``: a WebSocket client speaking the Foxglove protocol receives
camera frames, joint states, the arms' frame transforms and the URDF from the graph."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from abc_robot.errors import ConfigError
from abc_robot.runtime.launch import NodeSpec, load_launch, with_node

from .utils import REPO

WANT = ("/camera/top", "/joint_states/left", "/joint_states/right", "/tf", "/left/robot_description", "/latency")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _watch(port: int, deadline_s: float) -> tuple[dict, dict[str, list[bytes]]]:
    import websockets
    from websockets.typing import Subprotocol

    end = time.monotonic() + deadline_s
    while True:  # the graph takes a while to start on a busy machine
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}", subprotocols=[Subprotocol("foxglove.sdk.v1")])
            break
        except OSError:
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.5)
    channels: dict[str, dict] = {}
    by_sub: dict[int, str] = {}
    got: dict[str, list[bytes]] = {}
    async with ws:
        while time.monotonic() < end and not all(len(got.get(t, [])) >= 3 for t in WANT):
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
            except asyncio.TimeoutError:
                continue
            except websockets.ConnectionClosed:
                break
            if isinstance(raw, str):
                msg = json.loads(raw)
                if msg.get("op") == "advertise":
                    subs = []
                    for ch in msg["channels"]:
                        channels[ch["topic"]] = ch
                        if ch["topic"] in WANT:
                            sid = len(by_sub) + 1
                            by_sub[sid] = ch["topic"]
                            subs.append({"id": sid, "channelId": ch["id"]})
                    if subs:
                        await ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))
            elif raw[0] == 0x01:  # message data: opcode, subscription id, log time, payload
                sid, _ = struct.unpack_from("<IQ", raw, 1)
                got.setdefault(by_sub[sid], []).append(bytes(raw[13:]))
    return channels, got


@pytest.mark.slow
def test_a_foxglove_client_receives_cameras_and_joint_states_while_teleop_runs(tmp_path):
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), MUJOCO_GL="egl", ABC_RUN_DIR=str(tmp_path / "run"))
    cmd = [sys.executable, "-m", "abc_robot.cli.teleop", "--sim", "--headless", "--duration", "240"]
    cmd += ["--view", "--view-port", str(port), "--episodes-dir", str(tmp_path / "episodes")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        channels, got = asyncio.run(_watch(port, 150.0))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    missing = [t for t in WANT if len(got.get(t, [])) < 3]
    assert not missing, (missing, sorted(channels), out[-3000:])
    assert channels["/camera/top"]["schemaName"] == "foxglove.CompressedImage"
    assert channels["/tf"]["schemaName"] == "foxglove.FrameTransforms"
    import cv2
    import numpy as np
    from foxglove.messages import CompressedImage, FrameTransforms  # noqa: F401 (schemas only)
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    def decoder(topic: str):  # the advertised protobuf schema, as a client builds it
        ch = channels[topic]
        import base64

        fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(ch["schema"]))
        pool = descriptor_pool.DescriptorPool()
        for f in fds.file:
            pool.Add(f)
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(ch["schemaName"]))

    img = decoder("/camera/top").FromString(got["/camera/top"][-1])
    assert img.format == "jpeg" and img.frame_id == "top"
    pic = cv2.imdecode(np.frombuffer(img.data, np.uint8), cv2.IMREAD_COLOR)
    assert pic is not None and pic.ndim == 3 and pic.std() > 1.0  # a rendered picture, not a blank
    js = json.loads(got["/joint_states/left"][-1])
    assert len(js["position"]) == 7 and js["name"][-1] == "gripper"
    tf = decoder("/tf").FromString(got["/tf"][-1])
    children = {t.child_frame_id for t in tf.transforms}
    assert {"left/base_link", "right/base_link"} <= children and len(children) > 6
    urdf = json.loads(got["/left/robot_description"][-1])["data"]
    assert "<robot" in urdf
    assert all(v >= 0 for v in json.loads(got["/latency"][-1]).values())


def test_with_node_appends_and_refuses_a_duplicate_name():
    graph = load_launch(REPO / "launch" / "teleop_sim.yaml")
    spec = NodeSpec(name="foxglove", kind="foxglove", role="sink")
    g2 = with_node(graph, spec)
    assert [n.name for n in g2.nodes] == [*(n.name for n in graph.nodes), "foxglove"]
    with pytest.raises(ConfigError, match="foxglove"):
        with_node(g2, spec)


def test_view_node_is_loopback_by_default_and_wired_to_the_graph():
    import argparse

    from abc_robot.cli.view import add_view_args, with_view

    graph = load_launch(REPO / "launch" / "teleop_sim.yaml")
    ap = argparse.ArgumentParser()
    add_view_args(ap)
    assert with_view(graph, ap.parse_args([])) is graph
    g = with_view(graph, ap.parse_args(["--view"]))
    node = g.node("foxglove")
    assert node.kind == "foxglove" and node.params["host"] == "127.0.0.1" and node.params["port"] == 8765
    assert set(node.params["followers"]) == {"left", "right"} and set(node.params["cameras"]) == {
        "top",
        "left",
        "right",
    }
    assert (
        with_view(graph, ap.parse_args(["--view", "--view-host", "0.0.0.0"])).node("foxglove").params["host"]
        == "0.0.0.0"
    )


@pytest.fixture(scope="module")
def small_episode(tmp_path_factory):
    import numpy as np

    from abc_robot.recording import EpisodeWriter

    root = tmp_path_factory.mktemp("replay")
    w = EpisodeWriter(root, "lift_cube", ("top", "left", "right"), metadata={"arms": ["left", "right"]})
    for k in range(60):
        q = np.r_[0.01 * k + np.arange(6) * 0.1, 0.5, -0.01 * k + np.arange(6) * 0.1, 0.5]
        views = {
            c: np.full((224, 224, 3), (20 + 3 * k + 40 * i) % 256, np.uint8) for i, c in enumerate(("top", "left", "right"))
        }
        w.append(q, q, views, {"control_source": "operator"})
    return w.finish("success")


def test_abc_replay_view_serves_the_recorded_episode(small_episode, tmp_path):
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "abc_robot.cli.replay", str(small_episode), "--view", "--view-port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        channels, got = asyncio.run(_watch(port, 90.0))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    missing = [t for t in WANT if t != "/latency" and len(got.get(t, [])) < 3]
    assert not missing, (missing, sorted(channels), out[-3000:])
    assert proc.returncode == 0, out[-3000:]
    js = [json.loads(m) for m in got["/joint_states/left"]]
    assert all(len(m["position"]) == 7 and m["control_source"] == "operator" for m in js)
    # Played in order at the row times.
    stamps = [m["stamp_ns"] for m in js]
    assert stamps == sorted(stamps) and len(set(np.diff(stamps))) <= 2


def test_seeking_publishes_the_sought_row(small_episode):
    import numpy as np

    from abc_robot.nodes.foxglove_replay import EpisodePlayer
    from abc_robot.recording import EpisodeReader

    player = EpisodePlayer(small_episode, port=_free_port())
    try:
        ep = EpisodeReader(small_episode)
        got: list[dict] = []
        player.ch_joints["left"] = _Capture(got)  # what the channel would send, kept here
        for k in (42, 7, 59, 0):
            assert player.seek(player.time_of(k) + player.tick_ns // 2) == k
            assert got[-1]["stamp_ns"] == player.time_of(k)
            np.testing.assert_allclose(got[-1]["position"], ep.states[k, :7])
        assert player.index_at(player.start_ns - 10**9) == 0 and player.index_at(player.end_ns + 10**9) == 59
        ep.close()
    finally:
        player.close()


class _Capture:
    def __init__(self, out: list) -> None:
        self.out = out

    def log(self, msg: dict, log_time: int | None = None) -> None:
        self.out.append(msg)
