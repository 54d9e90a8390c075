"""``abc-bench policy --quick``: rows and ratios in the shared format, skipped rungs explained."""

from __future__ import annotations

import abc_robot.bench.policy as bench


def test_quick_policy_bench_rows():
    rows = bench.run(quick=True)
    by_name = {r.name: r for r in rows}
    assert by_name["policy/eager"].unit == "ms" and by_name["policy/eager"].value > 0
    assert by_name["policy/eager"].vs is None
    assert by_name["policy/eager/rtc_soft"].vs == "policy/eager"
    assert all(r.name.startswith("policy/") for r in rows)
    assert bench.NOTE is not None and "quick mode" in bench.NOTE


def test_ladder_omits_rungs_that_cannot_run_and_says_why():
    from abc_robot.policy.model import DiTConfig

    notes: list[str] = []
    tiny = DiTConfig(image_size=16, enc_channels=(8,), keypoints=4, width=32, depth=1, heads=2)
    rows = bench._ladder("policy", tiny, "cpu", ("eager", "cudagraphs", "tensorrt"), 2, notes)
    assert [r.name for r in rows] == ["policy/eager", "policy/eager/rtc_soft"]
    assert any(n.startswith("policy/cudagraphs skipped: needs CUDA") for n in notes)
    assert any(n.startswith("policy/tensorrt skipped: torch-tensorrt is not installed") for n in notes)
