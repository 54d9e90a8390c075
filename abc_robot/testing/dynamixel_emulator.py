"""A chain of Dynamixel X-series servos behind a pseudo-terminal (Protocol 2.0).

The real ``dynamixel_sdk`` (and so the drivers in :mod:`abc_robot.devices.dynamixel`)
talks to it unmodified: it answers PING, READ, WRITE, REBOOT, SYNC_READ,
FAST_SYNC_READ and SYNC_WRITE with CRC-16 and byte stuffing, keeps a control table per
servo (EEPROM locked while torque is on, read-only registers refused, goal positions
outside the position limits refused in position mode) and honours the return delay
time.

Motion: a servo with torque on moves its shaft towards its goal position with a
first-order lag (``lag_s``; limited by the profile velocity when set); with torque off
it follows ``trajectory(t_s) -> shaft angles [rad]`` if one is given (a leader arm
moved by hand), else it stays where it is (:meth:`set_positions` moves it).

Power-up wrap: a real servo reports its shaft angle only modulo one turn when it powers
up (Present Position in ``[0, 4096)``); ``wraps`` adds whole turns on top, so a driver
must resolve the 2π ambiguity at every start. :meth:`power_cycle` repeats this.

Faults: :meth:`mute` (no replies), :meth:`drop_next` (the next replies lost),
:meth:`corrupt_next` / :meth:`corrupt_all` (wrong CRC), :meth:`set_missing` (one servo
gone), :meth:`set_status_error` (a servo's status packets carry an error byte, e.g. the
hardware alert bit), ``reply_delay_s`` (every reply reaches the host that much later, as
through a USB adapter whose latency timer holds the bytes: the servos still latch their
registers when the request arrives), ``fast_sync_read=False`` (older firmware: each
servo answers FAST_SYNC_READ with an instruction error), :meth:`unplug` / :meth:`replug`
(the port vanishes; the stable symlink ``link`` points at a new pty when it comes back).

Example::

    with DynamixelChainEmulator(tmp_path / "ttyDXL0", ids=range(1, 8)) as chain:
        port = dynamixel_sdk.PortHandler(str(chain.link))
        ...

Run standalone (the benchmark does, so the emulator has its own interpreter)::

    python -m abc_robot.testing.dynamixel_emulator --link /tmp/dxl/ttyDXL0 --ids 1-7 --sine 0.5 2.0
"""

from __future__ import annotations

import argparse
import math
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel.packet import (
    BROADCAST_ID,
    Err,
    Inst,
    Packet,
    PacketReader,
    build_fast_sync_read_status,
    build_status,
)
from abc_robot.testing.pty_link import PtyDevice

__all__ = ["DynamixelChainEmulator", "EmulatedServo", "main"]

Trajectory = Callable[[float], Sequence[float]]

_TICKS_PER_RAD = ct.TICKS_PER_TURN / (2 * math.pi)
_TICKS_PER_S_PER_VEL_UNIT = 0.229 / 60.0 * ct.TICKS_PER_TURN


def _reg_of(address: int) -> ct.Reg | None:
    for r in ct.REGISTERS:
        if r.address <= address < r.address + r.size:
            return r
    return None


