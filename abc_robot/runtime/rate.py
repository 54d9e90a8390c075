"""Fixed-rate loop on the monotonic clock, with overrun and jitter statistics."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from abc_robot.runtime.stats import percentiles

__all__ = ["RateLoop"]


class RateLoop:
    """Paces a loop at ``rate_hz`` on ``time.monotonic_ns()``.

    Deadlines advance by exactly one period, so the average rate does not drift: a
    tick that starts late, but less than a period late, runs at once and the next one
    keeps its time. When a tick overruns by a whole period or more the missed ticks
    are skipped (counted in ``overruns``) instead of bursting to catch up: a control
    loop must never run several stale ticks back to back.

    Args:
        rate_hz: target rate [Hz].
        window: number of recent loop periods kept for the percentiles.
    """

    def __init__(self, rate_hz: float, window: int = 2048) -> None:
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.rate_hz = rate_hz
        self.period_ns = int(round(1e9 / rate_hz))
        self.count = 0
        self.overruns = 0
        self._periods = np.zeros(window, dtype=np.int64)
        self._busy = np.zeros(window, dtype=np.int64)
        self._busy_count = 0
        self._next_ns: int | None = None
        self._last_tick_ns: int | None = None
        self._poller: Any = None
        self.wakeups = 0
        # A node that does not drain its wake socket would spin; past this many
        # wake-ups in one period the loop just sleeps to the next tick.
        self.max_wakes_per_period = 8
        self._wakes_this_period = 0
        self._wake_window_ns = 0
        #: Switch wake-ups off while the node does not need them (e.g. a follower
        #: executing a policy need not wake on every leader sample).
        self.wake_enabled = True

    def wake_on(self, sock: Any) -> None:
        """Also return from :meth:`sleep` as soon as ``sock`` (a zmq socket) is readable.

        An event-driven node (a follower waking on each leader sample) then reacts
        within microseconds instead of up to one period later. Each early step pushes
        the next fixed tick a full period out, so the fixed ticks (watchdogs run on
        them) fill in only when the socket goes quiet. Statistics count every step.
        """
        import zmq

        if self._poller is None:
            self._poller = zmq.Poller()
        self._poller.register(sock, zmq.POLLIN)

    def start(self) -> int:
        """Start the clock; returns the first tick time [ns]."""
        now = time.monotonic_ns()
        self._next_ns = now + self.period_ns
        self._last_tick_ns = now
        return now

    def sleep(self) -> int:
        """Sleep until the next deadline; return the tick time [ns] it woke at."""
        if self._next_ns is None:
            return self.start()
        now = time.monotonic_ns()
        delay = self._next_ns - now
        if now - self._wake_window_ns >= self.period_ns:
            self._wake_window_ns, self._wakes_this_period = now, 0
        if delay > 0 and self._poller is not None and self.wake_enabled and self._wakes_this_period < self.max_wakes_per_period:
            if self._poller.poll(delay / 1e6):
                now = time.monotonic_ns()
                if now < self._next_ns:
                    # An early step: the next fixed tick comes a full period after it,
                    # so a source at the loop's rate drives the loop instead of doubling
                    # it, and the tick still fires (watchdogs) when the source goes quiet.
                    self.wakeups += 1
                    self._wakes_this_period += 1
                    self._next_ns = now + self.period_ns
                    self._record(now)
                    return now
            delay = self._next_ns - time.monotonic_ns()
            if delay > 0:
                time.sleep(delay / 1e9)
            now = time.monotonic_ns()
            self._next_ns += self.period_ns
        elif delay > 0:
            time.sleep(delay / 1e9)
            now = time.monotonic_ns()
            self._next_ns += self.period_ns
        elif -delay < self.period_ns:
            # Late, but this tick is not missed yet: run it now and keep the schedule,
            # so the average rate holds (the next tick comes at its usual time).
            self._next_ns += self.period_ns
        else:
            # Overrun by a whole period or more: skip the missed ticks, restart the
            # schedule from now.
            self.overruns += 1
            self._next_ns = now + self.period_ns
        self._record(now)
        return now

    def add_busy(self, busy_ns: int) -> None:
        """Record how long one step took [ns] (the loop's own cost, beside its period)."""
        self._busy[self._busy_count % len(self._busy)] = busy_ns
        self._busy_count += 1

    def _record(self, now: int) -> None:
        if self._last_tick_ns is not None:
            self._periods[self.count % len(self._periods)] = now - self._last_tick_ns
        self._last_tick_ns = now
        self.count += 1

    def stats(self) -> dict[str, float]:
        """Loop statistics: count, overruns, period p50/p99/max [ms], achieved rate [Hz],
        and (once steps are timed with :meth:`add_busy`) step time p50/p99 [µs]."""
        n = min(self.count, len(self._periods))
        if n == 0:
            return {"count": 0, "overruns": self.overruns, "target_hz": self.rate_hz}
        p = self._periods[:n]
        p50, p99 = (x / 1e6 for x in percentiles(p, (50, 99)))
        busy: dict[str, float] = {}
        nb = min(self._busy_count, len(self._busy))
        if nb:
            b50, b99 = percentiles(self._busy[:nb], (50, 99))
            busy = {"step_us_p50": b50 / 1e3, "step_us_p99": b99 / 1e3}
        return {
            **busy,
            "count": self.count,
            "overruns": self.overruns,
            "target_hz": self.rate_hz,
            "period_p50_ms": p50,
            "period_p99_ms": p99,
            "period_max_ms": float(p.max()) / 1e6,
            "rate_hz": 1e9 / mean if (mean := float(p.mean())) > 0 else 0.0,
            "wakeups": self.wakeups,
        }
