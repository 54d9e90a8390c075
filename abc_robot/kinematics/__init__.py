"""Kinematics: arm models from ``urdf/``, SE(3) helpers, IK, arm-to-arm collision.

The rig layout (arm base poses, table) is read by :mod:`abc_robot.sim.layout`.

Imports only numpy, scipy and pinocchio (never torch or mujoco), so follower
and leader processes can use it on their hot path.
"""

from abc_robot.kinematics.collision import PairCollision
from abc_robot.kinematics.ik import IKConfig, IKResult, IKSolver
from abc_robot.kinematics.model import ARM_JOINTS, URDF_DIR, ArmModel
from abc_robot.kinematics.se3 import (
    R_from_quat_wxyz,
    T_from_xyz_rpy,
    compose,
    exp3,
    exp6,
    interpolate,
    inv_T,
    log3,
    log6,
    make_T,
    pose_error,
    quat_wxyz_from_R,
    rotation_error,
)

__all__ = [
    "ARM_JOINTS",
    "URDF_DIR",
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
