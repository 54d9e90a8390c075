"""``abc-bench leader``: 7-servo leader reads against the Dynamixel emulator.

Two readers take turns on the same emulated bus (the emulator runs in its own process,
serving a pseudo-terminal, its servos on a sine, Return Delay Time 0 as on a tuned
GELLO):

- ``ours``: :class:`~abc_robot.devices.dynamixel.leader.LeaderReader` — sync read
  (FAST_SYNC_READ when the servos answer it), calibration, 2π turn tracking, trigger;
- ``sdk``: the plain dynamixel-sdk loop every GELLO reader starts from:
  ``GroupSyncRead.txRxPacket()`` then ``getData`` per servo;
- ``ours/leader_read/sync_read``: ours held to plain SYNC_READ (what the fd wait
  alone buys, without FAST_SYNC_READ).

Rows: per-read latency p50 and p99 [µs] and reads per second of each, and the
**wire-time floor** at the configured baud computed from packet sizes (instruction +
status packets at 10 bits per byte, plus each servo's return delay): a pty moves bytes
at memory speed whatever the baud, so the emulator cannot show it. On the rig add the
USB adapter's latency (latency timer 1 ms: up to ~1 ms per read).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from abc_robot.bench.common import Row, percentiles_us
from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel import packet as pk

__all__ = ["run", "wire_floor_us"]

N_SERVOS = 7
BAUD = 4_000_000


def wire_floor_us(n_servos: int, baud: int, *, fast: bool, return_delay_us: float = 0.0, n_data: int = 4) -> float:
    """Bus time [µs] of one sync read of ``n_data`` bytes from ``n_servos`` servos.

    Instruction packet, then the replies: one status packet per servo (SYNC_READ) or
    one shared packet (FAST_SYNC_READ), each servo waiting its return delay first.
    """
    n_bytes = pk.sync_read_request_bytes(n_servos)
    n_bytes += pk.fast_sync_read_status_bytes(n_servos, n_data) if fast else n_servos * pk.status_bytes(n_data)
    return pk.wire_time_s(n_bytes, baud) * 1e6 + n_servos * return_delay_us


def _start_emulator(link: Path) -> subprocess.Popen[str]:
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "abc_robot.testing.dynamixel_emulator", "--link", str(link)]
    cmd += ["--ids", f"1-{N_SERVOS}", "--return-delay", "0", "--sine", "0.5", "2.0"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"emulator did not start: {line}{proc.communicate()[0] if proc.stdout else ''}")
    return proc


def _connect_patiently(reader, within_s: float = 15.0) -> None:
    """Connect once the emulator's process gets the CPU (a loaded machine delays its first replies)."""
    from abc_robot.errors import DeviceError

    end = time.monotonic() + within_s
    while True:
        try:
            reader.connect()
            return
        except DeviceError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def _time_block(read, n: int) -> tuple[list[int], int, int]:
    """``n`` reads: per-read latencies [ns], failures, block wall time [ns]."""
    lat = []
    failed = 0
    t_start = time.perf_counter_ns()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        ok = read()
        lat.append(time.perf_counter_ns() - t0)
        failed += not ok
    return lat, failed, time.perf_counter_ns() - t_start