class EmulatedServo:
    """One X-series servo: its control table and its shaft.

    Attributes:
        table: the control table bytes (dynamic registers refreshed on every read).
        shaft_ticks: shaft angle [tick], continuous (no wrap).
        turn_ticks: what the servo adds to the shaft angle to report Present Position
            (a multiple of 4096 fixed at power-up).
        missing: the servo does not answer at all.
    """

    def __init__(self, dxl_id: int, model_number: int, firmware: int) -> None:
        self.table = bytearray(ct.TABLE_SIZE)
        self.model_number = model_number
        self.firmware = firmware
        self.shaft_ticks = 0.0
        self.turn_ticks = 0
        self.velocity_ticks_s = 0.0
        self.missing = False
        self.rejected_writes = 0
        self._factory_eeprom(dxl_id)
        self.reset_ram()

    # ---- registers ---------------------------------------------------------------------
    def get(self, reg: ct.Reg) -> int:
        v = int.from_bytes(self.table[reg.address : reg.address + reg.size], "little")
        return ct.to_signed(v, reg.size) if reg.signed else v

    def set(self, reg: ct.Reg, value: int) -> None:
        self.table[reg.address : reg.address + reg.size] = (value & ((1 << (8 * reg.size)) - 1)).to_bytes(
            reg.size, "little"
        )

    @property
    def dxl_id(self) -> int:
        return self.get(ct.ID)

    @property
    def torque(self) -> bool:
        return bool(self.table[ct.TORQUE_ENABLE.address])

    @property
    def present_ticks(self) -> int:
        return int(round(self.shaft_ticks)) + self.turn_ticks

    def _factory_eeprom(self, dxl_id: int) -> None:
        self.set(ct.MODEL_NUMBER, self.model_number)
        self.set(ct.FIRMWARE_VERSION, self.firmware)
        self.set(ct.ID, dxl_id)
        self.set(ct.BAUD_RATE, 1)  # 57,600 from the factory
        self.set(ct.RETURN_DELAY_TIME, 250)  # 500 µs from the factory
        self.set(ct.OPERATING_MODE, 3)
        self.set(ct.CURRENT_LIMIT, 1193)
        self.set(ct.VELOCITY_LIMIT, 200)
        self.set(ct.MAX_POSITION_LIMIT, 4095)
        self.set(ct.MIN_POSITION_LIMIT, 0)

    def reset_ram(self) -> None:
        """What a power-up leaves in RAM: torque off, profiles zero, goal at present."""
        self.table[ct.EEPROM_END :] = bytes(ct.TABLE_SIZE - ct.EEPROM_END)
        self.set(ct.STATUS_RETURN_LEVEL, 2)
        self.set(ct.POSITION_P_GAIN, 800)
        self.set(ct.PRESENT_TEMPERATURE, 30)
        self.set(ct.GOAL_POSITION, self.present_ticks)

    # ---- motion -----------------------------------------------------------------------------
    def advance(self, dt: float, lag_s: float, scripted_rad: float | None) -> None:
        """Move the shaft over ``dt`` [s] and refresh the present-value registers."""
        before = self.shaft_ticks
        mode = self.get(ct.OPERATING_MODE)
        if self.torque and mode in ct.POSITION_MODES:
            target = self.get(ct.GOAL_POSITION) - self.turn_ticks
            step = (target - self.shaft_ticks) * (1.0 - math.exp(-dt / lag_s)) if dt > 0 else 0.0
            pv = self.get(ct.PROFILE_VELOCITY)
            if pv > 0:
                cap = pv * _TICKS_PER_S_PER_VEL_UNIT * dt
                step = max(-cap, min(cap, step))
            self.shaft_ticks += step
            current = max(-1000, min(1000, int(0.5 * (target - self.shaft_ticks))))
        else:
            if scripted_rad is not None:
                self.shaft_ticks = scripted_rad * _TICKS_PER_RAD
            current = 0
        self.velocity_ticks_s = (self.shaft_ticks - before) / dt if dt > 0 else 0.0
        self.set(ct.PRESENT_POSITION, self.present_ticks)
        self.set(ct.PRESENT_VELOCITY, int(round(self.velocity_ticks_s / _TICKS_PER_S_PER_VEL_UNIT)))
        self.set(ct.PRESENT_CURRENT, current)
        self.set(ct.MOVING, int(abs(self.velocity_ticks_s) > 10))

    # ---- instructions -------------------------------------------------------------------------
    def read(self, address: int, length: int) -> tuple[int, bytes]:
        if length < 1 or address + length > ct.TABLE_SIZE:
            return Err.ACCESS, b""
        return 0, bytes(self.table[address : address + length])

    def write(self, address: int, data: bytes) -> int:
        """Apply a write like the firmware; return the status error number (0 = done)."""
        end = address + len(data)
        if not data or end > ct.TABLE_SIZE:
            return Err.ACCESS
        if self.torque and address < ct.EEPROM_END:
            return Err.ACCESS  # EEPROM is locked while torque is on
        for a in range(address, end):
            r = _reg_of(a)
            if r is None or not r.writable:
                return Err.ACCESS
        new = bytearray(self.table)
        new[address:end] = data
        gp = ct.GOAL_POSITION
        if address < gp.address + gp.size and end > gp.address and self.get(ct.OPERATING_MODE) == 3:
            goal = ct.to_signed(int.from_bytes(new[gp.address : gp.address + gp.size], "little"), gp.size)
            if not self.get(ct.MIN_POSITION_LIMIT) <= goal <= self.get(ct.MAX_POSITION_LIMIT):
                return Err.DATA_LIMIT
        te = ct.TORQUE_ENABLE.address
        if address <= te < end and new[te] > 1:
            return Err.DATA_RANGE
        torque_on = address <= te < end and new[te] == 1 and not self.torque
        self.table[:] = new
        if torque_on:
            self.set(ct.GOAL_POSITION, self.present_ticks)  # torque on never makes a jump
            if address <= gp.address < end:
                self.table[gp.address : gp.address + gp.size] = new[gp.address : gp.address + gp.size]
        return 0


