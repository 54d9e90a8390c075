"""The rig description, ``rigs/<name>/rig.yaml``: every device of one physical rig.

One file names the leaders, the followers, the cameras, the console board, the arms'
base poses and the control rates; the launch templates (:mod:`abc_robot.rig.graphs`)
build every hardware graph from it, and the preflight (:mod:`abc_robot.rig.preflight`)
checks the hardware against it. Driver settings are not repeated here: a follower's
``params`` are the fields of its driver's own config
(:class:`~abc_robot.devices.damiao.config.YamConfig` or
:class:`~abc_robot.devices.dynamixel.config.DynamixelArmConfig`), a camera's ``params``
those of its camera driver, the console board's ``board`` a
:class:`~abc_robot.devices.console_board.reader.ConsoleBoardConfig`; they are checked
against those classes when the rig loads (:func:`abc_robot.rig.load.load_rig`), so a
mistake names ``rig.yaml`` and the field, e.g. ``followers.left.params.channel``.

Paths to calibration files are relative to the rig directory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from abc_robot.calibration.schema import LeaderRigConfig
from abc_robot.devices.console_board.reader import ConsoleBoardConfig

__all__ = [
    "SCHEMA_VERSION",
    "ARMS",
    "CAMERA_NAMES",
    "LeaderSpec",
    "FollowerSpec",
    "CameraSpec",
    "ConsoleSpec",
    "RatesSpec",
    "RecordingSpec",
    "RigConfig",
]

#: Version of the rig.yaml layout this code reads.
SCHEMA_VERSION = 1
ARMS = ("left", "right")
#: Camera names of the ABC rig: ``top`` and the two wrist cameras.
CAMERA_NAMES = ("top", "left", "right")


class _Invalid(ValueError):
    """A value error naming its field (``from_dict`` puts it in the message)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LeaderSpec:
    """One GELLO leader arm (Dynamixel servos on their own USB-serial adapter).

    Attributes:
        port: serial device the driver opens (``/dev/serial/by-id/...`` survives a replug;
            a twin overlay points it at a pseudo-terminal).
        by_id: the adapter's ``/dev/serial/by-id/`` name (udev rules and discovery key on
            it); empty when ``port`` is itself a by-id path.
        baud: [baud] bus rate; the servos' Baud Rate register must already match.
        motor_ids: servo ids, joints 1..6 then the gripper trigger.
        calibration: calibration file written by ``abc-calibrate leader``, relative to
            the rig directory.
        latency_timer_file: file holding the adapter's USB latency timer [ms]; empty:
            the sysfs file of ``port``'s USB device (a twin overlay names its own).
        timeout_ms: [ms] wait for a read's replies.
        models: Dynamixel model number per servo (e.g. 1200 = XL330-M288), checked by
            ``abc-rig check``; empty: any model answers.
    """

    port: str
    calibration: str
    by_id: str = ""
    baud: int = 4_000_000
    motor_ids: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    latency_timer_file: str = ""
    timeout_ms: float = 5.0
    models: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        from abc_robot.devices.dynamixel.config import BusConfig

        if len(self.motor_ids) != 7:
            raise _Invalid("motor_ids", f"needs 7 ids (6 joints + trigger), got {list(self.motor_ids)}")
        if not self.calibration:
            raise _Invalid("calibration", "name the calibration file (e.g. left.yaml), written by abc-calibrate leader")
        BusConfig(port=self.port, motor_ids=self.motor_ids, baud=self.baud)  # raises naming port/motor_ids/baud
        if self.models and len(self.models) != len(self.motor_ids):
            raise _Invalid(
                "models", f"needs one model number per servo ({len(self.motor_ids)}), got {len(self.models)}"
            )


