"""Publisher / subscriber / request-reply over ZeroMQ.

- :class:`Publisher` binds its own endpoint (no broker on the control path).
- :class:`LatestSubscriber` is for control paths: each poll drains the socket and keeps
  only the newest message per topic, so a slow reader never acts on a stale queue.
  Only that newest message is decoded.
- :class:`ReliableSubscriber` is for the recorder: every message in order, with gaps
  in ``seq`` counted per (source, topic).
- :class:`Replier` / :class:`Requester` (ROUTER/DEALER) for commands that need an
  answer; a requester that times out rebuilds its socket, so it never wedges the way
  a REQ socket does.

A frame that does not decode is counted in ``dropped`` (and the last error kept in
``last_error``) and otherwise ignored: a malformed message never crashes a node.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import zmq

from abc_robot.errors import CodecError, TransportError
from abc_robot.transport.codec import decode, encode, encode_jpeg
from abc_robot.transport.curve import CurveClient, CurveServer
from abc_robot.transport.endpoints import expand
from abc_robot.transport.messages import CameraFrame, Message, Reply

#: Buffers at least this large are sent without a copy (pyzmq's copy threshold).
_ZERO_COPY_MIN = 65536

# The hot path calls the socket's compiled methods with plain-int flags: pyzmq's
# Python-level wrappers (send_multipart, recv_multipart, getsockopt with enum
# arguments) cost a few µs per message in argument handling and enum arithmetic,
# more than the send itself on a small message.
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE = int(zmq.SNDMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_RCVMORE = int(zmq.RCVMORE)
_Base: Any = zmq.backend.Socket  # the compiled socket class under pyzmq's sugar
_send = _Base.send
_recv = _Base.recv
_get = _Base.get
_zmq_poll = zmq.zmq_poll


def _readable(sock: zmq.Socket, timeout_ms: int) -> bool:
    """Wait up to ``timeout_ms`` for ``sock`` to be readable (``Socket.poll`` without
    the ``Poller`` object it builds on every call)."""
    return bool(_zmq_poll([(sock, _POLLIN)], timeout_ms))


def _recv_frames(sock: zmq.Socket) -> list[Any]:
    """One multipart message, non-blocking (raises ``zmq.Again`` when none is queued).

    The topic and header frames come back as ``bytes`` (a copy is cheaper than a
    ``zmq.Frame`` for a few hundred bytes); array frames as ``zmq.Frame`` (no copy).
    """
    frames = [_recv(sock, _NOBLOCK)]
    if _get(sock, _RCVMORE):
        frames.append(_recv(sock, _NOBLOCK))
        while _get(sock, _RCVMORE):
            frames.append(_recv(sock, _NOBLOCK, copy=False))
    return frames

__all__ = [
    "Publisher",
    "LatestSubscriber",
    "ReliableSubscriber",
    "Replier",
    "Requester",
    "GapStats",
    "context",
]


def context() -> zmq.Context:
    """The process-wide ZeroMQ context."""
    return zmq.Context.instance()


def _as_list(endpoints: str | Iterable[str]) -> list[str]:
    return [endpoints] if isinstance(endpoints, str) else list(endpoints)


class Publisher:
    """Binds ``endpoint`` and publishes typed messages on topics.

    Args:
        endpoint: where to bind (``ipc://...`` or ``tcp://host:port``; ``${run}`` expands).
        source: this node's name, written into every message.
        sndhwm: messages queued per subscriber before the oldest are dropped; keep it
            small for large frames.
        jpeg_quality: if set, camera frames are JPEG-compressed on the wire (remote links).
        curve: CURVE server keys; required on tcp:// links that leave the host.
    """

    def __init__(
        self,
        endpoint: str,
        source: str = "",
        *,
        sndhwm: int = 1000,
        jpeg_quality: int | None = None,
        curve: CurveServer | None = None,
        ctx: zmq.Context | None = None,
    ) -> None:
        self.endpoint = expand(endpoint)
        self.source = source
        self.jpeg_quality = jpeg_quality
        self._seq: dict[bytes, int] = {}
        self._topics: dict[str, bytes] = {}
        self._sock = (ctx or context()).socket(zmq.PUB)
        self._sock.setsockopt(zmq.SNDHWM, sndhwm)
        self._sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(self._sock)
        try:
            self._sock.bind(self.endpoint)
        except zmq.ZMQError as exc:
            self._sock.close()
            raise TransportError(f"cannot bind {self.endpoint}: {exc}") from exc
        self.sent = 0

    def publish(self, topic: str, msg: Message) -> int:
        """Send ``msg`` on ``topic``; fills ``seq``, ``source`` and (if 0) ``stamp_ns``.

        Returns:
            the sequence number given to the message.
        """
        t = self._topics.get(topic)
        if t is None:
            t = self._topics[topic] = topic.encode()
        seq = self._seq.get(t, 0)
        self._seq[t] = seq + 1
        msg.seq = seq
        if not msg.source:
            msg.source = self.source
        if not msg.stamp_ns:
            msg.stamp_ns = time.monotonic_ns()
        if self.jpeg_quality is not None and isinstance(msg, CameraFrame):
            msg = encode_jpeg(msg, self.jpeg_quality)
        frames = encode(t, msg)
        if len(frames) == 2:  # a small message: topic and header (arrays inline)
            _send(self._sock, t, _SNDMORE)
            _send(self._sock, frames[1], 0)
        else:
            # Zero-copy only pays for large buffers (pyzmq copies anything under 64 KiB
            # anyway, after building a tracked Frame for it).
            big = any(getattr(f, "nbytes", 0) >= _ZERO_COPY_MIN for f in frames[2:])
            self._sock.send_multipart(frames, copy=not big)
        self.sent += 1
        return seq

    @property
    def bound(self) -> str:
        """The endpoint actually bound (a ``tcp://host:*`` bind names its port here)."""
        return self._sock.getsockopt(zmq.LAST_ENDPOINT).decode()

    def close(self) -> None:
        self._sock.close(linger=0)


class _SubscriberBase:
    #: Messages queued before the oldest are dropped (per connection).
    DEFAULT_RCVHWM = 1000

    def __init__(
        self,
        endpoints: str | Iterable[str],
        topics: Sequence[str],
        *,
        rcvhwm: int | None = None,
        curve: CurveClient | None = None,
        ctx: zmq.Context | None = None,
    ) -> None:
        if rcvhwm is None:
            rcvhwm = self.DEFAULT_RCVHWM
        self.endpoints = [expand(e) for e in _as_list(endpoints)]
        self._sock = (ctx or context()).socket(zmq.SUB)
        self._sock.setsockopt(zmq.RCVHWM, rcvhwm)
        self._sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(self._sock)
        for t in topics or [""]:
            self._sock.setsockopt(zmq.SUBSCRIBE, t.encode())
        for e in self.endpoints:
            self._sock.connect(e)
        self.received = 0
        self.dropped = 0
        self.last_error: str | None = None

    @property
    def socket(self) -> zmq.Socket:
        """The underlying socket (for a ``zmq.Poller``)."""
        return self._sock

    def _decode(self, frames: list[Any]) -> tuple[bytes, Message] | None:
        try:
            return decode(frames)
        except CodecError as exc:
            self.dropped += 1
            self.last_error = str(exc)
            return None

    def wait(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` for something to read; True if there is."""
        return _readable(self._sock, int(timeout_s * 1000))

    def close(self) -> None:
        self._sock.close(linger=0)


class LatestSubscriber(_SubscriberBase):
    """Keeps only the newest message per topic (control paths).

    ``poll()`` drains everything queued and decodes only the newest message of each
    topic; older ones are skipped without decoding (they are counted in ``skipped``).
    """

    DEFAULT_RCVHWM = 100

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.latest: dict[str, Message] = {}
        self.received_ns: dict[str, int] = {}
        self.skipped = 0
        # Newest undecoded message per topic from drain(), and when it was received.
        self._pending: dict[bytes, list[Any]] = {}
        self._pending_ns = 0

    def _receive(self, raw: dict[bytes, list[Any]]) -> int:
        """Move everything queued into ``raw`` (newest per topic); return how many."""
        sock = self._sock
        n = 0
        # Ask the socket before each receive: a failed non-blocking receive raises
        # zmq.Again, which costs twice the question, and every control tick ends a poll.
        while _get(sock, _EVENTS) & _POLLIN:
            try:
                frames = _recv_frames(sock)
            except zmq.Again:
                break
            n += 1
            key = frames[0]
            if key in raw:
                self.skipped += 1
            raw[key] = frames
        self.received += n
        return n

    def poll(self, timeout_s: float = 0.0) -> dict[str, Message]:
        """Drain the socket; return ``{topic: newest message}`` of what arrived now
        (and since a :meth:`drain` that nothing decoded yet).

        Args:
            timeout_s: wait up to this long for the first message if none is queued.
        """
        if timeout_s > 0 and not self._pending and not _readable(self._sock, int(timeout_s * 1000)):
            return {}
        raw = self._pending
        if raw:
            self._pending = {}
        else:
            raw = {}  # never fill _pending's own dict: what poll() decodes must not stay pending
        if not self._receive(raw) and not raw:
            return {}
        return self._decode_all(raw, time.monotonic_ns())

    def drain(self) -> int:
        """Receive everything queued without decoding it: the newest message per topic
        is decoded only when :meth:`get` (or :meth:`poll`) asks for it. For inputs
        read less often than they arrive. Returns how many messages were received."""
        n = self._receive(self._pending)
        if n:
            self._pending_ns = time.monotonic_ns()
        return n

    def _decode_all(self, raw: dict[bytes, list[Any]], now: int) -> dict[str, Message]:
        out: dict[str, Message] = {}
        for frames in raw.values():
            got = self._decode(frames)
            if got is None:
                continue
            topic = got[0].decode(errors="replace")
            out[topic] = got[1]
            self.latest[topic] = got[1]
            self.received_ns[topic] = now
        return out

    def get(self, topic: str) -> Message | None:
        """The newest message seen on ``topic`` so far (after the last ``poll`` or ``drain``)."""
        if self._pending:
            raw, self._pending = self._pending, {}
            self._decode_all(raw, self._pending_ns)
        return self.latest.get(topic)


@dataclass
class GapStats:
    """Per-(source, topic) sequence tracking for a reliable subscription."""

    expected: dict[tuple[str, str], int] = field(default_factory=dict)
    gaps: dict[tuple[str, str], int] = field(default_factory=dict)
    restarts: int = 0

    @property
    def total_missing(self) -> int:
        return sum(self.gaps.values())

    def update(self, topic: str, msg: Message) -> int:
        """Record ``msg``; return how many messages were missed just before it."""
        key = (msg.source, topic)
        exp = self.expected.get(key)
        self.expected[key] = msg.seq + 1
        if exp is None:
            return 0
        if msg.seq < exp:  # the publisher restarted: start counting afresh
            self.restarts += 1
            return 0
        missed = msg.seq - exp
        if missed:
            self.gaps[key] = self.gaps.get(key, 0) + missed
        return missed


class ReliableSubscriber(_SubscriberBase):
    """Every message, in order, with gaps in ``seq`` counted (recorder)."""

    DEFAULT_RCVHWM = 100_000

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.gaps = GapStats()

    def recv(self, timeout_s: float = 0.0) -> tuple[str, Message] | None:
        """The next valid message as ``(topic, msg)``, or None if none came in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            if timeout_s > 0:
                # Wait first: a failed non-blocking receive raises, which costs more
                # than the poll on the common, blocking path.
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not _readable(self._sock, int(remaining * 1000) + 1):
                    return None
            elif not _get(self._sock, _EVENTS) & _POLLIN:
                return None  # nothing queued (cheaper than a receive that raises)
            try:
                frames = _recv_frames(self._sock)
            except zmq.Again:
                if timeout_s <= 0:
                    return None
                continue
            self.received += 1
            got = self._decode(frames)
            if got is None:
                continue
            topic = got[0].decode(errors="replace")
            self.gaps.update(topic, got[1])
            return topic, got[1]

    def drain(self, max_messages: int = 10_000) -> list[tuple[str, Message]]:
        """Everything queued now, in arrival order (at most ``max_messages``)."""
        if not _get(self._sock, _EVENTS) & _POLLIN:
            return []  # the common case on a control tick: nothing (one cheap question)
        out = []
        for _ in range(max_messages):
            got = self.recv(0.0)
            if got is None:
                break
            out.append(got)
        return out


class Replier:
    """Binds a ROUTER socket and answers requests with a handler.

    The handler takes ``(topic, message)`` and returns a :class:`Reply`; an exception
    in it becomes ``Reply(ok=False, message=...)`` instead of killing the node.
    """

    def __init__(
        self,
        endpoint: str,
        source: str = "",
        *,
        curve: CurveServer | None = None,
        ctx: zmq.Context | None = None,
    ) -> None:
        self.endpoint = expand(endpoint)
        self.source = source
        self._sock = (ctx or context()).socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(self._sock)
        try:
            self._sock.bind(self.endpoint)
        except zmq.ZMQError as exc:
            self._sock.close()
            raise TransportError(f"cannot bind {self.endpoint}: {exc}") from exc
        self.dropped = 0
        self.handled = 0

    @property
    def socket(self) -> zmq.Socket:
        return self._sock

    def serve(self, handler: Callable[[str, Message], Reply], timeout_s: float = 0.0) -> int:
        """Answer every queued request; return how many were answered."""
        n = 0
        if timeout_s > 0 and not self._sock.poll(int(timeout_s * 1000), zmq.POLLIN):
            return 0
        while True:
            if not _get(self._sock, _EVENTS) & _POLLIN:
                return n  # nothing (more) queued: cheaper than a receive that raises
            try:
                frames = self._sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return n
            ident = frames[0]
            try:
                topic_b, req = decode(frames[1:])
            except CodecError as exc:
                self.dropped += 1
                reply = Reply(ok=False, message=f"malformed request: {exc}")
                topic_b, seq = b"error", 0
            else:
                seq = req.seq
                try:
                    reply = handler(topic_b.decode(errors="replace"), req)
                except Exception as exc:  # a bad request must not kill the node
                    reply = Reply(ok=False, message=f"{type(exc).__name__}: {exc}")
            reply.seq = seq
            reply.source = reply.source or self.source
            reply.stamp_ns = reply.stamp_ns or time.monotonic_ns()
            self._sock.send_multipart([ident, *encode(topic_b, reply)], copy=False)
            self.handled += 1
            n += 1

    def close(self) -> None:
        self._sock.close(linger=0)


class Requester:
    """Connects a DEALER socket and sends requests that expect one :class:`Reply`."""

    def __init__(
        self,
        endpoint: str,
        source: str = "",
        *,
        curve: CurveClient | None = None,
        ctx: zmq.Context | None = None,
    ) -> None:
        self.endpoint = expand(endpoint)
        self.source = source
        self._ctx = ctx or context()
        self._curve = curve
        self._seq = 0
        self._sock = self._make()

    def _make(self) -> zmq.Socket:
        s = self._ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        if self._curve is not None:
            self._curve.apply(s)
        s.connect(self.endpoint)
        return s

    def request(self, topic: str, msg: Message, timeout_s: float = 1.0) -> Reply:
        """Send ``msg`` and wait for its reply.

        Raises:
            TransportError: no reply within ``timeout_s`` (the socket is rebuilt).
        """
        self._seq += 1
        msg.seq = self._seq
        msg.source = msg.source or self.source
        msg.stamp_ns = msg.stamp_ns or time.monotonic_ns()
        self._sock.send_multipart(encode(topic.encode(), msg), copy=False)
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._sock.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                self._sock.close(linger=0)
                self._sock = self._make()
                raise TransportError(f"no reply from {self.endpoint} to {topic!r} within {timeout_s:.2f} s")
            frames = self._sock.recv_multipart(copy=False)
            try:
                _, reply = decode(frames)
            except CodecError:
                continue
            if isinstance(reply, Reply) and reply.seq == self._seq:
                return reply

    def close(self) -> None:
        self._sock.close(linger=0)
