"""The MCAP release layout: topic names, schemas and message encoders.

Topics (the ABC-130k release's names; what the public ``export_mcap.py`` reads):

- ``/top-camera`` (or ``/top-left-camera`` + ``/top-right-camera`` on stereo stations),
  ``/left-wrist-camera``, ``/right-wrist-camera``: ``foxglove.CompressedVideo``, one
  Annex B access unit per message, ``format`` ``h264`` or ``h265``;
- ``<camera topic>-info``: ``foxglove.CameraCalibration``, once;
- ``/left-arm-state`` (6 joints [rad]), ``/left-ee-state`` (the gripper, [0, 1]), the same
  for ``right``, and the commands ``/left-arm-action``, ``/left-ee-action``, ...:
  :data:`JOINT_SCHEMA` (``repeated double position`` plus velocity, acceleration, torque
  and the sample's stamp where known);
- ``/instruction``: :data:`TEXT_SCHEMA` (the task text), once;
- ours, under ``/abc/``: end-effector poses (``foxglove.PoseInFrame``), modes, control
  source and interventions (``foxglove.Log``), capture stamps.

Every channel is protobuf: the public export script decodes every message with
``mcap_protobuf``'s decoder factory alone, so one channel of another encoding would
stop it. Each message's ``log_time`` is the sample's own stamp on the Unix clock [ns].

Our robot-stream schema is built here as a descriptor (no generated code, no protoc):
the release's decoded form is what the export script relies on, a repeated
``position`` field, and that is what this schema has.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = [
    "JOINT_SCHEMA",
    "TEXT_SCHEMA",
    "STAMPS_SCHEMA",
    "CAMERA_TOPICS",
    "TOP_TOPICS",
    "ROBOT_TOPICS",
    "camera_topic",
    "info_topic",
    "arm_topics",
    "joint_class",
    "text_class",
    "stamps_class",
    "file_descriptor_set",
    "foxglove_schema",
]

PACKAGE = "abc_robot.mcap"
JOINT_SCHEMA = f"{PACKAGE}.JointStream"
TEXT_SCHEMA = f"{PACKAGE}.Text"
STAMPS_SCHEMA = f"{PACKAGE}.CaptureStamps"

#: Our camera names → the release's topics (mono top station).
CAMERA_TOPICS = {"top": "/top-camera", "left": "/left-wrist-camera", "right": "/right-wrist-camera"}
#: Stereo stations' two top eyes, as the export script looks for them.
TOP_TOPICS = ("/top-left-camera", "/top-right-camera", "/top-camera")


def camera_topic(camera: str) -> str:
    """The release topic of one of our cameras (``top_left`` → ``/top-left-camera``)."""
    return CAMERA_TOPICS.get(camera, f"/{camera.replace('_', '-')}-camera")


def info_topic(camera: str) -> str:
    return camera_topic(camera) + "-info"


def arm_topics(arm: str) -> dict[str, str]:
    """``{arm_state, ee_state, arm_action, ee_action}`` topics of an arm."""
    return {
        "arm_state": f"/{arm}-arm-state",
        "ee_state": f"/{arm}-ee-state",
        "arm_action": f"/{arm}-arm-action",
        "ee_action": f"/{arm}-ee-action",
    }


#: The robot streams in the training layout's column order, with their widths.
ROBOT_TOPICS: tuple[tuple[str, int], ...] = (
    ("/left-arm-state", 6),
    ("/left-ee-state", 1),
    ("/right-arm-state", 6),
    ("/right-ee-state", 1),
    ("/left-arm-action", 6),
    ("/left-ee-action", 1),
    ("/right-arm-action", 6),
    ("/right-ee-action", 1),
)


def _file_proto() -> Any:
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    fp = descriptor_pb2.FileDescriptorProto(name="abc_robot/mcap.proto", package=PACKAGE, syntax="proto3")

    def message(name: str, fields: list[tuple[str, int, int, int]]) -> None:
        m = fp.message_type.add(name=name)
        for fname, number, ftype, label in fields:
            m.field.add(name=fname, number=number, type=ftype, label=label)

    rep, opt = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    message(
        "JointStream",
        [
            ("position", 1, F.TYPE_DOUBLE, rep),  # [rad] for joints, [0, 1] for a gripper
            ("velocity", 2, F.TYPE_DOUBLE, rep),  # [rad/s]
            ("acceleration", 3, F.TYPE_DOUBLE, rep),  # [rad/s^2]
            ("torque", 4, F.TYPE_DOUBLE, rep),  # [Nm]
            ("timestamp_ns", 5, F.TYPE_UINT64, opt),  # sample stamp, Unix clock [ns]
        ],
    )
    message("Text", [("text", 1, F.TYPE_STRING, opt)])
    message(
        "CaptureStamps",
        [
            ("source", 1, F.TYPE_STRING, opt),  # the graph topic (``camera/top``...)
            ("stamp_ns", 2, F.TYPE_UINT64, opt),  # sample stamp, monotonic clock [ns]
            ("seq", 3, F.TYPE_UINT64, opt),  # the publisher's sequence number
            ("frame_index", 4, F.TYPE_UINT64, opt),  # a camera's own frame counter
        ],
    )
    return fp


@lru_cache(maxsize=1)
def file_descriptor_set() -> bytes:
    """The serialized ``FileDescriptorSet`` of our schemas (an MCAP schema's data)."""
    from google.protobuf import descriptor_pb2

    return descriptor_pb2.FileDescriptorSet(file=[_file_proto()]).SerializeToString()


@lru_cache(maxsize=1)
def _classes() -> dict[str, Any]:
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_proto())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
        for name in (JOINT_SCHEMA, TEXT_SCHEMA, STAMPS_SCHEMA)
    }


def joint_class() -> Any:
    """The protobuf class of :data:`JOINT_SCHEMA`."""
    return _classes()[JOINT_SCHEMA]


def text_class() -> Any:
    return _classes()[TEXT_SCHEMA]


def stamps_class() -> Any:
    return _classes()[STAMPS_SCHEMA]


def foxglove_schema(name: str) -> tuple[str, bytes]:
    """``(schema name, FileDescriptorSet)`` of a foxglove message (``CompressedVideo``...)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import foxglove.messages as fm

    s = getattr(fm, name).get_schema()
    return str(s.name), bytes(s.data)
