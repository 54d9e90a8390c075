"""Figures of a run from its nodes' final heartbeats: per arm (tracking, latency, IK,
step time) and per node (rate, period, overruns, step time, CPU).

Library code shared by the terminal console (``abc-teleop``'s summary), ``abc-rollout``
and the benchmarks, computed from ``Supervisor.statuses()``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NODE_FIGURES", "node_figures", "teleop_summary"]

NODE_FIGURES = ("rate_hz", "period_p99_ms", "overruns", "step_us_p50", "step_us_p99", "cpu_pct")


def node_figures(loop: dict[str, Any]) -> dict[str, Any]:
    """The per-node figures of a summary, from a heartbeat's loop statistics."""
    return {k: loop.get(k) for k in NODE_FIGURES}


def teleop_summary(statuses: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-arm tracking error and latency, per-node rates, from the final heartbeats."""
    arms: dict[str, Any] = {}
    nodes: dict[str, Any] = {}
    for name, st in statuses.items():
        loop, s = st.get("loop", {}), st.get("status", {})
        nodes[name] = node_figures(loop)
        if "arm" in s and "mode" in s:
            arms[s["arm"]] = {
                k: s.get(k)
                for k in (
                    "mode",
                    "tracking_mm_p50",
                    "tracking_mm_p99",
                    "latency_ms_p50",
                    "latency_ms_p99",
                    "latency_samples",
                    "ik_us_p50",
                    "watchdog_trips",
                    "refusals",
                    "commands",
                )
            }
            # The follower's own loop: its step time [us] and CPU share [% of a core].
            arms[s["arm"]].update({f"step_us_{q}": loop.get(f"step_us_{q}") for q in ("p50", "p99")}, cpu_pct=loop.get("cpu_pct"))
        elif s:
            nodes[name]["status"] = s
    return {"arms": arms, "nodes": nodes}
