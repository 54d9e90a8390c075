"""De-anonymized results: per checkpoint success rate, mean progress, ranking.

Built only once every trial has been judged; until then outcomes are stored under
aliases (:class:`TrialRecord`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from abc_robot.eval.aliasing import BlindMapping
from abc_robot.eval.stats import mean_interval, paired_comparison, wilson_interval
from abc_robot.eval.trials import Trial

__all__ = ["TrialRecord", "build_report", "format_report", "REPORT_HEADER"]

#: First line of the de-anonymized report (everything before it is blind).
REPORT_HEADER = "=== de-anonymized results ==="


@dataclass(frozen=True)
class TrialRecord:
    """A judged trial, by alias."""

    trial: Trial
    success: bool
    progress: float
    duration_s: float
    judged_by: str


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def build_report(mapping: BlindMapping, records: list[TrialRecord], planned: int) -> dict[str, Any]:
    """The de-anonymized results.

    Ranking: success rate, then mean progress (both descending); equal keys share a
    rank. Each checkpoint is also compared with the first-ranked one on the groups
    both ran (paired: same seeds).

    Args:
        mapping: alias → checkpoint.
        records: the judged trials.
        planned: trials in the queue (``complete`` says whether all ran).
    """
    rows: list[dict[str, Any]] = []
    by_alias: dict[str, dict[int, tuple[bool, float]]] = {a: {} for a in mapping.aliases}
    for rec in records:
        by_alias[rec.trial.alias][rec.trial.group] = (rec.success, rec.progress)
    for alias in mapping.aliases:
        mine = [r for r in records if r.trial.alias == alias]
        n, k = len(mine), sum(r.success for r in mine)
        lo, hi = wilson_interval(k, n)
        m, plo, phi = mean_interval([r.progress for r in mine])
        rows.append(
            {
                "checkpoint": mapping.checkpoint(alias),
                "alias": alias,
                "trials": n,
                "successes": k,
                "success_rate": _r(k / n) if n else None,
                "success_ci95": [_r(lo), _r(hi)],
                "mean_progress": _r(m) if n else None,
                "progress_ci95": None if plo is None else [_r(plo), _r(phi)],
            }
        )
    rows.sort(key=lambda r: (-(r["success_rate"] or 0.0), -(r["mean_progress"] or 0.0), r["alias"]))
    rank, prev = 0, None
    for i, row in enumerate(rows):
        key = (row["success_rate"], row["mean_progress"])
        if key != prev:
            rank, prev = i + 1, key
        row["rank"] = rank
    best = rows[0]["alias"] if rows else None
    for row in rows[1:]:
        pc = paired_comparison(by_alias[row["alias"]], by_alias[best])  # type: ignore[index]
        d = asdict(pc)
        d["progress_diff"] = _r(d["progress_diff"]) if pc.pairs else None
        d["progress_diff_ci95"] = None if pc.progress_diff_ci95 is None else [_r(v) for v in pc.progress_diff_ci95]
        d["mcnemar_p"] = _r(d["mcnemar_p"])
        row["vs_first"] = d
    return {
        "complete": len(records) == planned,
        "trials_run": len(records),
        "trials_planned": planned,
        "results": rows,
        "ranking": [r["checkpoint"] for r in rows],
        "mapping": dict(mapping.checkpoints),
        "trials": [
            {
                **asdict(rec.trial),
                "checkpoint": mapping.checkpoint(rec.trial.alias),
                "success": rec.success,
                "progress": _r(rec.progress),
                "duration_s": _r(rec.duration_s, 2),
                "judged_by": rec.judged_by,
            }
            for rec in records
        ],
    }


def _pct(x: float | None) -> str:
    return "  n/a" if x is None else f"{100 * x:4.0f}%"


def format_report(report: dict[str, Any]) -> str:
    """The report as text for the terminal (starts with :data:`REPORT_HEADER`)."""
    lines = [REPORT_HEADER]
    lines.append(
        f"trials: {report['trials_run']}/{report['trials_planned']}" + ("" if report["complete"] else " (INCOMPLETE)")
    )
    lines.append(
        f"{'rank':>4}  {'alias':<5}  {'success':>13}  {'95% CI':>13}  {'progress':>8}  {'95% CI':>13}  checkpoint"
    )
    for r in report["results"]:
        lo, hi = r["success_ci95"]
        pci = r["progress_ci95"]
        mp = r["mean_progress"]
        lines.append(
            f"{r['rank']:>4}  {r['alias']:<5}  {r['successes']:>3}/{r['trials']:<3} {_pct(r['success_rate'])}"
            f"  [{_pct(lo)},{_pct(hi)}]  {('n/a' if mp is None else f'{mp:.2f}'):>8}"
            f"  {('n/a' if pci is None else f'[{pci[0]:.2f}, {pci[1]:.2f}]'):>13}  {r['checkpoint']}"
        )
    for r in report["results"][1:]:
        v = r.get("vs_first")
        if v and v["pairs"]:
            ci = v["progress_diff_ci95"]
            ci_s = "n/a" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"
            lines.append(
                f"  {r['alias']} vs {report['results'][0]['alias']} on {v['pairs']} shared seeds: progress "
                f"{v['progress_diff']:+.2f} {ci_s}, success only-{r['alias']} {v['only_x_succeeded']} / "
                f"only-{report['results'][0]['alias']} {v['only_ref_succeeded']} (McNemar p={v['mcnemar_p']:.3f})"
            )
    return "\n".join(lines)
