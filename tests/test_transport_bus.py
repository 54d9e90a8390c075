"""Publisher/subscriber/request-reply across real processes and sockets."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import msgpack
import numpy as np
import pytest
import zmq

from abc_robot.errors import TransportError
from abc_robot.transport import (
    CurveClient,
    CurveServer,
    Event,
    JointState,
    LatestSubscriber,
    Publisher,
    ReliableSubscriber,
    Replier,
    Reply,
    Requester,
    generate_keys,
)
from abc_robot.transport.codec import encode
from abc_robot.transport.curve import stop_authenticator

from .utils import REPO, wait_for

# The publisher prints the endpoint it bound (a tcp port the OS chose), announces itself
# on "sync" until the test says "go" (the subscription is live: nothing is lost to the
# slow joiner), publishes, then keeps its socket open until the test closes its stdin.
PUBLISHER = """
import select, sys, time, numpy as np
from abc_robot.transport import Publisher, JointState, Event
pub = Publisher({endpoint!r}, "pubproc")
print("bound", pub.bound, flush=True)
while not select.select([sys.stdin], [], [], 0.02)[0]:
    pub.publish("sync", Event(kind="sync"))
sys.stdin.readline()
for i in range({n}):
    pub.publish("{topic}", JointState(q=np.full(7, float(i))))
    {pace}
