"""Time-indexed chunk execution, delay estimate, spline compression (numpy side)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.policy.chunking import (
    ChunkExecutor,
    DelayEstimator,
    ExecutorConfig,
    Trajectory,
    executing_prefix,
)
from abc_robot.policy.compression import compress_chunk, gripper_changing, resample

from .utils import REPO

P = 33_333_333  # 30 Hz action period [ns]


def _times(t0: int, n: int, period: int = P) -> np.ndarray:
    return t0 + period * np.arange(n, dtype=np.int64)


def test_trajectory_passes_through_actions_and_reproduces_cubics():
    t = _times(10**9, 12)
    x = (t - t[0]) * 1e-9
    poly = np.stack([1 + 2 * x - 3 * x**2 + 4 * x**3, -x], axis=1)
    traj = Trajectory(poly, t)
    for i in (0, 5, 11):
        np.testing.assert_allclose(traj(int(t[i])), poly[i], atol=1e-12)
    tq = int(t[3] + P // 3)
    xq = (tq - t[0]) * 1e-9
    np.testing.assert_allclose(traj(tq), [1 + 2 * xq - 3 * xq**2 + 4 * xq**3, -xq], atol=1e-9)
    np.testing.assert_array_equal(traj(int(t[0]) - 5), poly[0])  # held before the start
    np.testing.assert_array_equal(traj(int(t[-1]) + 10**9), poly[-1])  # held after the end


def test_trajectory_validates():
    with pytest.raises(ValueError):
        Trajectory(np.zeros((3, 2)), np.array([0, 0, 1]))
    with pytest.raises(ValueError):
        Trajectory(np.zeros((3, 2)), np.array([0, 1]))


def test_replace_switches_to_the_newest_chunk_at_arrival():
    ex = ChunkExecutor(ExecutorConfig(method="replace"))
    assert ex.sample(0) is None
    t0 = 10**9
    ex.add(np.zeros((30, 2)), _times(t0, 30), obs_stamp_ns=t0, arrival_ns=t0 + 40_000_000)
    np.testing.assert_array_equal(ex.sample(t0 + 5 * P), [0.0, 0.0])
    t1 = t0 + 8 * P
    ex.add(np.ones((30, 2)), _times(t1, 30), obs_stamp_ns=t1, arrival_ns=t1 + 60_000_000)
    np.testing.assert_allclose(ex.sample(t1 + 3 * P), [1.0, 1.0])
    assert ex.chunks_received == 2
    assert ex.delays.delay_ns() == pytest.approx(58_000_000, rel=0.05)  # 90th pct of 40 and 60 ms
    assert ex.delays.steps(P) == 2
    ex.reset()
    assert ex.sample(t1) is None


def test_switch_jump_is_the_step_between_chunks_at_arrival_without_grippers():
    ex = ChunkExecutor(ExecutorConfig(method="replace", clip_dims=(2,)))
    t0 = 10**9
    ramp = np.linspace(0.0, 1.0, 30)[:, None] * [1.0, -1.0, 0.0]
    ex.add(ramp, _times(t0, 30), obs_stamp_ns=t0, arrival_ns=t0)
    assert "switches" not in ex.status()  # the first chunk is no switch
    t1 = t0 + 6 * P
    arrival = t1 + P  # one period of delay
    consistent = np.vstack([ramp[6:], np.repeat(ramp[-1:], 6, axis=0)])  # continues the executing chunk
    ex.add(consistent, _times(t1, 30), t1, arrival)
    assert ex.switch_jumps[-1] == pytest.approx(0.0, abs=1e-9)
    ex.add(consistent + [0.0, 0.2, 1.0], _times(t1, 30), t1, arrival)  # the gripper closing is no joint jump
    assert ex.switch_jumps[-1] == pytest.approx(0.2)
    st = ex.status()
    assert st["switches"] == 2 and st["switch_jump_max_rad"] == pytest.approx(0.2)
    assert st["switch_jump_p50_rad"] == pytest.approx(0.1)


def test_crossfade_is_continuous():
    ex = ChunkExecutor(ExecutorConfig(method="replace", crossfade_s=0.1))
    t0 = 0
    ex.add(np.zeros((30, 1)), _times(t0, 30), t0, arrival_ns=t0)
    arrival = 5 * P
    ex.add(np.ones((30, 1)), _times(P, 30), P, arrival_ns=arrival)
    before = ex.sample(arrival)
    assert before[0] == pytest.approx(0.0)  # the fade starts from the old trajectory
    steps = [float(ex.sample(arrival + k * 5_000_000)[0]) for k in range(25)]
    assert max(np.abs(np.diff(steps))) < 0.1  # no jump anywhere in the 100 ms fade
    assert steps[-1] == pytest.approx(1.0)


def test_ensemble_averages_overlapping_chunks_with_act_weights():
    m = 0.5
    ex = ChunkExecutor(ExecutorConfig(method="ensemble", ensemble_m=m))
    ex.add(np.full((30, 1), 0.0), _times(0, 30), 0, arrival_ns=0)
    ex.add(np.full((30, 1), 1.0), _times(P, 30), P, arrival_ns=P)
    ex.add(np.full((30, 1), 2.0), _times(2 * P, 30), 2 * P, arrival_ns=2 * P)
    w = np.exp(-m * np.arange(3))
    w /= w.sum()
    assert ex.sample(5 * P)[0] == pytest.approx(w @ [0.0, 1.0, 2.0])
    # only chunks that cover the instant count: past the first chunk's end
    late = int(_times(0, 30)[-1] + P // 2)
    w2 = np.exp(-m * np.arange(2))
    w2 /= w2.sum()
    assert ex.sample(late)[0] == pytest.approx(w2 @ [1.0, 2.0])


def test_starvation_is_counted_and_the_last_action_held():
    ex = ChunkExecutor(ExecutorConfig(clip_dims=(1,)))
    a = np.zeros((5, 2))
    a[:, 1] = [0.0, 0.5, 1.0, 1.0, 1.0]
    ex.add(a, _times(0, 5), 0, arrival_ns=0)
    assert ex.sample(10 * P)[1] == 1.0
    assert ex.starved_ticks == 1
    s = ex.sample(int(1.5 * P))
    assert 0.0 <= s[1] <= 1.0
    assert ex.status(P)["starved_ticks"] == 1


def test_delay_estimator_percentile():
    est = DelayEstimator(window=10, percentile=90)
    assert est.delay_ns() is None and est.steps(P) == 0
    for ms in range(1, 11):
        est.add(ms * 1_000_000)
    assert est.delay_ns() == pytest.approx(np.percentile(np.arange(1, 11) * 1e6, 90))
    for _ in range(10):
        est.add(100_000_000)  # the window forgets the old ones
    assert est.delay_ns() == 100_000_000
    assert est.steps(P) == 4  # 100 ms = 3.0000003 periods, rounded up


def test_executing_prefix_aligns_times():
    t0 = 0
    a = np.arange(30, dtype=np.float64)[:, None]
    traj = Trajectory(a, _times(t0, 30))
    prefix, n_cov = executing_prefix(traj, t0 + 8 * P, P, 30)
    np.testing.assert_allclose(prefix[:22, 0], np.arange(8, 30), atol=1e-9)
    np.testing.assert_allclose(prefix[22:, 0], 29.0)  # held past the end
    assert n_cov == 22


# ---- compression ---------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(n_in=st.integers(4, 40), data=st.data())
def test_resample_keeps_endpoints_and_lines(n_in, data):
    n_out = data.draw(st.integers(2, n_in))
    rng = np.random.default_rng(n_in)
    a = rng.normal(size=(n_in, 3))
    out = resample(a, n_out)
    np.testing.assert_array_equal(out[0], a[0])
    np.testing.assert_array_equal(out[-1], a[-1])
    start, end = rng.normal(size=3), rng.normal(size=3)
    line = start + np.linspace(0, 1, n_in)[:, None] * (end - start)
    np.testing.assert_allclose(
        resample(line, n_out), start + np.linspace(0, 1, n_out)[:, None] * (end - start), atol=1e-10
    )


def test_compress_chunk_26_to_20():
    a = np.linspace(0, 1, 30)[:, None] * np.ones((1, 14))
    a[:, [6, 13]] = 0.0
    out, did = compress_chunk(a, start=0, n_in=26, n_out=20, gripper_dims=(6, 13))
    assert did and out.shape == (24, 14)
    np.testing.assert_allclose(out[19], a[25])  # the executed segment ends where it did...
    np.testing.assert_allclose(out[20:], a[26:])  # ...and the tail moves up unchanged
    np.testing.assert_allclose(np.diff(out[:20, 0]), (a[25, 0] - a[0, 0]) / 19)  # straight line, faster


def test_compression_keeps_the_committed_prefix():
    rng = np.random.default_rng(1)
    a = np.cumsum(rng.normal(size=(30, 4)), axis=0)
    out, did = compress_chunk(a, start=3, n_in=20, n_out=15)
    assert did
    np.testing.assert_array_equal(out[:4], a[:4])  # prefix and the segment's first action untouched


def test_compression_is_off_while_a_gripper_changes():
    a = np.zeros((30, 14))
    a[10:, 6] = 1.0  # left gripper closes inside the segment
    assert gripper_changing(a[:26], (6, 13))
    out, did = compress_chunk(a, 0, 26, 20, gripper_dims=(6, 13))
    assert not did
    np.testing.assert_array_equal(out, a)
    assert not gripper_changing(a[12:], (6, 13))


def test_chunk_execution_imports_no_torch():
    code = "import sys, abc_robot.policy, abc_robot.policy.chunking; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
