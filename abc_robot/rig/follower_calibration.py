"""Follower calibration files, ``rigs/<name>/follower_<arm>.yaml`` (``abc-calibrate follower``).

::

    schema_version: 1
    kind: yam_follower
    arm: left
    offsets_rad: [...]        # 6: motor position at joint zero (arm in its reference pose)
    directions: [1, 1, ...]   # 6: joint = direction · (motor − offset)
    gripper_open_rad: 0.02    # gripper motor position fully open / closed
    gripper_closed_rad: -2.7
    reference_pose: zero
    calibrated: '2026-12-03T16:00:00+00:00'

The values replace the same fields of the arm's driver ``params`` in ``rig.yaml``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from abc_robot.errors import ConfigError
from abc_robot.runtime.config import from_dict, load_yaml

__all__ = ["FollowerCalibration", "load_follower_calibration", "save_follower_calibration", "FOLLOWER_SCHEMA_VERSION"]

FOLLOWER_SCHEMA_VERSION = 1


class _Invalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FollowerCalibration:
    """Calibration of one YAM follower arm.

    Attributes:
        arm: ``left`` or ``right``.
        offsets_rad: [rad] motor position at joint zero, per joint (6).
        directions: ±1 per joint (6): joint = direction · (motor − offset).
        gripper_open_rad / gripper_closed_rad: [rad] gripper motor position fully open / closed.
        reference_pose: name of the pose the arm was held in (joint zero).
        schema_version: :data:`FOLLOWER_SCHEMA_VERSION`.
        kind: always ``yam_follower``.
        calibrated: when, ISO 8601 (information only).
    """

    arm: Literal["left", "right"]
    offsets_rad: tuple[float, ...]
    directions: tuple[float, ...]
    gripper_open_rad: float
    gripper_closed_rad: float
    reference_pose: str = "zero"
    schema_version: int = FOLLOWER_SCHEMA_VERSION
    kind: Literal["yam_follower"] = "yam_follower"
    calibrated: str = ""

    def __post_init__(self) -> None:
        if self.schema_version != FOLLOWER_SCHEMA_VERSION:
            raise _Invalid("schema_version", f"this version reads {FOLLOWER_SCHEMA_VERSION}, got {self.schema_version}")
        for name in ("offsets_rad", "directions"):
            values = getattr(self, name)
            if len(values) != 6 or not all(math.isfinite(v) for v in values):
                raise _Invalid(name, f"needs 6 finite values (joints 1..6), got {list(values)}")
        if any(d not in (1.0, -1.0) for d in self.directions):
            raise _Invalid("directions", f"directions must be +1 or -1, got {list(self.directions)}")
        if abs(self.gripper_open_rad - self.gripper_closed_rad) < 0.05:
            raise _Invalid(
                "gripper_closed_rad", "gripper open and closed positions are less than 0.05 rad apart; re-measure"
            )

    def driver_fields(self) -> dict[str, Any]:
        """The ``YamConfig`` fields this calibration sets."""
        return {
            "offsets_rad": list(self.offsets_rad),
            "directions": list(self.directions),
            "gripper_open_rad": self.gripper_open_rad,
            "gripper_closed_rad": self.gripper_closed_rad,
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        first = ("schema_version", "kind", "arm")
        out = {k: d.pop(k) for k in first}
        out.update(d)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def load_follower_calibration(path: str | Path, *, arm: str | None = None) -> FollowerCalibration:
    """Load a follower calibration file; a file of the other arm is refused (ConfigError)."""
    cal = from_dict(FollowerCalibration, load_yaml(path), file=str(path))
    if arm is not None and cal.arm != arm:
        raise ConfigError(f"file is for the {cal.arm} arm, loaded for the {arm} arm", file=str(path), field="arm")
    return cal


def save_follower_calibration(cal: FollowerCalibration, path: str | Path) -> Path:
    """Write ``cal`` as YAML (atomically: a crash never leaves half a file)."""
    import os

    import yaml

    p = Path(path)
    tmp = p.with_suffix(p.suffix + ".tmp")
    header = "# YAM follower calibration: written by `abc-calibrate follower`.\n"
    tmp.write_text(header + yaml.safe_dump(cal.to_dict(), sort_keys=False))
    os.replace(tmp, p)
    return p
