"""Dynamixel Protocol 2.0 packets: CRC-16, byte stuffing, framing and wire sizes.

The driver talks through the vendor SDK; this module is the other side of the wire
(the servo emulator builds and parses packets with it) and the arithmetic the
benchmark needs (how many bytes a read puts on the wire, hence its time at a baud).

A packet is ``FF FF FD 00 | ID | LEN_L LEN_H | INST | PARAMS... | CRC_L CRC_H`` where
``LEN`` counts INST, the (stuffed) params and the CRC. Inside INST..PARAMS any
``FF FF FD`` is sent as ``FF FF FD FD`` (byte stuffing) so a header never appears in a
payload; the CRC covers the packet as sent, stuffing included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "HEADER",
    "BROADCAST_ID",
    "Inst",
    "Err",
    "Packet",
    "crc16",
    "stuff",
    "unstuff",
    "build_packet",
    "build_status",
    "build_fast_sync_read_status",
    "PacketReader",
    "sync_read_request_bytes",
    "status_bytes",
    "fast_sync_read_status_bytes",
    "sync_write_bytes",
    "wire_time_s",
    "BITS_PER_BYTE",
]

HEADER = b"\xff\xff\xfd\x00"
BROADCAST_ID = 0xFE
#: A UART byte at 8N1: start bit, 8 data bits, stop bit.
BITS_PER_BYTE = 10


class Inst:
    """Instruction codes used by the stack (Protocol 2.0)."""

    PING = 0x01
    READ = 0x02
    WRITE = 0x03
    REBOOT = 0x08
    STATUS = 0x55
    SYNC_READ = 0x82
    SYNC_WRITE = 0x83
    FAST_SYNC_READ = 0x8A


class Err:
    """Error numbers of the status packet's error byte (bit 7 is the hardware alert)."""

    RESULT_FAIL = 1
    INSTRUCTION = 2
    CRC = 3
    DATA_RANGE = 4
    DATA_LENGTH = 5
    DATA_LIMIT = 6
    ACCESS = 7
    ALERT = 0x80


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _make_table()


def crc16(data: bytes | bytearray, crc: int = 0) -> int:
    """CRC-16 (polynomial 0x8005, initial value 0, no reflection) of ``data``."""
    for b in data:
        crc = ((crc << 8) ^ _TABLE[((crc >> 8) ^ b) & 0xFF]) & 0xFFFF
    return crc


def stuff(payload: bytes | bytearray) -> bytes:
    """Insert ``FD`` after every ``FF FF FD`` of the original ``payload`` (INST..PARAMS)."""
    out = bytearray()
    for i, b in enumerate(payload):
        out.append(b)
        if b == 0xFD and i >= 2 and payload[i - 1] == 0xFF and payload[i - 2] == 0xFF:
            out.append(0xFD)
    return bytes(out)


def unstuff(payload: bytes | bytearray) -> bytes:
    """Undo :func:`stuff`: drop the ``FD`` that follows each ``FF FF FD``."""
    out = bytearray()
    i = 0
    n = len(payload)
    while i < n:
        b = payload[i]
        out.append(b)
        if (
            b == 0xFD
            and i >= 2
            and payload[i - 1] == 0xFF
            and payload[i - 2] == 0xFF
            and i + 1 < n
            and payload[i + 1] == 0xFD
        ):
            i += 1  # skip the stuffing byte
        i += 1
    return bytes(out)


def build_packet(dxl_id: int, instruction: int, params: bytes | bytearray = b"") -> bytes:
    """A complete packet (header, stuffing, CRC) ready for the wire."""
    body = stuff(bytes([instruction]) + bytes(params))
    length = len(body) + 2
    pkt = bytearray(HEADER)
    pkt += bytes([dxl_id & 0xFF, length & 0xFF, length >> 8])
    pkt += body
    crc = crc16(pkt)
    pkt += bytes([crc & 0xFF, crc >> 8])
    return bytes(pkt)


def build_status(dxl_id: int, error: int = 0, params: bytes | bytearray = b"") -> bytes:
    """A servo's status packet: instruction 0x55, then the error byte, then the data."""
    return build_packet(dxl_id, Inst.STATUS, bytes([error & 0xFF]) + bytes(params))


