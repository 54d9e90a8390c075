"""The follower's arm–arm guard: skeleton distance first, the exact check only near."""

from __future__ import annotations

import numpy as np
import pytest

from abc_robot.errors import KinematicsError
from abc_robot.kinematics.collision import PairCollision, PairGuard
from abc_robot.kinematics.model import ArmModel
from abc_robot.kinematics.se3 import T_from_xyz_rpy

HOME = np.array([0.0, 1.3, 1.2, -1.47, 0.0, 0.0])
MS = 1_000_000


@pytest.fixture(scope="module")
def arm() -> ArmModel:
    return ArmModel.from_urdf("yam_follower.urdf")


def _bases(gap_m: float) -> tuple[np.ndarray, np.ndarray]:
    return T_from_xyz_rpy([0.0, gap_m / 2, 0.0], [0, 0, 0]), T_from_xyz_rpy([0.0, -gap_m / 2, 0.0], [0, 0, 0])


def test_far_apart_arms_need_no_exact_check_and_reuse_the_distance(arm: ArmModel) -> None:
    T_l, T_r = _bases(2.0)
    guard = PairGuard("left", arm, arm, T_l, T_r, precheck_m=0.3)
    assert not guard.collides(HOME, HOME, 0)
    assert guard.exact_checks == 0 and guard.skeleton_distance(HOME, HOME) > 1.0
    assert not guard.collides(HOME, HOME, 5 * MS)
    assert guard.exact_checks == 0


def test_close_arms_run_the_exact_check_and_agree_with_it(arm: ArmModel) -> None:
    T_l, T_r = _bases(0.05)
    exact = PairCollision(arm, arm, T_l, T_r, margin_m=0.01)
    for which, T_own, T_other in (("left", T_l, T_r), ("right", T_r, T_l)):
        guard = PairGuard(which, arm, arm, T_own, T_other, margin_m=0.01, precheck_m=0.3)
        assert guard.collides(HOME, HOME, 0) == exact.in_collision(HOME, HOME)
        assert guard.exact_checks == 1


def test_arm_name_is_checked(arm: ArmModel) -> None:
    with pytest.raises(KinematicsError, match="left"):
        PairGuard("middle", arm, arm, np.eye(4), np.eye(4))
