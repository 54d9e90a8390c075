"""Arm-to-arm collision for the bimanual pair placed as in urdf/bimanual.yaml."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from abc_robot.errors import KinematicsError
from abc_robot.kinematics import URDF_DIR, ArmModel, PairCollision, T_from_xyz_rpy

ARM = ArmModel.from_urdf("yam_follower.urdf")
LAYOUT = yaml.safe_load((URDF_DIR / "bimanual.yaml").read_text())
T_LEFT, T_RIGHT = (
    T_from_xyz_rpy(LAYOUT["arms"][a]["base_xyz_m"], LAYOUT["arms"][a]["base_rpy_rad"]) for a in ("left", "right")
)
PAIR = PairCollision(ARM, ARM, T_LEFT, T_RIGHT, margin_m=0.01)
REACH = np.array([0.0, 1.6, 1.6, 0.0, 0.0, 0.0])  # upper arm up, forearm forward


def _facing(yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Left arm yawed toward the right one (and vice versa) by ``yaw`` [rad]."""
    ql, qr = REACH.copy(), REACH.copy()
    ql[0], qr[0] = -yaw, yaw
    return ql, qr


def test_arms_apart_are_free() -> None:
    for q in (np.zeros(6), REACH):
        assert not PAIR.in_collision(q, q)
        assert PAIR.min_distance(q, q) > 0.2


def test_arms_commanded_into_each_other_collide() -> None:
    ql, qr = _facing(1.2)
    assert PAIR.in_collision(ql, qr)
    assert PAIR.min_distance(ql, qr) < 0.0
    left, right, _ = PAIR.closest_pair(ql, qr)
    assert left.startswith("left/") and right.startswith("right/")


def test_only_one_arm_reaching_across_collides_too() -> None:
    ql = np.array([-1.57, 2.4, 1.8, 0.6, 0.0, 0.0])  # left arm reaching over the right one
    assert ARM.fk(ql)[1, 3] < -0.6  # 0.6 m to the side: the right arm's base is 0.6 m away
    assert PAIR.in_collision(ql, np.zeros(6))
    assert not PAIR.in_collision(np.zeros(6), np.zeros(6))


def test_margin_and_distance_agree_along_an_approach() -> None:
    dists = []
    for yaw in np.linspace(0.0, 1.2, 25):
        ql, qr = _facing(yaw)
        d = PAIR.min_distance(ql, qr)
        dists.append(d)
        assert PAIR.in_collision(ql, qr) == (d < PAIR.margin_m)
    assert dists[0] > 0.3 and dists[-1] < 0.0
    apart = np.array([d for d in dists if d > 0])  # penetration depths are estimates
    assert np.all(np.diff(apart) < 1e-9)  # swinging toward each other only gets closer


def test_margin_makes_the_check_conservative() -> None:
    wide = PairCollision(ARM, ARM, T_LEFT, T_RIGHT, margin_m=0.5)
    assert wide.in_collision(REACH, REACH)  # arms ~0.4 m apart are within a 0.5 m margin
    assert not PAIR.in_collision(REACH, REACH)


def test_bad_arguments_raise() -> None:
    with pytest.raises(KinematicsError, match="6 left and 6 right"):
        PAIR.in_collision(np.zeros(5), np.zeros(6))
    with pytest.raises(KinematicsError, match="margin_m"):
        PairCollision(ARM, ARM, T_LEFT, T_RIGHT, margin_m=-1.0)
