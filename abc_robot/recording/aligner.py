"""Causal sampling of timestamped streams on a fixed tick clock.

Every source (a follower's state, a camera...) arrives as samples stamped where they
were taken, each at its own rate and delay. An episode's rows sit on a fixed clock,
tick ``k`` at ``t0_ns + k * tick_ns``; a row holds, for each source, its latest
sample stamped at or before the tick. Nothing is placed by index or by nominal rate,
so a camera that drops frames or runs slow shows up as older samples, never as
shifted ones.

A tick is final ("settled") once every source has delivered a sample stamped after
it: a source's stamps never go back, so nothing at or before the tick can still
come. A source that is late or dead does not hold the clock forever: past
``max_delay_ns`` after the tick (on the caller's clock) it is emitted with what is
there, and the source is named in :attr:`Tick.late`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from abc_robot.recording.layout import TICK_NS

__all__ = ["TickAligner", "Tick", "Sample"]


@dataclass(frozen=True)
class Sample:
    """One sample of a source: its stamp [monotonic ns] and its value."""

    stamp_ns: int
    value: Any


@dataclass(frozen=True)
class Tick:
    """One tick of the clock and every source's causal sample at it.

    Attributes:
        index: tick number ``k`` (row of the episode).
        t_ns: ``t0_ns + k * tick_ns`` [monotonic ns].
        samples: per source, its latest sample stamped at or before ``t_ns`` (None
            when it had none yet).
        late: sources not yet settled when the tick was emitted (by deadline or
            forced): a fresher sample stamped before ``t_ns`` may have been missed.
    """

    index: int
    t_ns: int
    samples: dict[str, Sample | None]
    late: tuple[str, ...] = field(default_factory=tuple)


class TickAligner:
    """Samples several streams causally on the clock ``t0_ns + k * tick_ns``.

    Args:
        sources: names of the sources (each must be pushed in stamp order).
        t0_ns: time of tick 0 [monotonic ns].
        tick_ns: clock period [ns] (33,333,333 for 30 Hz).
        max_delay_ns: a tick is emitted at the latest this long after its time, on
            the clock passed to :meth:`ready`, settled or not [ns].
    """

    def __init__(
        self, sources: Iterable[str], t0_ns: int, tick_ns: int = TICK_NS, max_delay_ns: int = 250_000_000
    ) -> None:
        if tick_ns <= 0 or max_delay_ns < 0:
            raise ValueError(f"tick_ns must be positive and max_delay_ns non-negative, got {tick_ns}, {max_delay_ns}")
        self.sources = tuple(sources)
        if not self.sources or len(set(self.sources)) != len(self.sources):
            raise ValueError(f"sources must be distinct and non-empty, got {self.sources}")
        self.t0_ns = int(t0_ns)
        self.tick_ns = int(tick_ns)
        self.max_delay_ns = int(max_delay_ns)
        self.next_index = 0
        self._buf: dict[str, deque[Sample]] = {s: deque() for s in self.sources}
        self._last_stamp: dict[str, int] = {}
        #: Samples refused per source because their stamp went back in time.
        self.out_of_order: dict[str, int] = {s: 0 for s in self.sources}

    def tick_time(self, k: int) -> int:
        """Time of tick ``k`` [monotonic ns]."""
        return self.t0_ns + k * self.tick_ns

    def push(self, source: str, stamp_ns: int, value: Any) -> bool:
        """Add a sample; False (and counted) if its stamp is older than the source's last.

        Raises:
            KeyError: ``source`` is not one of :attr:`sources`.
        """
        buf = self._buf[source]
        last = self._last_stamp.get(source)
        if last is not None and stamp_ns < last:
            self.out_of_order[source] += 1
            return False
        self._last_stamp[source] = stamp_ns
        buf.append(Sample(int(stamp_ns), value))
        return True

    def latest_stamp(self, source: str) -> int | None:
        """Stamp of the newest sample pushed for ``source`` (None: nothing yet)."""
        return self._last_stamp.get(source)

    def settled(self, k: int) -> bool:
        """True when no source can still deliver a sample at or before tick ``k``."""
        t = self.tick_time(k)
        return all(self._last_stamp.get(s, t) > t for s in self.sources)

    def _sample(self, source: str, t: int) -> Sample | None:
        buf = self._buf[source]
        # Keep the newest sample at or before t at the front: later ticks can use it.
        while len(buf) >= 2 and buf[1].stamp_ns <= t:
            buf.popleft()
        if buf and buf[0].stamp_ns <= t:
            return buf[0]
        return None

    def _emit(self) -> Tick:
        k = self.next_index
        t = self.tick_time(k)
        late = tuple(s for s in self.sources if self._last_stamp.get(s, t) <= t)
        tick = Tick(k, t, {s: self._sample(s, t) for s in self.sources}, late)
        self.next_index += 1
        return tick

    def ready(
        self, now_ns: int, until_ns: int | None = None, force: bool = False, deadline: bool = True
    ) -> Iterator[Tick]:
        """Pop the ticks that are final now, in order.

        Args:
            now_ns: the caller's clock [monotonic ns]; no tick after it is emitted,
                and a tick more than ``max_delay_ns`` before it is emitted settled
                or not.
            until_ns: emit no tick after this time (the end of an episode).
            force: emit every tick up to ``min(now_ns, until_ns)`` without waiting.
            deadline: False emits settled ticks only (a caller that has not taken in
                everything that arrived yet: a sample it has not read is not late).
        """
        limit = now_ns if until_ns is None else min(now_ns, until_ns)
        while True:
            t = self.tick_time(self.next_index)
            if t > limit:
                return
            late_ok = deadline and now_ns - t >= self.max_delay_ns
            if not (force or self.settled(self.next_index) or late_ok):
                return
            yield self._emit()