class DynamixelChainEmulator(PtyDevice):
    """Servos on one emulated bus; see the module docstring.

    Args:
        link: path of the stable symlink naming the serial device.
        ids: servo ids on the bus.
        trajectory: ``t_s -> shaft angles [rad]`` (one per id), ``t_s`` since start,
            followed by servos whose torque is off.
        initial_rad: shaft angles [rad] at start when there is no trajectory.
        wraps: extra whole turns added to each servo's Present Position at power-up
            (on top of the reduction to ``[0, 4096)`` a real servo does).
        lag_s: [s] time constant of a torque-on servo following its goal.
        return_delay: Return Delay Time register at start [2 µs] (factory: 250);
            honoured before each status packet.
        model_number: Model Number register (1020: XM430-W350).
        reply_delay_s: [s] extra time before each reply reaches the host (an adapter's
            latency timer); replies keep their order and the data is latched on arrival
            of the request.
        fast_sync_read: False: the servos reject FAST_SYNC_READ (instruction error status).
    """

    def __init__(
        self,
        link: str | Path,
        ids: Iterable[int] = range(1, 8),
        *,
        trajectory: Trajectory | None = None,
        initial_rad: Sequence[float] | None = None,
        wraps: Sequence[int] | None = None,
        lag_s: float = 0.03,
        return_delay: int = 250,
        model_number: int = 1020,
        firmware: int = 52,
        reply_delay_s: float = 0.0,
        fast_sync_read: bool = True,
    ) -> None:
        self.link = Path(link)
        self.ids = [int(i) for i in ids]
        if len(set(self.ids)) != len(self.ids) or not all(0 <= i < BROADCAST_ID for i in self.ids):
            raise ValueError(f"ids must be distinct and in 0..253, got {self.ids}")
        self.trajectory = trajectory
        self.lag_s = lag_s
        self.reply_delay_s = float(reply_delay_s)
        self.fast_sync_read = fast_sync_read
        self._outbox: list[tuple[float, bytes]] = []  # (due monotonic [s], wire bytes)
        self._drop = 0
        self._status_error: dict[int, int] = {}
        self._lock = threading.RLock()
        self.servos = [EmulatedServo(i, model_number, firmware) for i in self.ids]
        for s in self.servos:
            s.set(ct.RETURN_DELAY_TIME, return_delay)
        if initial_rad is not None:
            self.set_positions(initial_rad)
        self.requests: dict[int, int] = {}
        self.host_crc_errors = 0
        self.replies_sent = 0
        self._t0 = time.monotonic()
        self._last_update = self._t0
        self._reader = PacketReader()
        self._init_pty()
        self._muted = False
        self._corrupt = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._power_up(wraps)

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> DynamixelChainEmulator:
        """Create the pty and the symlink, start serving."""
        with self._lock:
            self._plug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"dxl-emu-{self.link.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the pty and remove the symlink (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self.unplug()

    def __enter__(self) -> DynamixelChainEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- inspection and scripting ------------------------------------------------------------------
    def servo(self, dxl_id: int) -> EmulatedServo:
        for s in self.servos:
            if s.dxl_id == dxl_id:
                return s
        raise KeyError(f"no servo {dxl_id}; ids {[s.dxl_id for s in self.servos]}")

    def register(self, dxl_id: int, reg: ct.Reg) -> int:
        """Current value of ``reg`` in servo ``dxl_id`` (present values refreshed)."""
        with self._lock:
            self._update()
            return self.servo(dxl_id).get(reg)

    @property
    def torque_enabled(self) -> list[bool]:
        with self._lock:
            return [s.torque for s in self.servos]

    @property
    def positions_rad(self) -> np.ndarray:
        """Shaft angles [rad] (no power-up wrap), refreshed now."""
        with self._lock:
            self._update()
            return np.array([s.shaft_ticks / _TICKS_PER_RAD for s in self.servos])

    @property
    def goals_rad(self) -> np.ndarray:
        """Goal positions as shaft angles [rad] (the wrap removed)."""
        with self._lock:
            return np.array([(s.get(ct.GOAL_POSITION) - s.turn_ticks) / _TICKS_PER_RAD for s in self.servos])

    @property
    def wraps(self) -> list[int]:
        """Turns each servo adds to its shaft angle in Present Position."""
        return [s.turn_ticks // ct.TICKS_PER_TURN for s in self.servos]

    def set_positions(self, rad: Sequence[float]) -> None:
        """Put the shafts at ``rad`` (servos with torque off and no trajectory stay there)."""
        if len(rad) != len(self.servos):
            raise ValueError(f"need {len(self.servos)} angles, got {len(rad)}")
        with self._lock:
            for s, a in zip(self.servos, rad, strict=True):
                s.shaft_ticks = float(a) * _TICKS_PER_RAD

    # ---- faults ---------------------------------------------------------------------------------------
    def mute(self, muted: bool = True) -> None:
        """Stop (or resume) every reply while the port stays open."""
        with self._lock:
            self._muted = muted

    def drop_next(self, n: int = 1) -> None:
        """Lose the next ``n`` replies (noise on the bus): the requests are still executed."""
        with self._lock:
            self._drop += n

    def set_status_error(self, dxl_id: int, error: int = 0) -> None:
        """Status packets of servo ``dxl_id`` carry ``error`` (``Err.*``; 0 clears).

        ``Err.ALERT`` (0x80) alone keeps the data (a hardware alert: the reading is valid);
        an error number in the low 7 bits means the instruction failed.
        """
        with self._lock:
            self.servo(dxl_id)
            self._status_error[dxl_id] = error

    def corrupt_next(self, n: int = 1) -> None:
        """Spoil the CRC of the next ``n`` status packets."""
        with self._lock:
            self._corrupt = max(0, self._corrupt) + n

    def corrupt_all(self, enabled: bool = True) -> None:
        """Spoil the CRC of every status packet until called with False."""
        with self._lock:
            self._corrupt = -1 if enabled else 0

    def set_missing(self, dxl_id: int, missing: bool = True) -> None:
        """Servo ``dxl_id`` stops (or resumes) answering: a loose daisy-chain cable."""
        with self._lock:
            self.servo(dxl_id).missing = missing

    def power_cycle(self, wraps: Sequence[int] | None = None) -> None:
        """Servo power off and on: RAM reset (torque off), Present Position re-wrapped."""
        with self._lock:
            self._update()
            self._power_up(wraps)

    # ---- internals ------------------------------------------------------------------------------------
    def _power_up(self, wraps: Sequence[int] | None) -> None:
        if wraps is not None and len(wraps) != len(self.servos):
            raise ValueError(f"need {len(self.servos)} wraps, got {len(wraps)}")
        for k, s in enumerate(self.servos):
            # The encoder is absolute over one turn only: reduce to [0, 4096), then the extra turns.
            s.turn_ticks = -math.floor(round(s.shaft_ticks) / ct.TICKS_PER_TURN) * ct.TICKS_PER_TURN
            if wraps is not None:
                s.turn_ticks += int(wraps[k]) * ct.TICKS_PER_TURN
            s.reset_ram()
            s.set(ct.PRESENT_POSITION, s.present_ticks)

    def _on_plug(self) -> None:
        self._reader.reset()
        self._outbox.clear()

    def _update(self) -> None:
        now = time.monotonic()
        dt = now - self._last_update
        self._last_update = now
        scripted: Sequence[float] | None = None
        if self.trajectory is not None:
            scripted = self.trajectory(now - self._t0)
        for k, s in enumerate(self.servos):
            s.advance(dt, self.lag_s, None if scripted is None else float(scripted[k]))

    def _present(self, dxl_id: int) -> EmulatedServo | None:
        for s in self.servos:
            if s.dxl_id == dxl_id and not s.missing:
                return s
        return None

    def _handle(self, pkt: Packet) -> list[tuple[EmulatedServo, bytes]]:
        """Execute one instruction; return the status packets to send, in bus order."""
        self.requests[pkt.instruction] = self.requests.get(pkt.instruction, 0) + 1
        p = pkt.params
        out: list[tuple[EmulatedServo, bytes]] = []
        if pkt.instruction in (Inst.SYNC_READ, Inst.FAST_SYNC_READ, Inst.SYNC_WRITE):
            if pkt.dxl_id != BROADCAST_ID or len(p) < 4:
                return out
            address, length = p[0] | p[1] << 8, p[2] | p[3] << 8
            if pkt.instruction == Inst.SYNC_WRITE:
                step = 1 + length
                for k in range(4, len(p) - step + 1, step):
                    s = self._present(p[k])
                    if s is not None and s.write(address, p[k + 1 : k + step]):
                        s.rejected_writes += 1
                return out
            self._update()
            ids = list(p[4:])
            if pkt.instruction == Inst.SYNC_READ:
                for i in ids:
                    s = self._present(i)
                    if s is not None:
                        err, data = s.read(address, length)
                        err |= self._status_error.get(i, 0)
                        out.append((s, build_status(i, err, data)))
                return out
            if not self.fast_sync_read:
                for i in ids:
                    s = self._present(i)
                    if s is not None:
                        out.append((s, build_status(i, Err.INSTRUCTION)))
                return out
            blocks: list[tuple[int, int, bytes]] = []
            first: EmulatedServo | None = None
            missing_at: list[int] = []
            for k, i in enumerate(ids):
                s = self._present(i)
                if s is None:
                    missing_at.append(k)
                    blocks.append((0, i, bytes(length)))
                    continue
                first = first or s
                err, data = s.read(address, length)
                err |= self._status_error.get(i, 0)
                blocks.append((err, i, data if not err & 0x7F else bytes(length)))
            if first is None:
                return out
            wire = build_fast_sync_read_status(blocks)
            if missing_at:
                # A silent servo leaves a hole: the others' blocks arrive, the packet stays short.
                size = 4 + length
                cut = bytearray(wire)
                for k in reversed(missing_at):
                    del cut[8 + k * size : 8 + (k + 1) * size]
                wire = bytes(cut)
            out.append((first, wire))
            return out
        targets = [s for s in self.servos if not s.missing and (pkt.dxl_id in (BROADCAST_ID, s.dxl_id))]
        for s in targets:
            if pkt.instruction == Inst.PING:
                out.append(
                    (s, build_status(s.dxl_id, 0, bytes([s.model_number & 0xFF, s.model_number >> 8, s.firmware])))
                )
            elif pkt.dxl_id == BROADCAST_ID:
                # Broadcast instructions are executed by every servo, answered only by PING.
                if pkt.instruction == Inst.WRITE and len(p) >= 3:
                    self._update()
                    s.rejected_writes += bool(s.write(p[0] | p[1] << 8, bytes(p[2:])))
                elif pkt.instruction == Inst.REBOOT:
                    s.reset_ram()
                continue
            elif pkt.instruction == Inst.READ and len(p) >= 4:
                self._update()
                err, data = s.read(p[0] | p[1] << 8, p[2] | p[3] << 8)
                err |= self._status_error.get(s.dxl_id, 0)
                out.append((s, build_status(s.dxl_id, err, data if not err & 0x7F else b"")))
            elif pkt.instruction == Inst.WRITE and len(p) >= 3:
                self._update()
                err = s.write(p[0] | p[1] << 8, bytes(p[2:]))
                s.rejected_writes += bool(err)
                out.append((s, build_status(s.dxl_id, err)))
            elif pkt.instruction == Inst.REBOOT:
                out.append((s, build_status(s.dxl_id, 0)))
                s.reset_ram()
            else:
                out.append((s, build_status(s.dxl_id, Err.INSTRUCTION)))
        return out

    def _send(self, master: int, replies: list[tuple[EmulatedServo, bytes]]) -> None:
        for s, wire in replies:
            if self._muted:
                return
            if self._drop:
                self._drop -= 1
                continue
            delay_s = s.get(ct.RETURN_DELAY_TIME) * 2e-6
            if self._corrupt:
                self._corrupt -= self._corrupt > 0
                wire = wire[:-1] + bytes([wire[-1] ^ 0x5A])
            if self.reply_delay_s > 0:
                # Held by the adapter: queued, sent by the serve loop when due (in order).
                due = max(time.monotonic() + delay_s + self.reply_delay_s, self._outbox[-1][0] if self._outbox else 0.0)
                self._outbox.append((due, wire))
                continue
            if delay_s > 0:
                time.sleep(delay_s)
            self._write(master, wire)

    def _write(self, master: int, wire: bytes) -> None:
        try:
            os.write(master, wire)
            self.replies_sent += 1
        except OSError:
            pass  # nobody has the port open: the bytes are lost, as on a real bus

    def _flush_due(self, master: int) -> float:
        """Send the queued replies that are due; return the wait [s] until the next one."""
        now = time.monotonic()
        while self._outbox and self._outbox[0][0] <= now:
            self._write(master, self._outbox.pop(0)[1])
        return self._outbox[0][0] - now if self._outbox else 0.01

    def _run(self) -> None:
        while not self._stop.is_set():
            master = self._master
            if master is None:
                time.sleep(0.005)
                continue
            with self._lock:
                wait_s = self._flush_due(master) if master == self._master else 0.0
            try:
                ready, _, _ = select.select([master], [], [], min(0.01, max(0.0, wait_s)))
            except (OSError, ValueError):
                time.sleep(0.001)
                continue
            if not ready:
                continue
            with self._lock:
                if master != self._master:
                    continue
                try:
                    data = os.read(master, 4096)
                except OSError:
                    data = b""  # the host side is closed right now
                if not data:
                    time.sleep(0.001)
                    continue
                before = self._reader.crc_errors
                for pkt in list(self._reader.feed(data)):
                    self._send(master, self._handle(pkt))
                self.host_crc_errors += self._reader.crc_errors - before


def _parse_ids(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b) + 1) if b else [int(a)])
    return out


