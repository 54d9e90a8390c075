"""The recorder keeps heartbeating while its encoder is stuck, and loses nothing.

The recorder runs in this process (a thread), over real sockets, with the video
encoder held at a gate the test opens: however long a frame takes to encode, the
loop must keep taking messages in, aligning rows and heartbeating (the supervisor
kills a recorder silent for its heartbeat timeout); once the encoder runs again every
row is written and the episodes are closed in the order they ended.
"""

from __future__ import annotations

import tempfile
import threading
import time

import numpy as np
import pytest
import zmq

from abc_robot.nodes.recorder_node import RecorderConfig, RecorderNode
from abc_robot.recording import iter_episodes
from abc_robot.recording.layout import TICK_NS
from abc_robot.recording.video import StackedVideoWriter
from abc_robot.recording.writer import EpisodeWriter
from abc_robot.transport.bus import Publisher, context
from abc_robot.transport.codec import decode
from abc_robot.transport.messages import Event, Heartbeat

from .utils import GraphPublishers, wait_for

CAMS = ("top", "left", "right")


class _Harness:
    """Heartbeats of the in-process recorder, read as the supervisor would."""

    def __init__(self, run: str) -> None:
        self.sock = context().socket(zmq.PULL)
        self.sock.bind(f"ipc://{run}/sup")
        self.beats: list[Heartbeat] = []

    def poll(self) -> dict:
        while self.sock.poll(0):
            _, hb = decode(self.sock.recv_multipart())
            if isinstance(hb, Heartbeat):
                self.beats.append(hb)
        return dict(self.beats[-1].status) if self.beats else {}


@pytest.fixture
def gated_encoder(monkeypatch):
    """Every frame's encode waits for ``gate`` (set: run freely); ``entered`` is set
    once a frame is stuck there. The wait releases the GIL, as PyAV's encode does."""
    gate, entered = threading.Event(), threading.Event()
    write = StackedVideoWriter.write

    def slow_write(self, frame):
        if not gate.is_set():
            entered.set()
            gate.wait(120)
        return write(self, frame)

    monkeypatch.setattr(StackedVideoWriter, "write", slow_write)
    closed: list[str] = []
    finish = EpisodeWriter.finish

    def recorded_finish(self, *a, **kw):
        out = finish(self, *a, **kw)
        closed.append(self.episode_id)
        return out

    monkeypatch.setattr(EpisodeWriter, "finish", recorded_finish)
    yield gate, entered, closed
    gate.set()


def test_a_stuck_encoder_neither_silences_the_heartbeat_nor_loses_a_row(gated_encoder, monkeypatch):
    gate, entered, closed = gated_encoder
    run = tempfile.mkdtemp(prefix="abcrh-", dir="/tmp")
    monkeypatch.setenv("ABC_RUN_DIR", run)
    monkeypatch.setenv("ABC_SUPERVISOR", f"ipc://{run}/sup")
    sup = _Harness(run)
    console = Publisher(f"ipc://{run}/console", "console")
    pubs = GraphPublishers(run, cameras=CAMS)
    pubs.start()
    node = RecorderNode("recorder", RecorderConfig(root=f"{run}/episodes", camera_timeout_ms=2000.0))
    loop = threading.Thread(target=node.run, daemon=True)
    loop.start()

    def event(kind: str, **data) -> int:
        t = time.monotonic_ns()
        console.publish("console/event", Event(kind=kind, data=data, stamp_ns=t))
        return t

    try:
        assert wait_for(lambda: "recording" in sup.poll(), 60), sup.poll()
        event("episode_start", task="lift_cube", episode="a")
        assert entered.wait(60), sup.poll()  # the first frame is stuck in the encoder
        # While it stays stuck: the loop goes on heartbeating and aligning rows.
        seq0 = sup.beats[-1].seq
        assert wait_for(lambda: sup.poll().get("queued_rows", 0) >= 45 and sup.beats[-1].seq >= seq0 + 10, 60), (
            sup.poll()
        )
        stuck = sup.poll()
        assert stuck["steps"] == 0 and stuck["recording"]  # nothing written yet: all of it waits in the queue
        stop_a = event("episode_stop")
        assert wait_for(lambda: not sup.poll().get("recording", True), 30), sup.poll()
        # A second episode starts and ends behind the first one's backlog.
        event("episode_start", task="lift_cube", episode="b")
        assert wait_for(lambda: sup.poll().get("recording") and sup.poll().get("queued_rows", 0) >= 10, 60), sup.poll()
        stop_b = event("episode_stop")
        assert wait_for(lambda: not sup.poll().get("recording", True), 30), sup.poll()
        assert entered.is_set() and not gate.is_set() and not closed  # still stuck at the first frame
        gate.set()
        assert wait_for(lambda: sup.poll().get("episodes", 0) == 2 and sup.poll().get("write_queue") == 0, 120), (
            sup.poll()
        )
    finally:
        gate.set()
        node.request_stop("test over")
        loop.join(60)
        pubs.stop.set()
        console.close()
        sup.sock.close(0)
    assert not loop.is_alive()
    eps = {ep.metadata["episode_start"]["episode"]: ep for ep in iter_episodes(f"{run}/episodes")}
    assert sorted(eps) == ["a", "b"]
    # Closed in the order they ended.
    assert closed == [eps["a"].path.name.removeprefix("episode_"), eps["b"].path.name.removeprefix("episode_")]
    for name, stop in (("a", stop_a), ("b", stop_b)):
        ep = eps[name]
        t0, n = ep.metadata["t0_ns"], ep.num_steps
        # Every tick from the start to the stop event is a row, with its frame and step.
        assert n == (stop - t0) // TICK_NS + 1, (name, n)
        assert len(ep.steps) == n and len(list(ep.frames())) == n and not np.isnan(ep.rows).any()
        t = np.array([s["t_ns"] for s in ep.steps])
        assert t[0] == t0 and np.all(np.diff(t) == TICK_NS)
        assert ep.metadata["outcome"]["ended_by"] == "episode_stop"
        ep.close()
    final = sup.beats[-1].status
    assert final["write_queue_max"] >= 45 and final["finish_failures"] == 0
    print("recorder heartbeat gap max [ms] (upper bound, test machine):", final["heartbeat_gap_ms_max"])
