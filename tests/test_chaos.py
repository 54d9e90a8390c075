"""``abc-chaos --quick``: the sim teleop-and-record graph survives two minutes of faults.

The campaign's own bounds are asserted (``--check``): every loss of the followers'
input held the arms within the watchdog plus two control periods (judged on the
followers' own command stamps, not on when this process saw them), no episode was
lost beyond the declared window, and the graph was still running when the campaign
ended. The figures are logged for the record (``-s``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from abc_robot.cli.chaos import violations

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_the_quick_campaign_holds_its_bounds() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "abc_robot.cli.chaos", "--quick", "--json", "--seed", "3"],
        capture_output=True, text=True, timeout=800,
    )  # fmt: skip
    assert p.stdout.strip(), p.stderr[-4000:]
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    print(json.dumps({k: summary[k] for k in ("faults", "recording", "violations")}))
    kinds = set(summary["faults"])
    assert len(kinds) >= 5, kinds  # a two-minute campaign draws most fault kinds
    assert sum(k["injected"] for k in summary["faults"].values()) >= 10
    assert summary["recording"]["episodes_started"] >= 3
    # Each node that lived through the campaign is accounted for; none died for good.
    assert all(v["alive"] is not None for v in summary["nodes"].values())
    assert violations(summary) == [] and summary["violations"] == [], summary["violations"]


def test_violations_name_each_broken_bound() -> None:
    summary = {
        "hold_bound_ms": 70.0,
        "faults": {"kill:leader": {"hold_ms": [40.0, 95.0], "unheld": 0}, "stop:leader": {"hold_ms": [], "unheld": 1}},
        "recording": {"episodes_started": 4, "episodes_readable": 2, "missing": 1, "lost_beyond_window": 1, "unreadable": []},
        "stop_reason": "follower_left failed",
    }
    broken = violations(summary)
    assert len(broken) == 4
    assert "95.0" in broken[0] and "never" in broken[1] and "missing" in broken[2] and "did not survive" in broken[3]