print("done", flush=True)
sys.stdin.read()
"""


def _publisher(sub_factory, endpoint: str, n: int, pace: str):
    """Start the publisher process, connect ``sub_factory(bound)``, wait until it hears it."""
    code = PUBLISHER.format(endpoint=endpoint, n=n, topic="arm/left", pace=pace)
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline().split()
    assert line[:1] == ["bound"], line
    sub = sub_factory(line[1])
    heard: list = []
    assert wait_for(lambda: heard.extend(_sync_of(sub)) or bool(heard), 60), "no sync message from the publisher"
    proc.stdin.write("go\n")
    proc.stdin.flush()
    return proc, sub


def _sync_of(sub) -> list:
    if isinstance(sub, LatestSubscriber):
        return [m for t, m in sub.poll().items() if t == "sync"]
    return [m for t, m in sub.drain() if t == "sync"]


@pytest.mark.parametrize("scheme", ["ipc", "tcp"])
def test_pubsub_across_processes(run_dir, scheme):
    endpoint = f"ipc://{run_dir}/p" if scheme == "ipc" else "tcp://127.0.0.1:*"
    proc, sub = _publisher(lambda ep: ReliableSubscriber(ep, ["arm/", "sync"]), endpoint, 200, "time.sleep(0.001)")
    got = []
    end = time.monotonic() + 60
    while len(got) < 200 and time.monotonic() < end:
        m = sub.recv(0.2)
        if m and m[0] != "sync":
            got.append(m)
    proc.communicate(timeout=30)
    assert [t for t, _ in got] == ["arm/left"] * 200
    assert [m.q[0] for _, m in got] == [float(i) for i in range(200)]
    assert got[0][1].source == "pubproc"
    assert sub.gaps.total_missing == 0 and sub.dropped == 0
    sub.close()


def test_latest_subscriber_under_a_slow_reader_gets_only_the_newest(run_dir):
    endpoint = f"ipc://{run_dir}/lat"
    proc, sub = _publisher(lambda ep: LatestSubscriber(ep, ["arm/", "sync"]), endpoint, 500, "time.sleep(0.0005)")
    seen = []
    end = time.monotonic() + 60
    while time.monotonic() < end:
        time.sleep(0.05)  # a slow consumer: 20 Hz against a ~2 kHz publisher
        out = sub.poll()
        if "arm/left" in out:
            seen.append(out["arm/left"].seq)
        if seen and seen[-1] == 499:
            break
    proc.communicate(timeout=30)
    assert seen[-1] == 499
    assert len(seen) < 100  # it never walked the backlog
    assert sub.skipped > 300  # older messages were drained without being decoded
    # Each poll yields the newest queued message: nothing older than what was already seen.
    assert seen == sorted(seen)
    sub.close()


def test_latest_subscriber_poll_returns_each_message_once_and_drain_defers_decoding(run_dir):
    pub = Publisher(f"ipc://{run_dir}/once", "p")
    sub = LatestSubscriber(pub.endpoint, ["a", "b", "sync"])
    assert wait_for(lambda: (pub.publish("sync", JointState(q=np.zeros(1))), bool(sub.poll(0.05)))[1], 30)
    pub.publish("a", JointState(q=np.ones(1)))
    assert wait_for(lambda: sub.socket.poll(0, zmq.POLLIN), 30)
    first = sub.poll()
    assert list(first) == ["a"]
    assert sub.poll() == {}  # nothing new: an old message is never handed out twice
    # drain() receives without decoding; get() decodes the newest on demand.
    pub.publish("b", JointState(q=np.full(1, 2.0)))
    pub.publish("b", JointState(q=np.full(1, 3.0)))
    assert wait_for(lambda: (sub.drain(), sub._pending)[1] and sub.skipped >= 0 and b"b" in sub._pending, 30)
    while sub.socket.poll(200, zmq.POLLIN):
        sub.drain()
    assert sub.latest.get("b") is None  # not decoded yet
    assert sub.get("b").q[0] == 3.0 and sub.get("a").q[0] == 1.0
    assert sub.poll() == {}  # what drain() received is not new again
    sub.close()
    pub.close()


def test_reliable_subscriber_counts_an_injected_gap(run_dir):
    endpoint = f"ipc://{run_dir}/gap"
    pub = Publisher(endpoint, "p")
    sub = ReliableSubscriber(endpoint, [""])
    _connected(lambda i: pub.publish("sync", Event(kind="sync", data={"i": i})), sub)
    for i in range(50):
        if i in (10, 11, 12, 30):
            pub._seq[b"t"] += 1  # the message "is lost" on the way
            continue
        pub.publish("t", JointState(q=np.zeros(1)))
    got = []
    wait_for(lambda: got.extend(sub.drain()) or len(got) >= 46, 3)
    assert len(got) == 46
    assert sub.gaps.total_missing == 4
    assert sub.gaps.gaps == {("p", "t"): 4}
    pub.close()
    sub.close()


def _connected(send_sync, sub: ReliableSubscriber) -> int:
    """Send numbered sync messages until ``sub`` hears one, then take in the rest; returns how many it heard.

    What was sent before the subscription went live is lost (the slow joiner), what was
    sent after arrives in order: once the last one is in, nothing sync is still on its way.
    """
    sent, heard = 0, []
    end = time.monotonic() + 60
    while not heard and time.monotonic() < end:
        send_sync(sent)
        sent += 1
        time.sleep(0.01)
        heard += sub.drain()
    assert heard, "the subscription never connected"
    last = sent - 1
    assert wait_for(lambda: heard.extend(sub.drain()) or heard[-1][1].data["i"] == last, 30)
    return len(heard)


def test_request_reply_and_timeout(run_dir):
    endpoint = f"ipc://{run_dir}/rr"
    rep = Replier(endpoint, "server")
    req = Requester(endpoint, "client")

    def handler(topic, msg):
        if msg.kind == "boom":
            raise ValueError("bad request")
        return Reply(ok=True, message=f"{topic}:{msg.kind}", data={"n": len(msg.kind)})

    import threading

    stop = threading.Event()
    t = threading.Thread(target=lambda: [rep.serve(handler, 0.05) for _ in iter(stop.is_set, True)], daemon=True)
    t.start()
    r = req.request("cmd/x", Event(kind="hello"), timeout_s=2)
    assert r.ok and r.message == "cmd/x:hello" and r.data == {"n": 5}
    r = req.request("cmd/x", Event(kind="boom"), timeout_s=2)
    assert not r.ok and "bad request" in r.message
    stop.set()
    t.join(2)
    with pytest.raises(TransportError, match="no reply"):
        req.request("cmd/x", Event(kind="late"), timeout_s=0.2)
    rep.close()
    req.close()


def test_fuzz_ten_thousand_garbage_messages_are_counted_not_fatal(run_dir):
    """Random, truncated and corrupted multipart messages: the subscriber survives
    and counts every one; valid messages interleaved still arrive."""
    endpoint = f"ipc://{run_dir}/fuzz"
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.PUB)
    raw.setsockopt(zmq.SNDHWM, 0)
    raw.bind(endpoint)
    sub = ReliableSubscriber(endpoint, [""], rcvhwm=0)
    n_sync = _connected(lambda i: raw.send_multipart(encode(b"sync", Event(kind="sync", data={"i": i}))), sub)
    received0, dropped0 = sub.received, sub.dropped
    assert received0 == n_sync and dropped0 == 0
    rng = random.Random(1234)
    # Large enough for its array to travel in a frame of its own (smaller ones ride in
    # the header; truncated headers cover those).
    q_good = np.arange(300.0)
    good = [bytes(f) if not isinstance(f, np.ndarray) else f.tobytes() for f in encode(b"t", JointState(q=q_good))]
    n_bad = 10_000
    n_good = 0
    for i in range(n_bad):
        kind = i % 5
        if kind == 0:  # random frames
            frames = [rng.randbytes(rng.randint(0, 40)) for _ in range(rng.randint(1, 5))]
        elif kind == 1:  # truncated: drop trailing frames
            frames = good[: rng.randint(1, len(good) - 1)]
        elif kind == 2:  # corrupted header bytes
            h = bytearray(good[1])
            for _ in range(3):
                h[rng.randrange(len(h))] = rng.randrange(256)
            frames = [good[0], bytes(h), *good[2:]]
            # Some corruptions still decode (e.g. inside a string); make sure it fails:
            frames[1] = bytes(h[: rng.randint(0, len(h) - 1)])
        elif kind == 3:  # wrong array sizes
            frames = [good[0], good[1], good[2][: rng.randint(0, len(good[2]) - 1)], *good[3:]]
        else:  # valid msgpack, wrong schema
            frames = [b"t", msgpack.packb({"t": "joint_state", "v": 1, "q": "x", "s": None, "o": 3, "f": [], "a": {}})]
        raw.send_multipart(frames)
        if i % 100 == 0:
            raw.send_multipart(good)
            n_good += 1
    got = []
    end = time.monotonic() + 20
    while sub.received - received0 < n_bad + n_good and time.monotonic() < end:
        got.extend(sub.drain())
    got.extend(sub.drain())
    assert sub.received - received0 == n_bad + n_good
    assert sub.dropped == n_bad
    assert len(got) == n_good
    assert all(np.array_equal(m.q, q_good) for _, m in got)
    raw.close(0)
    sub.close()


def test_curve_client_without_the_key_gets_nothing(tmp_path):
    keys = tmp_path / "keys"
    authorized = tmp_path / "authorized"
    server_pub, server_sec = generate_keys(keys, "server")
    client_pub, client_sec = generate_keys(keys, "client")
    _, intruder_sec = generate_keys(keys, "intruder")
    authorized.mkdir()
    (authorized / "client.key").write_bytes(client_pub.read_bytes())
    ctx = zmq.Context()
    pub = Publisher("tcp://127.0.0.1:*", "srv", curve=CurveServer(str(server_sec), str(authorized)), ctx=ctx)
    endpoint = pub.bound
    good = LatestSubscriber(endpoint, [""], curve=CurveClient(str(server_pub), str(client_sec)), ctx=ctx)
    bad = LatestSubscriber(endpoint, [""], curve=CurveClient(str(server_pub), str(intruder_sec)), ctx=ctx)
    plain = LatestSubscriber(endpoint, [""], ctx=ctx)
    got_good = got_bad = got_plain = 0
    end = time.monotonic() + 60
    while got_good <= 10 and time.monotonic() < end:
        pub.publish("x", Event(kind="secret"))
        got_good += len(good.poll())
        got_bad += len(bad.poll())
        got_plain += len(plain.poll())
        time.sleep(0.01)
    assert got_good > 10
    assert got_bad == 0 and got_plain == 0
    for s in (pub, good, bad, plain):
        s.close()
    stop_authenticator(ctx)
    ctx.term()
