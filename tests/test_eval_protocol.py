"""abc-eval building blocks: aliases, trial queue, intervals, report, blindness, graph."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from abc_robot.errors import CheckpointError, ConfigError
from abc_robot.eval.aliasing import alias_names, assign_aliases, make_rng
from abc_robot.eval.blind import HIDDEN, Redactor, secrets_of
from abc_robot.eval.graph import build_eval_graph, worker_name
from abc_robot.eval.judge import OperatorJudge, SimJudge
from abc_robot.eval.report import REPORT_HEADER, TrialRecord, build_report, format_report
from abc_robot.eval.stats import mcnemar_exact_p, mean_interval, paired_comparison, wilson_interval
from abc_robot.eval.trials import Trial, make_trial_queue

REPO = Path(__file__).resolve().parents[1]
CKPTS = ["/ckpts/run_17/step_9000", "/ckpts/baseline", "/ckpts/new_idea"]


# ---- aliases -------------------------------------------------------------------------------
def test_alias_names_run_like_spreadsheet_columns():
    names = alias_names(30)
    assert names[:3] == ["A", "B", "C"] and names[25] == "Z" and names[26:28] == ["AA", "AB"]
    assert len(set(names)) == 30


def test_aliases_are_a_reproducible_random_permutation():
    m = assign_aliases(CKPTS, make_rng(7))
    assert m.aliases == ["A", "B", "C"] and sorted(m.checkpoints.values()) == sorted(CKPTS)
    assert assign_aliases(CKPTS, make_rng(7)) == m  # --seed reproduces the mapping
    for c in CKPTS:
        assert m.checkpoint(m.alias(c)) == c
    # The command-line order does not decide the alias: over seeds, every checkpoint
    # gets every alias, roughly uniformly.
    counts = {c: {a: 0 for a in "ABC"} for c in CKPTS}
    for s in range(600):
        for a, c in assign_aliases(CKPTS, make_rng(s)).checkpoints.items():
            counts[c][a] += 1
    assert all(120 < n < 280 for per in counts.values() for n in per.values()), counts
    with pytest.raises(ValueError, match="twice"):
        assign_aliases([CKPTS[0], CKPTS[0]], make_rng(0))
    with pytest.raises(KeyError, match="aliases"):
        m.checkpoint("Q")


def test_unseeded_mappings_come_from_the_os():
    maps = {tuple(assign_aliases(CKPTS, make_rng(None)).checkpoints.values()) for _ in range(30)}
    assert len(maps) > 1


# ---- trial queue ---------------------------------------------------------------------------
def test_each_group_runs_every_alias_once_on_one_seed_in_its_own_order():
    aliases = ["A", "B", "C"]
    q = make_trial_queue(aliases, 20, 1000, make_rng(1))
    assert len(q) == 60 and [t.index for t in q] == list(range(60))
    orders = []
    for g in range(20):
        group = [t for t in q if t.group == g]
        assert sorted(t.alias for t in group) == aliases
        assert {t.seed for t in group} == {1000 + g}  # paired: same initial conditions
        assert [t.slot for t in group] == [0, 1, 2]
        orders.append(tuple(t.alias for t in group))
    assert len(set(orders)) >= 3  # orders differ across groups
    assert {o[0] for o in orders} == set(aliases)  # nobody always goes first
    assert make_trial_queue(aliases, 20, 1000, make_rng(1)) == q
    with pytest.raises(ValueError):
        make_trial_queue(aliases, 0, 1000, make_rng(1))
    with pytest.raises(ValueError):
        make_trial_queue(["A", "A"], 2, 1000, make_rng(1))


# ---- statistics ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "k,n,lo,hi",
    [
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (1, 10, 0.0179, 0.4042),
        (8, 10, 0.4902, 0.9433),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_wilson_interval_known_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_holds_the_rate_and_mirrors(kn):
    k, n = kn
    lo, hi = wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    mlo, mhi = wilson_interval(n - k, n)
    assert (lo, hi) == pytest.approx((1.0 - mhi, 1.0 - mlo), abs=1e-12)


def test_mean_interval_is_student_t_and_clipped_to_the_score_range():
    m, lo, hi = mean_interval([0.2, 0.4, 0.6], bounds=None)
    half = 4.302652729911275 * 0.2 / math.sqrt(3)  # t(0.975, 2) · s / √n
    assert (m, lo, hi) == pytest.approx((0.4, 0.4 - half, 0.4 + half))
    assert mean_interval([0.2, 0.4, 0.6])[1] == 0.0  # clipped at the score's floor
    assert mean_interval([0.5])[1:] == (None, None)
    assert math.isnan(mean_interval([])[0])


def test_paired_comparison_and_mcnemar():
    assert mcnemar_exact_p(0, 2) == 0.5 and mcnemar_exact_p(0, 6) == pytest.approx(0.03125)
    assert mcnemar_exact_p(3, 3) == 1.0 and mcnemar_exact_p(0, 0) == 1.0
    x = {0: (True, 1.0), 1: (False, 0.3), 2: (False, 0.2)}
    ref = {0: (True, 1.0), 1: (True, 1.0), 2: (True, 1.0), 3: (True, 1.0)}
    pc = paired_comparison(x, ref)
    assert pc.pairs == 3 and pc.only_x_succeeded == 0 and pc.only_ref_succeeded == 2
    assert pc.progress_diff == pytest.approx(-0.5)


# ---- report ----------------------------------------------------------------------------------
def _records(mapping, outcomes):
    recs, i = [], 0
    for g, per_group in enumerate(outcomes):
        for slot, (ckpt, ok, prog) in enumerate(per_group):
            recs.append(TrialRecord(Trial(i, g, slot, mapping.alias(ckpt), 100 + g), ok, prog, 5.0, "sim"))
            i += 1
    return recs


def test_report_ranks_by_success_then_progress_and_deanonymizes():
    mapping = assign_aliases(CKPTS, make_rng(3))
    good, mid, bad = CKPTS
    outcomes = [
        [(bad, False, 0.1), (good, True, 1.0), (mid, False, 0.4)],
        [(mid, True, 1.0), (bad, False, 0.0), (good, True, 1.0)],
    ]
    rep = build_report(mapping, _records(mapping, outcomes), planned=6)
    assert rep["complete"] and rep["ranking"] == [good, mid, bad]
    first = rep["results"][0]
    assert first["successes"] == 2 and first["success_ci95"] == pytest.approx([0.3424, 1.0], abs=1e-4)
    assert [r["rank"] for r in rep["results"]] == [1, 2, 3]
    assert rep["results"][2]["vs_first"]["only_ref_succeeded"] == 2
    assert rep["mapping"] == mapping.checkpoints
    assert {t["checkpoint"] for t in rep["trials"]} == set(CKPTS)
    text = format_report(rep)
    assert text.startswith(REPORT_HEADER) and good in text
    # Equal records share a rank; a short run is flagged.
    tie = build_report(mapping, _records(mapping, [[(good, True, 1.0), (mid, True, 1.0)]]), planned=6)
    assert not tie["complete"] and [r["rank"] for r in tie["results"]] == [1, 1, 3]
    assert tie["results"][2]["trials"] == 0 and tie["results"][2]["success_ci95"] == [0.0, 1.0]
    assert "INCOMPLETE" in format_report(tie)


# ---- judges and blindness --------------------------------------------------------------------
class _Ep:
    success, progress = True, 1.2


def test_judges():
    assert SimJudge().judge("A", _Ep()).progress == 1.0  # clipped into [0, 1]
    typed = iter(["", "maybe", "f 7", "f 0.4"])
    shown = []
    out = OperatorJudge(read_line=lambda prompt: next(typed), say=shown.append).judge("B", _Ep())
    assert (out.success, out.progress, out.judged_by) == (False, 0.4, "operator")
    assert len(shown) == 3
    assert OperatorJudge(read_line=lambda p: "s", say=shown.append).judge("B", _Ep()).success


def test_redactor_hides_checkpoint_paths_and_names():
    buf = io.StringIO()
    red = Redactor(buf, secrets_of(["/ckpts/run_17/step_9000", "rel/baseline"]))
    red.say("[supervisor] policy_b: config_error — /ckpts/run_17/step_9000: bad; baseline missing")
    red.say(f"{Path('rel/baseline').resolve()}/model.pt")
    out = buf.getvalue()
    assert "step_9000" not in out and "baseline" not in out and "run_17" not in out
    assert out.count(HIDDEN) == 3 and "policy_b: config_error" in out


# ---- graph -----------------------------------------------------------------------------------
def test_eval_graph_puts_one_worker_per_alias_behind_the_fixed_endpoint():
    mapping = assign_aliases(CKPTS, make_rng(5))
    g = build_eval_graph(REPO / "launch" / "rollout_sim.yaml", mapping.checkpoints, {"policy": {"compile": "eager"}})
    names = [n.name for n in g.nodes]
    assert [worker_name("policy", a) for a in "ABC"] == ["policy_a", "policy_b", "policy_c"]
    assert {"policy_a", "policy_b", "policy_c", "policy"} <= set(names)
    mux = g.node("policy")
    assert mux.kind == "policy_mux" and mux.params["bind"] == "ipc://${run}/policy"
    assert mux.params["workers"] == {a: f"ipc://${{run}}/policy_{a.lower()}" for a in "ABC"}
    for a in "ABC":
        w = g.node(f"policy_{a.lower()}")
        assert w.kind == "policy_worker" and w.params["checkpoint"] == mapping.checkpoint(a)
        assert w.params["bind"] == mux.params["workers"][a] and w.params["compile"] == "eager"
    for arm in ("left", "right"):
        assert g.node(f"follower_{arm}").params["policy"] == "ipc://${run}/policy"
    # Only the workers' params name a checkpoint.
    for n in g.nodes:
        if n.kind != "policy_worker":
            assert not any(c in repr(n) for c in CKPTS), n.name
        assert not any(Path(c).name in n.name for c in CKPTS)
    with pytest.raises(ConfigError, match="no node named"):
        build_eval_graph(REPO / "launch" / "rollout_sim.yaml", mapping.checkpoints, policy_node="nope")
    with pytest.raises(ConfigError, match="expected a policy_worker"):
        build_eval_graph(REPO / "launch" / "rollout_sim.yaml", mapping.checkpoints, policy_node="sim")


# ---- reference policies ----------------------------------------------------------------------
def test_reference_checkpoints_load_through_the_entry_point(tmp_path):
    from abc_robot.eval.reference_policies import HoldStillPolicy, write_reference_checkpoint
    from abc_robot.policy.checkpoint import RigSpec
    from abc_robot.policy.interface import PolicyInput
    from abc_robot.policy.load import load_policy

    pol = load_policy(write_reference_checkpoint(tmp_path / "still", "still"), RigSpec())
    assert isinstance(pol, HoldStillPolicy)
    s = np.linspace(-1, 1, 14)
    out = pol.infer(PolicyInput(state=s))
    assert out.shape == (30, 14) and np.all(out == s)
    bad = write_reference_checkpoint(tmp_path / "bad", "still")
    cfg = (bad / "config.json").read_text().replace('"still"', '"wizard"')
    (bad / "config.json").write_text(cfg)
    with pytest.raises(CheckpointError, match="valid"):
        load_policy(bad)


# ---- trial loop and CLI argument checks ------------------------------------------------------
class _FakeDirector:
    """Stands in for the episode director: outcome by alias, optional stop after n episodes."""

    def __init__(self, outcome: dict[str, tuple[bool, float]], stop_after: int | None = None) -> None:
        self.outcome, self.stop_after, self.episodes = outcome, stop_after, []

    def policy_episode(self, seed, label=""):
        self.episodes.append((seed, label))
        ok, prog = self.outcome[label.split(":")[1]]
        return type("Ep", (), {"success": ok, "progress": prog, "duration_s": 1.0})()

    def sleep(self, s):
        return self.stop_after is None or len(self.episodes) < self.stop_after


def test_run_queue_selects_each_alias_before_its_trial_and_says_only_aliases():
    from abc_robot.eval.runner import run_queue

    q = make_trial_queue(["A", "B"], 3, 50, make_rng(2))
    d, selected, shown, recs = _FakeDirector({"A": (True, 1.0), "B": (False, 0.2)}), [], [], []
    run_queue(d, q, selected.append, SimJudge(), shown.append, recs)
    assert selected == [t.alias for t in q] + [None]  # nothing forwarded after the last trial
    assert d.episodes == [(t.seed, f"eval:{t.alias}") for t in q]
    assert [(r.trial.alias, r.success) for r in recs] == [(t.alias, t.alias == "A") for t in q]
    assert any("trial 6/6, group 3: model" in s for s in shown)
    # Stopped during a trial: that trial is not judged.
    d2, recs2 = _FakeDirector({"A": (True, 1.0), "B": (False, 0.2)}, stop_after=3), []
    run_queue(d2, q, lambda a: None, SimJudge(), lambda s: None, recs2)
    assert len(d2.episodes) == 3 and len(recs2) == 2


def test_cli_refuses_bad_arguments_before_starting_anything(tmp_path, capsys):
    from abc_robot.cli.eval import main
    from abc_robot.eval.reference_policies import write_reference_checkpoint

    a = write_reference_checkpoint(tmp_path / "a", "still")
    assert main(["--policies", str(a), str(tmp_path / "missing"), "--sim"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--policies", str(a), "--sim"]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main(["--policies", str(a), str(a), "--sim"]) == 2
    assert main(["--policies", str(a), str(a)]) == 2  # no --sim and no rig graph
    b = write_reference_checkpoint(tmp_path / "b", "still")
    capsys.readouterr()
    assert main(["--policies", str(a), str(b), "--sim", "--task", "juggling"]) == 2
    assert "unknown task 'juggling'" in capsys.readouterr().err