@dataclass(frozen=True)
class FollowerSpec:
    """One follower arm.

    Attributes:
        kind: ``yam`` (Damiao motors in MIT mode over CAN) or ``dynamixel``.
        params: the driver's config fields (``YamConfig``: interface, channel, motor_ids,
            offsets_rad, directions, gripper range, joint limits, gains...;
            ``DynamixelArmConfig``: port, baud, motor_ids, offsets_rad, signs, ...).
        variant: YAM hardware variant, passed to the driver as it is (the table of
            variants lives with the Damiao driver); empty: the driver's default.
        calibration: follower calibration file in the rig directory, written by
            ``abc-calibrate follower`` (offsets, directions/signs, gripper range); its
            values replace those of ``params``. Empty: ``params`` as they are.
        by_id: a Dynamixel arm's adapter name in ``/dev/serial/by-id/`` (udev, discovery).
        latency_timer_file: a Dynamixel arm's latency-timer file (as for :class:`LeaderSpec`).
        base_xyz_m: [m] arm base position in the world frame (floor below the middle of
            the arms' table edge, x forward, y left, z up).
        base_rpy_rad: [rad] arm base roll, pitch, yaw (URDF convention).
        leader_to_follower_xyz_m / leader_to_follower_rpy_rad: pose of the leader's base
            in this arm's base frame [m, rad].
        models: a Dynamixel arm's model number per servo (checked by ``abc-rig check``;
            empty: any). A YAM arm's motor models are ``params.motor_models``.
    """

    kind: Literal["yam", "dynamixel"]
    params: dict[str, Any] = field(default_factory=dict)
    variant: str = ""
    calibration: str = ""
    by_id: str = ""
    latency_timer_file: str = ""
    base_xyz_m: tuple[float, float, float] = (0.0, 0.0, 0.75)
    base_rpy_rad: tuple[float, float, float] = (0.0, 0.0, 0.0)
    leader_to_follower_xyz_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    leader_to_follower_rpy_rad: tuple[float, float, float] = (0.0, 0.0, 0.0)
    models: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.models and self.kind != "dynamixel":
            raise _Invalid("models", "models are Dynamixel model numbers; a YAM arm names params.motor_models")
        for name in ("base_xyz_m", "base_rpy_rad", "leader_to_follower_xyz_m", "leader_to_follower_rpy_rad"):
            if not all(math.isfinite(v) for v in getattr(self, name)):
                raise _Invalid(name, f"values must be finite, got {list(getattr(self, name))}")
        if self.variant and self.kind != "yam":
            raise _Invalid("variant", f"variant applies to yam arms only (this arm is {self.kind})")


@dataclass(frozen=True)
class CameraSpec:
    """One camera.

    Attributes:
        kind: ``realsense`` (by serial number), ``opencv`` (UVC device or file), or
            ``sim``: a view rendered from a hardware twin's MuJoCo world (params: the
            ``SimCameraConfig`` fields but ``bind`` and ``cameras``: sim, world, rate_hz).
        params: the camera driver's config fields (``RealSenseConfig``: serial, width,
            height, fps...; ``OpenCVCameraConfig``: source, width, height, fps, fourcc...).
        rate_hz: [Hz] how often the camera node hands frames out (twice the fps or more).
    """

    kind: Literal["realsense", "opencv", "sim"]
    params: dict[str, Any] = field(default_factory=dict)
    rate_hz: float = 100.0

    def __post_init__(self) -> None:
        if self.rate_hz <= 0:
            raise _Invalid("rate_hz", "must be positive")


@dataclass(frozen=True)
class ConsoleSpec:
    """The console board (pedals, buttons, status LED) on a USB-serial port.

    Attributes:
        board: the board's port and timing (``ConsoleBoardConfig``: port, baudrate, mapping...).
        by_id: its ``/dev/serial/by-id/`` name (udev rules, discovery).
    """

    board: ConsoleBoardConfig = field(default_factory=ConsoleBoardConfig)
    by_id: str = ""


