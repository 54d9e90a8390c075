"""Calibration files of the GELLO leader arms, and the rig description they come from.

``calibration/<rig>/<arm>.yaml`` (written by ``abc-calibrate leader``)::

    schema_version: 1
    kind: gello_leader
    arm: left
    motor_ids: [1, 2, 3, 4, 5, 6, 7]     # joints 1..6, then the gripper trigger
    offsets_rad: [...]                   # 6: servo angle at joint zero, in [-π, π)
    signs: [1, 1, -1, 1, 1, 1]           # 6: joint = sign · (servo − offset) + 2πk
    gripper_open_rad: 0.61               # trigger servo angle released / squeezed
    gripper_closed_rad: 1.32
    baud: 4000000
    ...

A servo's absolute encoder knows its angle only within one turn, and a servo may
power up one turn off (multi-turn registers), so the offset is stored modulo 2π and
the reader picks the turn ``k`` at every start: the one that puts the joint inside
``joint_lower_rad..joint_upper_rad`` (closest to the calibration pose among ties).

``calibration/<rig>/rig.yaml``, section ``leader`` (:class:`LeaderRigConfig`): what
the procedure needs to know about the leader build: named poses, the servos' mounting
signs, ids, ports. Without it the YAM-leader defaults apply.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from abc_robot.errors import ConfigError
from abc_robot.runtime.config import from_dict, load_yaml

__all__ = [
    "SCHEMA_VERSION",
    "LeaderCalibration",
    "LeaderRigConfig",
    "load_leader_calibration",
    "save_leader_calibration",
    "load_leader_rig",
    "YAM_LEADER_LOWER",
    "YAM_LEADER_UPPER",
]

#: Version of the calibration file layout this code reads and writes.
SCHEMA_VERSION = 1

# Joint limits of urdf/yam_leader.urdf [rad]; the calibration tool copies the URDF's own.
YAM_LEADER_LOWER = (-2.61799, 0.0, 0.0, -1.69297, -1.5708, -2.0944)
YAM_LEADER_UPPER = (3.14159, 3.66519, 3.14159, 1.5708, 1.5708, 2.0944)


class _Invalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _check6(name: str, values: tuple[float, ...]) -> None:
    if len(values) != 6:
        raise _Invalid(name, f"needs 6 values (joints 1..6), got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise _Invalid(name, f"values must be finite, got {list(values)}")


@dataclass(frozen=True)
class LeaderCalibration:
    """Calibration of one GELLO leader arm (6 joints + gripper trigger).

    Attributes:
        schema_version: layout version (:data:`SCHEMA_VERSION`).
        arm: ``left`` or ``right``.
        motor_ids: servo ids, joints 1..6 then the trigger (7).
        offsets_rad: [rad] servo angle at joint zero, per joint (6), in [-π, π).
        signs: +1/-1 per joint (6): ``q = sign · (servo − offset) + 2πk``.
        gripper_open_rad / gripper_closed_rad: [rad] trigger servo angle released (gripper 1, open)
            and squeezed (gripper 0, closed); the closed one is within half a turn of the open one.
        baud: [baud] bus rate of the servos.
        port: the serial device it was calibrated on (the node config may override it).
        urdf: the leader's own description (FK of the leader).
        reference_pose: name of the pose held during calibration.
        reference_q_rad: [rad] joint angles of that pose (6).
        joint_lower_rad / joint_upper_rad: [rad] range each joint can physically reach;
            picks the turn of each servo at every start.
        kind: always ``gello_leader``.
        calibrated: when, ISO 8601 (information only).
        fine_residual_rad: [rad] per joint, how far the offset is from a quarter turn
            (information only: large values mean a horn mounted off the quarter turns
            or the arm held away from the pose).
    """

    arm: Literal["left", "right"]
    offsets_rad: tuple[float, ...]
    signs: tuple[float, ...]
    gripper_open_rad: float
    gripper_closed_rad: float
    motor_ids: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    schema_version: int = SCHEMA_VERSION
    baud: int = 4_000_000
    port: str = ""
    urdf: str = "yam_leader.urdf"
    reference_pose: str = "home"
    reference_q_rad: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    joint_lower_rad: tuple[float, ...] = YAM_LEADER_LOWER
    joint_upper_rad: tuple[float, ...] = YAM_LEADER_UPPER
    kind: Literal["gello_leader"] = "gello_leader"
    calibrated: str = ""
    fine_residual_rad: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.motor_ids) != 7 or len(set(self.motor_ids)) != 7:
            raise _Invalid("motor_ids", f"needs 7 distinct ids (6 joints + trigger), got {list(self.motor_ids)}")
        for name in ("offsets_rad", "signs", "reference_q_rad", "joint_lower_rad", "joint_upper_rad"):
            _check6(name, getattr(self, name))
        if any(s not in (1.0, -1.0) for s in self.signs):
            raise _Invalid("signs", f"signs must be +1 or -1, got {list(self.signs)}")
        if any(lo >= hi for lo, hi in zip(self.joint_lower_rad, self.joint_upper_rad)):
            raise _Invalid("joint_lower_rad", "each joint_lower_rad must be below its joint_upper_rad")
        travel = abs(self.gripper_closed_rad - self.gripper_open_rad)
        if not 0.05 <= travel <= math.pi:
            raise _Invalid("gripper_closed_rad", f"trigger travel {travel:.3f} rad must be in 0.05..π; re-measure it")

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-able mapping, identification fields first."""
        d = asdict(self)
        first = ("schema_version", "kind", "arm", "motor_ids", "baud", "port")
        out = {k: d.pop(k) for k in first}
        out.update(d)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


