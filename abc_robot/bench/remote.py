"""``abc-bench remote``: a policy on another host against one on the rig.

The same sim rollout graph and the same policy (the reference ``still`` policy, whose
inference costs nothing, so the figures are the link's and the loops') run three ways:

- ``local``: the worker in the graph, chunks over ipc;
- ``remote``: the worker on a second host (a network namespace joined by a veth pair;
  see :mod:`abc_robot.testing.hosts`) over tcp + CURVE, camera frames as JPEG;
- ``remote_raw``: the same with raw frames.

Chunk delay is measured at one point for all three: a subscriber to the graph's
``ipc://${run}/policy`` endpoint takes each chunk's arrival minus its observation
stamp, on the rig's clock. Observation age is the worker's own figure (state arrival
at the worker → inference start), bandwidth the policy link's uplink payload.
Needs root for the namespaces; without them the second host is 127.0.0.2.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.bench.common import Row

__all__ = ["run", "NOTE"]

NOTE = "delay: observation stamp → chunk at the followers' endpoint, rig clock; still policy (no inference cost)"
BIN = Path(sys.executable).parent


class _ChunkDelays:
    """Collect (arrival − observation stamp) of every chunk on an endpoint, in a thread."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.ms: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        from abc_robot.transport.bus import LatestSubscriber
        from abc_robot.transport.messages import ActionChunk

        sub = LatestSubscriber(self.endpoint, ["policy/chunk"])
        try:
            while not self._stop.is_set():
                got = sub.poll(timeout_s=0.05).get("policy/chunk")
                if isinstance(got, ActionChunk):
                    self.ms.append((time.monotonic_ns() - got.obs_stamp_ns) / 1e6)
        finally:
            sub.close()

    def stop(self) -> list[float]:
        self._stop.set()
        self._t.join(2)
        return self.ms


def _rollout(cmd: list[str], run_dir: Path, time_limit_s: float) -> tuple[list[float], dict[str, Any]]:
    from abc_robot.testing.hosts import Background

    proc = Background([*cmd, "--run-dir", str(run_dir), "--episodes", "1", "--time-limit", str(time_limit_s), "--task", "lift_cube_easy", "--json"])
    delays = _ChunkDelays(f"ipc://{run_dir}/policy")
    try:
        if proc.finish(300 + time_limit_s) != 0:
            raise RuntimeError("rollout failed:\n" + proc.tail())
    finally:
        ms = delays.stop()
    return ms, proc.summary()


def run(quick: bool = False) -> list[Row]:
    from abc_robot.eval.reference_policies import write_reference_checkpoint
    from abc_robot.testing.hosts import Background, two_hosts
    from abc_robot.transport.keyring import KeyRing

    time_limit = 6.0 if quick else 20.0
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="abc-bench-remote-") as tmp, two_hosts() as hosts:
        d = Path(tmp)
        ckpt = write_reference_checkpoint(d / "still", "still")
        rig, gpu = KeyRing.init(d / "keys_rig"), KeyRing.init(d / "keys_gpu")
        rig.authorize(gpu.public_key_file, "gpu", [hosts.gpu_addr])
        gpu.authorize(rig.public_key_file, "rig", [hosts.rig_addr])

        (d / "local").mkdir()
        local_ms, _ = _rollout([str(BIN / "abc-rollout"), "--sim", "--policy", str(ckpt)], d / "local", time_limit)
        p50, p99 = np.percentile(local_ms, [50, 99])
        rows += [Row("local/delay/p50", float(p50), "ms"), Row("local/delay/p99", float(p99), "ms")]

        server = Background(
            [*hosts.gpu, str(BIN / "abc-policy"), "serve", "--policy", str(ckpt), "--rig-host", hosts.rig_addr,
             "--bind-host", hosts.gpu_addr, "--keys", gpu.directory, "--compile", "eager", "--device", "cpu"]
        )  # fmt: skip
        try:
            for name, images in (("remote", "jpeg"), ("remote_raw", "raw")):
                run_dir = d / name
                run_dir.mkdir()
                cmd = [*hosts.rig, str(BIN / "abc-rollout"), "--sim", "--policy-host", f"tcp://{hosts.gpu_addr}:5601",
                       "--keys", rig.directory, "--uplink", f"tcp://{hosts.rig_addr}:5600", "--link-images", images]  # fmt: skip
                ms, summary = _rollout(cmd, run_dir, time_limit)
                link = summary.get("policy_worker", {})
                p50, p99 = np.percentile(ms, [50, 99])
                rows += [
                    Row(f"{name}/delay/p50", float(p50), "ms", vs="local/delay/p50"),
                    Row(f"{name}/delay/p99", float(p99), "ms", vs="local/delay/p99"),
                    Row(f"{name}/mbit_s", float(link.get("uplink_mbit_s") or 0.0), "Mbit/s"),
                ]
                if link.get("obs_age_ms_p50") is not None:
                    rows.append(Row(f"{name}/obs_age/p50", float(link["obs_age_ms_p50"]), "ms"))
        finally:
            server.stop()
        if not hosts.namespaces:
            rows.append(Row("remote/no_namespaces", 1.0, "flag"))
    return rows
