"""A console board on a pseudo-terminal, speaking the firmware's protocol.

The emulator models the board *after* debouncing (the C firmware's debouncing is
tested by its own host tests): ``press()`` / ``release()`` send an INPUT_EVENT at
once, a thread sends a HEARTBEAT every ``heartbeat_period_s``, and host frames
(LED_SET, VERSION_QUERY) are answered like the firmware does.

The serial device appears at a stable symlink (``link``), the way a udev rule
names a real board, so ``unplug()`` / ``replug()`` make the reader lose the port
and find it again at the same path, on a new pty. Fault injection: ``inject_garbage``
writes noise, ``corrupt_next(n)`` spoils the CRC of the next n frames, ``mute()``
stops all output while keeping the port open (a hung board).

Example::

    with ConsoleBoardEmulator(tmp_path / "console") as board:
        reader = ConsoleBoard(ConsoleBoardConfig(port=str(board.link)))
        board.press("pedal_a")
"""

from __future__ import annotations

import os
import select
import threading
import time
from pathlib import Path

from abc_robot.devices.console_board.protocol import (
    INPUT_NAMES,
    LED_MODES,
    AckMsg,
    BoardMessage,
    FrameError,
    HeartbeatMsg,
    InputEventMsg,
    LedSetMsg,
    StreamDecoder,
    VersionQueryMsg,
    VersionReplyMsg,
    cobs_decode,
    cobs_encode,
    encode_message,
    parse_message,
)
from abc_robot.testing.pty_link import PtyDevice

__all__ = ["ConsoleBoardEmulator"]


