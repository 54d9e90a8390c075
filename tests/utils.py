"""Helpers for tests that need real child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def spawn_python(code: str, **env: str) -> subprocess.Popen:
    """Run ``code`` in a fresh Python process (the repo importable), output captured."""
    e = dict(os.environ)
    e.update(env)
    e["PYTHONPATH"] = f"{REPO}{os.pathsep}{e.get('PYTHONPATH', '')}"
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(pred, timeout_s: float = 5.0, period_s: float = 0.01) -> bool:
    """Poll ``pred()`` until true or ``timeout_s``; return its last value."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(period_s)
    return bool(pred())


def perturbed_checkpoint(out_dir: Path, model_cfg: object, scale: float = 0.1, **kw: object) -> Path:
    """An untrained reference-policy checkpoint whose weights are nudged off their init.

    The DiT's adaLN-Zero init makes an untrained network output zero velocity; tests that
    compare compile rungs, guidance or serving need one that says something.
    ``kw`` goes to :func:`~abc_robot.policy.training.write_untrained_checkpoint`.
    """
    import torch

    from abc_robot.policy.training import write_untrained_checkpoint

    path = write_untrained_checkpoint(out_dir, model_cfg, **kw)  # type: ignore[arg-type]
    state = torch.load(path / "model.pt")
    gen = torch.Generator().manual_seed(0)
    for k, v in state.items():
        if v.is_floating_point():
            state[k] = v + scale * torch.randn(v.shape, generator=gen)
    torch.save(state, path / "model.pt")
    return path


