"""Delivered frame rate of a camera, compared with what was asked.

A UVC camera asked for 30 fps in low light, on a shared USB bus or in a mode it does
not support often delivers 15 without any error. :class:`FpsMonitor` measures the
rate over a sliding window of frame stamps and counts frame-index gaps, and says so
when the camera falls short (once when it starts, once when it recovers) so the
node can log it and the console can show it.
"""

from __future__ import annotations

from collections import deque

__all__ = ["FpsMonitor"]


class FpsMonitor:
    """Sliding-window frame rate and drop count.

    Args:
        asked_hz: the frame rate the camera was configured for [Hz].
        window_s: length of the measuring window [s].
        min_ratio: below ``min_ratio · asked_hz`` the camera is reported short.
    """

    def __init__(self, asked_hz: float, window_s: float = 2.0, min_ratio: float = 0.9) -> None:
        if asked_hz <= 0 or window_s <= 0 or not 0 < min_ratio <= 1:
            raise ValueError("asked_hz and window_s must be > 0 and min_ratio in (0, 1]")
        self.asked_hz = float(asked_hz)
        self.window_ns = int(window_s * 1e9)
        self.min_ratio = float(min_ratio)
        self._stamps: deque[int] = deque()
        self._first_ns: int | None = None
        self._last_index: int | None = None
        self.frames = 0
        self.dropped = 0  # frames missing from the device's own counter
        self.short = False  # the current verdict

    def add(self, stamp_ns: int, frame_index: int | None = None) -> None:
        """Record a delivered frame (its stamp [ns] and the device's frame counter)."""
        if self._first_ns is None:
            self._first_ns = stamp_ns
        self._stamps.append(stamp_ns)
        self.frames += 1
        if frame_index is not None:
            if self._last_index is not None and frame_index > self._last_index + 1:
                self.dropped += frame_index - self._last_index - 1
            self._last_index = frame_index

    def rate_hz(self, now_ns: int) -> float:
        """Frames delivered per second over the window ending at ``now_ns``."""
        while self._stamps and self._stamps[0] <= now_ns - self.window_ns:
            self._stamps.popleft()
        if self._first_ns is None:
            return 0.0
        span_ns = min(self.window_ns, now_ns - self._first_ns)
        if span_ns <= 0:
            return 0.0
        return len(self._stamps) * 1e9 / span_ns

    def check(self, now_ns: int) -> str | None:
        """Update the verdict; return a message when it changes, else None.

        No verdict before one full window has passed since the first frame.
        """
        if self._first_ns is None or now_ns - self._first_ns < self.window_ns:
            return None
        rate = self.rate_hz(now_ns)
        short = rate < self.min_ratio * self.asked_hz
        if short == self.short:
            return None
        self.short = short
        if short:
            return f"delivers {rate:.1f} fps, asked {self.asked_hz:g} fps ({self.dropped} frames dropped so far)"
        return f"back to {rate:.1f} fps (asked {self.asked_hz:g})"

    def status(self, now_ns: int) -> dict[str, float | int | bool]:
        """Figures for heartbeats and the console."""
        return {
            "fps": round(self.rate_hz(now_ns), 1),
            "fps_asked": self.asked_hz,
            "frames": self.frames,
            "dropped": self.dropped,
            "fps_short": self.short,
        }
