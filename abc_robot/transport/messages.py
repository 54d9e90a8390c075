"""Typed messages of the stack.

A message is a dataclass: scalar fields (numbers, strings, small dicts) travel in a
msgpack header, ``np.ndarray`` fields travel as separate ZeroMQ frames without copies
(see :mod:`abc_robot.transport.codec`). Every message carries ``seq`` (per publisher
and topic, set by the publisher), ``stamp_ns`` (``time.monotonic_ns()`` *where the data
was sampled*: encoder read, camera exposure, sim step) and ``source`` (the publishing
node's name).

Adding a type: subclass :class:`Message`, give it a unique ``TYPE`` and decorate it
with :func:`register`. Bump ``VERSION`` when a field changes meaning.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "Message",
    "register",
    "message_types",
    "JointState",
    "JointCommand",
    "EEPose",
    "LeaderState",
    "CameraFrame",
    "ActionChunk",
    "Observation",
    "ModeCommand",
    "Heartbeat",
    "Event",
    "Reply",
    "MODES",
]

#: Follower modes; see :mod:`abc_robot.nodes.follower`.
MODES = ("TELEOP", "POLICY", "INTERVENE", "HOLD", "ESTOP")

_REGISTRY: dict[str, type[Message]] = {}


@dataclass(kw_only=True)
class Message:
    """Base of every message. Subclasses add their payload fields."""

    TYPE: ClassVar[str] = "message"
    VERSION: ClassVar[int] = 1
    # Filled by register(): names of ndarray fields and of header (scalar) fields.
    _ARRAYS: ClassVar[tuple[str, ...]] = ()
    _SCALARS: ClassVar[tuple[str, ...]] = ()

    seq: int = 0  # per (publisher, topic) sequence number, set by the publisher
    stamp_ns: int = 0  # monotonic ns at which the data was sampled
    source: str = ""  # publishing node name


def register(cls: type[Message]) -> type[Message]:
    """Class decorator: index ``cls`` by its ``TYPE`` and classify its fields."""
    if cls.TYPE in _REGISTRY and _REGISTRY[cls.TYPE] is not cls:
        raise ValueError(f"message type {cls.TYPE!r} registered twice")
    hints = typing.get_type_hints(cls)
    arrays: list[str] = []
    scalars: list[str] = []
    for f in dataclasses.fields(cls):
        if f.name in ("seq", "stamp_ns", "source"):
            continue
        tp = hints[f.name]
        is_array = tp is np.ndarray or np.ndarray in typing.get_args(tp)
        (arrays if is_array else scalars).append(f.name)
    cls._ARRAYS = tuple(arrays)
    cls._SCALARS = tuple(scalars)
    _REGISTRY[cls.TYPE] = cls
    return cls


def message_types() -> dict[str, type[Message]]:
    """All registered message types by wire name."""
    return dict(_REGISTRY)


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.float64)


@register
@dataclass(kw_only=True)
class JointState(Message):
    """Measured joint state of one arm (or the 14-D pair), as a driver reports it.

    Attributes:
        q: joint positions [rad]; the last value is the gripper opening in [0, 1]
            when ``has_gripper``.
        dq: joint velocities [rad/s] (may be empty when the device does not report them).
        effort: joint efforts / currents [N·m or A] (may be empty).
        names: joint names in order (optional, empty means the arm's default order).
    """

    TYPE: ClassVar[str] = "joint_state"
    q: np.ndarray = field(default_factory=_empty)
    dq: np.ndarray = field(default_factory=_empty)
    effort: np.ndarray = field(default_factory=_empty)
    has_gripper: bool = True
    names: list[str] = field(default_factory=list)


@register
@dataclass(kw_only=True)
class JointCommand(Message):
    """Joint position targets for one arm's backend (driver or sim).

    Attributes:
        q: target positions [rad], gripper last in [0, 1].
        ref_stamp_ns: stamp of the input this command was computed from (leader sample,
            policy observation), so latency can be measured end to end.
        torque: False asks the backend to switch torque off (limp arm).
        mode: the follower's mode when the command was issued.
        control_source: who was in control: ``operator`` (teleop), ``policy``,
            ``intervention`` (operator correcting a policy) or ``none`` (hold).
    """

    TYPE: ClassVar[str] = "joint_command"
    q: np.ndarray = field(default_factory=_empty)
    ref_stamp_ns: int = 0
    torque: bool = True
    mode: str = "HOLD"  # follower mode when issued, one of MODES
    control_source: str = "none"  # operator | policy | intervention | none


@register
@dataclass(kw_only=True)
class EEPose(Message):
    """End-effector pose in the arm's base frame.

    Attributes:
        T_base_ee: 4×4 homogeneous transform [m].
        gripper: gripper opening in [0, 1].
    """

    TYPE: ClassVar[str] = "ee_pose"
    T_base_ee: np.ndarray = field(default_factory=lambda: np.eye(4))
    gripper: float = 0.0


@register
@dataclass(kw_only=True)
class LeaderState(Message):
    """What a leader arm (GELLO reader or scripted leader) publishes at its read rate.

    Attributes:
        q: calibrated leader joint angles [rad] (the leader's own model, not the follower's).
        gripper: trigger mapped to [0, 1] (0 closed, 1 open: ABC's convention).
        T_base_ee: leader end-effector pose from the leader's own FK, 4×4 [m].
    """

    TYPE: ClassVar[str] = "leader_state"
    q: np.ndarray = field(default_factory=_empty)
    gripper: float = 0.0
    T_base_ee: np.ndarray = field(default_factory=lambda: np.eye(4))


@register
@dataclass(kw_only=True)
class CameraFrame(Message):
    """One camera image, stamped at exposure.

    Attributes:
        camera: camera name (``top``, ``left``, ``right``...).
        image: H×W×3 uint8 RGB when ``encoding == "raw"``; 1-D uint8 JPEG bytes when
            ``encoding == "jpeg"`` (subscribers decode it back to raw).
        encoding: ``raw`` or ``jpeg``.
        frame_index: the camera's own frame counter (gaps = frames it dropped).
        depth: optional H×W uint16 depth [mm].
        intrinsics: the camera's intrinsics where the driver knows them (width, height,
            fx, fy, ppx, ppy [px], distortion model and coeffs), for the episode metadata.
    """

    TYPE: ClassVar[str] = "camera_frame"
    camera: str = ""
    image: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), np.uint8))
    encoding: str = "raw"
    frame_index: int = 0
    depth: np.ndarray | None = None
    intrinsics: dict[str, Any] | None = None


@register
@dataclass(kw_only=True)
class Observation(Message):
    """A policy observation: the 14-D state and the camera images of one instant.

    ``stamp_ns`` is the state's sample time; the worker echoes it in the chunk.
    """

    TYPE: ClassVar[str] = "observation"
    state: np.ndarray = field(default_factory=_empty)
    images: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 3), np.uint8))
    cameras: list[str] = field(default_factory=list)
    request_id: int = 0
    prefix: np.ndarray | None = None  # executing actions to condition on (RTC), H'×D


@register
@dataclass(kw_only=True)
class ActionChunk(Message):
    """A time-indexed chunk of actions from the policy worker.

    Attributes:
        actions: H×D actions (D = 14 for the bimanual rig).
        t_ns: H target times [monotonic ns] at which each action should be reached.
        obs_stamp_ns: stamp of the observation the chunk was computed from; the robot
            side measures inference delay as arrival time minus this.
        representation: ``joint_abs``, ``joint_delta``, ``eef_abs`` or ``eef_rel``.
        infer_ms: the worker's own measured inference time [ms].
    """

    TYPE: ClassVar[str] = "action_chunk"
    actions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    t_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    obs_stamp_ns: int = 0
    representation: str = "joint_abs"
    infer_ms: float = 0.0
    request_id: int = 0


@register
@dataclass(kw_only=True)
class ModeCommand(Message):
    """Ask followers (all, or one arm) to switch mode.

    Attributes:
        mode: one of :data:`MODES`.
        arm: ``left``, ``right`` or ``""`` for every arm.
        reason: free text shown in logs and the console.
    """

    TYPE: ClassVar[str] = "mode_command"
    mode: str = "HOLD"
    arm: str = ""
    reason: str = ""


@register
@dataclass(kw_only=True)
class Heartbeat(Message):
    """A node's periodic health report to the supervisor.

    Attributes:
        node: node name; pid: its process id.
        loop: loop statistics (``count``, ``overruns``, ``period_p50_ms``,
            ``period_p99_ms``, ``period_max_ms``, ``rate_hz``).
        status: node-specific figures for the console (mode, latencies, counts).
        final: True for the last heartbeat, sent from teardown (carries the summary).
    """

    TYPE: ClassVar[str] = "heartbeat"
    node: str = ""
    pid: int = 0
    loop: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    final: bool = False


@register
@dataclass(kw_only=True)
class Event(Message):
    """A discrete event: console key, pedal, episode start/stop, fault, outcome.

    Attributes:
        kind: e.g. ``episode_start``, ``episode_stop``, ``episode_discard``,
            ``intervene_on``, ``intervene_off``, ``success``, ``fail``, ``fault``.
        data: small free-form payload.
    """

    TYPE: ClassVar[str] = "event"
    kind: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@register
@dataclass(kw_only=True)
class Reply(Message):
    """Answer to a request: ``ok`` and a message, plus a free-form payload."""

    TYPE: ClassVar[str] = "reply"
    ok: bool = True
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
