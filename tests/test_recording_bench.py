"""``abc-bench recording --quick`` yields every row with a sane value (no timing asserted)."""

from __future__ import annotations

from abc_robot.bench.recording import run


def test_quick_recording_bench_rows() -> None:
    rows = {r.name: r for r in run(quick=True)}
    for name in ("encode/realtime_factor", "writer/realtime_factor"):
        assert rows[name].unit == "x" and rows[name].value > 0, name
    assert 20 < rows["encode/psnr"].value < 99  # lossy, but a picture
    assert rows["ours/random_access"].unit == "ms" and rows["ours/random_access"].value > 0
    for name in ("from_start/random_access", "pyav_seek/random_access"):
        assert rows[name].vs == "ours/random_access" and rows[name].value > 0, name
    assert rows["mcap/realtime_factor"].unit == "x" and rows["mcap/realtime_factor"].value > 0
    assert rows["mcap/mb_per_min"].unit == "MB/min" and rows["mcap/mb_per_min"].value > 0
