"""Reads the operator console board over serial and turns its inputs into events.

:class:`ConsoleBoard` owns the serial port. ``poll()`` never raises for a device
fault: garbage and corrupted frames are counted and skipped, an unplug (a serial
exception) closes the port and reopening is retried every ``reconnect_period_s``,
a board that goes silent is reported stale. Every change between healthy and faulty
yields one ``fault`` :class:`~abc_robot.transport.messages.Event`
(``data["active"]`` true, then false), so the recorder and the console see it.

Edges the board reports become console events through the configured
:class:`~abc_robot.devices.console_board.mapping.ConsoleMapping`. The board's
heartbeat carries its debounced input levels; when they disagree with what the
events said (an event frame was corrupted, or a pedal changed while the cable was
out) the reader emits the missing edge itself, marked ``synthetic``. Event stamps are
host monotonic times of the physical edge, converted from the board clock.
"""

from __future__ import annotations

import select
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import serial

from abc_robot.devices.console_board.mapping import ConsoleMapping, EventMapper
from abc_robot.devices.console_board.protocol import (
    INPUT_NAMES,
    LED_MODES,
    PROTO_VERSION,
    AckMsg,
    BoardMessage,
    Frame,
    FrameError,
    HeartbeatMsg,
    InputEventMsg,
    LedSetMsg,
    StreamDecoder,
    VersionQueryMsg,
    VersionReplyMsg,
    encode_message,
    parse_message,
)
from abc_robot.transport.messages import Event

__all__ = ["ConsoleBoardConfig", "ConsoleBoard", "ConsoleBoardStats"]


@dataclass(frozen=True)
class ConsoleBoardConfig:
    """Serial link and mapping of the console board.

    Attributes:
        port: serial device path; use a udev symlink (e.g. ``/dev/abc_console``) so
            the name survives a replug.
        baudrate: [baud] must match the firmware (115200).
        reconnect_period_s: [s] between attempts to reopen a lost port.
        heartbeat_timeout_s: [s] without any frame before the link counts as stale
            (the board sends a heartbeat every 0.1 s); four times this, the port is
            closed and reopened.
        boot_grace_s: [s] after opening before silence counts: an Arduino resets when
            the port opens and its bootloader waits about 2 s.
        led_keepalive_s: [s] period at which the LED mode is re-sent; the board falls
            back to its no-host blip after 3 s without a host frame.
        mapping: which edges make which console events.
    """

    port: str = "/dev/abc_console"
    baudrate: int = 115200
    reconnect_period_s: float = 0.5
    heartbeat_timeout_s: float = 0.5
    boot_grace_s: float = 3.0
    led_keepalive_s: float = 1.0
    mapping: ConsoleMapping = ConsoleMapping()

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("port must name a serial device")
        for name in ("reconnect_period_s", "heartbeat_timeout_s", "led_keepalive_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.boot_grace_s < 0:
            raise ValueError("boot_grace_s must be >= 0")


@dataclass
class ConsoleBoardStats:
    """Counters since the reader was created (all survive reconnects)."""

    frames: int = 0  # valid frames received
    bad_frames: dict[str, int] = field(default_factory=dict)  # rejected, by reason (crc, cobs, ...)
    lost_frames: int = 0  # gaps in the board's sequence numbers
    events: int = 0  # console events emitted (fault events excluded)
    synthetic_edges: int = 0  # edges reconstructed from heartbeats
    connects: int = 0
    disconnects: int = 0
    nacks: int = 0  # host commands the board refused

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "bad_frames": dict(self.bad_frames),
            "crc_errors": self.bad_frames.get("crc", 0),
            "lost_frames": self.lost_frames,
            "events": self.events,
            "synthetic_edges": self.synthetic_edges,
            "connects": self.connects,
            "disconnects": self.disconnects,
            "nacks": self.nacks,
        }


