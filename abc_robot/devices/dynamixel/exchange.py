"""Request/reply exchanges through the SDK with our own timeout and no busy wait.

The SDK's ``*TxRx`` calls transmit, then poll the port in a tight loop for up to
``2·LATENCY_TIMER + 2`` = 34 ms per silent servo. A reader or follower running at
real-time priority would spin its core that long (at connect, on every reconnect
attempt with the servos unpowered). Here the SDK still builds, sends and parses
every packet, but between transmit and receive the process sleeps on the port's file
descriptor, and the packet timeout is ours (``timeout_ms``).
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Protocol

from abc_robot.devices.dynamixel.sdk import COMM_RX_CORRUPT, COMM_SUCCESS, PacketHandlerLike, PortHandlerLike

__all__ = ["PacketHandlerIO", "wait_readable", "exchange", "ping_packet", "PKT_ID", "PKT_ERROR", "PKT_PARAMETER0"]

# Offsets in a Protocol 2.0 packet (the SDK's own names).
PKT_ID = 4
PKT_INSTRUCTION = 7
PKT_ERROR = 8
PKT_PARAMETER0 = 8
_INST_PING = 0x01


class PacketHandlerIO(PacketHandlerLike, Protocol):
    """The SDK's split transmit/receive calls (``PacketHandler(2.0)``) used here."""

    def txPacket(self, port: PortHandlerLike, txpacket: list[int]) -> int: ...
    def readTx(self, port: PortHandlerLike, dxl_id: int, address: int, length: int) -> int: ...
    def writeTxOnly(self, port: PortHandlerLike, dxl_id: int, address: int, length: int, data: list[int]) -> int: ...
    def readRx(self, port: PortHandlerLike, dxl_id: int, length: int) -> tuple[list[int], int, int]: ...


def wait_readable(port: PortHandlerLike, timeout_s: float) -> None:
    """Sleep until the port has a byte to read, or ``timeout_s``."""
    select.select([port.ser.fileno()], [], [], timeout_s)


def ping_packet(dxl_id: int) -> list[int]:
    """A PING instruction as the SDK's ``txPacket`` expects it (header and CRC filled there)."""
    pkt = [0] * 10
    pkt[PKT_ID] = dxl_id
    pkt[5], pkt[6] = 3, 0  # length: instruction + CRC
    pkt[PKT_INSTRUCTION] = _INST_PING
    return pkt


def exchange(
    ph: PacketHandlerIO, port: PortHandlerLike, dxl_id: int, send: Callable[[], int], timeout_ms: float
) -> tuple[list[int] | None, int]:
    """Transmit with ``send()``, then receive servo ``dxl_id``'s status packet.

    Returns:
        (status packet, SDK result); the packet is None unless the result is COMM_SUCCESS.
        A stale status of another servo (the late reply to an earlier request) is skipped.
    """
    result = send()
    if result != COMM_SUCCESS:
        port.is_using = False
        return None, result
    port.setPacketTimeoutMillis(timeout_ms)
    wait_readable(port, timeout_ms / 1e3)
    while True:
        rx, result = ph.rxPacket(port, False)
        if result != COMM_SUCCESS:
            return None, result
        if len(rx) <= PKT_ERROR:
            return None, COMM_RX_CORRUPT
        if rx[PKT_ID] == dxl_id:
            return rx, result
        # Another servo's late status: keep reading until ours, within the same deadline.
