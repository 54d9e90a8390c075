"""One serial port with a chain of Dynamixel servos, through ``dynamixel_sdk``.

:class:`DynamixelBus` owns the port and gives the drivers what they need at rate:

- group **sync reads** of a span of registers from every servo (``FAST_SYNC_READ``
  when the servos support it: one status packet for the whole chain instead of one per
  servo, 64 instead of 105 bytes for seven positions), with retries, a short packet
  timeout of our own, and a wait on the port's file descriptor instead of the SDK's
  busy poll while the servos answer;
- **sync writes** (goal positions) and single register writes/reads with status;
- **faults** that never raise out of the hot path: a read returns None, ``fault``
  says why in words (which servo, timeout or CRC, port lost), counters say how often;
- **reconnect** after an unplug: the port is reopened by its path (use the stable
  ``/dev/serial/by-id/...`` name) every ``reconnect_interval_s`` and the drivers'
  ``on_reconnect`` hooks run (they re-resolve turn counts: the servos may have been
  power-cycled meanwhile);
- the USB **latency timer** check at connect (:mod:`.usb`);
- **no stale reply, ever**: Protocol 2.0 has no sequence number, so the late answer to
  a timed-out request would read as the answer to the next one (data latched a whole
  request earlier, stamped now). Before every request the port is drained; after a
  request that got no complete answer, a PING *barrier* goes out first and everything
  arriving before its answer is dropped and counted as late (servos answer in order,
  so nothing older can follow it); without that answer no request is sent. A reply
  completing after its own deadline is dropped too; bytes found waiting with no
  request outstanding are counted as a backlog. Chronic lateness becomes the fault,
  with its fix (the adapter's latency timer, or ``timeout_ms``);
- **status errors**: a status packet whose error byte is set is never used as data
  (the servo and the error are named); the hardware alert bit (0x80) is reported in
  ``alert`` and the log while the data stays in use; servos that reject
  FAST_SYNC_READ are detected as such (auto mode then uses SYNC_READ), while mere
  missing replies switch auto mode off only after several fast misses in a row.

The SDK's own packet timeout assumes a 16 ms latency timer (34 ms per failed read,
spent busy-polling); ours is ``timeout_ms`` (default 10 ms), spent asleep on the port
(:mod:`.exchange`, :mod:`.group`), so a missing servo costs a loop a few ticks and no
CPU, even at real-time priority.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel.config import BusConfig, expand_port
from abc_robot.devices.dynamixel.exchange import (
    PKT_ERROR,
    PKT_ID,
    PKT_INSTRUCTION,
    PKT_PARAMETER0,
    PacketHandlerIO,
    exchange,
    ping_packet,
    wait_readable,
)
from abc_robot.devices.dynamixel.group import FAST_REJECTED, LATE, STATUS_ERROR, Reading, SyncRead
from abc_robot.devices.dynamixel.sdk import (
    COMM_RX_CORRUPT,
    COMM_RX_TIMEOUT,
    COMM_SUCCESS,
    GroupSyncWriteLike,
    PortHandlerLike,
    Sdk,
    load_sdk,
)
from abc_robot.devices.dynamixel.usb import check_latency_timer
from abc_robot.errors import DeviceError

__all__ = ["BusConfig", "DynamixelBus", "SyncRead", "Reading", "PORT_ERRORS", "expand_port"]

try:
    from termios import error as _TermiosError
except ImportError:  # pragma: no cover - not POSIX
    _TermiosError = OSError  # type: ignore[misc, assignment]

#: What a vanished serial device raises inside the SDK: pyserial's SerialException (an
#: OSError), termios.error from a flush of a dead tty, ValueError from a closed fd.
PORT_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, _TermiosError)

#: Fast sync reads unanswered in a row (each followed by a SYNC_READ that worked) before
#: auto mode decides the servos do not support FAST_SYNC_READ.
FAST_MISSES_TO_GIVE_UP = 3
#: Late replies among the recent ones that make lateness chronic (the fault names the fix).
_CHRONIC_LATE = 3
#: A PING's status packet: header(4) ID LEN(2) INST ERR model(2) firmware CRC(2).
_PING_STATUS_LEN = 14
#: Our result code: the line could not be shown clear of late replies; nothing was sent.
UNSETTLED = -3903

class DynamixelBus:
    """A Dynamixel Protocol 2.0 bus; see the module docstring.

    Args:
        config: port, ids, baud, timeouts.
        sdk: the SDK constructors (default: ``dynamixel_sdk`` itself).
        log: where warnings go (default: stderr).
    """

    def __init__(self, config: BusConfig, *, sdk: Sdk | None = None, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.port = expand_port(config.port)
        self._sdk = sdk or load_sdk()
        self._log = log or (lambda text: print(f"dynamixel {self.port}: {text}", file=sys.stderr, flush=True))
        self._lock = threading.RLock()
        self._port: PortHandlerLike | None = None
        self._ph: PacketHandlerIO = self._sdk.PacketHandler(2.0)
        self._reads: list[SyncRead] = []
        self._writers: dict[tuple[int, int], GroupSyncWriteLike] = {}
        self._next_attempt_s = 0.0
        self._fault: str | None = None
        self._ever_connected = False
        self.on_reconnect: list[Callable[[], None]] = []
        self.fault_log: list[str] = []
        self.counts = {
            "reads": 0, "timeouts": 0, "corrupt": 0, "retries": 0, "port_errors": 0, "reconnects": 0,
            "writes_failed": 0, "status_errors": 0, "alerts": 0, "late_replies": 0, "late_bytes": 0, "backlogs": 0, "barriers": 0,
        }  # fmt: skip
        self.latency_warning: str | None = None
        #: Hardware alert of the last successful read (servos and what to do), None if none.
        self.alert: str | None = None
        #: Why replies are chronically late and how to fix it, None while they are not.
        self.lateness: str | None = None
        self._pending_ns: int | None = None  # send time of a request still owed an answer
        self._barrier_turn = 0
        self._late_ms: deque[float] = deque(maxlen=16)  # lateness of recent late replies [ms]

    # ---- lifecycle ---------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        """True while the port is open (the servos may still be silent: see ``fault``)."""
        return self._port is not None

    @property
    def fault(self) -> str | None:
        """What went wrong on the last failed operation; None after a success."""
        return self._fault

    def connect(self) -> None:
        """Open the port, check every servo answers, apply the return delay.

        Raises:
            DeviceError: the port cannot be opened, or servos do not answer (named, with
                what to check).
        """
        c = self.config
        with self._lock:
            if self._port is None:
                try:
                    self._open()
                except PORT_ERRORS as exc:
                    raise DeviceError(
                        f"cannot open {self.port} ({exc}): is the adapter plugged in, and are you in the "
                        "'dialout' group (`sudo usermod -aG dialout $USER`)?"
                    ) from exc
            # Patient at connect (3 tries): a busy host must not read as a missing servo.
            patient_ms = max(c.timeout_ms, 50.0)
            silent = [i for i in c.motor_ids if self.ping(i, attempts=max(3, 1 + c.retries), timeout_ms=patient_ms) is None]
            if silent:
                self.close()
                raise DeviceError(
                    f"servo(s) {silent} of {list(c.motor_ids)} do not answer on {self.port} at {c.baud} baud: "
                    "check servo power, the daisy-chain cables, the ids and the servos' baud rate "
                    "(Dynamixel Wizard scans all rates)"
                )
            self._ever_connected = True
            if c.return_delay_us is not None:
                self._set_return_delay(c.return_delay_us // 2)
            if c.check_latency:
                chk = check_latency_timer(self.port)
                self.latency_warning = chk.warning() if chk is not None else None
                if self.latency_warning:
                    self._log(self.latency_warning)

    def close(self) -> None:
        """Close the port. Idempotent; safe from atexit."""
        got = self._lock.acquire(timeout=1.0)
        try:
            port, self._port = self._port, None
            if port is not None:
                try:
                    port.closePort()
                except Exception:  # noqa: BLE001 - a vanished device may fail to close
                    pass
        finally:
            if got:
                self._lock.release()

    # ---- reads ---------------------------------------------------------------------------
    def sync_read(self, fields: Sequence[ct.Reg], ids: Iterable[int] | None = None) -> SyncRead:
        """Register a group read of ``fields`` from ``ids`` (default: every servo)."""
        fast = {"auto": None, "on": True, "off": False}[self.config.fast_sync_read]
        group = SyncRead(fields, tuple(ids) if ids is not None else self.config.motor_ids, fast)
        with self._lock:
            if self._port is not None:
                group.bind(self._sdk, self._port, self._ph)
            self._reads.append(group)
        return group

    def read(self, group: SyncRead) -> Reading | None:
        """One group read (with retries); None on failure, ``fault`` then says why.

        Never raises for a device fault; a lost port is reopened on later calls.
        """
        with self._lock:
            if self._port is None and not self._reconnect():
                return None
            for attempt in range(1 + self.config.retries):
                if self._port is None:  # lost again (e.g. inside a reconnect hook)
                    return None
                if attempt:
                    self.counts["retries"] += 1
                fast = bool(group.fast is not False and not group.use_normal)
                try:
                    result, stamp, done = self._read_once(group, fast)
                except PORT_ERRORS as exc:
                    self._lost(f"port error during read: {exc}")
                    return None
                if result == COMM_SUCCESS:
                    self._read_ok(group, fast)
                    return Reading(group.extract(), stamp, done - stamp)
                self._read_failed(group, fast, result)
            return None

    def _read_once(self, group: SyncRead, fast: bool) -> tuple[int, int, int]:
        port = self._port
        assert port is not None
        if not self._settle(port):
            now = time.monotonic_ns()
            return UNSETTLED, now, now
        result, stamp = group.transfer(self._ph, port, fast, self.config.timeout_ms)
        # Whatever did not answer may still be on its way: the next request waits for it.
        self._pending_ns = None if result in (COMM_SUCCESS, STATUS_ERROR, FAST_REJECTED) else stamp
        if result == LATE:
            self._note_late((time.monotonic_ns() - stamp) / 1e6)
        return result, stamp, time.monotonic_ns()

    def _read_ok(self, group: SyncRead, fast: bool) -> None:
        if fast:
            group.fast_misses = 0
            if group.fast is None:
                group.fast = True
        elif group.fast is None and group.fast_misses >= FAST_MISSES_TO_GIVE_UP:
            group.fast = False
            self._log(
                f"no answer to FAST_SYNC_READ {group.fast_misses} times in a row while SYNC_READ works; "
                "using SYNC_READ (set fast_sync_read: off to skip the probe)"
            )
        group.use_normal = False
        self.counts["reads"] += 1
        self._fault = None
        if group.alerts:
            self.counts["alerts"] += 1
            alert = (
                f"servo(s) {list(group.alerts)} report a hardware alert (status bit 0x80): read their Hardware Error "
                "Status (register 70: overload, overheating, input voltage, encoder) and reboot them"
            )
            if alert != self.alert:
                self._log(alert)
            self.alert = alert
        else:
            self.alert = None

    def _read_failed(self, group: SyncRead, fast: bool, result: int) -> None:
        if result == FAST_REJECTED:
            who, error = group.error or (group.ids[0], 0)
            why = f"servo {who} rejects FAST_SYNC_READ ({self._ph.getRxPacketError(error)})"
            if group.fast is None:
                group.fast = False
                self._log(f"{why}: older firmware; using SYNC_READ")
            else:  # fast_sync_read: on
                group.use_normal = True
            self._set_fault(f"{why}: set fast_sync_read: auto or off")
            return
        if result == STATUS_ERROR:
            self.counts["status_errors"] += 1
            who, error = group.error or (group.ids[0], 0)
            self._set_fault(f"servo {who}: status error 0x{error:02x} ({self._ph.getRxPacketError(error)}); data not used")
            return
        if result == UNSETTLED:
            # Nothing was sent: the fault of the request that left the line unclear stands.
            if self._fault is None:
                self._set_fault(f"servo(s) {list(group.ids)}: late replies may still come (the barrier PING got no answer)")
            elif self.lateness and self.lateness not in self._fault:
                self._set_fault(self._with_lateness(self._fault))
            return
        if result == LATE:
            kind = "late reply (dropped)"
        elif result == COMM_RX_CORRUPT:
            kind = "corrupt reply (CRC)"
        elif result == COMM_RX_TIMEOUT:
            kind = "no reply"
        else:
            kind = self._ph.getTxRxResult(result)
        self.counts["corrupt" if result == COMM_RX_CORRUPT else "timeouts"] += 1
        if fast:
            group.fast_misses += 1
            group.use_normal = True  # a normal read names the servo at fault
            self._set_fault(self._with_lateness(f"fast sync read of {list(group.ids)}: {kind}"))
            return
        silent = group.first_silent_id()
        where = f"servo {silent}" if silent is not None else f"servos {list(group.ids)}"
        self._set_fault(self._with_lateness(f"{where}: {kind} within {self.config.timeout_ms:g} ms"))

    # ---- late replies ----------------------------------------------------------------------
    def _late_window_ms(self) -> float:
        """[ms] how long after a request's deadline its answer may still come."""
        seen = max(self._late_ms, default=0.0) * 1.5 - self.config.timeout_ms
        return max(self.config.late_window_ms, seen)

    def _note_late(self, late_ms: float) -> None:
        self.counts["late_replies"] += 1
        self._late_ms.append(late_ms)
        if sum(1 for x in self._late_ms if x > self.config.timeout_ms) < _CHRONIC_LATE:
            return
        worst = max(self._late_ms)
        text = (
            f"replies arrive up to {worst:.1f} ms after the request, later than timeout_ms={self.config.timeout_ms:g}: "
            "set the USB adapter's latency timer to 1 ms (`echo 1 | sudo tee "
            "/sys/bus/usb-serial/devices/ttyUSBx/latency_timer`, `abc-rig udev` makes it permanent) "
            f"or raise timeout_ms above {1.5 * worst:.0f}"
        )
        if self.lateness is None:
            self._log(text)
        self.lateness = text

    def _with_lateness(self, fault: str) -> str:
        return f"{fault}; {self.lateness}" if self.lateness else fault

    def _settle(self, port: PortHandlerLike) -> bool:
        """Leave nothing on the port that the next request's answer could be confused with.

        Drops what is already waiting. After a request that got no complete answer, its
        answer may still be on the way, for any time: a PING (the *barrier*) is sent and
        its answer awaited. Servos answer in order and the port keeps it, so whatever was
        still in flight arrives before the barrier's answer and is dropped. Returns False
        when the barrier was not answered in time (the line is not known to be clear; the
        next call tries again) — a stale reply can then never be taken for a fresh one.
        """
        ser = port.ser
        waiting = ser.in_waiting
        if waiting and self._pending_ns is None:
            # Bytes nobody asked for: an earlier answer came later than it seemed.
            self.counts["backlogs"] += 1
            self._log(f"backlog: {waiting} bytes were waiting with no request outstanding (dropped)")
        if waiting:
            self.counts["late_bytes"] += len(ser.read(waiting))
        if self._pending_ns is None:
            return True
        clear, late_ms = self._barrier(port, self._pending_ns)
        if late_ms is not None:
            self._note_late(late_ms)
        if clear:
            self._pending_ns = None
        return clear

    def _barrier(self, port: PortHandlerLike, sent_ns: int) -> tuple[bool, float | None]:
        """PING a servo and drop everything that arrives before its answer.

        A servo that stays silent (unplugged from the chain) gets one more try on the
        next servo: a silent one must not keep a clear line from being shown clear.

        Returns:
            (answered within ``timeout_ms`` + the late window, lateness [ms] of the first
            dropped packet after ``sent_ns``, None if nothing was dropped).
        """
        ids = self.config.motor_ids
        late_ms: float | None = None
        for _ in range(min(2, len(ids))):
            self._barrier_turn = (self._barrier_turn + 1) % len(ids)
            dxl_id = ids[self._barrier_turn]  # rotated: an old barrier's late answer does not pass
            if self._ph.txPacket(port, ping_packet(dxl_id)) != COMM_SUCCESS:
                port.is_using = False
                raise OSError("transmit failed")
            self.counts["barriers"] += 1
            deadline_ns = time.monotonic_ns() + int((self.config.timeout_ms + self._late_window_ms()) * 1e6)
            heard = False
            while (left_ns := deadline_ns - time.monotonic_ns()) > 0:
                wait_readable(port, left_ns / 1e9)
                if not port.ser.in_waiting:
                    continue
                heard = True
                arrived_ns = time.monotonic_ns()
                port.setPacketTimeoutMillis(max(1.0, (deadline_ns - arrived_ns) / 1e6))
                rx, result = self._ph.rxPacket(port, False)
                # Its answer, even with a spoiled CRC (a noisy line): nothing older can follow.
                if (
                    result in (COMM_SUCCESS, COMM_RX_CORRUPT)
                    and len(rx) == _PING_STATUS_LEN
                    and rx[PKT_ID] == dxl_id
                    and rx[PKT_INSTRUCTION] == 0x55
                ):
                    return True, late_ms
                self.counts["late_bytes"] += len(rx)
                if late_ms is None:
                    late_ms = (arrived_ns - sent_ns) / 1e6
            port.is_using = False
            if heard:
                break  # replies still coming in: try again at the next call
        return False, late_ms

    # ---- writes and single registers -------------------------------------------------------
    def sync_write(self, reg: ct.Reg, values: dict[int, int]) -> bool:
        """Write ``reg`` of several servos in one packet (no replies); False on a port error."""
        with self._lock:
            if self._port is None and not self._reconnect():
                return False
            key = (reg.address, reg.size)
            w = self._writers.get(key)
            if w is None:
                w = self._writers[key] = self._sdk.GroupSyncWrite(self._port, self._ph, reg.address, reg.size)
            w.clearParam()
            for i, v in values.items():
                w.addParam(i, list((int(v) & ((1 << (8 * reg.size)) - 1)).to_bytes(reg.size, "little")))
            try:
                result = w.txPacket()
            except PORT_ERRORS as exc:
                self._lost(f"port error during write: {exc}")
                return False
            if result != COMM_SUCCESS:
                self.counts["writes_failed"] += 1
                self._set_fault(f"sync write of {reg.name}: {self._ph.getTxRxResult(result)}")
                return False
            return True

    def write(self, dxl_id: int, reg: ct.Reg, value: int) -> bool:
        """Write one register of one servo and check its status (with retries)."""
        data = list((int(value) & ((1 << (8 * reg.size)) - 1)).to_bytes(reg.size, "little"))
        for _ in range(1 + self.config.retries):
            got = self._exchange(dxl_id, lambda p: self._ph.writeTxOnly(p, dxl_id, reg.address, reg.size, data), "write")
            if got is None:
                continue
            rx, result = got
            error = rx[PKT_ERROR] if rx is not None else 0
            if result == COMM_SUCCESS and not (error & 0x7F):
                return True
            why = self._ph.getRxPacketError(error) if result == COMM_SUCCESS else self._ph.getTxRxResult(result)
            self._set_fault(f"servo {dxl_id}: write {reg.name}={value} failed: {why}")
        self.counts["writes_failed"] += 1
        return False

    def read_register(self, dxl_id: int, reg: ct.Reg) -> int | None:
        """Read one register of one servo (with retries); None on failure."""
        for _ in range(1 + self.config.retries):
            got = self._exchange(dxl_id, lambda p: self._ph.readTx(p, dxl_id, reg.address, reg.size), "read")
            if got is None:
                continue
            rx, result = got
            data = rx[PKT_PARAMETER0 + 1 : PKT_PARAMETER0 + 1 + reg.size] if rx is not None else []
            error = rx[PKT_ERROR] if rx is not None else 0
            if result == COMM_SUCCESS and not (error & 0x7F) and len(data) == reg.size:
                v = int.from_bytes(bytes(data), "little")
                return ct.to_signed(v, reg.size) if reg.signed else v
            if result == COMM_SUCCESS and error & 0x7F:
                self.counts["status_errors"] += 1
                why = f"status error 0x{error:02x} ({self._ph.getRxPacketError(error)})"
            elif result == COMM_SUCCESS:
                why = f"{len(data)} data bytes instead of {reg.size}"
            else:
                why = self._ph.getTxRxResult(result)
            self._set_fault(f"servo {dxl_id}: read {reg.name}: {why}")
        return None

    def ping(self, dxl_id: int, attempts: int | None = None, timeout_ms: float | None = None) -> int | None:
        """Model number of servo ``dxl_id``, or None if it does not answer ``attempts`` times."""
        for _ in range(attempts or 1 + self.config.retries):
            send = lambda p: self._ph.txPacket(p, ping_packet(dxl_id))  # noqa: E731
            got = self._exchange(dxl_id, send, "ping", reopen=False, timeout_ms=timeout_ms)
            if got is None:
                return None
            rx, result = got
            if result == COMM_SUCCESS and rx is not None and len(rx) > PKT_PARAMETER0 + 2:
                return rx[PKT_PARAMETER0 + 1] | rx[PKT_PARAMETER0 + 2] << 8
        return None

    def _exchange(
        self, dxl_id: int, send: Callable[[PortHandlerLike], int], what: str, *, reopen: bool = True, timeout_ms: float | None = None
    ) -> tuple[list[int] | None, int] | None:
        """One request/reply with servo ``dxl_id``; None when the port is (or just got) lost."""
        with self._lock:
            port = self._port
            if port is None and (not reopen or not self._reconnect() or (port := self._port) is None):
                return None
            try:
                if not self._settle(port):
                    return None, UNSETTLED
                sent_ns = time.monotonic_ns()
                rx, result = exchange(self._ph, port, dxl_id, lambda: send(port), timeout_ms or self.config.timeout_ms)
                if result != COMM_SUCCESS:
                    self._pending_ns = sent_ns
                return rx, result
            except PORT_ERRORS as exc:
                self._lost(f"port error during {what}: {exc}")
                return None

    # ---- status -------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Counters and state for heartbeats (JSON-able)."""
        return {
            "port": self.port,
            "connected": self.is_connected,
            "fault": self._fault,
            "fast_sync_read": [g.fast for g in self._reads],
            "alert": self.alert,
            "lateness": self.lateness,
            **self.counts,
        }

    # ---- internals ---------------------------------------------------------------------------
    def _open(self) -> None:
        c = self.config
        port: PortHandlerLike = self._sdk.PortHandler(self.port)
        if not port.setBaudRate(c.baud):  # opens the port at that rate
            raise OSError(f"dynamixel_sdk refused baud {c.baud}")
        self._port = port
        self._writers.clear()
        for g in self._reads:
            g.bind(self._sdk, port, self._ph)

    def _reconnect(self) -> bool:
        if not self._ever_connected:
            return False
        now = time.monotonic()
        if now < self._next_attempt_s:
            return False
        self._next_attempt_s = now + self.config.reconnect_interval_s
        try:
            self._open()
        except PORT_ERRORS as exc:
            self._set_fault(f"port lost, reopening every {self.config.reconnect_interval_s:g} s: {exc}")
            return False
        self.counts["reconnects"] += 1
        for g in self._reads:
            if self.config.fast_sync_read == "auto":
                g.fast = None  # the servos may have been swapped: probe again
            g.use_normal = False
            g.fast_misses = 0
        self._pending_ns = None
        self._log(f"port reopened (reconnect #{self.counts['reconnects']})")
        for hook in list(self.on_reconnect):
            hook()
        return True

    def _lost(self, why: str) -> None:
        self.counts["port_errors"] += 1
        self._set_fault(why)
        self.close()
        self._next_attempt_s = time.monotonic() + self.config.reconnect_interval_s

    def _set_fault(self, text: str) -> None:
        if text != self._fault:
            self.fault_log.append(text)
            del self.fault_log[:-50]
        self._fault = text

    def _set_return_delay(self, value: int) -> None:
        for i in self.config.motor_ids:
            current = self.read_register(i, ct.RETURN_DELAY_TIME)
            if current is not None and current != value and not self.write(i, ct.RETURN_DELAY_TIME, value):
                self._log(f"servo {i}: cannot set Return Delay Time to {2 * value} µs (torque on? EEPROM is locked then)")
