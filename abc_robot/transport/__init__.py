"""Messages, codec and sockets. Imports only numpy, pyzmq and msgpack."""

from abc_robot.transport.bus import (
    GapStats,
    LatestSubscriber,
    Publisher,
    ReliableSubscriber,
    Replier,
    Requester,
    context,
)
from abc_robot.transport.codec import decode, encode
from abc_robot.transport.curve import CurveClient, CurveServer, generate_keys
from abc_robot.transport.endpoints import expand
from abc_robot.transport.messages import (
    MODES,
    ActionChunk,
    CameraFrame,
    EEPose,
    Event,
    Heartbeat,
    JointCommand,
    JointState,
    LeaderState,
    Message,
    ModeCommand,
    Observation,
    Reply,
    message_types,
    register,
)

__all__ = [
    "GapStats",
    "LatestSubscriber",
    "Publisher",
    "ReliableSubscriber",
    "Replier",
    "Requester",
    "context",
    "decode",
    "encode",
    "CurveClient",
    "CurveServer",
    "generate_keys",
    "expand",
    "MODES",
    "ActionChunk",
    "CameraFrame",
    "EEPose",
    "Event",
    "Heartbeat",
    "JointCommand",
    "JointState",
    "LeaderState",
    "Message",
    "ModeCommand",
    "Observation",
    "Reply",
    "message_types",
    "register",
]
