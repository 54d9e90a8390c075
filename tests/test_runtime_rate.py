"""The rate loop: period statistics, overrun handling, wake-on-socket without spinning."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from abc_robot.runtime.rate import RateLoop
from abc_robot.transport import JointState, LatestSubscriber, Publisher

from .utils import wait_for


def test_rate_and_overruns_are_counted():
    # Judged against what this process measured itself, not against a quiet machine:
    # a descheduled test stretches periods, and the loop must report exactly that.
    loop = RateLoop(200.0)
    t_prev = loop.start()
    seen_ns = []
    for i in range(100):
        t = loop.sleep()
        seen_ns.append(t - t_prev)
        t_prev = t
        if i == 50:
            time.sleep(0.03)  # a 30 ms stall: several ticks missed, not replayed
    st = loop.stats()
    seen_ms = np.array(seen_ns) / 1e6
    assert st["count"] == 100
    assert st["overruns"] >= 1
    assert st["period_max_ms"] == seen_ms.max() >= 30.0
    mid = np.sort(seen_ms)[49:51]
    assert mid[0] - 1e-9 <= st["period_p50_ms"] <= mid[1] + 1e-9
    # Missed ticks are skipped, not replayed: the schedule restarts after the stall, so
    # the tick after it comes a full period later (never back-to-back catch-up ticks).
    assert seen_ms[51] >= 30.0 and seen_ms[52] >= 5.0 - 1e-3


def test_a_late_tick_within_its_period_keeps_the_schedule():
    # Judged on the lateness this process actually saw before the call (a loaded
    # machine may oversleep the stall), not on a quiet machine's timing.
    loop = RateLoop(10.0)  # 100 ms ticks
    loop.start()
    deadline = loop._next_ns
    time.sleep(0.02)  # ~20 ms late for the first tick
    late_ns = time.monotonic_ns() - deadline
    loop.sleep()
    if late_ns < loop.period_ns:
        assert loop.overruns == 0 and loop._next_ns == deadline + loop.period_ns  # no drift
        t = loop.sleep()
        assert t >= deadline + loop.period_ns  # the next tick at its usual time, not earlier
    else:  # descheduled for a whole period: a missed tick, skipped
        assert loop.overruns == 1


def test_wake_on_socket_returns_early_and_cannot_spin(run_dir):
    pub = Publisher(f"ipc://{run_dir}/w", "p")
    sub = LatestSubscriber(pub.endpoint, [""])
    # Connected once a message gets through (no fixed sleep); then nothing is queued.
    assert wait_for(lambda: (pub.publish("sync", JointState(q=np.zeros(1))), bool(sub.poll()))[1], 30)
    slow = RateLoop(0.5)  # 2 s ticks: only the message can end this sleep early
    slow.wake_on(sub.socket)
    slow.start()
    pub.publish("x", JointState(q=np.zeros(1)))
    slow.sleep()
    assert slow.wakeups == 1 and slow.overruns == 0  # woken by the message, not the tick
    sub.poll()
    loop = RateLoop(50.0)  # 20 ms ticks
    loop.wake_on(sub.socket)
    loop.start()
    pub.publish("x", JointState(q=np.zeros(1)))
    # Never drained: without the cap this would return immediately forever.
    t_end = time.monotonic() + 0.5
    n = 0
    while time.monotonic() < t_end:
        loop.sleep()
        n += 1
    assert n <= (0.5 * 50 + 2) * (1 + loop.max_wakes_per_period)
    sub.close()
    pub.close()


def test_step_times_are_reported_beside_the_period():
    loop = RateLoop(100.0)
    assert "step_us_p50" not in loop.stats()  # nothing timed yet: no figure rather than a zero
    for us in [100] * 98 + [5000, 9000]:
        loop.add_busy(us * 1000)
    loop.start()
    loop.sleep()
    st = loop.stats()
    assert st["step_us_p50"] == 100.0
    assert 100.0 < st["step_us_p99"] <= 9000.0


def test_percentiles_match_numpy_and_samples_summaries_refresh():
    from abc_robot.runtime.stats import Samples, percentiles

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100, 2048, 20_001):
        v = rng.exponential(size=n)
        qs = (0, 1, 50, 90, 99, 100)
        assert np.allclose(percentiles(v, qs), np.percentile(v, qs)), n
    assert percentiles(np.arange(5, dtype=np.int64), (50, 99)) == [2.0, 3.96]
    s = Samples(capacity=100, refresh_s=0.0)
    for x in range(10):
        s.add(float(x))
    assert s.summary("lat") == {"lat_p50": 4.5, "lat_p99": float(np.percentile(np.arange(10), 99)), "lat_max": 9.0}
    s.add(100.0)  # refresh 0: the next summary sees it
    assert s.summary("lat")["lat_max"] == 100.0
    held = Samples(capacity=100, refresh_s=60.0)
    held.add(1.0)
    first = held.summary("x")
    held.add(50.0)
    assert held.summary("x") == first  # within refresh_s a heartbeat reuses the figures


def _child(code: str, new_session: bool) -> str:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, start_new_session=new_session, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_nodes_niceness_reaches_its_autogroup_only_when_it_leads_its_session(tmp_path):
    """With sched autogroups, nice ranks a process only inside its session's group; the
    supervisor starts each node in its own session, so the node renices its group too."""
    f = tmp_path / "autogroup"
    f.write_text("/autogroup-1 nice 0\n")
    code = f"from abc_robot.runtime.node_main import set_autogroup_nice; print(set_autogroup_nice(7, {str(f)!r}))"
    assert _child(code, new_session=False) == "False"  # a node run from a shell leaves the shell's group alone
    assert f.read_text().startswith("/autogroup-1")
    assert _child(code, new_session=True) == "True"
    assert f.read_text() == "7"
    assert _child(code.replace(str(f), str(tmp_path / "absent")), new_session=True) == "False"  # no autogroups: nothing
    if Path("/proc/self/autogroup").exists():  # the real thing, where the kernel has it
        got = _child("from abc_robot.runtime.node_main import set_nice; set_nice(3); print(open('/proc/self/autogroup').read())", True)
        assert got.endswith("nice 3"), got
