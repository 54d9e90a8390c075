"""SE(3) helpers on plain numpy 4×4 homogeneous transforms.

Everyone in the stack passes poses as ``float64`` 4×4 arrays named for their frames
(``T_base_ee`` maps ee coordinates into base coordinates), so these functions take and
return arrays, never wrapper objects. Twists are 6-vectors ``[v (m), ω (rad)]``, linear
part first, as in pinocchio. The log/exp maps are pinocchio's (C++), the rest is numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pinocchio as pin

from abc_robot.kinematics.urdf import R_from_rpy

__all__ = [
    "make_T",
    "T_from_xyz_rpy",
    "inv_T",
    "compose",
    "log6",
    "exp6",
    "log3",
    "exp3",
    "interpolate",
    "rotation_error",
    "pose_error",
    "quat_wxyz_from_R",
    "R_from_quat_wxyz",
]


def make_T(R: np.ndarray | None = None, p: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Build a 4×4 transform from a rotation (default identity) and translation [m]."""
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = R
    if p is not None:
        T[:3, 3] = p
    return T


def T_from_xyz_rpy(xyz: Sequence[float], rpy: Sequence[float]) -> np.ndarray:
    """Transform from a translation [m] and URDF roll-pitch-yaw [rad] (R = Rz Ry Rx)."""
    return make_T(R_from_rpy(rpy), xyz)


def inv_T(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (uses Rᵀ, never a general matrix inverse)."""
    R = T[:3, :3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ T[:3, 3]
    return out


def compose(*Ts: np.ndarray) -> np.ndarray:
    """Product ``T_0 @ T_1 @ ...`` of any number of transforms (identity if none)."""
    out = np.eye(4)
    for T in Ts:
        out = out @ T
    return out


def log6(T: np.ndarray) -> np.ndarray:
    """SE(3) logarithm: the twist ``[v, ω]`` whose exponential is ``T``."""
    return np.array(pin.log6(pin.SE3(np.asarray(T, dtype=np.float64))).vector)


def exp6(xi: Sequence[float] | np.ndarray) -> np.ndarray:
    """SE(3) exponential of a twist ``[v (m), ω (rad)]``, as a 4×4 transform."""
    return np.array(pin.exp6(pin.Motion(np.asarray(xi, dtype=np.float64))).homogeneous)


def log3(R: np.ndarray) -> np.ndarray:
    """SO(3) logarithm: rotation vector [rad] (axis × angle, angle in [0, π])."""
    return np.array(pin.log3(np.asarray(R, dtype=np.float64)))


def exp3(w: Sequence[float] | np.ndarray) -> np.ndarray:
    """SO(3) exponential of a rotation vector [rad] (Rodrigues)."""
    return np.array(pin.exp3(np.asarray(w, dtype=np.float64)))


def interpolate(T0: np.ndarray, T1: np.ndarray, s: float) -> np.ndarray:
    """Pose a fraction ``s`` of the way from ``T0`` to ``T1``.

    Translation is interpolated linearly and rotation along the SO(3) geodesic,
    independently: the tool point moves on a straight line, which is what an operator
    expects from a ramp or a delta-pose blend (a screw motion would arc).
    ``s`` = 0 gives ``T0``, 1 gives ``T1``; values outside [0, 1] extrapolate.
    """
    R0 = T0[:3, :3]
    out = np.eye(4)
    out[:3, :3] = R0 @ exp3(s * log3(R0.T @ T1[:3, :3]))
    out[:3, 3] = (1.0 - s) * T0[:3, 3] + s * T1[:3, 3]
    return out


def rotation_error(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """Geodesic angle between two rotations [rad], in [0, π]."""
    # The trace formula loses precision near 0; log3 does not.
    return float(np.linalg.norm(pin.log3(np.asarray(R_a, dtype=np.float64).T @ R_b)))


def pose_error(T_a: np.ndarray, T_b: np.ndarray) -> tuple[float, float]:
    """(translation distance [m], rotation angle [rad]) between two poses."""
    return float(np.linalg.norm(T_a[:3, 3] - T_b[:3, 3])), rotation_error(T_a[:3, :3], T_b[:3, :3])


def quat_wxyz_from_R(R: np.ndarray) -> np.ndarray:
    """Unit quaternion ``[w, x, y, z]`` (MuJoCo order, w ≥ 0) of a rotation matrix."""
    q = pin.Quaternion(np.asarray(R, dtype=np.float64))
    out = np.array([q.w, q.x, q.y, q.z])
    return out if out[0] >= 0.0 else -out


def R_from_quat_wxyz(q_wxyz: Sequence[float] | np.ndarray) -> np.ndarray:
    """Rotation matrix of a quaternion ``[w, x, y, z]`` (normalised first)."""
    w, x, y, z = (float(v) for v in q_wxyz)
    return np.array(pin.Quaternion(w, x, y, z).normalized().toRotationMatrix())
