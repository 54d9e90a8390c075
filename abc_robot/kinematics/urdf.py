"""Where the robot descriptions live, how a description is named, and URDF's
roll-pitch-yaw convention: the one place for each (numpy only, no pinocchio).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["URDF_DIR", "urdf_path", "R_from_rpy"]

#: The project's robot descriptions and scene assets.
URDF_DIR = Path(__file__).resolve().parents[2] / "urdf"


def urdf_path(name: str | Path) -> Path:
    """A description's file: an existing path as given, else ``urdf/<name>``.

    A bare name (``"yam_follower.urdf"``) or a path relative to ``urdf/`` resolves
    there; a path that exists, or an absolute one, is kept (a missing file is the
    loader's error to report).
    """
    p = Path(name)
    if not p.exists() and not p.is_absolute() and (URDF_DIR / p).exists():
        return URDF_DIR / p
    return p


def R_from_rpy(rpy: Sequence[float] | np.ndarray) -> np.ndarray:
    """URDF roll-pitch-yaw [rad] → 3×3 rotation, ``R = Rz(yaw) Ry(pitch) Rx(roll)``."""
    r, p, y = (float(v) for v in rpy)
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )
