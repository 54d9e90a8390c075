"""`abc-eval --sim` end to end: checkpoints of known quality, ranked blind then revealed.

Three reference checkpoints (:mod:`abc_robot.eval.reference_policies`) on lift_cube:
an oracle playing the scripted demonstration (does the task), the same oracle frozen
over the cube (reaches, never grasps: partial progress), and a policy that holds
still. The de-anonymized ranking must be oracle > reacher > still, and nothing the
operator saw before the report may name a checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from abc_robot.eval.reference_policies import write_reference_checkpoint
from abc_robot.eval.report import REPORT_HEADER

from .utils import REPO

pytestmark = pytest.mark.slow

GROUPS = 2
TIME_LIMIT_S = 8.0  # the oracle lifts the cube 4-6 s into a trial


def test_blind_eval_ranks_known_checkpoints_and_reveals_nothing_before_the_report(tmp_path):
    ckpts = {
        "oracle": write_reference_checkpoint(tmp_path / "oracle_ckpt", "oracle"),
        "reacher": write_reference_checkpoint(tmp_path / "reacher_ckpt", "oracle", freeze_at_s=3.0),
        "still": write_reference_checkpoint(tmp_path / "still_ckpt", "still"),
    }
    out_file = tmp_path / "results.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), MUJOCO_GL="egl")
    env.pop("ABC_RUN_DIR", None)
    cmd = [sys.executable, "-m", "abc_robot.cli.eval", "--sim", "--policies", *map(str, ckpts.values())]
    cmd += ["--groups", str(GROUPS), "--seed", "11", "--time-limit", str(TIME_LIMIT_S), "--out", str(out_file)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    # ---- what the operator saw during the run --------------------------------------------
    assert proc.stdout.count(REPORT_HEADER) == 1
    blind, report_text = proc.stdout.split(REPORT_HEADER)
    seen = blind + proc.stderr
    for name, path in ckpts.items():
        for secret in (str(path), path.name, name + "_"):
            assert secret not in seen, f"{secret!r} shown before the report"
    assert str(tmp_path) not in seen
    lines = re.findall(r"trial (\d+)/(\d+), group (\d+): model ([A-Z]): (success|failure)", blind)
    assert len(lines) == 3 * GROUPS and {ln[1] for ln in lines} == {str(3 * GROUPS)}

    # ---- the de-anonymized results ---------------------------------------------------------
    rep = json.loads(out_file.read_text())
    assert rep["complete"] and rep["trials_run"] == 3 * GROUPS
    assert rep["ranking"] == [str(ckpts[k]) for k in ("oracle", "reacher", "still")], report_text
    by = {r["checkpoint"]: r for r in rep["results"]}
    oracle, reacher, still = (by[str(ckpts[k])] for k in ("oracle", "reacher", "still"))
    # The oracle may drop a cube on an overloaded machine; its progress still ranks it first.
    assert reacher["successes"] == 0 and still["successes"] == 0
    assert oracle["mean_progress"] > reacher["mean_progress"] > still["mean_progress"]
    for r in rep["results"]:
        lo, hi = r["success_ci95"]
        assert 0.0 <= lo <= r["success_rate"] <= hi <= 1.0
    # The mapping was applied consistently: each shown line matches the revealed trial.
    mapping = rep["mapping"]
    assert sorted(mapping.values()) == sorted(str(p) for p in ckpts.values())
    for (idx, _, group, alias, what), t in zip(lines, rep["trials"], strict=True):
        assert (int(idx), int(group), alias) == (t["index"] + 1, t["group"] + 1, t["alias"])
        assert (what == "success") == t["success"] and mapping[alias] == t["checkpoint"]
    # Paired design: within a group every checkpoint ran on the same seed, and from the
    # same start: a trial after the reacher's must not begin where the reacher ended
    # (its progress would equal the reacher's: the arm over the cube).
    for g in range(GROUPS):
        mine = {t["checkpoint"]: t for t in rep["trials"] if t["group"] == g}
        assert len({t["seed"] for t in mine.values()}) == 1
        assert mine[str(ckpts["still"])]["progress"] < mine[str(ckpts["reacher"])]["progress"] - 0.05
    # Reported to the lead (visible with pytest -s).
    print(report_text, rep.get("sim"))
