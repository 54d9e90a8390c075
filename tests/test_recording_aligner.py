"""TickAligner: causal sampling on the fixed 30 Hz clock, alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.recording.aligner import TickAligner
from abc_robot.recording.layout import TICK_NS

T0 = 1_000_000_000_000


def test_tick_times_follow_the_clock_not_the_samples():
    al = TickAligner(["a"], T0)
    assert [al.tick_time(k) for k in (0, 1, 30)] == [T0, T0 + TICK_NS, T0 + 30 * TICK_NS]


def test_latest_sample_at_or_before_the_tick_is_taken():
    al = TickAligner(["a"], T0)
    al.push("a", T0 - 5, "before")
    al.push("a", T0, "exactly")  # at the tick counts
    al.push("a", T0 + 1, "after")
    (tick,) = list(al.ready(now_ns=T0 + 10))
    assert tick.samples["a"].value == "exactly" and tick.late == ()


def test_a_tick_waits_until_every_source_is_past_it():
    al = TickAligner(["fast", "slow"], T0, max_delay_ns=10**9)
    al.push("fast", T0 - 1, 1)
    al.push("fast", T0 + 1, 2)
    al.push("slow", T0 - 20_000_000, "old frame")
    assert list(al.ready(now_ns=T0 + 50_000_000)) == []  # slow may still send a frame stamped <= T0
    al.push("slow", T0 - 1_000_000, "fresh frame")  # arrives late, stamped before the tick
    assert list(al.ready(now_ns=T0 + 50_000_000)) == []
    al.push("slow", T0 + 30_000_000, "next frame")
    (tick,) = list(al.ready(now_ns=T0 + 50_000_000))
    assert tick.samples["slow"].value == "fresh frame"
    assert tick.samples["fast"].value == 1


def test_a_dead_source_is_emitted_late_with_its_last_sample():
    al = TickAligner(["arm", "cam"], T0, max_delay_ns=100_000_000)
    al.push("cam", T0 - 10, "last frame")
    for k in range(10):
        al.push("arm", T0 + k * 10_000_000, k)
    assert list(al.ready(now_ns=T0 + 90_000_000)) == []
    ticks = list(al.ready(now_ns=T0 + 100_000_000))
    assert [t.index for t in ticks] == [0]
    assert ticks[0].late == ("cam",) and ticks[0].samples["cam"].value == "last frame"


def test_without_the_deadline_only_settled_ticks_go_out():
    # A caller with messages still unread (a recorder behind on its socket): the frame
    # the tick waits for may be among them, so the source is not yet late.
    al = TickAligner(["arm", "cam"], T0, max_delay_ns=100_000_000)
    al.push("cam", T0 - 10, "old frame")
    for k in range(40):
        al.push("arm", T0 + k * 10_000_000, k)
    assert list(al.ready(now_ns=T0 + 300_000_000, deadline=False)) == []
    al.push("cam", T0 - 5, "the frame it waited for")  # read at last
    al.push("cam", T0 + 5, "the next one")
    (tick,) = list(al.ready(now_ns=T0 + 300_000_000, deadline=False))  # tick 0 is settled now
    assert tick.index == 0 and tick.late == () and tick.samples["cam"].value == "the frame it waited for"
    late = list(al.ready(now_ns=T0 + 300_000_000))  # the deadline back: ticks 100 ms old go, late
    assert [t.index for t in late] == [1, 2, 3, 4, 5, 6] and all(t.late == ("cam",) for t in late)


def test_no_sample_yet_is_none_and_out_of_order_samples_are_refused():
    al = TickAligner(["a", "b"], T0)
    al.push("a", T0 + 5, "x")
    assert al.push("a", T0 + 1, "back in time") is False
    assert al.out_of_order["a"] == 1
    (tick,) = list(al.ready(now_ns=T0, force=True))
    assert tick.samples == {"a": None, "b": None}


def test_until_and_force_bound_the_ticks():
    al = TickAligner(["a"], T0)
    al.push("a", T0, 0)
    ticks = list(al.ready(now_ns=T0 + 10 * TICK_NS, until_ns=T0 + 3 * TICK_NS, force=True))
    assert [t.index for t in ticks] == [0, 1, 2, 3]


@settings(max_examples=60, deadline=None)
@given(
    stamps=st.lists(st.integers(min_value=-50_000_000, max_value=400_000_000), min_size=1, max_size=60),
    delay=st.integers(min_value=0, max_value=80_000_000),
)
def test_every_tick_takes_the_newest_sample_not_after_it(stamps, delay):
    """Causality against a brute-force reference, with samples arriving in any delay."""
    stamps = sorted(T0 + s for s in stamps)
    al = TickAligner(["s"], T0, max_delay_ns=10**12)
    out = []
    for i, s in enumerate(stamps):
        al.push("s", s, i)
        out += list(al.ready(now_ns=s + delay))
    out += list(al.ready(now_ns=stamps[-1], force=True))
    assert [t.index for t in out] == list(range(len(out)))
    for t in out:
        eligible = [i for i, s in enumerate(stamps) if s <= t.t_ns]
        want = max(eligible) if eligible else None
        got = None if t.samples["s"] is None else t.samples["s"].value
        assert got == want
        if got is not None:
            assert t.samples["s"].stamp_ns <= t.t_ns


def test_sampling_a_real_rate_stream_is_within_one_period():
    rng = np.random.default_rng(0)
    stamps = T0 + np.cumsum(rng.integers(30_000_000, 37_000_000, 200))
    al = TickAligner(["cam"], T0)
    ticks = []
    for s in stamps:
        al.push("cam", int(s), int(s))
        ticks += list(al.ready(now_ns=int(s)))
    ages = [t.t_ns - t.samples["cam"].stamp_ns for t in ticks if t.samples["cam"] is not None]
    assert len(ages) > 150 and min(ages) >= 0 and max(ages) < 37_000_000


def test_bad_arguments():
    with pytest.raises(ValueError):
        TickAligner([], T0)
    with pytest.raises(ValueError):
        TickAligner(["a", "a"], T0)
    with pytest.raises(KeyError):
        TickAligner(["a"], T0).push("b", T0, 0)
