"""``abc-bench rig``: the latency matching, and a quick run on the twin."""

from __future__ import annotations

import math

import pytest

from abc_robot.bench.rig import STEP_RAD, _latencies_ms, run


def test_latency_is_from_the_encoder_stamp_to_the_first_moved_frame():
    ms = 1_000_000
    # Frames every 4 ms holding 0.0, then the target moves at 20 ms (a slewed setpoint).
    frames = [(k * 4 * ms, 0.0 if k * 4 < 20 else STEP_RAD * (k - 4) / 3) for k in range(12)]
    assert _latencies_ms([13 * ms], frames) == [pytest.approx(7.0)]
    # A step stamped before any frame, or after the last, is not matched.
    assert _latencies_ms([-1, 50 * ms], frames) == []
    # Frames that never move: nothing to match.
    assert _latencies_ms([5 * ms], [(k * 4 * ms, 0.1) for k in range(5)]) == []


@pytest.mark.slow
def test_quick_run_reports_the_rows():
    rows = {r.name: r for r in run(quick=True)}
    for name in ("rig/leader_to_can/p50", "rig/leader_to_can/p99", "rig/follower_jitter/p99", "rig/can_period/p50"):
        assert name in rows and rows[name].unit == "ms", name
    assert rows["rig/leader_to_can/samples"].value >= 1, "no leader step was matched to a CAN frame"
    assert rows["rig/leader_to_can/p99"].value >= rows["rig/leader_to_can/p50"].value > 0
    assert math.isfinite(rows["rig/follower_jitter/p99"].value) and rows["rig/can_period/p50"].value > 0
