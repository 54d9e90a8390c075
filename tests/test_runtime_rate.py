"""The rate loop: period statistics, overrun handling, wake-on-socket without spinning."""

from __future__ import annotations

import time

import numpy as np

from abc_robot.runtime.rate import RateLoop
from abc_robot.transport import JointState, LatestSubscriber, Publisher


def test_rate_and_overruns_are_counted():
    loop = RateLoop(200.0)
    loop.start()
    for i in range(100):
        loop.sleep()
        if i == 50:
            time.sleep(0.03)  # a 30 ms stall: several ticks missed, not replayed
    st = loop.stats()
    assert st["count"] == 100
    assert st["overruns"] >= 1
    assert st["period_max_ms"] >= 25.0
    assert 4.0 <= st["period_p50_ms"] <= 6.5


def test_wake_on_socket_returns_early_and_cannot_spin(run_dir):
    pub = Publisher(f"ipc://{run_dir}/w", "p")
    sub = LatestSubscriber(pub.endpoint, [""])
    time.sleep(0.2)
    loop = RateLoop(50.0)  # 20 ms ticks
    loop.wake_on(sub.socket)
    loop.start()
    loop.sleep()
    t0 = time.monotonic_ns()
    pub.publish("x", JointState(q=np.zeros(1)))
    loop.sleep()
    assert (time.monotonic_ns() - t0) / 1e6 < 10.0  # woken by the message, not the tick
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