def run(quick: bool = False) -> list[Row]:
    """Measure; ``quick``: about a second of reads per reader."""
    import dynamixel_sdk as sdk

    from abc_robot.calibration.schema import LeaderCalibration
    from abc_robot.devices.dynamixel.bus import BusConfig
    from abc_robot.devices.dynamixel.leader import LeaderReader

    block, rounds = (100, 2) if quick else (1000, 8)
    tmp = Path(tempfile.mkdtemp(prefix="abc-bench-dxl-"))
    link = tmp / "ttyDXL0"
    emu = _start_emulator(link)
    reader = None
    readers: list = []
    port = None
    try:
        cal = LeaderCalibration(
            arm="left", offsets_rad=(0.0,) * 6, signs=(1.0,) * 6, gripper_open_rad=-0.5, gripper_closed_rad=0.5,
            joint_lower_rad=(-3.2,) * 6, joint_upper_rad=(3.2,) * 6,
        )  # fmt: skip
        reader = LeaderReader(cal, BusConfig(port=str(link), baud=BAUD, timeout_ms=35.0, return_delay_us=None), fk=False)
        _connect_patiently(reader)
        # The same reader held to plain SYNC_READ: separates what FAST_SYNC_READ buys.
        slow = LeaderReader(cal, BusConfig(port=str(link), baud=BAUD, timeout_ms=35.0, return_delay_us=None, fast_sync_read="off"), fk=False)
        _connect_patiently(slow)
        readers.append(slow)
        port = sdk.PortHandler(str(link))
        ph = sdk.PacketHandler(2.0)
        if not port.setBaudRate(BAUD):
            raise RuntimeError("dynamixel_sdk refused the baud rate")
        group = sdk.GroupSyncRead(port, ph, ct.PRESENT_POSITION.address, ct.PRESENT_POSITION.size)
        for i in range(1, N_SERVOS + 1):
            group.addParam(i)

        def sdk_read() -> bool:
            if group.txRxPacket() != sdk.COMM_SUCCESS:
                return False
            _ = [group.getData(i, ct.PRESENT_POSITION.address, 4) for i in range(1, N_SERVOS + 1)]
            return True

        def ours_read() -> bool:
            return reader.read() is not None

        def ours_sync_read() -> bool:
            return slow.read() is not None

        timed = (("ours", ours_read), ("sdk", sdk_read), ("ours_sync", ours_sync_read))
        # Same packet timeout as the SDK's default (34 ms): failures count alike under load.
        for _, fn in timed:  # warm-up (and the fast-sync-read probe)
            _time_block(fn, 20)
        lat: dict[str, list[int]] = {name: [] for name, _ in timed}
        fails = dict.fromkeys(lat, 0)
        wall = dict.fromkeys(lat, 0)
        for _ in range(rounds):  # interleaved: load drift on the machine hits all alike
            for name, fn in timed:
                la, f, w = _time_block(fn, block)
                lat[name] += la
                fails[name] += f
                wall[name] += w
        fast = bool(reader.bus.status()["fast_sync_read"][0])
    finally:
        for r in (reader, *readers):
            if r is not None:
                r.close()
        if port is not None and port.is_open:
            port.closePort()
        emu.terminate()
        try:
            emu.wait(timeout=5)
        except subprocess.TimeoutExpired:
            emu.kill()
            emu.wait()
    rows: list[Row] = []
    for name in ("ours", "sdk"):
        p50, p99 = percentiles_us(lat[name])
        vs = "sdk/leader_read" if name == "ours" else None
        rows.append(Row(f"{name}/leader_read", p50, "us", vs))
        rows.append(Row(f"{name}/leader_read/p99", p99, "us", "sdk/leader_read/p99" if name == "ours" else None))
        ok = len(lat[name]) - fails[name]
        rows.append(Row(f"{name}/leader_read/hz", ok / (wall[name] / 1e9), "hz", "sdk/leader_read/hz" if name == "ours" else None))
        rows.append(Row(f"{name}/leader_read/failed", float(fails[name]), "count"))
    rows.append(Row("ours/leader_read/sync_read", percentiles_us(lat["ours_sync"])[0], "us", "sdk/leader_read"))
    rows.append(Row("floor/leader_read", wire_floor_us(N_SERVOS, BAUD, fast=fast), "us"))
    rows.append(Row("floor/leader_read/sync_read", wire_floor_us(N_SERVOS, BAUD, fast=False), "us"))
    rows.append(Row("floor/leader_read/factory_return_delay", wire_floor_us(N_SERVOS, BAUD, fast=fast, return_delay_us=500.0), "us"))
    rows.append(Row("floor/leader_read/57600_baud", wire_floor_us(N_SERVOS, 57_600, fast=False, return_delay_us=500.0), "us"))
    rows.append(Row("ours/fast_sync_read", float(fast), "bool"))
    rows.extend(_fk_rows(quick))
    return rows


def _fk_rows(quick: bool) -> list[Row]:
    """Leader FK cost [µs] (the node adds it to every read)."""
    try:
        from abc_robot.kinematics.model import ArmModel

        model = ArmModel.from_urdf("yam_leader.urdf")
    except Exception:  # noqa: BLE001 - the read figures stand without it
        return []
    q = np.array([0.1, 1.2, 1.1, -1.2, 0.2, 0.3])
    n = 500 if quick else 5000
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        model.fk(q)
        samples.append(time.perf_counter_ns() - t0)
    return [Row("ours/leader_fk", percentiles_us(samples)[0], "us")]
