"""``abc-bench transport``: one-hop latency, ours vs raw pyzmq vs pickle.

One-way latency is measured on the shared monotonic clock (both processes on this
host): the sender stamps each message just before sending, the receiver subtracts that
from its clock right after the message is decoded into usable numpy arrays. Messages
are paced (one in flight) so queueing never inflates the figures. Every variant uses
the same PUB/SUB socket pair; ``raw`` sends the stamp and the bytes as two frames with
``copy=False``; ``pickle`` sends one pickled dict, as other robot stacks do.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import tempfile
import time
from typing import Any

import numpy as np
import zmq

from abc_robot.bench.common import Row

__all__ = ["run"]

SMALL = 64  # bytes of payload
FRAME = (480, 640, 3)


def _payload(kind: str) -> np.ndarray:
    if kind == "small":
        return np.arange(SMALL // 8, dtype=np.float64)
    return np.random.default_rng(0).integers(0, 255, FRAME, dtype=np.uint8)


def _receiver(variant: str, kind: str, endpoint: str, n: int, ready: Any, out: Any) -> None:
    from abc_robot.transport.bus import ReliableSubscriber

    lat = np.zeros(n, dtype=np.int64)
    if variant == "ours":
        sub = ReliableSubscriber(endpoint, [""])
        ready.set()
        for i in range(n):
            got = sub.recv(10.0)
            if got is None:
                break
            msg: Any = got[1]
            arr = msg.image if kind == "frame" else msg.q
            _ = arr[0]
            lat[i] = time.monotonic_ns() - msg.stamp_ns
        sub.close()
    else:
        s: Any = zmq.Context.instance().socket(zmq.SUB)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(endpoint)
        ready.set()
        for i in range(n):
            if not s.poll(10_000):
                break
            if variant == "raw":
                frames = s.recv_multipart(copy=False)
                stamp = int.from_bytes(frames[1].bytes, "little")
                arr = np.frombuffer(frames[2].buffer, dtype=np.uint8 if kind == "frame" else np.float64)
                if kind == "frame":
                    arr = arr.reshape(FRAME)
            else:
                d = pickle.loads(s.recv())
                stamp, arr = d["stamp_ns"], d["data"]
            _ = arr[0]
            lat[i] = time.monotonic_ns() - stamp
        s.close(0)
    out.put(lat)


def _measure(variant: str, kind: str, scheme: str, n: int) -> np.ndarray:
    from abc_robot.transport.bus import Publisher
    from abc_robot.transport.messages import CameraFrame, JointState

    d = tempfile.mkdtemp(prefix="abcb-")
    endpoint = f"ipc://{d}/b" if scheme == "ipc" else "tcp://127.0.0.1:0"
    ctx: Any = zmq.Context.instance()
    data = _payload(kind)
    if variant == "ours":
        pub = Publisher(endpoint, "bench", ctx=ctx)
        sock = pub._sock
    else:
        pub = None
        sock = ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(endpoint)
    bound = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
    mpctx = mp.get_context("spawn")
    ready, q = mpctx.Event(), mpctx.Queue()
    proc = mpctx.Process(target=_receiver, args=(variant, kind, bound, n, ready, q), daemon=True)
    proc.start()
    ready.wait(30)
    time.sleep(0.3)  # slow joiner
    gap = 0.0004 if kind == "small" else 0.004
    for _ in range(n):
        if variant == "ours":
            msg = JointState(q=data) if kind == "small" else CameraFrame(camera="top", image=data)
            msg.stamp_ns = time.monotonic_ns()
            pub.publish("b", msg)  # type: ignore[union-attr]
        elif variant == "raw":
            sock.send_multipart([b"b", time.monotonic_ns().to_bytes(8, "little"), data], copy=False)
        else:
            sock.send(pickle.dumps({"stamp_ns": time.monotonic_ns(), "data": data}, protocol=pickle.HIGHEST_PROTOCOL))
        time.sleep(gap)
    lat = q.get(timeout=60)
    proc.join(10)
    if pub is not None:
        pub.close()
    else:
        sock.close(0)
    return lat[lat > 0]


def run(quick: bool = False, rounds: int = 3) -> list[Row]:
    """Measure every variant; rows are one-way p50 (and p99) in µs.

    The variants of one (payload, transport) pair are measured in alternating rounds
    and their samples pooled, so a change of background load during the run hits
    ours and the baselines alike instead of skewing their ratio.
    """
    n_small = 300 if quick else 3000
    n_frame = 40 if quick else 400
    groups = [
        ("small", "ipc", ("ours", "raw")),
        ("small", "tcp", ("ours", "raw")),
        ("frame", "ipc", ("ours", "raw", "pickle")),
        ("frame", "tcp", ("ours", "raw")),
    ]
    rows: list[Row] = []
    for kind, scheme, variants in groups:
        n = (n_small if kind == "small" else n_frame) // rounds
        samples: dict[str, list[np.ndarray]] = {v: [] for v in variants}
        for _ in range(rounds):
            for v in variants:
                samples[v].append(_measure(v, kind, scheme, n))
        for v in variants:
            lat = np.concatenate(samples[v]) / 1e3
            name = f"{v}/{kind}/{scheme}"
            vs = {"ours": f"raw/{kind}/{scheme}", "pickle": f"ours/{kind}/{scheme}"}.get(v)
            rows.append(Row(name, float(np.percentile(lat, 50)), "us", vs))
            rows.append(Row(f"{name}/p99", float(np.percentile(lat, 99)), "us", f"{vs}/p99" if vs else None))
    return rows
