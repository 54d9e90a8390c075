"""Group reads of a register span from a chain of servos (SYNC_READ / FAST_SYNC_READ).

The SDK's ``GroupSyncRead`` builds and sends the request. The replies are received
servo by servo with the SDK's ``readRx``, sleeping on the port before each one: the
SDK's own receive busy-polls until its deadline, so a silent servo would spin a core
for the whole timeout (at real-time priority, in a node). The one status packet of a
FAST_SYNC_READ is parsed here, because the SDK's fast parse neither removes byte
stuffing nor checks that the packet answers this request (a late status of an
earlier, timed-out request passes its CRC and made it index an empty buffer). Here a
packet must come from the broadcast id, have exactly the expected length once
unstuffed and carry every requested id in order; anything else is skipped, and no
answer by the deadline is a timeout.

Every status packet's error byte is checked: an error number (low 7 bits) means the
servo did not do what was asked and its data is not used (:data:`STATUS_ERROR`, the
servo and the byte kept in ``error``); the hardware alert bit (0x80) keeps the data
valid and is collected in ``alerts``. Servos that answer FAST_SYNC_READ with an
instruction error return :data:`FAST_REJECTED`. A reply that completes after the
deadline is discarded (:data:`LATE`): it may be the answer to nothing we still wait for.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel.exchange import PKT_ID, PKT_INSTRUCTION, PKT_PARAMETER0, PacketHandlerIO, wait_readable
from abc_robot.devices.dynamixel.packet import BROADCAST_ID, Inst, unstuff
from abc_robot.devices.dynamixel.sdk import COMM_RX_CORRUPT, COMM_SUCCESS, GroupSyncReadLike, PortHandlerLike, Sdk

__all__ = [
    "Reading",
    "SyncRead",
    "parse_fast_sync_read",
    "parse_fast_sync_read_blocks",
    "STATUS_ERROR",
    "FAST_REJECTED",
    "LATE",
    "ALERT_BIT",
]

#: Result codes of our own, beside the SDK's (which are all >= -3002).
STATUS_ERROR = -3900  # a status packet's error byte is set (``SyncRead.error``)
FAST_REJECTED = -3901  # the servos answered FAST_SYNC_READ with an instruction error
LATE = -3902  # the reply completed after the deadline
#: Bit 7 of the error byte: a hardware alert (Hardware Error Status says which).
ALERT_BIT = 0x80
_ERR_INSTRUCTION = 2

#: Foreign packets skipped while waiting for a fast sync read's answer.
_MAX_SKIPPED = 8


@dataclass(frozen=True)
class Reading:
    """One successful group read.

    Attributes:
        values: register values, shape (n_servos, n_fields), signed where the register is.
        stamp_ns: ``time.monotonic_ns()`` as the read instruction started out: the servos
            latch their registers as it arrives (a few µs later at 4 Mbaud).
        latency_ns: instruction sent → last reply parsed [ns].
    """

    values: np.ndarray
    stamp_ns: int
    latency_ns: int


def parse_fast_sync_read(rx: Sequence[int], ids: Sequence[int], size: int) -> dict[int, bytes] | None:
    """Data per servo from a FAST_SYNC_READ status packet (as received, stuffed); None if not one.

    Layout after the instruction byte: per servo ``ERR ID DATA[size] CRC[2]``, the last
    servo's CRC being the packet's own (checked by the SDK's receive).
    """
    blocks = parse_fast_sync_read_blocks(rx, ids, size)
    return None if blocks is None else {i: data for i, (_, data) in blocks.items()}


def parse_fast_sync_read_blocks(rx: Sequence[int], ids: Sequence[int], size: int) -> dict[int, tuple[int, bytes]] | None:
    """``(error byte, data)`` per servo from a FAST_SYNC_READ status packet; None if not one."""
    if len(rx) < PKT_PARAMETER0 + 2 or rx[PKT_ID] != BROADCAST_ID or rx[PKT_INSTRUCTION] != Inst.STATUS:
        return None
    body = unstuff(bytes(rx[PKT_INSTRUCTION:-2]))[1:]
    step = size + 4
    if len(body) != len(ids) * step - 2:
        return None
    out: dict[int, tuple[int, bytes]] = {}
    for k, dxl_id in enumerate(ids):
        off = k * step
        if body[off + 1] != dxl_id:
            return None
        out[dxl_id] = (body[off], body[off + 2 : off + 2 + size])
    return out


class SyncRead:
    """A registered group read: the registers ``fields`` (contiguous span) of every servo.

    Made by :meth:`DynamixelBus.sync_read`; rebound to the new port after a reconnect.
    """

    def __init__(self, fields: Sequence[ct.Reg], ids: Sequence[int], fast: bool | None) -> None:
        if not fields:
            raise ValueError("a sync read needs at least one register")
        self.fields = tuple(fields)
        self.ids = tuple(ids)
        self.address = min(f.address for f in self.fields)
        self.size = max(f.address + f.size for f in self.fields) - self.address
        self.fast = fast  # None: not probed yet (auto)
        self.use_normal = False  # after a failed fast read, until a normal read succeeds
        self.fast_misses = 0  # fast reads unanswered since the last fast success (auto probing)
        self.error: tuple[int, int] | None = None  # (servo, error byte) of the last STATUS_ERROR
        self.alerts: tuple[int, ...] = ()  # servos whose last status had the alert bit
        self.group: GroupSyncReadLike | None = None
        self._data: dict[int, bytes] = {}
        self._silent: int | None = None

    def bind(self, sdk: Sdk, port: PortHandlerLike, ph: PacketHandlerIO) -> None:
        g = sdk.GroupSyncRead(port, ph, self.address, self.size)
        for i in self.ids:
            g.addParam(i)
        self.group = g

    def transfer(self, ph: PacketHandlerIO, port: PortHandlerLike, fast: bool, timeout_ms: float) -> tuple[int, int]:
        """Send the request and receive the replies; return (SDK result, stamp [ns]).

        Raises:
            OSError: the request could not be sent (the port is gone).
        """
        g = self.group
        assert g is not None
        self._data, self._silent, self.error, self.alerts = {}, None, None, ()
        # Stamped as the request starts out: the servos cannot latch before it, whereas a
        # stamp taken after the write can trail the latch by however long this process
        # waited for the CPU in between (milliseconds on a busy machine).
        stamp = time.monotonic_ns()
        result = g.fastSyncReadTxPacket() if fast else g.txPacket()
        if result != COMM_SUCCESS:
            port.is_using = False
            raise OSError(f"transmit failed: {ph.getTxRxResult(result)}")
        port.setPacketTimeoutMillis(timeout_ms)  # one deadline for the whole transfer
        deadline_s = time.monotonic() + timeout_ms / 1e3
        deadline_ns = stamp + int(timeout_ms * 1e6)
        if fast:
            return self._receive_fast(ph, port, timeout_ms, deadline_ns), stamp
        alerts = []
        for dxl_id in self.ids:
            wait_readable(port, max(0.0, deadline_s - time.monotonic()))
            values, result, error = ph.readRx(port, dxl_id, self.size)
            if result == COMM_SUCCESS and time.monotonic_ns() > deadline_ns:
                result = LATE
            elif result == COMM_SUCCESS and error & ~ALERT_BIT:
                self.error = (dxl_id, error)
                result = STATUS_ERROR
            elif result == COMM_SUCCESS and len(values) != self.size:
                result = COMM_RX_CORRUPT
            if result != COMM_SUCCESS:
                self._silent = dxl_id
                port.is_using = False
                return result, stamp
            if error & ALERT_BIT:
                alerts.append(dxl_id)
            self._data[dxl_id] = bytes(values)
        port.is_using = False
        self.alerts = tuple(alerts)
        return COMM_SUCCESS, stamp

    def _receive_fast(self, ph: PacketHandlerIO, port: PortHandlerLike, timeout_ms: float, deadline_ns: int) -> int:
        wait_readable(port, timeout_ms / 1e3)
        for _ in range(_MAX_SKIPPED):  # skip what is not the answer to this request
            rx, result = ph.rxPacket(port, True)
            if result != COMM_SUCCESS:
                return result
            if time.monotonic_ns() > deadline_ns:
                return LATE
            if (
                len(rx) > PKT_PARAMETER0
                and rx[PKT_ID] in self.ids
                and rx[PKT_INSTRUCTION] == Inst.STATUS
                and rx[PKT_PARAMETER0] & ~ALERT_BIT == _ERR_INSTRUCTION
            ):
                self.error = (rx[PKT_ID], rx[PKT_PARAMETER0])
                return FAST_REJECTED  # older firmware: the instruction is unknown to it
            blocks = parse_fast_sync_read_blocks(rx, self.ids, self.size)
            if blocks is None:
                continue
            for dxl_id, (error, _) in blocks.items():
                if error & ~ALERT_BIT:
                    self.error = (dxl_id, error)
                    return STATUS_ERROR
            self._data = {i: data for i, (_, data) in blocks.items()}
            self.alerts = tuple(i for i, (error, _) in blocks.items() if error & ALERT_BIT)
            return COMM_SUCCESS
        return COMM_RX_CORRUPT

    def extract(self) -> np.ndarray:
        """Values of the last successful transfer, shape (n_servos, n_fields)."""
        out = np.empty((len(self.ids), len(self.fields)), dtype=np.int64)
        for r, i in enumerate(self.ids):
            raw = self._data[i]
            for c, f in enumerate(self.fields):
                off = f.address - self.address
                v = int.from_bytes(raw[off : off + f.size], "little")
                out[r, c] = ct.to_signed(v, f.size) if f.signed else v
        return out

    def first_silent_id(self) -> int | None:
        """After a failed normal sync read: the servo whose reply did not come (or was corrupt)."""
        return self._silent