@dataclass(frozen=True)
class LeaderRigConfig:
    """The leader arms of a rig (``rig.yaml``, section ``leader``).

    Attributes:
        urdf: leader description; poses and joint ranges refer to it.
        baud: [baud] bus rate of the leader servos.
        motor_ids: servo ids, joints 1..6 then trigger (each arm on its own adapter).
        ports: serial device per arm, e.g. ``{left: /dev/serial/by-id/usb-FTDI_..._A-if00-port0}``.
        joint_signs: +1/-1 per joint: how the servos are mounted in this leader build
            (the sign is not observable from one pose; a second pose measures it).
        poses: named poses [rad] the operator can hold the arm in (6 values each).
            ``home`` should rest against hard stops so it is reproducible.
        second_pose: default second pose that measures the signs ("" to skip).
        gripper_min_travel_rad: [rad] a shorter measured trigger travel is refused.
    """

    urdf: str = "yam_leader.urdf"
    baud: int = 4_000_000
    motor_ids: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    ports: dict[str, str] = field(default_factory=dict)
    joint_signs: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    poses: dict[str, tuple[float, ...]] = field(
        default_factory=lambda: {
            "home": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            "ready": (0.0, 1.5708, 1.5708, 0.0, 0.0, 0.0),
            "reach": (1.5708, 1.5708, 1.5708, -1.5708, 1.5708, 1.5708),
        }
    )
    second_pose: str = ""
    gripper_min_travel_rad: float = 0.2

    def __post_init__(self) -> None:
        _check6("joint_signs", self.joint_signs)
        if any(s not in (1.0, -1.0) for s in self.joint_signs):
            raise _Invalid("joint_signs", f"signs must be +1 or -1, got {list(self.joint_signs)}")
        for name, q in self.poses.items():
            _check6(f"poses.{name}", q)
        if self.second_pose and self.second_pose not in self.poses:
            raise _Invalid("second_pose", f"unknown pose {self.second_pose!r}; poses: {sorted(self.poses)}")
        if len(self.motor_ids) != 7:
            raise _Invalid("motor_ids", f"needs 7 ids (6 joints + trigger), got {list(self.motor_ids)}")


def load_leader_rig(rig_dir: str | Path) -> LeaderRigConfig:
    """``rig_dir/rig.yaml`` section ``leader``; the defaults when the file does not exist."""
    path = Path(rig_dir) / "rig.yaml"
    if not path.exists():
        return LeaderRigConfig()
    data = load_yaml(path)
    return from_dict(LeaderRigConfig, data.get("leader", {}), file=str(path), prefix="leader")


def load_leader_calibration(
    path: str | Path, *, arm: str | None = None, motor_ids: tuple[int, ...] | None = None
) -> LeaderCalibration:
    """Load and check a leader calibration file.

    Args:
        path: ``calibration/<rig>/<arm>.yaml``.
        arm: the arm it is loaded for; a file of the other arm is refused.
        motor_ids: the ids configured for the bus; a file of other ids is refused.

    Raises:
        ConfigError: unreadable file, wrong schema version, wrong arm, wrong motor ids or
            a bad value; the message names the file and the field and says what to do.
    """
    p = str(path)
    data = load_yaml(path)
    recal = f"re-run `abc-calibrate leader --arm {arm or data.get('arm', '<arm>')} --rig {Path(p).parent} ...`"
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"schema_version {version!r} is not supported (this abc_robot reads version {SCHEMA_VERSION}); "
            f"{recal} to write a current file",
            file=p,
            field="schema_version",
        )
    if data.get("kind", "gello_leader") != "gello_leader":
        raise ConfigError(f"kind {data.get('kind')!r} is not a leader calibration (expected gello_leader)", file=p, field="kind")
    cal = from_dict(LeaderCalibration, data, file=p)
    if arm is not None and cal.arm != arm:
        raise ConfigError(
            f"this file calibrates the {cal.arm!r} arm, but it was loaded for {arm!r}: point the {arm} leader at "
            f"{Path(p).parent / (arm + '.yaml')} (or {recal})",
            file=p,
            field="arm",
        )
    if motor_ids is not None and tuple(motor_ids) != cal.motor_ids:
        raise ConfigError(
            f"motor ids {list(cal.motor_ids)} differ from the configured {list(motor_ids)}: if the servos were "
            f"re-numbered or swapped, {recal}; otherwise fix motor_ids in the node config",
            file=p,
            field="motor_ids",
        )
    return cal


def save_leader_calibration(cal: LeaderCalibration, path: str | Path) -> Path:
    """Write ``cal`` as YAML (atomically: a crash never leaves half a file)."""
    import yaml

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# GELLO leader calibration, {cal.arm} arm: written by `abc-calibrate leader`.\n"
        "# joint = sign * (servo_rad - offset_rad) + 2*pi*k, k chosen at every start to fit the joint range.\n"
    )
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(header + yaml.safe_dump(cal.to_dict(), sort_keys=False, default_flow_style=None))
    tmp.replace(p)
    return p