def spawn_node(kind: str, name: str, params: dict, env: dict[str, str]) -> subprocess.Popen:
    """A node of ``kind`` as its own process (``python -m abc_robot.nodes``), output captured."""
    e = dict(os.environ, **env)
    e["PYTHONPATH"] = f"{REPO}{os.pathsep}{e.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "abc_robot.nodes", "--kind", kind, "--name", name, "--params", json.dumps(params)]
    return subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class GraphPublishers(threading.Thread):
    """Both followers as this test process: state, command (operator) and EE pose at
    ``rate_hz``, each on ``ipc://<run>/follower_<arm>``; with ``cameras``, also a
    224×224 frame per camera every third tick on ``ipc://<run>/camera_<name>``.
    ``stop.set()`` ends it."""

    def __init__(self, run: str, cameras: tuple[str, ...] = (), rate_hz: float = 100.0) -> None:
        super().__init__(daemon=True)
        self.run_dir = run
        self.cameras = cameras
        self.period_s = 1.0 / rate_hz
        self.stop = threading.Event()

    def run(self) -> None:
        from abc_robot.transport.bus import Publisher
        from abc_robot.transport.messages import CameraFrame, EEPose, JointCommand, JointState

        pubs = {arm: Publisher(f"ipc://{self.run_dir}/follower_{arm}", f"follower_{arm}") for arm in ("left", "right")}
        cams = {c: Publisher(f"ipc://{self.run_dir}/camera_{c}", f"camera_{c}") for c in self.cameras}
        k = 0
        while not self.stop.wait(self.period_s):
            t = time.monotonic_ns()
            for a, (arm, pub) in enumerate(pubs.items()):
                q = np.r_[np.sin(t / 1e9 + a + np.arange(6)), 0.5]
                pub.publish(f"follower/{arm}/state", JointState(q=q, stamp_ns=t))
                pub.publish(
                    f"follower/{arm}/command", JointCommand(q=q, mode="TELEOP", control_source="operator", stamp_ns=t)
                )
                pub.publish(f"follower/{arm}/ee", EEPose(T_base_ee=np.eye(4), stamp_ns=t))
            if k % 3 == 0:
                for c, (cam, pub) in enumerate(cams.items()):
                    img = np.full((224, 224, 3), 40 + 60 * c, np.uint8)
                    img[(k // 3 * 7) % 200 :][:20] = 255  # a band that moves frame to frame
                    pub.publish(f"camera/{cam}", CameraFrame(camera=cam, image=img, frame_index=k // 3, stamp_ns=t))
            k += 1
        for p in [*pubs.values(), *cams.values()]:
            p.close()


def write_clip(path: str | Path, n: int, fps: float, width: int = 160, height: int = 120) -> None:
    """An MJPG ``.avi`` of ``n`` frames, each a distinct flat grey (a camera's source file)."""
    import cv2

    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert vw.isOpened()
    for k in range(n):
        vw.write(np.full((height, width, 3), (k * 23) % 200 + 20, np.uint8))
    vw.release()


class RecorderGraph:
    """A recorder process between the followers (this process, 100 Hz), three camera
    processes playing a clip, and a console publisher; heartbeats read on a PULL socket
    standing in for the supervisor. Subclasses choose the recorder's params
    (:meth:`recorder_params`). Sets ``ABC_RUN_DIR`` for this process; :meth:`close`
    stops everything (the caller restores the environment)."""

    CAMS = ("top", "left", "right")

    def __init__(self) -> None:
        import tempfile

        import zmq

        from abc_robot.transport.bus import Publisher, context

        self.run = tempfile.mkdtemp(prefix="abcr-", dir="/tmp")
        self.root = os.path.join(self.run, "episodes")
        os.environ["ABC_RUN_DIR"] = self.run
        self.hb = context().socket(zmq.PULL)
        self.hb.bind(f"ipc://{self.run}/sup")
        self.env = {"ABC_RUN_DIR": self.run, "ABC_SUPERVISOR": f"ipc://{self.run}/sup"}
        self.status: dict[str, dict] = {}
        self.console = Publisher(f"ipc://{self.run}/console", "console")
        self.followers = GraphPublishers(self.run)
        self.followers.start()
        clip = os.path.join(self.run, "clip.avi")
        write_clip(clip, 45, 30.0)
        self.cameras = {
            cam: spawn_node(
                "camera",
                f"camera_{cam}",
                {
                    "bind": f"ipc://${{run}}/camera_{cam}",
                    "camera": cam,
                    "kind": "opencv",
                    "params": {"source": clip, "width": 0, "height": 0, "fps": 30, "loop": True},
                },
                self.env,
            )
            for cam in self.CAMS
        }
        self.recorder = self.start_recorder()

    def recorder_params(self) -> dict:
        return {"root": self.root, "camera_timeout_ms": 300.0}

    def start_recorder(self) -> subprocess.Popen:
        return spawn_node("recorder", "recorder", self.recorder_params(), self.env)

    def poll(self) -> None:
        from abc_robot.transport.codec import decode
        from abc_robot.transport.messages import Heartbeat

        while self.hb.poll(0):
            _, hb = decode(self.hb.recv_multipart())
            if isinstance(hb, Heartbeat):
                self.status[hb.node] = dict(hb.status, _stamp=hb.stamp_ns, _pid=hb.pid)

    def st(self, node: str) -> dict:
        self.poll()
        return self.status.get(node, {})

    def event(self, kind: str, **data) -> None:
        from abc_robot.transport.messages import Event

        self.console.publish("console/event", Event(kind=kind, data=data))

    def wait_steps(self, n: int, timeout_s: float = 30.0) -> None:
        """Until the recorder has written ``n`` rows of the episode being recorded."""
        assert wait_for(lambda: self.st("recorder").get("steps", 0) >= n, timeout_s), self.st("recorder")

    def ready(self) -> bool:
        """Every camera publishing and the recorder heartbeating."""
        return all(self.st(f"camera_{c}").get("published", 0) > 10 for c in self.CAMS) and "recording" in self.st(
            "recorder"
        )

    def close(self) -> None:
        import signal

        self.followers.stop.set()
        for p in [self.recorder, *self.cameras.values()]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [self.recorder, *self.cameras.values()]:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.console.close()
        self.hb.close(0)


def recorder_graph_fixture(cls: type[RecorderGraph]):
    """A module fixture's body: a ready ``cls`` graph, closed and ``ABC_RUN_DIR`` restored after."""
    old = os.environ.get("ABC_RUN_DIR")
    g = cls()
    try:
        assert wait_for(g.ready, 60), (g.status, g.recorder.poll())
        yield g
    finally:
        g.close()
        if old is None:
            os.environ.pop("ABC_RUN_DIR", None)
        else:
            os.environ["ABC_RUN_DIR"] = old
