"""``abc-bench rig``: leader-to-CAN latency and follower period jitter on the hardware twin.

The twin of ``rigs/abc_yam`` runs in this process (GELLO leaders on ptys, YAM arms on a
``udp_multicast`` CAN bus, the console board, the world); its teleop graph runs as real
processes through the real drivers, with the three cameras rendering and the recorder
writing an episode. A sniffer on the left arm's CAN bus (another python-can bus on the
same group, as ``candump`` on the rig) stamps every frame when it arrives.

- ``rig/leader_to_can/p50``, ``/p99`` [ms]: from a leader encoder sample (the stamp
  the leader node gives the first ``leader/left`` message that shows a step of the
  operator's hand: the encoder read time) to the first MIT frame on the bus whose
  joint-1 target moved (follower loop, IK, safety filter, driver, CAN). The hand steps
  joint 1 by ±0.02 rad every 0.3 s.
- ``rig/follower_jitter/p99`` [ms]: |period − 4 ms| of the MIT frames to joint 1 (the
  driver's 250 Hz control cycle as seen on the wire), p99.
- ``rig/can_period/p50`` [ms]: the median period itself.

On this 2-core development machine the twin's devices are Python threads competing
with the graph for the CPU; the rig's devices answer in microseconds.
"""

from __future__ import annotations

import math
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from abc_robot.bench.common import Row

__all__ = ["run"]

_REPO = Path(__file__).resolve().parents[2]
STEP_RAD = 0.02  # [rad] the hand's step on leader joint 1
STEP_PERIOD_S = 0.3  # [s]
CONTROL_HZ = 250.0


class _Sniffer:
    """Every MIT frame to one motor on a CAN bus, stamped on arrival (monotonic ns)."""

    def __init__(self, bus_params: dict, motor_id: int, model: str) -> None:
        import can

        from abc_robot.devices.damiao.chain import MotorSpec

        self.lim = MotorSpec(motor_id, motor_id + 0x10, model).lim
        self.motor_id = motor_id
        self.bus = can.Bus(
            interface=bus_params["interface"], channel=bus_params["channel"], **bus_params.get("bus_options", {})
        )
        self.frames: list[tuple[int, float]] = []  # (stamp_ns, p target [rad])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="can-sniffer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from abc_robot.devices.damiao.protocol import parse_special, unpack_mit

        while not self._stop.is_set():
            msg = self.bus.recv(timeout=0.05)
            if msg is None:
                continue
            t = time.monotonic_ns()
            data = bytes(msg.data)
            if msg.arbitration_id == self.motor_id and len(data) == 8 and parse_special(data) is None:
                self.frames.append((t, unpack_mit(data, self.lim).p))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.bus.shutdown()


def _latencies_ms(steps: list[int], sniffed: list[tuple[int, float]]) -> list[float]:
    """For each leader step stamp, the delay to the first frame whose target moved."""
    t = np.array([f[0] for f in sniffed], dtype=np.int64)
    p = np.array([f[1] for f in sniffed])
    out = []
    for stamp in steps:
        k = int(np.searchsorted(t, stamp))
        if k == 0 or k >= len(t):
            continue
        before = p[k - 1]
        moved = np.nonzero(np.abs(p[k:] - before) > STEP_RAD / 8)[0]
        if len(moved):
            out.append((t[k + moved[0]] - stamp) / 1e6)
    return out


def run(quick: bool = False) -> list[Row]:
    """Measure on a freshly started twin; ``quick`` takes about half a minute."""
    from abc_robot.sim.gl import ensure_gl_backend

    ensure_gl_backend()
    from abc_robot.testing.twin.graph import build_twin_graph, launch_twin_graph
    from abc_robot.testing.twin.hand import hold_hand
    from abc_robot.testing.twin.rig_twin import RigTwin
    from abc_robot.transport import LatestSubscriber, ReliableSubscriber
    from abc_robot.transport.messages import LeaderState

    run_dir = Path(tempfile.mkdtemp(prefix="abcb-"))
    n_steps = 8 if quick else 100
    # A quick run on a loaded machine gets each step a full second to show up on the bus.
    step_period_s = 1.0 if quick else STEP_PERIOD_S
    size = (96, 72) if quick else (224, 224)
    twin = RigTwin(_REPO / "rigs" / "abc_yam", run_dir, camera_size=size, motor_timeout_s=2.0).start()
    proc = None
    sniffer = None
    sub = None
    leader = None
    try:
        data = build_twin_graph(twin, "teleop", run_dir)
        # The followers' stale-input watchdog is given 250 ms (50 ms on the rig): on a loaded
        # 2-core machine a starved leader process would otherwise keep them in HOLD.
        sets = [
            f"recorder.root={run_dir / 'episodes'}",
            *(f"follower_{a}.stale_timeout_ms=250" for a in ("left", "right")),
        ]
        proc, log = launch_twin_graph(data, run_dir, sets)
        sub = LatestSubscriber(f"ipc://{run_dir}/follower_left", ["follower/left/command"])
        leader = ReliableSubscriber(f"ipc://{run_dir}/leader_left", ["leader/left"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            sub.poll()
            c = sub.get("follower/left/command")
            if c is not None and getattr(c, "control_source", "") == "operator":
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the teleop graph never followed the leader; log: {log}")
        time.sleep(3.0)  # the follower's engage ramp
        assert twin.console is not None
        twin.console.press("button_a")  # the recorder writes an episode meanwhile
        time.sleep(0.1)
        twin.console.release("button_a")
        sniffer = _Sniffer(twin.can["left"], motor_id=1, model="DM4340")
        base = np.array([0.0, 1.3, 1.2, -1.47, 0.0, 0.0, 1.0])
        step_stamps: list[int] = []
        for k in range(n_steps):
            q = base.copy()
            q[0] += STEP_RAD * (k % 2)
            leader.drain()
            twin.move_leader("left", hold_hand(q))
            t_end = time.monotonic() + step_period_s
            found = False
            while time.monotonic() < t_end:
                got = leader.recv(0.01)
                if got is None or found:
                    continue
                msg = got[1]
                if isinstance(msg, LeaderState) and abs(float(msg.q[0]) - q[0]) < STEP_RAD / 4:
                    step_stamps.append(int(msg.stamp_ns))
                    found = True
        time.sleep(0.5)
        sniffed = list(sniffer.frames)
    finally:
        if sniffer is not None:
            sniffer.close()
        if sub is not None:
            sub.close()
        if leader is not None:
            leader.close()
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except Exception:  # noqa: BLE001 - a stuck graph is killed
                proc.kill()
        twin.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    lat = _latencies_ms(step_stamps, sniffed)
    t = np.array([f[0] for f in sniffed], dtype=np.int64)
    periods_ms = np.diff(t) / 1e6 if len(t) > 2 else np.array([math.nan])
    jitter = np.abs(periods_ms - 1e3 / CONTROL_HZ)
    rows = [
        Row("rig/leader_to_can/p50", float(np.percentile(lat, 50)) if lat else math.nan, "ms"),
        Row("rig/leader_to_can/p99", float(np.percentile(lat, 99)) if lat else math.nan, "ms"),
        Row("rig/leader_to_can/samples", float(len(lat)), "n"),
        Row("rig/leader_steps_seen", float(len(step_stamps)), "n"),
        Row("rig/can_frames", float(len(sniffed)), "n"),
        Row("rig/follower_jitter/p99", float(np.percentile(jitter, 99)), "ms"),
        Row("rig/can_period/p50", float(np.percentile(periods_ms, 50)), "ms"),
    ]
    return rows
