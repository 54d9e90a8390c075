"""Kinematics: arm models from ``urdf/``, SE(3) helpers, IK, arm-to-arm collision.

Imports only numpy, scipy and pinocchio (never torch or mujoco), so follower and
leader processes can use it on their hot path.
"""
