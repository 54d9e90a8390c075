"""``abc-bench ik --quick`` runs and produces the rows the issue asks for."""

from __future__ import annotations

import math

from abc_robot.bench import ik


def test_quick_bench_rows() -> None:
    rows = {r.name: r for r in ik.run(quick=True)}
    for solver in ("ours", "pink", "mink"):
        for suffix, unit in (("", "us"), ("/p99", "us"), ("/pos_err_mm", "mm"), ("/rot_err_mrad", "mrad")):
            row = rows[f"{solver}/ik{suffix}"]
            assert row.unit == unit and math.isfinite(row.value) and row.value >= 0
        # Every solver reaches the shared tolerance on these reachable targets.
        assert rows[f"{solver}/ik/converged"].value >= 90.0
    assert rows["ours/ik"].vs in ("pink/ik", "mink/ik")
    assert rows["ours/ik/pos_err_mm"].value <= 0.1
