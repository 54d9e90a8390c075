"""``abc-bench teleop``'s page rows: the quick suite measures the follower latency with the
page open in headless Chromium and compares it with the plain teleop rows; without
Chromium the bench names the missing package instead of printing a row. No timing is
asserted (the figures are the bench's)."""

from __future__ import annotations

import math

import pytest

from abc_robot.bench import teleop
from abc_robot.bench.common import _ratios
from abc_robot.bench.teleop_page import PREFIX, page_rows
from abc_robot.testing.cdp import Browser, BrowserError, chromium_path


def _plain_summary(latency_ms: float) -> dict:
    """A finished plain graph's summary (the shape teleop.run_graph returns)."""
    arm = {
        "latency_ms_p50": latency_ms,
        "latency_ms_p99": 2 * latency_ms,
        "tracking_mm_p50": 1.0,
        "tracking_mm_p99": 2.0,
        "step_us_p50": 100.0,
        "step_us_p99": 200.0,
        "cpu_pct": 5.0,
    }
    return {"arms": {"left": arm, "right": arm}, "nodes": {"sim": {"rate_hz": 500.0, "overruns": 0}}, "exit": 0}


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium: scripts/setup.sh installs it")
def test_quick_teleop_suite_measures_latency_with_the_page_open(monkeypatch):
    # The two plain graphs are teleop.run_graph's (other tests run them); only the page
    # run is real here: the graph with the page node and a browser attached.
    monkeypatch.setattr(teleop, "run_graph", lambda seconds, realtime=True: _plain_summary(1.0))
    rows = teleop.run(quick=True)
    by_name = {r["name"]: r for r in _ratios(rows)}
    for q in ("p50", "p99"):
        row = by_name[f"{PREFIX}/{q}"]
        assert row["unit"] == "ms" and row["vs"] == f"teleop/latency/{q}", row
        assert math.isfinite(row["value"]) and row["value"] > 0, row
        assert row["ratio"] is not None and row["ratio"] > 0, row
    # The browser received arm poses and camera images through the window.
    assert by_name["teleop/page/scene_updates"]["value"] > 0
    assert by_name["teleop/page/camera_updates"]["value"] > 0
    assert 0 < by_name["teleop/page/samples_with_browser"]["value"] <= 100
    assert "latency_with_page" in teleop.NOTE


def test_without_chromium_the_bench_names_the_package_and_prints_no_row(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to find
    assert chromium_path() is None
    assert page_rows(quick=True) == []
    err = capsys.readouterr().err
    assert f"{PREFIX} not measured" in err and "'chromium'" in err, err
    with pytest.raises(BrowserError, match="'chromium'"):
        Browser()
