"""The parts of ``dynamixel_sdk`` the drivers use, typed as Protocols.

The vendor SDK is untyped; these Protocols name exactly what :mod:`.bus` calls, so
the driver is type-checked and a reader can see the whole surface at a glance. The
real SDK is imported lazily by :func:`load_sdk` (tests run it against the emulator in
:mod:`abc_robot.testing.dynamixel_emulator`, never a stand-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "PortHandlerLike",
    "PacketHandlerLike",
    "GroupSyncReadLike",
    "GroupSyncWriteLike",
    "Sdk",
    "load_sdk",
    "COMM_SUCCESS",
    "COMM_RX_TIMEOUT",
    "COMM_RX_CORRUPT",
    "COMM_TX_FAIL",
    "COMM_PORT_BUSY",
]

# Result codes of the SDK (robotis_def), repeated so callers need not import the SDK.
COMM_SUCCESS = 0
COMM_PORT_BUSY = -1000
COMM_TX_FAIL = -1001
COMM_RX_FAIL = -1002
COMM_RX_TIMEOUT = -3001
COMM_RX_CORRUPT = -3002


class PortHandlerLike(Protocol):
    """``dynamixel_sdk.PortHandler``: a pyserial port with packet timeouts."""

    is_open: bool
    is_using: bool
    ser: Any

    def openPort(self) -> bool: ...
    def closePort(self) -> None: ...
    def clearPort(self) -> None: ...
    def setBaudRate(self, baudrate: int) -> bool: ...
    def setPacketTimeoutMillis(self, msec: float) -> None: ...


class PacketHandlerLike(Protocol):
    """``dynamixel_sdk.PacketHandler(2.0)``."""

    def ping(self, port: PortHandlerLike, dxl_id: int) -> tuple[int, int, int]: ...
    def read1ByteTxRx(self, port: PortHandlerLike, dxl_id: int, address: int) -> tuple[int, int, int]: ...
    def read4ByteTxRx(self, port: PortHandlerLike, dxl_id: int, address: int) -> tuple[int, int, int]: ...
    def readTxRx(self, port: PortHandlerLike, dxl_id: int, address: int, length: int) -> tuple[list[int], int, int]: ...
    def writeTxRx(self, port: PortHandlerLike, dxl_id: int, address: int, length: int, data: list[int]) -> tuple[int, int]: ...
    def rxPacket(self, port: PortHandlerLike, fast_option: bool) -> tuple[list[int], int]: ...
    def getTxRxResult(self, result: int) -> str: ...
    def getRxPacketError(self, error: int) -> str: ...


class GroupSyncReadLike(Protocol):
    """``dynamixel_sdk.GroupSyncRead``."""

    def addParam(self, dxl_id: int) -> bool: ...
    def txPacket(self) -> int: ...
    def rxPacket(self) -> int: ...
    def fastSyncReadTxPacket(self) -> int: ...
    def fastSyncReadRxPacket(self) -> int: ...
    def getData(self, dxl_id: int, address: int, data_length: int) -> int: ...


class GroupSyncWriteLike(Protocol):
    """``dynamixel_sdk.GroupSyncWrite``."""

    def addParam(self, dxl_id: int, data: list[int]) -> bool: ...
    def changeParam(self, dxl_id: int, data: list[int]) -> bool: ...
    def clearParam(self) -> None: ...
    def txPacket(self) -> int: ...


@dataclass(frozen=True)
class Sdk:
    """Constructors of the SDK objects (``PortHandler(name)``, ``PacketHandler(2.0)``...)."""

    PortHandler: Any
    PacketHandler: Any
    GroupSyncRead: Any
    GroupSyncWrite: Any


def load_sdk() -> Sdk:
    """Import ``dynamixel_sdk``.

    Raises:
        ImportError: with the pip command that installs it.
    """
    try:
        import dynamixel_sdk as sdk
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ImportError("dynamixel_sdk is missing: pip install dynamixel-sdk") from exc
    return Sdk(sdk.PortHandler, sdk.PacketHandler, sdk.GroupSyncRead, sdk.GroupSyncWrite)
