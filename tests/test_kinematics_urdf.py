"""The one place for description paths and URDF roll-pitch-yaw."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.kinematics.urdf import URDF_DIR, R_from_rpy, urdf_path

ANGLE = st.floats(-np.pi, np.pi, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(ANGLE, ANGLE, ANGLE)
def test_rpy_is_urdfs_convention(r: float, p: float, y: float) -> None:
    R = R_from_rpy((r, p, y))
    np.testing.assert_allclose(R, pin.rpy.rpyToMatrix(np.array([r, p, y])), atol=1e-12)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)


def test_bare_names_resolve_in_urdf_dir_and_paths_stay(tmp_path) -> None:
    assert urdf_path("yam_follower.urdf") == URDF_DIR / "yam_follower.urdf"
    mine = tmp_path / "arm.urdf"
    mine.write_text("<robot/>")
    assert urdf_path(mine) == mine
    assert urdf_path("no_such.urdf").name == "no_such.urdf" and not urdf_path("no_such.urdf").exists()
