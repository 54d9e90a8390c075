"""Delta-pose intervention math with leader and follower at arbitrary, different poses."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from abc_robot.control.intervention import DeltaPoseMapper


def _pose(rotvec, p):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = p
    return T


vec = st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3).map(np.array)


@settings(max_examples=100, deadline=None)
@given(vec, vec, vec, vec)
def test_zero_leader_motion_gives_zero_follower_motion(rl, pl, rf, pf):
    T_L0, T_F0 = _pose(rl, pl), _pose(rf, pf)
    m = DeltaPoseMapper()
    m.takeover(T_L0, T_F0)
    np.testing.assert_allclose(m.target(T_L0), T_F0, atol=1e-12)  # no jump at takeover


@settings(max_examples=100, deadline=None)
@given(vec, vec, vec, vec, vec, st.floats(0.2, 3.0))
def test_pure_translation_maps_scaled_in_base_frame(rl, pl, rf, pf, d, s):
    T_L0, T_F0 = _pose(rl, pl), _pose(rf, pf)
    m = DeltaPoseMapper(translation_scale=s)
    m.takeover(T_L0, T_F0)
    T_L = T_L0.copy()
    T_L[:3, 3] += d
    out = m.target(T_L)
    np.testing.assert_allclose(out[:3, 3], pf + s * d, atol=1e-12)
    np.testing.assert_allclose(out[:3, :3], T_F0[:3, :3], atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(vec, vec, vec, vec, vec)
def test_pure_rotation_applies_the_leader_rotation_delta(rl, pl, rf, pf, w):
    T_L0, T_F0 = _pose(rl, pl), _pose(rf, pf)
    m = DeltaPoseMapper()
    m.takeover(T_L0, T_F0)
    R_delta = Rotation.from_rotvec(w).as_matrix()  # rotation in the base frame
    T_L = T_L0.copy()
    T_L[:3, :3] = R_delta @ T_L0[:3, :3]
    out = m.target(T_L)
    np.testing.assert_allclose(out[:3, 3], pf, atol=1e-12)  # position unchanged
    np.testing.assert_allclose(out[:3, :3], R_delta @ T_F0[:3, :3], atol=1e-9)


def test_small_leader_steps_give_small_follower_steps():
    m = DeltaPoseMapper()
    m.takeover(_pose([0.3, -0.2, 1.0], [0.1, 0.2, 0.3]), _pose([-1.0, 0.5, 0.1], [0.3, -0.1, 0.2]))
    prev = m.target(_pose([0.3, -0.2, 1.0], [0.1, 0.2, 0.3]))
    for k in range(1, 50):
        T_L = _pose([0.3 + 0.002 * k, -0.2, 1.0], [0.1 + 0.001 * k, 0.2, 0.3])
        cur = m.target(T_L)
        assert np.linalg.norm(cur[:3, 3] - prev[:3, 3]) <= 0.0011
        ang = Rotation.from_matrix(cur[:3, :3] @ prev[:3, :3].T).magnitude()
        assert ang <= 0.0021
        prev = cur
