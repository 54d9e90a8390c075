"""Console-board wire protocol: the Python side of ``firmware/protocol.h``.

Wire format, both directions::

    COBS( VER | TYPE | SEQ | PAYLOAD[0..32] | CRC16 lo | CRC16 hi ) 0x00

COBS framing means a frame never contains 0x00 except as its terminator, so a
reader that joins mid-stream or meets garbage resynchronises at the next 0x00
instead of guessing lengths. The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init
0xFFFF) over VER..PAYLOAD; payload integers are little-endian. ``firmware/tests/
vectors.txt`` holds byte vectors that this module and the C firmware both decode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from abc_robot.errors import CodecError

__all__ = [
    "PROTO_VERSION",
    "MAX_PAYLOAD",
    "INPUT_NAMES",
    "LED_MODES",
    "FrameError",
    "Frame",
    "BoardMessage",
    "HeartbeatMsg",
    "InputEventMsg",
    "VersionReplyMsg",
    "AckMsg",
    "LedSetMsg",
    "VersionQueryMsg",
    "crc16",
    "cobs_encode",
    "cobs_decode",
    "encode_frame",
    "decode_frame",
    "encode_message",
    "parse_message",
    "StreamDecoder",
]

PROTO_VERSION = 1
MAX_PAYLOAD = 32
_HEADER = 3
_CRC = 2
#: Longest encoded frame without its delimiter (COBS adds one byte below 254).
MAX_ENCODED = _HEADER + MAX_PAYLOAD + _CRC + 1

#: Input bit i of every ``inputs`` mask (firmware ``enum proto_input``).
INPUT_NAMES: tuple[str, ...] = ("pedal_a", "pedal_b", "button_a", "button_b")
#: LED modes by wire value (firmware ``enum proto_led_mode``).
LED_MODES: tuple[str, ...] = ("off", "on", "blink_slow", "blink_fast")


class FrameError(CodecError):
    """A frame was rejected.

    Attributes:
        reason: ``cobs``, ``short``, ``crc``, ``version``, ``overflow`` or ``payload``
            (the firmware's ``enum proto_status`` names).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"console-board frame rejected ({reason}){': ' + detail if detail else ''}")
        self.reason = reason


# ---- checksum and framing -------------------------------------------------------


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _crc_table()


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (check value of b"123456789" is 0x29B1)."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data`` (no trailing delimiter)."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Decode one COBS block (no delimiter).

    Raises:
        FrameError: reason ``cobs`` if a code byte is zero or points past the end.
    """
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        i += 1
        if code == 0 or i + code - 1 > n:
            raise FrameError("cobs", f"code {code} at offset {i - 1} of {n}")
        chunk = data[i : i + code - 1]
        if 0 in chunk:
            raise FrameError("cobs", "zero byte inside a block")
        out += chunk
        i += code - 1
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    """One decoded frame: header fields and the raw payload."""

    type: int
    seq: int
    payload: bytes
    version: int = PROTO_VERSION


def encode_frame(type_: int, seq: int, payload: bytes = b"") -> bytes:
    """A complete wire frame (COBS + trailing 0x00)."""
    if len(payload) > MAX_PAYLOAD:
        raise CodecError(f"payload of {len(payload)} bytes; the protocol allows at most {MAX_PAYLOAD}")
    body = bytes((PROTO_VERSION, type_ & 0xFF, seq & 0xFF)) + payload
    body += struct.pack("<H", crc16(body))
    return cobs_encode(body) + b"\x00"


def decode_frame(encoded: bytes) -> Frame:
    """Decode one COBS frame given without its 0x00 delimiter.

    Raises:
        FrameError: ``cobs``, ``short``, ``crc`` or ``version``.
    """
    body = cobs_decode(encoded)
    if len(body) < _HEADER + _CRC:
        raise FrameError("short", f"{len(body)} bytes")
    (got,) = struct.unpack_from("<H", body, len(body) - _CRC)
    want = crc16(body[:-_CRC])
    if got != want:
        raise FrameError("crc", f"got 0x{got:04x}, computed 0x{want:04x}")
    if body[0] != PROTO_VERSION:
        raise FrameError("version", f"frame version {body[0]}, this reader speaks {PROTO_VERSION}")
    return Frame(type=body[1], seq=body[2], payload=bytes(body[_HEADER:-_CRC]), version=body[0])


# ---- typed messages ---------------------------------------------------------------


class BoardMessage:
    """A typed payload. Subclasses define ``TYPE`` and pack/unpack."""

    TYPE: ClassVar[int] = 0

    def pack(self) -> bytes:
        return b""

    @classmethod
    def unpack(cls, payload: bytes) -> BoardMessage:
        if payload:
            raise FrameError("payload", f"type 0x{cls.TYPE:02x} takes no payload, got {len(payload)} bytes")
        return cls()


def _check_len(cls: type, payload: bytes, n: int) -> None:
    if len(payload) != n:
        raise FrameError("payload", f"{cls.__name__} needs {n} payload bytes, got {len(payload)}")


@dataclass(frozen=True)
class HeartbeatMsg(BoardMessage):
    """Board → host, every 100 ms.

    Attributes:
        uptime_ms: board clock [ms] (wraps after 49 days).
        inputs: debounced input bitmask (bit i = ``INPUT_NAMES[i]`` pressed).
        led_mode: index into ``LED_MODES`` currently shown.
        rx_errors: host frames the board rejected since boot.
        flags: bit 0 = the board hears the host.
    """

    TYPE: ClassVar[int] = 0x01
    _FMT: ClassVar[str] = "<IBBHB"
    uptime_ms: int
    inputs: int
    led_mode: int
    rx_errors: int
    flags: int

    def pack(self) -> bytes:
        return struct.pack(self._FMT, self.uptime_ms, self.inputs, self.led_mode, self.rx_errors, self.flags)

    @classmethod
    def unpack(cls, payload: bytes) -> HeartbeatMsg:
        _check_len(cls, payload, struct.calcsize(cls._FMT))
        return cls(*struct.unpack(cls._FMT, payload))

    @property
    def host_link(self) -> bool:
        return bool(self.flags & 1)


@dataclass(frozen=True)
class InputEventMsg(BoardMessage):
    """Board → host: a debounced edge.

    Attributes:
        input: input index (``INPUT_NAMES``).
        edge: 1 press, 0 release.
        t_ms: board clock when the new level began [ms].
        inputs: debounced bitmask after this edge.
    """

    TYPE: ClassVar[int] = 0x02
    _FMT: ClassVar[str] = "<BBIB"
    input: int
    edge: int
    t_ms: int
    inputs: int

    def pack(self) -> bytes:
        return struct.pack(self._FMT, self.input, self.edge, self.t_ms, self.inputs)

    @classmethod
    def unpack(cls, payload: bytes) -> InputEventMsg:
        _check_len(cls, payload, struct.calcsize(cls._FMT))
        msg = cls(*struct.unpack(cls._FMT, payload))
        if msg.input >= len(INPUT_NAMES) or msg.edge > 1:
            raise FrameError("payload", f"input {msg.input} edge {msg.edge} out of range")
        return msg

    @property
    def input_name(self) -> str:
        return INPUT_NAMES[self.input]


@dataclass(frozen=True)
class VersionReplyMsg(BoardMessage):
    """Board → host: answer to :class:`VersionQueryMsg`."""

    TYPE: ClassVar[int] = 0x03
    protocol: int
    fw_major: int
    fw_minor: int
    fw_patch: int
    n_inputs: int
    name: str

    def pack(self) -> bytes:
        name = self.name.encode("ascii")[:16]
        return bytes((self.protocol, self.fw_major, self.fw_minor, self.fw_patch, self.n_inputs)) + name

    @classmethod
    def unpack(cls, payload: bytes) -> VersionReplyMsg:
        if not 5 <= len(payload) <= 21:
            raise FrameError("payload", f"VersionReplyMsg needs 5..21 bytes, got {len(payload)}")
        proto, major, minor, patch, n_inputs = payload[:5]
        return cls(proto, major, minor, patch, n_inputs, payload[5:].decode("ascii", errors="replace"))

    @property
    def firmware(self) -> str:
        return f"{self.fw_major}.{self.fw_minor}.{self.fw_patch}"


@dataclass(frozen=True)
class AckMsg(BoardMessage):
    """Board → host: a host command was handled (status 0 ok, 1 bad payload, 2 unknown type)."""

    TYPE: ClassVar[int] = 0x04
    acked_type: int
    acked_seq: int
    status: int

    def pack(self) -> bytes:
        return bytes((self.acked_type, self.acked_seq, self.status))

    @classmethod
    def unpack(cls, payload: bytes) -> AckMsg:
        _check_len(cls, payload, 3)
        return cls(*payload)


@dataclass(frozen=True)
class LedSetMsg(BoardMessage):
    """Host → board: LED mode (index into ``LED_MODES``)."""

    TYPE: ClassVar[int] = 0x41
    mode: int

    def pack(self) -> bytes:
        return bytes((self.mode,))

    @classmethod
    def unpack(cls, payload: bytes) -> LedSetMsg:
        _check_len(cls, payload, 1)
        if payload[0] >= len(LED_MODES):
            raise FrameError("payload", f"LED mode {payload[0]}; valid: 0..{len(LED_MODES) - 1}")
        return cls(payload[0])


@dataclass(frozen=True)
class VersionQueryMsg(BoardMessage):
    """Host → board: ask for :class:`VersionReplyMsg`."""

    TYPE: ClassVar[int] = 0x42


_TYPES: dict[int, type[BoardMessage]] = {
    c.TYPE: c for c in (HeartbeatMsg, InputEventMsg, VersionReplyMsg, AckMsg, LedSetMsg, VersionQueryMsg)
}


def encode_message(msg: BoardMessage, seq: int) -> bytes:
    """Wire bytes of a typed message."""
    return encode_frame(msg.TYPE, seq, msg.pack())


def parse_message(frame: Frame) -> BoardMessage:
    """Typed message of a frame.

    Raises:
        FrameError: reason ``payload`` for an unknown type or a malformed payload.
    """
    cls = _TYPES.get(frame.type)
    if cls is None:
        raise FrameError("payload", f"unknown type 0x{frame.type:02x}; known: {sorted(hex(t) for t in _TYPES)}")
    return cls.unpack(frame.payload)


class StreamDecoder:
    """Turns a byte stream into frames, counting what it had to throw away.

    Garbage, truncated and corrupted frames never raise: they are counted in
    ``errors[reason]`` and decoding resumes at the next 0x00.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False
        self.frames = 0
        self.errors: dict[str, int] = {}

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def _count(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1

    def feed(self, data: bytes) -> list[Frame]:
        """Consume ``data``; return the frames it completed, in order."""
        out: list[Frame] = []
        start = 0
        while True:
            end = data.find(0, start)
            chunk = data[start:] if end < 0 else data[start:end]
            if not self._overflow:
                self._buf += chunk
                if len(self._buf) > MAX_ENCODED:
                    self._count("overflow")
                    self._overflow = True
                    self._buf.clear()
            if end < 0:
                return out
            start = end + 1
            if self._overflow:
                self._overflow = False
            elif self._buf:
                try:
                    out.append(decode_frame(bytes(self._buf)))
                    self.frames += 1
                except FrameError as exc:
                    self._count(exc.reason)
            self._buf.clear()

    def reset(self) -> None:
        """Forget a partial frame (after a reconnect)."""
        self._buf.clear()
        self._overflow = False
