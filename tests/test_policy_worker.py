"""The policy worker node over real sockets: warm-up first, time-indexed chunks, RTC ties, CURVE."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zmq

from abc_robot.errors import CheckpointError, ConfigError
from abc_robot.nodes.policy_worker import PolicyWorkerConfig, PolicyWorkerNode
from abc_robot.policy.chunking import Trajectory
from abc_robot.policy.model import DiTConfig
from abc_robot.runtime.config import from_dict
from abc_robot.transport import (
    ActionChunk,
    CameraFrame,
    CurveClient,
    JointCommand,
    JointState,
    LatestSubscriber,
    Publisher,
    generate_keys,
)
from abc_robot.transport.curve import stop_authenticator

from .utils import perturbed_checkpoint

torch.set_num_threads(1)
H = 30
P_NS = int(round(1e9 / 30))
TINY = DiTConfig(image_size=16, enc_channels=(8,), keypoints=4, width=32, depth=1, heads=2, horizon=H)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return perturbed_checkpoint(tmp_path_factory.mktemp("ck"), TINY, image_size=(48, 48))


class Rig:
    """Fake followers (state + command topics) and cameras on ipc, driven from the test."""

    def __init__(self, run_dir: str) -> None:
        self.follower_eps = [f"ipc://{run_dir}/f_{arm}" for arm in ("left", "right")]
        self.camera_eps = [f"ipc://{run_dir}/c_{c}" for c in ("top", "left", "right")]
        self.followers = [
            Publisher(e, f"follower_{a}") for e, a in zip(self.follower_eps, ("left", "right"), strict=True)
        ]
        self.cameras = [
            Publisher(e, f"cam_{c}") for e, c in zip(self.camera_eps, ("top", "left", "right"), strict=True)
        ]
        self.mode = "POLICY"
        self.stamps: list[int] = []
        rng = np.random.default_rng(0)
        self.image = rng.integers(0, 255, (40, 64, 3), dtype=np.uint8)  # not 48×48: the worker pads

    def tick(self, fresh_cameras: bool = True) -> None:
        stamp = time.monotonic_ns()
        self.stamps.append(stamp)
        for pub, arm in zip(self.followers, ("left", "right"), strict=True):
            pub.publish(f"follower/{arm}/state", JointState(q=np.linspace(0, 0.6, 7), stamp_ns=stamp))
            pub.publish(f"follower/{arm}/command", JointCommand(q=np.zeros(7), mode=self.mode, stamp_ns=stamp))
        if fresh_cameras:
            for pub, cam in zip(self.cameras, ("top", "left", "right"), strict=True):
                pub.publish(f"camera/{cam}", CameraFrame(camera=cam, image=self.image, stamp_ns=stamp))

    def close(self) -> None:
        for p in self.followers + self.cameras:
            p.close()


def _config(ckpt: Path, rig: Rig, bind: str, **kw) -> PolicyWorkerConfig:
    params = {"checkpoint": str(ckpt), "bind": bind, "followers": rig.follower_eps, "cameras": rig.camera_eps, **kw}
    return from_dict(PolicyWorkerConfig, params)


def _start(node: PolicyWorkerNode, duration_s: float) -> threading.Thread:
    th = threading.Thread(target=node.run, args=(duration_s,), daemon=True)
    th.start()
    return th


def _wait_ready(node: PolicyWorkerNode, timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while not getattr(node, "ready", False):
        assert time.monotonic() < end, "worker never became ready"
        time.sleep(0.02)


def _collect(rig: Rig, subs: list[LatestSubscriber], seconds: float, until=None, **tick) -> list[list[ActionChunk]]:
    """Chunks each subscriber gets within ``seconds`` (or until ``until(got)`` holds)."""
    got: list[list[ActionChunk]] = [[] for _ in subs]
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until is not None and until(got)):
        rig.tick(**tick)
        for sub, out in zip(subs, got, strict=True):
            msg = sub.poll().get("policy/chunk")
            if isinstance(msg, ActionChunk):
                out.append(msg)
        time.sleep(0.01)
    return got


def test_worker_warms_up_then_serves_time_indexed_chunks(ckpt, run_dir):
    rig = Rig(run_dir)
    bind = f"ipc://{run_dir}/policy"
    node = PolicyWorkerNode("policy", _config(ckpt, rig, bind, guidance="hard", execute_steps=4))
    assert node.status() == {"ready": False}
    th = _start(node, 30.0)
    _wait_ready(node)
    status = node.status()
    assert status["ready"] and status["rung"] == "eager" and status["chunks"] == 0  # warm before serving
    assert status["warmup_ms"]["eager"] > 0
    sub = LatestSubscriber(bind, ["policy/chunk"])
    (chunks,) = _collect(rig, [sub], 2.5)
    assert len(chunks) >= 3
    for c in chunks:
        assert c.actions.shape == (H, 14) and c.representation == "joint_abs"
        assert c.obs_stamp_ns in rig.stamps  # echoes the observation's sample time
        np.testing.assert_array_equal(c.t_ns, c.obs_stamp_ns + P_NS * np.arange(H))
        assert c.infer_ms > 0
    # Hard-prefix ties: each chunk starts on the trajectory of the chunk before it.
    tied = 0
    for prev, cur in zip(chunks, chunks[1:], strict=False):
        if cur.request_id != prev.request_id + 1:
            continue  # a chunk this subscriber missed sits in between
        expect = Trajectory(prev.actions, prev.t_ns)(int(cur.t_ns[0]))
        np.testing.assert_allclose(cur.actions[0], expect, atol=1e-4)
        tied += 1
    assert tied >= 1
    st = node.status()
    assert st["guided"] >= 1 and st["d_steps"] >= 1 and st["delay_ms"] > 0
    # The delay splits into the observation's age at inference start plus inference.
    assert 0 <= st["obs_age_ms_p50"] <= st["obs_age_ms_p90"] < st["delay_ms"]
    node.request_stop()
    th.join(10)
    assert not th.is_alive()
    sub.close()
    rig.close()


def test_guidance_resets_when_the_arms_leave_policy_and_stale_inputs_are_skipped(ckpt, run_dir):
    rig = Rig(run_dir)
    bind = f"ipc://{run_dir}/policy"
    node = PolicyWorkerNode("policy", _config(ckpt, rig, bind, guidance="soft", execute_steps=3, max_obs_age_ms=100))
    th = _start(node, 30.0)
    _wait_ready(node)
    sub = LatestSubscriber(bind, ["policy/chunk"])
    rig.mode = "HOLD"  # operator in control: every chunk is computed fresh
    (held,) = _collect(rig, [sub], 1.0)
    assert len(held) >= 2 and node.status()["guided"] == 0
    rig.mode = "POLICY"
    _collect(rig, [sub], 1.0)
    guided = node.status()["guided"]
    assert guided >= 1
    rig.tick()
    time.sleep(0.3)  # cameras go quiet: their last frames grow stale
    n = node.status()["chunks"]
    (stale,) = _collect(rig, [sub], 0.6, fresh_cameras=False)
    assert node.status()["chunks"] <= n + 1 and not stale[1:]
    assert any(k.startswith("stale frame") for k in node.status()["skipped"])
    node.request_stop()
    th.join(10)
    assert not th.is_alive()
    sub.close()
    rig.close()


def test_first_chunk_after_entering_policy_sees_frames_taken_after_the_switch(ckpt, run_dir):
    """A frame from before the switch (before a sim reset, or with the operator's hands in
    view) must not seed the first policy chunk, even while it is young enough to use."""
    rig = Rig(run_dir)
    bind = f"ipc://{run_dir}/policy"
    node = PolicyWorkerNode("policy", _config(ckpt, rig, bind, execute_steps=2, max_obs_age_ms=5000))
    th = _start(node, 30.0)
    _wait_ready(node)
    sub = LatestSubscriber(bind, ["policy/chunk"])
    rig.mode = "HOLD"
    (held,) = _collect(rig, [sub], 0.6)
    assert held
    rig.mode = "POLICY"
    switch_ns = time.monotonic_ns()
    n = node.status()["chunks"]
    (early,) = _collect(rig, [sub], 0.5, fresh_cameras=False)  # frames exist, but from before the switch
    assert node.status()["chunks"] <= n + 1  # at most an inference already running in HOLD
    assert all(c.obs_stamp_ns < switch_ns for c in early)
    assert any("older than the switch to POLICY" in k for k in node.status()["skipped"])
    (fresh,) = _collect(rig, [sub], 0.6)
    assert fresh and node.status()["chunks"] > n + 1 and all(c.obs_stamp_ns > switch_ns for c in fresh)
    node.request_stop()
    th.join(10)
    assert not th.is_alive()
    sub.close()
    rig.close()


def test_remote_worker_over_tcp_with_curve(ckpt, run_dir, tmp_path):
    keys, authorized = tmp_path / "keys", tmp_path / "authorized"
    server_pub, server_sec = generate_keys(keys, "worker")
    client_pub, client_sec = generate_keys(keys, "robot")
    _, intruder_sec = generate_keys(keys, "intruder")
    authorized.mkdir()
    (authorized / "robot.key").write_bytes(client_pub.read_bytes())
    rig = Rig(run_dir)
    curve = {"secret_key_file": str(server_sec), "authorized_dir": str(authorized)}
    node = PolicyWorkerNode("policy", _config(ckpt, rig, "tcp://127.0.0.1:*", guidance="none", execute_steps=3, curve_server=curve))
    th = _start(node, 30.0)
    _wait_ready(node)
    bind = node.pub.bound  # the port the OS chose
    good = LatestSubscriber(bind, ["policy/chunk"], curve=CurveClient(str(server_pub), str(client_sec)))
    bad = LatestSubscriber(bind, ["policy/chunk"], curve=CurveClient(str(server_pub), str(intruder_sec)))
    plain = LatestSubscriber(bind, ["policy/chunk"])
    got_good, got_bad, got_plain = _collect(rig, [good, bad, plain], 60.0, until=lambda got: len(got[0]) >= 2)
    assert len(got_good) >= 2
    assert got_bad == [] and got_plain == []  # a client without an authorized key gets nothing
    node.request_stop()
    th.join(10)
    assert not th.is_alive()
    for s in (good, bad, plain):
        s.close()
    rig.close()
    stop_authenticator(zmq.Context.instance())


def test_configs_that_would_expose_or_mismatch_are_refused(ckpt, run_dir):
    rig = Rig(run_dir)
    with pytest.raises(ConfigError, match=r"leaves the host: give the graph a key ring \(keys:\), curve_server keys"):
        _config(ckpt, rig, "tcp://0.0.0.0:47392")
    with pytest.raises(ConfigError, match="curve_client"):
        _config(ckpt, rig, f"ipc://{run_dir}/p", cameras=["tcp://10.0.0.5:5555"])
    node = PolicyWorkerNode("policy", _config(ckpt, rig, f"ipc://{run_dir}/p", rig_cameras=["top", "left"]))
    with pytest.raises(CheckpointError, match=r"cameras \['right'\] are not on the rig"):
        node.setup()
    node = PolicyWorkerNode("policy", _config(ckpt, rig, f"ipc://{run_dir}/p", compile="tensorrt"))
    with pytest.raises(Exception, match="torch-tensorrt is not installed"):
        node.setup()  # refused before any arm could be handed to a policy that is not warm
    rig.close()


def test_camera_names_can_be_mapped(ckpt, run_dir):
    rig = Rig(run_dir)
    cfg = _config(
        ckpt,
        rig,
        f"ipc://{run_dir}/p",
        rig_cameras=["top", "left_wrist", "right_wrist"],
        camera_topics={"left": "left_wrist", "right": "right_wrist"},
    )
    node = PolicyWorkerNode("policy", cfg)
    node.setup()
    try:
        assert node.cam_topics == {"top": "camera/top", "left": "camera/left_wrist", "right": "camera/right_wrist"}
    finally:
        node._close_sockets()
    rig.close()


def test_a_policy_from_another_codebase_is_served(tmp_path, run_dir):
    from abc_robot.policy.checkpoint import CheckpointConfig, ModelSpec, ObservationSpec, save_checkpoint_files

    from .test_policy_checkpoint import _stats

    spec = CheckpointConfig(
        model=ModelSpec(architecture=None, entry_point="tests.test_policy_checkpoint:echo_factory", weights=None),
        observation=ObservationSpec(image_size=(48, 48)),
    )
    path = save_checkpoint_files(tmp_path / "foreign", spec, _stats())
    rig = Rig(run_dir)
    bind = f"ipc://{run_dir}/policy"
    node = PolicyWorkerNode("policy", _config(path, rig, bind, execute_steps=3))
    th = _start(node, 30.0)
    _wait_ready(node)
    assert "external" in node.status()["warmup_ms"] and node.status()["guidance"] == "none"
    sub = LatestSubscriber(bind, ["policy/chunk"])
    (chunks,) = _collect(rig, [sub], 1.0)
    node.request_stop()
    th.join(10)
    assert chunks and np.allclose(chunks[-1].actions[:, :7], np.linspace(0, 0.6, 7))  # the echo of the state
    sub.close()
    rig.close()


def test_gated_workers_infer_only_while_the_mux_selects_them(ckpt, run_dir):
    from abc_robot.nodes.policy_mux import PolicyMuxConfig, PolicyMuxNode
    from abc_robot.transport.bus import Requester
    from abc_robot.transport.messages import Event

    rig = Rig(run_dir)
    gate = f"ipc://{run_dir}/gate"
    eps = {a: f"ipc://{run_dir}/policy_{a.lower()}" for a in "AB"}
    workers = {
        a: PolicyWorkerNode(f"policy_{a.lower()}", _config(ckpt, rig, eps[a], gate=gate, gate_alias=a)) for a in "AB"
    }
    mux_cfg = PolicyMuxConfig(bind=f"ipc://{run_dir}/policy", control=f"ipc://{run_dir}/ctl", workers=eps, gate=gate)
    mux = PolicyMuxNode("policy", mux_cfg)
    threads = [_start(n, 40.0) for n in (*workers.values(), mux)]
    req = Requester(mux_cfg.control, "eval")

    def chunks() -> dict[str, int]:
        return {a: w.status()["chunks"] for a, w in workers.items()}

    def run(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rig.tick()
            time.sleep(0.01)

    try:
        for w in workers.values():
            _wait_ready(w)
        run(1.0)
        assert chunks() == {"A": 0, "B": 0}  # nothing selected: nobody infers
        assert all(w.status()["selected"] is False and w.status()["idle_ticks"] > 0 for w in workers.values())
        for alias in ("B", "A"):
            assert req.request("mux/select", Event(kind="mux/select", data={"alias": alias}), timeout_s=2.0).ok
            run(0.3)  # the switch reaches both workers
            before = chunks()
            run(1.5)
            after = chunks()
            other = "A" if alias == "B" else "B"
            assert after[alias] - before[alias] >= 3, (alias, before, after)
            assert after[other] == before[other], (alias, before, after)
        assert req.request("mux/select", Event(kind="mux/select", data={"alias": None}), timeout_s=2.0).ok
        run(0.3)
        before = chunks()
        run(1.0)
        assert chunks() == before
        with pytest.raises(ConfigError, match="gate and gate_alias go together"):
            _config(ckpt, rig, eps["A"], gate=gate)
    finally:
        for n in (*workers.values(), mux):
            n.request_stop()
        for th in threads:
            th.join(10)
        req.close()
        rig.close()