def main(argv: list[str] | None = None) -> int:
    """Serve a chain until SIGINT/SIGTERM (used by ``abc-bench leader`` and for demos)."""
    ap = argparse.ArgumentParser(
        prog="python -m abc_robot.testing.dynamixel_emulator", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--link", required=True, help="symlink path for the serial device")
    ap.add_argument("--ids", default="1-7", help="servo ids, e.g. 1-7 or 1,2,5")
    ap.add_argument("--sine", nargs=2, type=float, metavar=("AMP_RAD", "PERIOD_S"), help="move every shaft on a sine")
    ap.add_argument("--return-delay", type=int, default=250, help="Return Delay Time at start [2 µs]")
    ap.add_argument("--reply-delay-ms", type=float, default=0.0, help="extra delay of every reply [ms] (adapter latency)")
    args = ap.parse_args(argv)
    ids = _parse_ids(args.ids)
    traj: Trajectory | None = None
    if args.sine:
        amp, period = args.sine
        traj = lambda t: [amp * math.sin(2 * math.pi * t / period + 0.3 * k) for k in range(len(ids))]  # noqa: E731
    emu = DynamixelChainEmulator(
        args.link, ids, trajectory=traj, return_delay=args.return_delay, reply_delay_s=args.reply_delay_ms / 1e3
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with emu:
        print(f"ready {emu.link}", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