class ConsoleBoardEmulator(PtyDevice):
    """An emulated console board behind a pty; see the module docstring.

    Args:
        link: path of the symlink that names the board's serial device.
        heartbeat_period_s: [s] between heartbeats (the firmware's 0.1 s).
        name: board name in the version reply.
        protocol: protocol version to claim in the version reply.
    """

    def __init__(
        self,
        link: str | Path,
        *,
        heartbeat_period_s: float = 0.1,
        name: str = "abc-console-emu",
        protocol: int = 1,
    ) -> None:
        self.link = Path(link)
        self.heartbeat_period_s = heartbeat_period_s
        self.name = name
        self.protocol = protocol
        self.led_mode = 0
        self.rx_errors = 0
        self.host_messages: list[BoardMessage] = []
        self.frames_sent = 0
        self._inputs = 0
        self._seq = 0
        self._corrupt = 0
        self._muted = False
        self._t0 = time.monotonic()
        self._lock = threading.RLock()
        self._decoder = StreamDecoder()
        self._init_pty()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_host = -1.0

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> ConsoleBoardEmulator:
        """Create the pty and the symlink, start heartbeating."""
        self._plug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="console-board-emu", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread, close the pty, remove the symlink (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self.unplug()

    def __enter__(self) -> ConsoleBoardEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def uptime_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000) & 0xFFFFFFFF

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def host_link(self) -> bool:
        """True while a valid host frame arrived within the firmware's 3 s."""
        return self._last_host >= 0 and time.monotonic() - self._last_host < 3.0

    # ---- inputs -------------------------------------------------------------------
    def press(self, input_name: str) -> None:
        """Debounced press of ``input_name`` (``pedal_a``, ``pedal_b``, ``button_a``, ``button_b``)."""
        self._edge(input_name, True)

    def release(self, input_name: str) -> None:
        self._edge(input_name, False)

    def set_inputs_silently(self, mask: int) -> None:
        """Change the levels without sending events (as if the events were lost);
        the next heartbeat reports the new levels."""
        with self._lock:
            self._inputs = mask & 0x0F

    def _edge(self, input_name: str, pressed: bool) -> None:
        if input_name not in INPUT_NAMES:
            raise ValueError(f"input {input_name!r}; valid inputs: {list(INPUT_NAMES)}")
        i = INPUT_NAMES.index(input_name)
        with self._lock:
            if bool(self._inputs >> i & 1) == pressed:
                return
            self._inputs ^= 1 << i
            self._send(InputEventMsg(input=i, edge=int(pressed), t_ms=self.uptime_ms, inputs=self._inputs))

    # ---- fault injection ------------------------------------------------------------
    def inject_garbage(self, data: bytes = b"\x13\x37\xde\xad\xbe\xef\x00\x55\xaa") -> None:
        """Write raw bytes between frames."""
        with self._lock:
            self._write(data)

    def corrupt_next(self, n: int = 1) -> None:
        """Flip one bit of the CRC region in each of the next ``n`` frames."""
        with self._lock:
            self._corrupt += n

    def mute(self, muted: bool = True) -> None:
        """Stop (or resume) all output while the port stays open."""
        with self._lock:
            self._muted = muted

    def replug(self) -> None:
        """The cable is back: a new pty behind the same symlink; the board keeps its uptime."""
        super().replug()

    # ---- internals ----------------------------------------------------------------------
    def _on_plug(self) -> None:
        self._decoder.reset()

    def _write(self, data: bytes) -> None:
        if self._master is None or self._muted:
            return
        try:
            os.write(self._master, data)
        except (BlockingIOError, OSError):
            pass  # nobody reading and the pty buffer is full: the frame is lost, like on a UART

    def _send(self, msg: BoardMessage) -> None:
        wire = encode_message(msg, self._seq)
        self._seq = (self._seq + 1) & 0xFF
        if self._corrupt > 0:
            self._corrupt -= 1
            # A wrong checksum inside well-formed framing: the receiver must see "crc".
            body = bytearray(cobs_decode(wire[:-1]))
            body[-2] ^= 0x01
            wire = cobs_encode(bytes(body)) + b"\x00"
        self._write(wire)
        self.frames_sent += 1

    def _heartbeat(self) -> None:
        flags = 1 if self.host_link else 0
        self._send(
            HeartbeatMsg(
                uptime_ms=self.uptime_ms,
                inputs=self._inputs,
                led_mode=self.led_mode,
                rx_errors=self.rx_errors,
                flags=flags,
            )
        )

    def _on_host_frame(self, data: bytes) -> None:
        before = self._decoder.error_count
        for frame in self._decoder.feed(data):
            self._last_host = time.monotonic()
            try:
                msg = parse_message(frame)
            except FrameError:
                self.rx_errors += 1
                self._send(AckMsg(frame.type, frame.seq, 1 if frame.type == LedSetMsg.TYPE else 2))
                continue
            self.host_messages.append(msg)
            if isinstance(msg, LedSetMsg):
                self.led_mode = msg.mode
                self._send(AckMsg(frame.type, frame.seq, 0))
            elif isinstance(msg, VersionQueryMsg):
                self._send(VersionReplyMsg(self.protocol, 1, 0, 0, len(INPUT_NAMES), self.name))
            else:
                self._send(AckMsg(frame.type, frame.seq, 2))
        self.rx_errors += self._decoder.error_count - before

    def _run(self) -> None:
        next_hb = time.monotonic()
        while not self._stop.is_set():
            timeout = max(0.0, next_hb - time.monotonic())
            with self._lock:
                master = self._master
            if master is None:
                time.sleep(min(timeout, 0.01) or 0.001)
            else:
                try:
                    ready, _, _ = select.select([master], [], [], min(timeout, 0.01))
                except (OSError, ValueError):
                    ready = []
                if ready:
                    with self._lock:
                        if self._master == master:
                            try:
                                data = os.read(master, 4096)
                            except OSError:
                                data = b""  # no reader on the slave side right now
                            if data:
                                self._on_host_frame(data)
            if time.monotonic() >= next_hb:
                with self._lock:
                    self._heartbeat()
                next_hb += self.heartbeat_period_s
                if next_hb < time.monotonic():
                    next_hb = time.monotonic() + self.heartbeat_period_s

    @property
    def led(self) -> str:
        """Name of the LED mode the host asked for."""
        return LED_MODES[self.led_mode]
