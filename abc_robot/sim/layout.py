"""The bimanual layout (``urdf/bimanual.yaml``): arm base poses and the table.

The sim builds its scene from this file and the follower URDF; the kinematics load the
same URDF, so ``T_world_base @ fk(q)`` here and MuJoCo's end-effector pose agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import ConfigError
from abc_robot.kinematics.urdf import URDF_DIR, R_from_rpy, urdf_path

__all__ = ["ArmPlacement", "BimanualLayout", "URDF_DIR", "ARMS"]

#: Arm names, in the order of the 14-D rig vectors.
ARMS: tuple[str, ...] = ("left", "right")


@dataclass(frozen=True)
class ArmPlacement:
    """Where one arm stands.

    Attributes:
        name: ``left`` or ``right``.
        urdf: absolute path of the follower arm's URDF.
        leader_urdf: absolute path of its leader arm's URDF (empty if none).
        T_world_base: 4×4 pose of the arm's ``base_link`` in the world [m].
    """

    name: str
    urdf: Path
    leader_urdf: Path | None
    T_world_base: np.ndarray


@dataclass(frozen=True)
class BimanualLayout:
    """Table and arm placements of the rig (world frame: z up, x forward, y left).

    Attributes:
        table_size_m: table depth (x), width (y) and thickness [m].
        table_top_height_m: floor to table top [m].
        table_center_xy_m: table centre in the world's xy plane [m].
        arms: placement per arm name.
        path: the file it was read from.
    """

    table_size_m: tuple[float, float, float]
    table_top_height_m: float
    table_center_xy_m: tuple[float, float]
    arms: dict[str, ArmPlacement]
    path: Path

    @classmethod
    def load(cls, path: str | Path = "bimanual.yaml") -> BimanualLayout:
        """Read a layout file; a bare name is looked up in ``urdf/``.

        Raises:
            ConfigError: missing file or field, naming the file and the field.
        """
        from abc_robot.runtime.config import load_yaml

        p = urdf_path(path)
        data = load_yaml(p)
        try:
            table = data["table"]
            arms_raw: dict[str, Any] = data["arms"]
            arms = {}
            for name in ARMS:
                a = arms_raw[name]
                T = np.eye(4)
                T[:3, :3] = R_from_rpy(a.get("base_rpy_rad", [0, 0, 0]))
                T[:3, 3] = np.asarray(a["base_xyz_m"], dtype=float)
                leader = a.get("leader_urdf")
                arms[name] = ArmPlacement(
                    name=name,
                    urdf=(p.parent / a["urdf"]).resolve(),
                    leader_urdf=(p.parent / leader).resolve() if leader else None,
                    T_world_base=T,
                )
            size = tuple(float(v) for v in table["size_m"])
            center = tuple(float(v) for v in table.get("center_xy_m", [0.0, 0.0]))
            if len(size) != 3 or len(center) != 2:
                raise ValueError("table.size_m needs 3 values and table.center_xy_m 2")
            return cls(
                table_size_m=size,  # type: ignore[arg-type]
                table_top_height_m=float(table["top_height_m"]),
                table_center_xy_m=center,  # type: ignore[arg-type]
                arms=arms,
                path=p,
            )
        except KeyError as exc:
            raise ConfigError(f"missing field {exc.args[0]!r}", file=str(p)) from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc), file=str(p)) from exc

    def T_world_base(self, arm: str) -> np.ndarray:
        """Base pose of ``arm`` in the world (4×4 copy)."""
        return self.arms[arm].T_world_base.copy()
