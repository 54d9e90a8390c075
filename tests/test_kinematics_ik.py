"""IK: round trips, limits, singularities, unreachable targets, posture, continuity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.errors import KinematicsError
from abc_robot.kinematics import ArmModel, IKConfig, IKSolver, make_T, pose_error

ARM = ArmModel.from_urdf("yam_follower.urdf")
IK = IKSolver(ARM)
# A comfortable mid-workspace pose and the arm stretched straight forward.
Q_HOME = np.array([0.0, 1.2, 1.0, 0.0, 0.0, 0.0])
Q_STRETCHED = np.array([0.0, np.pi - 0.215, np.pi - 0.24, 0.0, 0.0, 0.0])


def _check(res, T_target) -> None:
    assert ARM.within_limits(res.q)
    d, a = pose_error(ARM.fk(res.q), T_target)
    assert d == pytest.approx(res.pos_err_m, abs=1e-9)
    assert a == pytest.approx(res.rot_err_rad, abs=1e-9)


def test_round_trip_on_random_reachable_poses() -> None:
    """Targets are FK of random joint angles; warm start within ±0.3 rad of them."""
    rng = np.random.default_rng(0)
    n, ok = 300, 0
    for _ in range(n):
        q_true = ARM.random_q(rng, margin_rad=0.05)
        T = ARM.fk(q_true)
        res = IK.solve(T, ARM.clamp(q_true + rng.uniform(-0.3, 0.3, 6)))
        _check(res, T)
        if res.converged:
            ok += 1
            assert res.pos_err_m <= IK.cfg.pos_tol_m and res.rot_err_rad <= IK.cfg.rot_tol_rad
    assert ok / n >= 0.98


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.05, 0.95), min_size=6, max_size=6))
def test_warm_start_at_the_solution_stays_there(frac) -> None:
    q = ARM.q_lower + np.array(frac) * (ARM.q_upper - ARM.q_lower)
    res = IK.solve(ARM.fk(q), q)
    assert res.converged and res.iterations == 1
    np.testing.assert_array_equal(res.q, q)


def test_unreachable_target_returns_the_closest_reachable_point() -> None:
    ik = IKSolver(ARM, IKConfig(rot_weight_m=0.0))  # position only: "closest" is a distance
    T_far = make_T(p=[1.5, 0.4, 0.5])
    res = ik.solve(T_far, Q_HOME)
    _check(res, T_far)
    assert not res.converged
    rng = np.random.default_rng(1)
    sampled = min(np.linalg.norm(ARM.fk(ARM.random_q(rng))[:3, 3] - T_far[:3, 3]) for _ in range(3000))
    assert res.pos_err_m <= sampled + 1e-3
    # Never worse than where it started, and it stops early instead of burning iterations.
    start = np.linalg.norm(ARM.fk(Q_HOME)[:3, 3] - T_far[:3, 3])
    assert res.pos_err_m < start and res.iterations < ik.cfg.max_iters


def test_result_is_never_worse_than_the_warm_start() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        q0 = ARM.random_q(rng)
        T = make_T(p=rng.uniform([-1.0, -1.0, -0.5], [1.0, 1.0, 1.2]))
        res = IK.solve(T, q0)
        w = IK.cfg.rot_weight_m
        d0, a0 = pose_error(ARM.fk(q0), T)
        assert res.pos_err_m**2 + (w * res.rot_err_rad) ** 2 <= d0**2 + (w * a0) ** 2 + 1e-12
        assert ARM.within_limits(res.q)


def test_sweep_through_the_workspace_boundary_is_continuous() -> None:
    """A target sliding 2 mm per tick out of reach and back: bounded steps, recovery."""
    step = 0.05
    ik = IKSolver(ARM, IKConfig(max_step_rad=step))
    q = Q_HOME.copy()
    T0 = ARM.fk(q)
    T = T0.copy()
    xs = [T0[0, 3] + 0.002 * k for k in (*range(500), *range(500, -1, -1))]
    worst = 0.0
    for x in xs:
        T[0, 3] = x
        res = ik.solve(T, q)
        assert np.all(np.isfinite(res.q)) and ARM.within_limits(res.q)
        worst = max(worst, float(np.max(np.abs(res.q - q))))
        q = res.q
    assert worst <= step + 1e-12
    assert res.converged  # back at the start pose after the excursion
    # Out of reach, the arm points at the target: the error is the overshoot.
    T[0, 3] = xs[499]
    res = ik.solve(T, q)
    assert not res.converged and res.pos_err_m > 0.5


def test_singular_stretched_arm_is_graceful() -> None:
    J = ARM.jacobian(Q_STRETCHED)
    assert np.linalg.svd(J, compute_uv=False)[-1] < 1e-2  # it is near-singular
    T = ARM.fk(Q_STRETCHED)
    res = IK.solve(T, ARM.clamp(Q_STRETCHED + 0.05))
    _check(res, T)
    assert res.pos_err_m < 1e-3 and res.rot_err_rad < 1e-2
    # Pulling further out along the stretched direction: finite, small steps, no flip.
    T_out = T.copy()
    T_out[:3, 3] += 0.05 * T[:3, 3] / np.linalg.norm(T[:3, 3])
    res2 = IK.solve(T_out, res.q)
    assert np.all(np.isfinite(res2.q)) and ARM.within_limits(res2.q)
    assert np.max(np.abs(res2.q - res.q)) < 0.3
    assert res2.pos_err_m < 0.06


def test_out_of_limit_requests_are_clamped_inside_the_limits() -> None:
    q_bad = Q_HOME.copy()
    q_bad[1] = -0.4  # joint 2 below its lower limit (0)
    q_bad[4] = 2.0  # joint 5 above its upper limit (pi/2)
    T = ARM.fk(q_bad)  # FK does not care about limits
    res = IK.solve(T, q_bad)  # even the warm start is out of limits
    assert ARM.within_limits(res.q)
    assert res.q[1] == pytest.approx(ARM.q_lower[1], abs=1e-6) or res.converged
    margin = IKSolver(ARM, IKConfig(limit_margin_rad=0.05)).solve(T, q_bad)
    assert np.all(margin.q >= ARM.q_lower + 0.05 - 1e-12) and np.all(margin.q <= ARM.q_upper - 0.05 + 1e-12)


def test_posture_task_acts_in_the_null_space() -> None:
    ik_free = IKSolver(ARM, IKConfig(rot_weight_m=0.0))
    rng = np.random.default_rng(4)
    closer = 0
    for _ in range(20):
        q_true = ARM.random_q(rng, margin_rad=0.2)
        T = ARM.fk(q_true)
        q_init = ARM.clamp(q_true + rng.uniform(-0.2, 0.2, 6))
        q_post = ARM.clamp(q_true + rng.uniform(-0.5, 0.5, 6))
        plain = ik_free.solve(T, q_init)
        held = ik_free.solve(T, q_init, q_posture=q_post)
        # The pose task is still met exactly...
        assert held.converged and held.pos_err_m <= ik_free.cfg.pos_tol_m
        # ...and the leftover freedom moves toward the preferred posture.
        closer += np.linalg.norm(held.q - q_post) < np.linalg.norm(plain.q - q_post) - 1e-6
    assert closer >= 18
    # Already at a solution, the call still moves along the self-motion toward the posture.
    q_true = np.array([0.3, 1.5, 1.2, 0.2, 0.4, 0.1])
    q_post = q_true + np.array([0.0, 0.0, 0.0, 0.0, 0.5, -0.5])
    res = ik_free.solve(ARM.fk(q_true), q_true, q_posture=q_post)
    assert res.converged
    assert np.linalg.norm(res.q - q_post) < np.linalg.norm(q_true - q_post) - 0.1


def test_bad_arguments_raise() -> None:
    with pytest.raises(KinematicsError, match="4x4"):
        IK.solve(np.eye(3), Q_HOME)
    with pytest.raises(KinematicsError, match="6 values"):
        IK.solve(np.eye(4), np.zeros(5))
    with pytest.raises(ValueError, match="max_iters"):
        IKConfig(max_iters=0)
    with pytest.raises(ValueError, match="posture_gain"):
        IKConfig(posture_gain=2.0)
