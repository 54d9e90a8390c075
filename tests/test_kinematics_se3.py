"""SE(3) helpers: Lie-group round trips and the conventions everyone relies on."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.kinematics import se3

finite = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
twists = st.lists(finite, min_size=6, max_size=6).map(np.array)
# Rotation part strictly below pi so that log(exp(x)) == x holds (no antipodal ambiguity).
small_twists = st.tuples(
    st.lists(finite, min_size=3, max_size=3), st.lists(st.floats(-1.7, 1.7), min_size=3, max_size=3)
).map(lambda t: np.array(t[0] + t[1]))


def _is_rigid(T: np.ndarray) -> bool:
    R = T[:3, :3]
    return (
        np.allclose(R.T @ R, np.eye(3), atol=1e-9)
        and np.isclose(np.linalg.det(R), 1.0)
        and np.allclose(T[3], [0, 0, 0, 1])
    )


@settings(max_examples=200, deadline=None)
@given(small_twists)
def test_log6_inverts_exp6(xi: np.ndarray) -> None:
    T = se3.exp6(xi)
    assert _is_rigid(T)
    np.testing.assert_allclose(se3.log6(T), xi, atol=1e-8)


@settings(max_examples=200, deadline=None)
@given(twists)
def test_exp6_inverts_log6(xi: np.ndarray) -> None:
    T = se3.exp6(xi)
    np.testing.assert_allclose(se3.exp6(se3.log6(T)), T, atol=1e-8)


@settings(max_examples=100, deadline=None)
@given(twists, twists)
def test_inverse_and_composition(a: np.ndarray, b: np.ndarray) -> None:
    Ta, Tb = se3.exp6(a), se3.exp6(b)
    np.testing.assert_allclose(se3.compose(Ta, se3.inv_T(Ta)), np.eye(4), atol=1e-9)
    np.testing.assert_allclose(se3.inv_T(se3.compose(Ta, Tb)), se3.inv_T(Tb) @ se3.inv_T(Ta), atol=1e-9)
    np.testing.assert_allclose(se3.inv_T(Ta), np.linalg.inv(Ta), atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(twists, twists, st.floats(0.0, 1.0))
def test_interpolate_endpoints_and_geodesic(a: np.ndarray, b: np.ndarray, s: float) -> None:
    T0, T1 = se3.exp6(a), se3.exp6(b)
    np.testing.assert_allclose(se3.interpolate(T0, T1, 0.0), T0, atol=1e-9)
    np.testing.assert_allclose(se3.interpolate(T0, T1, 1.0), T1, atol=1e-9)
    Ts = se3.interpolate(T0, T1, s)
    assert _is_rigid(Ts)
    # Straight-line translation, and the rotation splits the geodesic angle s : 1-s.
    np.testing.assert_allclose(Ts[:3, 3], (1 - s) * T0[:3, 3] + s * T1[:3, 3], atol=1e-9)
    total = se3.rotation_error(T0[:3, :3], T1[:3, :3])
    if total < np.pi - 1e-3:  # the geodesic is unique away from a half turn
        assert abs(se3.rotation_error(T0[:3, :3], Ts[:3, :3]) - s * total) < 1e-7
        assert abs(se3.rotation_error(Ts[:3, :3], T1[:3, :3]) - (1 - s) * total) < 1e-7


def test_rotation_error_and_pose_error_units() -> None:
    R = se3.exp3([0.0, 0.0, 0.3])
    assert abs(se3.rotation_error(np.eye(3), R) - 0.3) < 1e-12
    assert abs(se3.rotation_error(np.eye(3), se3.exp3([1e-9, 0, 0])) - 1e-9) < 1e-15
    d, a = se3.pose_error(se3.make_T(p=[0, 0, 0]), se3.make_T(R, [0.3, 0.4, 0.0]))
    assert abs(d - 0.5) < 1e-12 and abs(a - 0.3) < 1e-12


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=3, max_size=3))
def test_quaternion_round_trip_mujoco_order(w: list[float]) -> None:
    R = se3.exp3(w)
    q = se3.quat_wxyz_from_R(R)
    assert q[0] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
    np.testing.assert_allclose(se3.R_from_quat_wxyz(q), R, atol=1e-9)


def test_rpy_is_urdf_convention() -> None:
    r, p, y = 0.1, -0.2, 0.3
    T = se3.T_from_xyz_rpy([1, 2, 3], [r, p, y])
    Rz, Ry, Rx = se3.exp3([0, 0, y]), se3.exp3([0, p, 0]), se3.exp3([r, 0, 0])
    np.testing.assert_allclose(T[:3, :3], Rz @ Ry @ Rx, atol=1e-12)
    np.testing.assert_allclose(T[:3, 3], [1, 2, 3])
