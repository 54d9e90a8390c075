"""The bimanual rig layout (``urdf/bimanual.yaml``): arm base poses and the table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import ConfigError
from abc_robot.kinematics.model import URDF_DIR
from abc_robot.kinematics.se3 import T_from_xyz_rpy

__all__ = ["ArmPlacement", "Table", "BimanualLayout", "DEFAULT_LAYOUT"]

#: The project's default layout file.
DEFAULT_LAYOUT = URDF_DIR / "bimanual.yaml"


@dataclass(frozen=True)
class Table:
    """A box table; the world frame is on the floor, z up."""

    size_m: tuple[float, float, float]  # depth (x), width (y), thickness (z) [m]
    top_height_m: float  # floor to table top [m]
    center_xy_m: tuple[float, float]  # table centre in the world's x, y [m]

    def __post_init__(self) -> None:
        if len(self.size_m) != 3 or min(self.size_m) <= 0:
            raise ValueError(f"size_m must be three positive lengths, got {self.size_m}")
        if self.top_height_m <= 0:
            raise ValueError(f"top_height_m must be > 0, got {self.top_height_m}")


@dataclass(frozen=True)
class ArmPlacement:
    """One arm of the rig: its description files and base pose in the world."""

    name: str  # "left" or "right"
    urdf: Path  # follower description
    leader_urdf: Path  # leader description
    T_world_base: np.ndarray  # 4×4 [m]


@dataclass(frozen=True)
class BimanualLayout:
    """Arm placements (``left`` then ``right``) and the table."""

    arms: dict[str, ArmPlacement]
    table: Table

    @classmethod
    def load(cls, path: str | Path = DEFAULT_LAYOUT) -> BimanualLayout:
        """Read a layout YAML; errors name the file and the field."""
        from abc_robot.runtime.config import load_yaml

        p = Path(path)
        data = load_yaml(p)
        try:
            t: dict[str, Any] = data["table"]
            table = Table(
                size_m=tuple(float(v) for v in t["size_m"]),  # type: ignore[arg-type]
                top_height_m=float(t["top_height_m"]),
                center_xy_m=tuple(float(v) for v in t["center_xy_m"]),  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid table ({exc})", file=str(p), field="table") from exc
        arms: dict[str, ArmPlacement] = {}
        for name in ("left", "right"):
            try:
                a = data["arms"][name]
                T = T_from_xyz_rpy([float(v) for v in a["base_xyz_m"]], [float(v) for v in a["base_rpy_rad"]])
                arms[name] = ArmPlacement(
                    name=name,
                    urdf=(p.parent / a["urdf"]).resolve(),
                    leader_urdf=(p.parent / a["leader_urdf"]).resolve(),
                    T_world_base=T,
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"invalid arm entry ({exc}); expected urdf, leader_urdf, base_xyz_m[3], base_rpy_rad[3]",
                    file=str(p),
                    field=f"arms.{name}",
                ) from exc
        return cls(arms=arms, table=table)
