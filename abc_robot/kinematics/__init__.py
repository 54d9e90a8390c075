"""Kinematics: arm models from ``urdf/``, SE(3) helpers, IK, arm-to-arm collision.

The rig layout (arm base poses, table) is read by :mod:`abc_robot.sim.layout`.

Imports only numpy, scipy and pinocchio (never torch or mujoco), so follower
and leader processes can use it on their hot path. The exports load lazily:
``abc_robot.kinematics.urdf`` (paths, roll-pitch-yaw) costs no pinocchio import.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "PairCollision": "collision",
    "IKConfig": "ik",
    "IKResult": "ik",
    "IKSolver": "ik",
    "ARM_JOINTS": "model",
    "ArmModel": "model",
    "URDF_DIR": "urdf",
    "urdf_path": "urdf",
    "R_from_rpy": "urdf",
    **{
        n: "se3"
        for n in (
            "R_from_quat_wxyz",
            "T_from_xyz_rpy",
            "compose",
            "exp3",
            "exp6",
            "interpolate",
            "inv_T",
            "log3",
            "log6",
            "make_T",
            "pose_error",
            "quat_wxyz_from_R",
            "rotation_error",
        )
    },
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'abc_robot.kinematics' has no attribute {name!r}")
    return getattr(import_module(f"abc_robot.kinematics.{mod}"), name)


__all__ = [
    "ARM_JOINTS",
    "URDF_DIR",
    "urdf_path",
    "R_from_rpy",
    "ArmModel",
    "IKConfig",
    "IKResult",
    "IKSolver",
    "PairCollision",
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
