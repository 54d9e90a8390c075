"""Device timestamps → the host's monotonic clock.

Cameras stamp frames on their own clocks: a free-running hardware counter (RealSense
``hardware_clock``, microseconds since power-up) or the host's wall clock
(``global_time`` and ``system_time``, milliseconds since the epoch). The stack runs on
``time.monotonic_ns()``, so every stamp is converted before it leaves the driver.

- Wall-clock stamps: subtract the current wall−monotonic offset.
- Device-clock stamps: ``monotonic = device + offset`` with the offset estimated as
  the minimum of ``arrival − device`` seen so far — the frame that travelled fastest
  bounds the offset best; transport delays only ever add. A jump of the device clock
  backwards (wrap-around, device reset) restarts the estimate.

A converted stamp is never later than the frame's arrival.
"""

from __future__ import annotations

import time

__all__ = ["ClockMapper", "DEVICE", "WALL"]

DEVICE = "device"  # a free-running device counter
WALL = "wall"  # the host's wall clock (time.time)


class ClockMapper:
    """Converts device or wall-clock stamps [ns] to ``time.monotonic_ns()`` time.

    Args:
        reset_jump_ns: a device stamp this far behind the previous one means the
            device clock wrapped or restarted [ns].
    """

    def __init__(self, reset_jump_ns: int = 1_000_000_000) -> None:
        self.reset_jump_ns = reset_jump_ns
        self.offset_ns: int | None = None
        self._last_device_ns: int | None = None
        self.resets = 0

    def to_monotonic(self, stamp_ns: int, domain: str, arrival_ns: int | None = None) -> int:
        """Monotonic time [ns] of a stamp taken on ``domain`` (:data:`DEVICE` or :data:`WALL`).

        Args:
            stamp_ns: the device's stamp [ns].
            domain: which clock it is on.
            arrival_ns: ``time.monotonic_ns()`` when the frame reached the host (now if None).
        """
        arrival = time.monotonic_ns() if arrival_ns is None else arrival_ns
        if domain == WALL:
            mono = stamp_ns - (time.time_ns() - time.monotonic_ns())
        elif domain == DEVICE:
            if self._last_device_ns is not None and stamp_ns < self._last_device_ns - self.reset_jump_ns:
                self.offset_ns = None
                self.resets += 1
            self._last_device_ns = stamp_ns
            candidate = arrival - stamp_ns
            if self.offset_ns is None or candidate < self.offset_ns:
                self.offset_ns = candidate
            mono = stamp_ns + self.offset_ns
        else:
            raise ValueError(f"unknown clock domain {domain!r}; valid: {DEVICE!r}, {WALL!r}")
        return min(mono, arrival)
