"""Terminal status of a running graph (rich), and the end-of-run summary.

The supervisor already receives every node's heartbeat (loop statistics + status
dict), so the console needs no sockets of its own: it renders
``Supervisor.statuses()``.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from abc_robot.runtime.figures import NODE_FIGURES, node_figures, teleop_summary

__all__ = ["status_table", "teleop_summary", "format_summary", "node_figures", "NODE_FIGURES"]


def _f(x: Any, fmt: str = ".2f") -> str:
    return "" if x is None else format(x, fmt)


def status_table(statuses: dict[str, dict[str, Any]], title: str = "abc_robot") -> Table:
    """One row per node: liveness, loop rate and jitter, and its key figures."""
    t = Table(title=title)
    for col in ("node", "alive", "rate Hz", "p99 ms", "overruns", "status"):
        t.add_column(col)
    for name, st in statuses.items():
        loop, s = st.get("loop", {}), st.get("status", {})
        if "mode" in s:
            extra = (
                f"{s['mode']} lat p50/p99 {_f(s.get('latency_ms_p50'))}/{_f(s.get('latency_ms_p99'))} ms  "
                f"track p50/p99 {_f(s.get('tracking_mm_p50'), '.1f')}/{_f(s.get('tracking_mm_p99'), '.1f')} mm"
                + (f"  [{s['hold_reason']}]" if s.get("hold_reason") else "")
            )
        else:
            extra = "  ".join(f"{k}={v}" for k, v in list(s.items())[:4])
        t.add_row(
            name,
            "yes" if st.get("alive") else "no",
            _f(loop.get("rate_hz"), ".0f"),
            _f(loop.get("period_p99_ms")),
            str(loop.get("overruns", "")),
            extra,
        )
    return t


def format_summary(summary: dict[str, Any]) -> str:
    lines = ["summary:"]
    for arm, a in sorted(summary["arms"].items()):
        lines.append(
            f"  {arm:5s}: tracking error p50 {_f(a.get('tracking_mm_p50'), '.1f')} mm, p99 {_f(a.get('tracking_mm_p99'), '.1f')} mm; "
            f"leader sample -> follower command p50 {_f(a.get('latency_ms_p50'))} ms, p99 {_f(a.get('latency_ms_p99'))} ms "
            f"({a.get('latency_samples')} samples); IK p50 {_f(a.get('ik_us_p50'), '.0f')} us; "
            f"watchdog trips {a.get('watchdog_trips')}; refusals {a.get('refusals')}"
        )
    for name, n in summary["nodes"].items():
        lines.append(
            f"  {name}: {_f(n.get('rate_hz'), '.0f')} Hz, period p99 {_f(n.get('period_p99_ms'))} ms, overruns {n.get('overruns')}, "
            f"step p50/p99 {_f(n.get('step_us_p50'), '.0f')}/{_f(n.get('step_us_p99'), '.0f')} us, "
            f"CPU {_f(n.get('cpu_pct'), '.0f')} %"
        )
    return "\n".join(lines)
