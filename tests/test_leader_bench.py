"""``abc-bench leader`` smoke run and its wire-time arithmetic."""

from __future__ import annotations

import pytest

from abc_robot.bench.leader import run, wire_floor_us


def test_wire_floor_from_packet_sizes():
    # SYNC_READ of 7 positions: 21-byte instruction + 7 × 15-byte status packets = 126 bytes.
    assert wire_floor_us(7, 4_000_000, fast=False) == pytest.approx(126 * 10 / 4e6 * 1e6)
    # FAST_SYNC_READ: one 64-byte status packet for all seven.
    assert wire_floor_us(7, 4_000_000, fast=True) == pytest.approx((21 + 64) * 10 / 4e6 * 1e6)
    # The factory Return Delay Time (500 µs per servo) dwarfs the wire at 4 Mbaud.
    assert wire_floor_us(7, 4_000_000, fast=False, return_delay_us=500) == pytest.approx(315 + 3500)
    # gello_software's 57,600 baud: ~22 ms of wire per read, the ~35 Hz anchor.
    assert 1e6 / wire_floor_us(7, 57_600, fast=False) < 50


def test_quick_run_reports_the_rows():
    rows = {r.name: r for r in run(quick=True)}
    for name in ("ours/leader_read", "sdk/leader_read", "floor/leader_read", "ours/leader_read/hz",
                 "ours/leader_read/p99", "sdk/leader_read/p99"):  # fmt: skip
        assert name in rows and rows[name].value > 0, name
    assert rows["ours/leader_read"].vs == "sdk/leader_read" and rows["ours/leader_read"].unit == "us"
    assert "ours/leader_read/failed" in rows and "sdk/leader_read/failed" in rows  # counted, not asserted: load
    fast = bool(rows["ours/fast_sync_read"].value)
    assert rows["floor/leader_read"].value == pytest.approx(wire_floor_us(7, 4_000_000, fast=fast))