def build_fast_sync_read_status(blocks: list[tuple[int, int, bytes]]) -> bytes:
    """The single status packet answering a FAST_SYNC_READ.

    Args:
        blocks: ``(error, id, data)`` per servo, in the order the request listed them.

    Each servo appends ``ERR ID DATA CRC`` to the packet on the bus; its CRC runs over
    everything sent so far, and the last servo's CRC is the packet's own CRC, so the
    packet length is ``8 + n·(len(data) + 4)``.
    """
    n_bytes = 1 + sum(2 + len(d) + 2 for _, _, d in blocks)  # INST + blocks (last CRC = packet CRC)
    raw = bytearray(HEADER) + bytes([BROADCAST_ID, n_bytes & 0xFF, n_bytes >> 8, Inst.STATUS])
    for k, (err, dxl_id, data) in enumerate(blocks):
        raw += bytes([err & 0xFF, dxl_id & 0xFF]) + bytes(data)
        if k < len(blocks) - 1:
            c = crc16(raw)
            raw += bytes([c & 0xFF, c >> 8])
    body = stuff(raw[7:])
    length = len(body) + 2
    pkt = bytearray(HEADER) + bytes([BROADCAST_ID, length & 0xFF, length >> 8]) + body
    c = crc16(pkt)
    return bytes(pkt + bytes([c & 0xFF, c >> 8]))


@dataclass(frozen=True)
class Packet:
    """A parsed packet: ``params`` are unstuffed (status packets: error byte first)."""

    dxl_id: int
    instruction: int
    params: bytes


class PacketReader:
    """Finds packets in a byte stream (resynchronising on garbage) and checks CRCs.

    Attributes:
        crc_errors: packets dropped for a wrong CRC.
        skipped_bytes: bytes thrown away while looking for a header.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.crc_errors = 0
        self.skipped_bytes = 0

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> Iterator[Packet]:
        """Add ``data``; yield every complete packet with a valid CRC."""
        self._buf += data
        buf = self._buf
        while True:
            start = buf.find(HEADER)
            if start < 0:
                keep = 3  # a header may straddle two reads
                if len(buf) > keep:
                    self.skipped_bytes += len(buf) - keep
                    del buf[: len(buf) - keep]
                return
            if start:
                self.skipped_bytes += start
                del buf[:start]
            if len(buf) < 7:
                return
            length = buf[5] | buf[6] << 8
            if length < 3 or length > 1024:
                self.skipped_bytes += 1
                del buf[:1]
                continue
            total = 7 + length
            if len(buf) < total:
                return
            pkt = bytes(buf[:total])
            del buf[:total]
            if crc16(pkt[:-2]) != (pkt[-2] | pkt[-1] << 8):
                self.crc_errors += 1
                continue
            body = unstuff(pkt[7:-2])
            yield Packet(pkt[4], body[0], body[1:])


# ---- sizes on the wire -----------------------------------------------------------------------
def sync_read_request_bytes(n_ids: int) -> int:
    """SYNC_READ / FAST_SYNC_READ instruction: header(4) ID LEN(2) INST ADDR(2) SIZE(2) IDs CRC(2)."""
    return 14 + n_ids


def status_bytes(n_data: int) -> int:
    """One status packet: header(4) ID LEN(2) INST ERR data CRC(2)."""
    return 11 + n_data


def fast_sync_read_status_bytes(n_ids: int, n_data: int) -> int:
    """The one packet answering a FAST_SYNC_READ of ``n_ids`` servos."""
    return 8 + n_ids * (n_data + 4)


def sync_write_bytes(n_ids: int, n_data: int) -> int:
    """SYNC_WRITE instruction: header(4) ID LEN(2) INST ADDR(2) SIZE(2) (ID data)·n CRC(2)."""
    return 14 + n_ids * (1 + n_data)


def wire_time_s(n_bytes: int, baud: int) -> float:
    """Seconds ``n_bytes`` occupy the half-duplex bus at ``baud`` (8N1)."""
    return n_bytes * BITS_PER_BYTE / baud
