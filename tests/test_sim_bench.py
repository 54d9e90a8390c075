"""``abc-bench sim --quick`` produces every row with a sane value (no timing asserted)."""

from __future__ import annotations

from abc_robot.bench.sim import run


def test_quick_sim_bench_rows() -> None:
    rows = {r.name: r for r in run(quick=True)}
    for name in ("sim/step", "sim/step+io", "sim/node/period_p50", "sim/node/realtime_factor"):
        assert rows[name].value > 0, name
    for cam in ("top", "left", "right"):
        assert rows[f"sim/render/{cam}/full"].vs == f"sim/render/{cam}/cheap"
        assert rows[f"sim/render/{cam}/cheap"].unit == "ms"
