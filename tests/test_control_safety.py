"""Safety filter: limits clamp, workspace and collision refuse and hold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.control.safety import SafetyConfig, SafetyFilter
from abc_robot.errors import ConfigError
from abc_robot.kinematics.model import URDF_DIR, ArmModel
from abc_robot.runtime.config import from_dict

ARM = ArmModel.from_urdf(URDF_DIR / "yam_follower.urdf")
HOME = np.array([0.0, 1.3, 1.2, -1.47, 0.0, 0.0, 0.0])


def _filter(**kw):
    f = SafetyFilter(SafetyConfig(**kw), ARM.q_lower, ARM.q_upper, fk=ARM.fk)
    f.reset(HOME)
    return f


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=7, max_size=7), st.floats(0.001, 0.02))
def test_output_always_inside_limits_and_rates(req, dt):
    f = _filter()
    prev = f.q_prev.copy()
    res = f.filter(np.array(req), dt)
    q = res.q
    assert np.all(q[:6] >= ARM.q_lower + 0.02 - 1e-12) and np.all(q[:6] <= ARM.q_upper - 0.02 + 1e-12)
    assert np.all(np.abs(q[:6] - prev[:6]) <= 3.0 * dt + 1e-9)
    assert 0.0 <= q[6] <= 1.0 and abs(q[6] - prev[6]) <= 4.0 * dt + 1e-12


def test_velocity_and_acceleration_limits_ramp_towards_far_targets():
    f = _filter(max_velocity_rad_s=1.0, max_accel_rad_s2=10.0)
    target = HOME.copy()
    target[0] = 1.0
    qs, dt = [], 0.004
    for _ in range(400):
        qs.append(f.filter(target, dt).q[0])
    v = np.diff(qs) / dt
    assert v.max() <= 1.0 + 1e-9
    assert np.abs(np.diff(v)).max() / dt <= 10.0 + 1e-6
    assert qs[-1] == pytest.approx(1.0, abs=1e-6)


def test_engage_speed_is_slower():
    f = _filter(engage_velocity_rad_s=0.5)
    target = HOME.copy()
    target[0] = 1.0
    for _ in range(200):
        q = f.filter(target, 0.004, engaging=True).q
    assert abs(np.diff([HOME[0], q[0]]))[0] <= 0.5 * 200 * 0.004 + 1e-9


def test_workspace_box_refuses_and_holds():
    f = _filter(workspace_max_m=(0.75, 0.6, 0.16))  # EE at home is ~0.149 m high
    up = HOME.copy()
    up[1] -= 0.3  # raises the tool
    res = None
    for _ in range(100):
        res = f.filter(up, 0.004)
        if res.refused:
            break
    assert res is not None and res.refused and "workspace" in res.refused
    assert ARM.fk(res.q[:6])[2, 3] <= 0.16
    assert f.refusals >= 1


def test_collision_callback_refuses():
    f = SafetyFilter(SafetyConfig(), ARM.q_lower, ARM.q_upper, collision=lambda q: "the arms would collide" if q[0] > 0.05 else None)
    f.reset(HOME)
    target = HOME.copy()
    target[0] = 0.5
    reasons = {f.filter(target, 0.01).refused for _ in range(50)}
    assert "the arms would collide" in reasons
    assert f.q_prev[0] <= 0.05


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match=r"f.yaml: safety.max_velocity_rad_s: must be positive"):
        from_dict(SafetyConfig, {"max_velocity_rad_s": -1.0}, file="f.yaml", prefix="safety")


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.floats(-4, 4), min_size=7, max_size=7),
            st.floats(1e-6, 0.08),
            st.booleans(),
            st.sampled_from([0.0, 1e-4, 1e-2, 0.3]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_float_path_is_the_array_path_bit_for_bit(steps):
    """The per-joint float loop (finite inputs) gives exactly the array code's results."""
    fast = SafetyFilter(SafetyConfig(), ARM.q_lower, ARM.q_upper, fk=ARM.fk, reach_m=ARM.reach_m)
    ref = SafetyFilter(SafetyConfig(), ARM.q_lower, ARM.q_upper, fk=ARM.fk)
    fast.reset(HOME)
    ref.reset(HOME)
    for req, dt, engaging, jitter in steps:
        # Requests near the previous command (tracking) as well as far ones (jumps).
        r = np.array(req) if jitter == 0.0 else ref.q_prev + jitter * np.array(req)
        known = (r[:6] + 1e-7, ARM.fk(r[:6] + 1e-7)[:3, 3])  # an IK-like known position nearby
        a = fast.filter(r, dt, engaging=engaging, known_fk=known)
        b = ref._filter_arrays(np.asarray(r, float), dt, engaging, None)
        assert a.q.tobytes() == b.q.tobytes() and a.clamped == b.clamped and a.refused == b.refused
        assert fast.v_prev.tobytes() == ref.v_prev.tobytes()


def test_non_finite_requests_take_the_array_path_and_are_refused():
    f = _filter()
    req = HOME.copy()
    req[2] = np.nan
    res = f.filter(req, 0.004)
    assert res.refused and np.array_equal(res.q, HOME)


def test_known_position_settles_the_workspace_check_only_when_provably_inside():
    f = SafetyFilter(SafetyConfig(), ARM.q_lower, ARM.q_upper, fk=ARM.fk, reach_m=ARM.reach_m)
    calls = []

    def fk(q):
        calls.append(1)
        return ARM.fk(q)

    f.fk = fk
    q = HOME[:6]
    p = ARM.fk(q)[:3, 3]
    assert f.in_workspace(q + 1e-4, (q, p)) and not calls  # inside, by the reach bound
    far = np.array(p) + np.array([0.0, 0.0, 5.0])  # a (wrong) known position outside
    assert f.in_workspace(q, (q, far)) and calls  # not provably inside: the FK decides
