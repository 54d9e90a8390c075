"""Policy link node: the rig's end of a policy worker running on another host.

A rig whose policy runs on a GPU server starts this node in the policy worker's place
(``abc-rollout --policy-host tcp://HOST:PORT``). Everything else in the graph is as in
a local rollout: the followers read ``policy/chunk`` from ``ipc://${run}/policy`` and
never touch the network.

- **Uplink**: the newest follower state/command and camera frame of each topic is
  forwarded on ``uplink`` (a ``tcp://`` bind) for the remote worker, unchanged but for
  the image encoding, which is chosen per camera (``raw`` or ``jpeg``). Stamps are the
  rig's: the worker echoes the observation stamp in each chunk, so no shared clock
  is needed.
- **Downlink**: chunks from the remote worker (``remote``, the worker's ``tcp://``
  bind) are republished on ``bind``. Their delay (observation stamp → arrival here)
  is measured on the rig's own clock.
- **Health**: the worker announces itself on ``policy/status`` once warmed up (the
  status this node reports as ``ready``); silence longer than ``link_timeout_s`` marks
  the link down with the reason (no connection, a failed CURVE handshake, no chunk
  since ...). The followers' own watchdog (``policy_stale_ms``) holds the arms when
  chunks stop; they resume on the first fresh chunk.

Both tcp sockets take the graph's key ring (``keys:`` in the launch file): the uplink
admits only authorized peers, the downlink expects the worker host's key.

Why a node and not tcp binds on the followers and cameras: the control processes then
never encrypt, compress or wait on a network socket, and a stalled link can only
stall this process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from abc_robot.runtime.node import Node
from abc_robot.runtime.stats import percentiles
from abc_robot.transport.codec import encode_jpeg
from abc_robot.transport.messages import ActionChunk, CameraFrame, Event, JointCommand, JointState, Message

__all__ = ["PolicyLinkNode", "PolicyLinkConfig"]


@dataclass(frozen=True)
class PolicyLinkConfig:
    """Policy link settings (launch file ``params``).

    Attributes:
        remote: the remote worker's chunk endpoint (``tcp://HOST:PORT``).
        uplink: where observations are published for the worker (``tcp://0.0.0.0:PORT``).
        bind: where the graph's followers read chunks (as from a local worker).
        followers: follower endpoints (state and command topics).
        cameras: camera node endpoints.
        images: camera name (or ``*`` for every camera) → ``raw`` or ``jpeg`` on the
            link (default ``jpeg``: a 224×224 view costs ~10 kB instead of 150 kB).
        jpeg_quality: JPEG quality 1-100.
        link_timeout_s: no status or chunk from the worker for this long → link down [s].
        rate_hz: loop rate [Hz]; the node also wakes on every incoming message.
    """

    remote: str
    uplink: str
    bind: str = "ipc://${run}/policy"
    followers: list[str] = field(default_factory=list)
    cameras: list[str] = field(default_factory=list)
    images: dict[str, Literal["raw", "jpeg"]] = field(default_factory=dict)
    jpeg_quality: int = 90
    link_timeout_s: float = 1.5
    rate_hz: float = 250.0

    def __post_init__(self) -> None:
        if not self.remote.startswith("tcp://") or not self.uplink.startswith("tcp://"):
            raise ValueError(f"remote and uplink must be tcp:// endpoints, got {self.remote!r}, {self.uplink!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        bad = {k: v for k, v in self.images.items() if v not in ("raw", "jpeg")}
        if bad:
            raise ValueError(f"images: encodings must be raw or jpeg, got {bad}")
        if self.link_timeout_s <= 0 or self.rate_hz <= 0:
            raise ValueError("link_timeout_s and rate_hz must be positive")


def _payload_bytes(msg: Message) -> int:
    """Bytes of a message's arrays on the wire (the header adds ~100-200 more)."""
    return sum(v.nbytes for v in vars(msg).values() if isinstance(v, np.ndarray)) + 150


class PolicyLinkNode(Node):
    Config = PolicyLinkConfig

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.ready = False
        self.worker: dict[str, Any] = {}
        self.chunks = 0
        self.forwarded = 0
        self.sent_bytes = 0
        self.frames_sent: dict[str, int] = {}  # camera → frames forwarded
        self.delays_ms: list[float] = []
        self.last_heard_ns = 0
        self.handshake = "waiting"  # waiting | connected | ok
        self.handshake_error = ""  # the last failed handshake's reason, until one succeeds
        self.handshake_failures = 0
        self.down_reason = ""
        self.down_count = 0
        self._monitor: zmq.Socket | None = None
        self._t0_ns = 0

    def setup(self) -> None:
        cfg: PolicyLinkConfig = self.config
        self.pub = self.publisher(cfg.bind)
        self.up = self.publisher(cfg.uplink, sndhwm=4)  # a stalled link drops old frames, never queues them
        self.down = self.latest(cfg.remote, ["policy/"])
        self._monitor = self.down.socket.get_monitor_socket()
        self.states = self.latest(cfg.followers, ["follower/"]) if cfg.followers else None
        self.frames = self.latest(cfg.cameras, ["camera/"]) if cfg.cameras else None
        for sub in (self.down, self.states, self.frames):
            if sub is not None:
                self.loop.wake_on(sub.socket)
        self._t0_ns = time.monotonic_ns()
        self.log(f"link: observations on {cfg.uplink}, chunks from {cfg.remote}")

    def step(self, now_ns: int) -> None:
        self._watch_handshake()
        for sub in (self.states, self.frames):
            if sub is None:
                continue
            for topic, msg in sub.poll().items():
                self._uplink(topic, msg)
        for topic, msg in self.down.poll().items():
            self.last_heard_ns = now_ns
            if topic == "policy/chunk" and isinstance(msg, ActionChunk):
                self.delays_ms.append((time.monotonic_ns() - msg.obs_stamp_ns) / 1e6)
                del self.delays_ms[:-500]
                msg.seq = 0
                self.pub.publish("policy/chunk", msg)
                self.chunks += 1
            elif topic == "policy/status" and isinstance(msg, Event):
                self.worker = dict(msg.data)
                if not self.ready:
                    self.log(f"remote worker ready: {self.worker.get('rung')} on {self.worker.get('device')}")
                self.ready = True
        self._judge_link(now_ns)

    def _uplink(self, topic: str, msg: Message) -> None:
        cfg: PolicyLinkConfig = self.config
        if isinstance(msg, CameraFrame):
            if cfg.images.get(msg.camera, cfg.images.get("*", "jpeg")) == "jpeg" and msg.image.ndim == 3:
                msg = encode_jpeg(msg, cfg.jpeg_quality)
            self.frames_sent[msg.camera] = self.frames_sent.get(msg.camera, 0) + 1
        elif not isinstance(msg, (JointState, JointCommand)):
            return  # the worker needs states, modes and frames; nothing else crosses
        msg.seq = 0
        self.up.publish(topic, msg)
        self.forwarded += 1
        self.sent_bytes += _payload_bytes(msg)

    def _watch_handshake(self) -> None:
        mon = self._monitor
        while mon is not None and mon.poll(0):
            ev = recv_monitor_message(mon)["event"]
            why = ""
            if ev == zmq.EVENT_CONNECTED:
                self.handshake = "connected"
            elif ev == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.handshake, self.handshake_error = "ok", ""
            elif ev == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                why = "the worker's host refused this host's key (authorize it there: abc-keys authorize)"
            elif ev in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
                why = (
                    "CURVE handshake refused: the worker's public key in this key ring is not that server's "
                    "key (abc-keys authorize its host.key), or the server runs without keys"
                )
            elif ev == zmq.EVENT_DISCONNECTED:
                if self.handshake == "connected":
                    # Connected but dropped before the handshake completed: the usual sign
                    # of a server that cannot decrypt our hello, i.e. a wrong server key.
                    why = "the worker dropped every connection during the CURVE handshake: wrong server key in this key ring?"
                self.handshake = "waiting"
            if why:
                self.handshake_error = why
                self.handshake_failures += 1

    def _judge_link(self, now_ns: int) -> None:
        timeout_ns = self.config.link_timeout_s * 1e9
        since = self.last_heard_ns or self._t0_ns
        if now_ns - since <= timeout_ns:
            if self.down_reason:
                self.log(f"link up again after: {self.down_reason}")
                self.down_reason = ""
            return
        if self.handshake_error:
            why = self.handshake_error
        elif self.handshake == "waiting":
            why = f"no connection to the worker at {self.config.remote}"
        else:
            why = f"nothing from the worker for over {self.config.link_timeout_s:g} s (stopped, or the network stalls)"
        if why != self.down_reason:
            self.down_count += 1
            self.log(f"link down: {why}; the arms hold on their watchdog")
            self.down_reason = why

    def teardown(self) -> None:
        if self._monitor is not None:
            self.down.socket.disable_monitor()
            self._monitor.close(linger=0)
            self._monitor = None

    def status(self) -> dict[str, Any]:
        elapsed_s = max(1e-3, (time.monotonic_ns() - self._t0_ns) / 1e9) if self._t0_ns else 0.0
        delay = [round(x, 2) for x in percentiles(self.delays_ms, (50, 99))] if self.delays_ms else [None, None]
        return {
            "ready": self.ready and not self.down_reason,
            "rung": self.worker.get("rung", "remote"),
            "remote": self.config.remote,
            "link": "down: " + self.down_reason if self.down_reason else "up",
            "handshake": self.handshake,
            "handshake_error": self.handshake_error,
            "handshake_failures": self.handshake_failures,
            "link_downs": self.down_count,
            "chunks": self.chunks,
            "delay_ms_p50": delay[0],
            "delay_ms_p99": delay[1],
            "obs_age_ms_p50": self.worker.get("obs_age_ms_p50"),
            "infer_ms_p50": self.worker.get("infer_ms_p50"),
            "uplink_mbit_s": round(self.sent_bytes * 8 / 1e6 / elapsed_s, 2) if elapsed_s else 0.0,
            "frames_hz": {c: round(n / elapsed_s, 1) for c, n in self.frames_sent.items()} if elapsed_s else {},
        }