class ConsoleBoard:
    """The console board as a source of :class:`Event` messages.

    Args:
        config: port, timing and mapping.
        source: ``Event.source`` of the events produced.
    """

    def __init__(self, config: ConsoleBoardConfig, source: str = "console_board") -> None:
        self.config = config
        self.source = source
        self.stats = ConsoleBoardStats()
        self.version: VersionReplyMsg | None = None
        self.last_heartbeat: HeartbeatMsg | None = None
        self._ser: serial.Serial | None = None
        self._decoder = StreamDecoder()
        self._mapper = EventMapper(config.mapping)
        self._inputs: int | None = None  # believed debounced levels; None until first heard
        self._fault: str | None = None
        self._out: list[Event] = []
        self._next_attempt_ns = 0
        self._opened_ns = 0
        self._last_rx_ns = 0
        self._heard = False  # a valid frame arrived since the port was opened
        self._last_seq: int | None = None
        self._tx_seq = 0
        self._led_mode = 0
        self._next_led_ns = 0
        self._offsets_ns: deque[int] = deque(maxlen=50)  # host_ns - board_ms, upper bounds
        self._last_uptime_ms: int | None = None

    # ---- public API -----------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._ser is not None

    @property
    def fault(self) -> str | None:
        """Current fault (not connected, stale, wrong firmware), None when healthy."""
        return self._fault

    @property
    def episode_active(self) -> bool:
        """Whether an episode is in progress as this console knows it (a start/stop
        button stops it then, else starts one); set it from the other console sources."""
        return self._mapper.episode_active

    @episode_active.setter
    def episode_active(self, active: bool) -> None:
        self._mapper.episode_active = bool(active)

    @property
    def inputs(self) -> dict[str, bool]:
        """Believed level of each input (all False until the board was heard)."""
        mask = self._inputs or 0
        return {name: bool(mask >> i & 1) for i, name in enumerate(INPUT_NAMES)}

    def open(self) -> bool:
        """Try to open the port now; True on success (``poll`` retries by itself)."""
        return self._try_open(time.monotonic_ns())

    def poll(self, timeout_s: float = 0.0) -> list[Event]:
        """Read what the board sent; return the console and fault events it caused.

        Args:
            timeout_s: wait up to this long [s] for the first byte when none is waiting.
        """
        now = time.monotonic_ns()
        if self._ser is None and now >= self._next_attempt_ns:
            self._try_open(now)
        if self._ser is not None:
            data = self._read(timeout_s)
            now = time.monotonic_ns()
            if data:
                frames = self._decoder.feed(data)
                if frames:
                    self._last_rx_ns = now  # garbage alone (wrong baud rate) does not count
                for frame in frames:
                    self._handle(frame, now)
                self._sync_decoder_errors()
            if self._ser is not None:
                self._check_stale(now)
                if now >= self._next_led_ns:
                    self._send(LedSetMsg(self._led_mode))
                    self._next_led_ns = now + int(self.config.led_keepalive_s * 1e9)
        elif timeout_s > 0:
            time.sleep(min(timeout_s, max(0.0, (self._next_attempt_ns - now) / 1e9)))
        out, self._out = self._out, []
        return out

    def set_led(self, mode: str | int) -> None:
        """Set the status LED: ``off``, ``on``, ``blink_slow``, ``blink_fast`` (or 0..3).

        Raises:
            ValueError: unknown mode.
        """
        if isinstance(mode, str):
            if mode not in LED_MODES:
                raise ValueError(f"LED mode {mode!r}; valid modes: {list(LED_MODES)}")
            mode = LED_MODES.index(mode)
        if not 0 <= mode < len(LED_MODES):
            raise ValueError(f"LED mode {mode}; valid: 0..{len(LED_MODES) - 1}")
        self._led_mode = mode
        if self._ser is not None:
            self._send(LedSetMsg(mode))
            self._next_led_ns = time.monotonic_ns() + int(self.config.led_keepalive_s * 1e9)

    def close(self) -> None:
        """Close the port (idempotent)."""
        if self._ser is not None:
            try:
                self._ser.close()
            except (OSError, serial.SerialException):
                pass
            self._ser = None

    def __enter__(self) -> ConsoleBoard:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- link management --------------------------------------------------------
    def _try_open(self, now: int) -> bool:
        self._next_attempt_ns = now + int(self.config.reconnect_period_s * 1e9)
        try:
            ser = serial.Serial(self.config.port, self.config.baudrate, timeout=0, write_timeout=0.05, exclusive=True)
        except (OSError, ValueError, serial.SerialException) as exc:
            self._set_fault(f"cannot open {self.config.port}: {exc}")
            return False
        self._ser = ser
        self.stats.connects += 1
        self._opened_ns = self._last_rx_ns = now
        self._decoder.reset()
        self._heard = False
        self._last_seq = None
        self._last_uptime_ms = None
        self._offsets_ns.clear()
        self._mapper.forget_presses()
        self._set_fault(None)
        self._send(VersionQueryMsg())
        self._send(LedSetMsg(self._led_mode))
        self._next_led_ns = now + int(self.config.led_keepalive_s * 1e9)
        return True

    def _lost(self, reason: str) -> None:
        self.close()
        self.stats.disconnects += 1
        self._mapper.forget_presses()
        self._next_attempt_ns = time.monotonic_ns() + int(self.config.reconnect_period_s * 1e9)
        self._set_fault(f"console board lost ({reason}); reconnecting to {self.config.port}")

    def _read(self, timeout_s: float) -> bytes:
        assert self._ser is not None
        try:
            if timeout_s > 0:
                select.select([self._ser.fileno()], [], [], timeout_s)
            return bytes(self._ser.read(4096))
        except (OSError, serial.SerialException) as exc:
            self._lost(str(exc))
            return b""

    def _send(self, msg: BoardMessage) -> None:
        if self._ser is None:
            return
        try:
            self._ser.write(encode_message(msg, self._tx_seq))
            self._tx_seq = (self._tx_seq + 1) & 0xFF
        except (OSError, serial.SerialException) as exc:
            self._lost(f"write failed: {exc}")

    def _check_stale(self, now: int) -> None:
        start = self._last_rx_ns
        if not self._heard:
            start = max(start, self._opened_ns + int(self.config.boot_grace_s * 1e9))
        silent_s = (now - start) / 1e9
        if silent_s > 4 * self.config.heartbeat_timeout_s:
            self._lost(f"silent for {silent_s:.1f} s")
        elif silent_s > self.config.heartbeat_timeout_s:
            self._set_fault(
                f"no frame from the console board for {silent_s:.2f} s (wrong port or baud rate, or board hung)"
            )
        elif self._fault is not None and self._fault.startswith("no frame"):
            self._set_fault(None)

    def _set_fault(self, text: str | None) -> None:
        was_ok = self._fault is None
        self._fault = text
        if was_ok != (text is None):
            data: dict[str, Any] = {"device": "console_board", "active": text is not None, "text": text or "recovered"}
            self._out.append(Event(kind="fault", stamp_ns=time.monotonic_ns(), source=self.source, data=data))

    def _sync_decoder_errors(self) -> None:
        self.stats.bad_frames.update(self._decoder.errors)

    # ---- frames -------------------------------------------------------------------
    def _handle(self, frame: Frame, recv_ns: int) -> None:
        self.stats.frames += 1
        self._heard = True
        if self._last_seq is not None:
            self.stats.lost_frames += (frame.seq - self._last_seq - 1) & 0xFF
        self._last_seq = frame.seq
        try:
            msg = parse_message(frame)
        except FrameError as exc:
            self._decoder.errors[exc.reason] = self._decoder.errors.get(exc.reason, 0) + 1
            return
        if isinstance(msg, HeartbeatMsg):
            self._on_heartbeat(msg, recv_ns)
        elif isinstance(msg, InputEventMsg):
            self._note_board_time(msg.t_ms, recv_ns)
            self._apply_edge(msg.input, bool(msg.edge), msg.t_ms, frame.seq, synthetic=False)
            self._reconcile(msg.inputs, msg.t_ms, frame.seq)
        elif isinstance(msg, VersionReplyMsg):
            self.version = msg
            if msg.protocol != PROTO_VERSION:
                self._set_fault(
                    f"board firmware speaks protocol {msg.protocol}, this reader {PROTO_VERSION}: reflash firmware/"
                )
        elif isinstance(msg, AckMsg) and msg.status != 0:
            self.stats.nacks += 1

    def _on_heartbeat(self, hb: HeartbeatMsg, recv_ns: int) -> None:
        if self._last_uptime_ms is not None and hb.uptime_ms < self._last_uptime_ms:
            self._offsets_ns.clear()  # the board rebooted: its clock restarted
        self._last_uptime_ms = hb.uptime_ms
        self._note_board_time(hb.uptime_ms, recv_ns)
        self.last_heartbeat = hb
        if self._inputs is None:
            self._inputs = hb.inputs  # first contact: take the levels as they are, no events
        else:
            self._reconcile(hb.inputs, hb.uptime_ms, None)

    def _note_board_time(self, board_ms: int, recv_ns: int) -> None:
        # recv - board time over-estimates the clock offset by the transport delay;
        # the minimum over recent frames is the tightest estimate.
        self._offsets_ns.append(recv_ns - board_ms * 1_000_000)

    def _host_ns(self, board_ms: int) -> int:
        now = time.monotonic_ns()
        if not self._offsets_ns:
            return now
        return min(now, board_ms * 1_000_000 + min(self._offsets_ns))

    def _reconcile(self, mask: int, t_ms: int, seq: int | None) -> None:
        believed = self._inputs or 0
        for i in range(len(INPUT_NAMES)):
            if (mask ^ believed) >> i & 1:
                self._apply_edge(i, bool(mask >> i & 1), t_ms, seq, synthetic=True)
        self._inputs = mask

    def _apply_edge(self, index: int, pressed: bool, t_ms: int, seq: int | None, *, synthetic: bool) -> None:
        believed = self._inputs or 0
        if bool(believed >> index & 1) == pressed:
            return  # already known (e.g. reconstructed from a heartbeat before)
        self._inputs = believed ^ (1 << index)
        if synthetic:
            self.stats.synthetic_edges += 1
        name = INPUT_NAMES[index]
        stamp = self._host_ns(t_ms)
        for kind, arm in self._mapper.fire(name, pressed, t_ms):
            data: dict[str, object] = {"input": name, "edge": "press" if pressed else "release", "board_ms": t_ms, "synthetic": synthetic}
            if arm:
                data["arm"] = arm  # followers act on events for their arm or for both
            if seq is not None:
                data["board_seq"] = seq
            self._out.append(Event(kind=kind, stamp_ns=stamp, source=self.source, data=data))
            self.stats.events += 1