@dataclass(frozen=True)
class RatesSpec:
    """Control rates [Hz].

    Attributes:
        leader_hz: leader read + publish rate (4 Mbaud, 1 ms latency timer: 400 Hz fits).
        follower_hz: follower control rate (IK, safety, device command).
        recorder_hz: episode step rate (the ABC layout is 30 Hz).
        console_hz: console-board polling rate.
    """

    leader_hz: float = 400.0
    follower_hz: float = 250.0
    recorder_hz: float = 30.0
    console_hz: float = 200.0

    def __post_init__(self) -> None:
        for name in ("leader_hz", "follower_hz", "recorder_hz", "console_hz"):
            if not 0 < getattr(self, name) <= 2000:
                raise _Invalid(name, f"must be in (0, 2000] Hz, got {getattr(self, name)}")


@dataclass(frozen=True)
class RecordingSpec:
    """Where episodes go.

    Attributes:
        root: episode directory (relative: to the working directory of the command).
        min_free_gb: [GB] free space ``abc-rig check`` asks for there.
    """

    root: str = "episodes"
    min_free_gb: float = 5.0

    def __post_init__(self) -> None:
        if self.min_free_gb < 0:
            raise _Invalid("min_free_gb", "must be >= 0")


@dataclass(frozen=True)
class RigConfig:
    """A whole rig (``rigs/<name>/rig.yaml``).

    Attributes:
        schema: layout version; must be :data:`SCHEMA_VERSION`.
        name: the rig's name (goes into each episode's metadata).
        leaders: per arm (``left``, ``right``), the GELLO leader.
        followers: per arm, the follower arm.
        cameras: per name (``top``, ``left``, ``right``), the camera.
        console: the console board; None: keys only.
        rates: control rates.
        recording: where episodes go, and the free space they need.
        leader: the leader build, for ``abc-calibrate leader`` (named poses, servo
            mounting signs); its ``ports`` default to ``leaders.<arm>.port``.
        root: the rig directory (set by the loader; calibration paths are relative to it).
    """

    schema: int
    name: str
    leaders: dict[str, LeaderSpec] = field(default_factory=dict)
    followers: dict[str, FollowerSpec] = field(default_factory=dict)
    cameras: dict[str, CameraSpec] = field(default_factory=dict)
    console: ConsoleSpec | None = None
    rates: RatesSpec = field(default_factory=RatesSpec)
    recording: RecordingSpec = field(default_factory=RecordingSpec)
    leader: LeaderRigConfig = field(default_factory=LeaderRigConfig)
    root: str = ""

    def __post_init__(self) -> None:
        if self.schema != SCHEMA_VERSION:
            raise _Invalid("schema", f"this version reads schema {SCHEMA_VERSION}, the file says {self.schema}")
        if not self.name or any(c in self.name for c in " /"):
            raise _Invalid("name", f"needs a name without spaces or '/', got {self.name!r}")
        for section in ("leaders", "followers"):
            bad = sorted(set(getattr(self, section)) - set(ARMS))
            if bad:
                raise _Invalid(f"{section}.{bad[0]}", f"arms are named {list(ARMS)}, got {bad[0]!r}")
        if set(self.followers) != set(ARMS):
            missing = sorted(set(ARMS) - set(self.followers))
            raise _Invalid(f"followers.{missing[0]}", "a bimanual rig needs both follower arms (left and right)")
        bad = sorted(set(self.cameras) - set(CAMERA_NAMES))
        if bad:
            raise _Invalid(f"cameras.{bad[0]}", f"cameras are named {list(CAMERA_NAMES)}, got {bad[0]!r}")

    @property
    def camera_names(self) -> list[str]:
        """Configured cameras in the ABC order (top, left, right)."""
        return [c for c in CAMERA_NAMES if c in self.cameras]

    def path(self, relative: str) -> str:
        """A path of the rig directory (absolute paths pass through)."""
        from pathlib import Path

        p = Path(relative)
        return str(p if p.is_absolute() or not self.root else Path(self.root) / p)
