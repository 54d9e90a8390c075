"""The operator console board: pedals and buttons over a framed serial protocol.

The firmware lives in ``firmware/``; this package is the host side: the protocol
(:mod:`.protocol`), the edge-to-event mapping (:mod:`.mapping`) and the reader
(:mod:`.reader`). The node wrapping it is :mod:`abc_robot.nodes.console_board_node`.
"""

from abc_robot.devices.console_board.mapping import DEFAULT_BINDINGS, EVENT_KINDS, Binding, ConsoleMapping, EventMapper
from abc_robot.devices.console_board.protocol import (
    INPUT_NAMES,
    LED_MODES,
    PROTO_VERSION,
    FrameError,
    StreamDecoder,
    decode_frame,
    encode_frame,
)
from abc_robot.devices.console_board.reader import ConsoleBoard, ConsoleBoardConfig, ConsoleBoardStats

__all__ = [
    "Binding",
    "ConsoleBoard",
    "ConsoleBoardConfig",
    "ConsoleBoardStats",
    "ConsoleMapping",
    "DEFAULT_BINDINGS",
    "EVENT_KINDS",
    "EventMapper",
    "FrameError",
    "INPUT_NAMES",
    "LED_MODES",
    "PROTO_VERSION",
    "StreamDecoder",
    "decode_frame",
    "encode_frame",
]
