"""``abc-bench teleop``: leader sample → follower command latency in the sim graph.

Runs ``launch/teleop_sim.yaml`` (MuJoCo world, scripted leader, two followers,
rendered cameras) as real processes for a while and reads the followers' own
measurements from their final heartbeats: for every leader sample, the time from the
sample's stamp (taken where the leader was read) to the follower command computed
from it being issued; and the end-effector tracking error of the MuJoCo arm against
the leader's target.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from abc_robot.bench.common import Row
from abc_robot.bench.teleop_page import NOTE as PAGE_NOTE
from abc_robot.bench.teleop_page import page_rows

__all__ = ["run", "run_graph"]

LAUNCH = Path(__file__).resolve().parents[2] / "launch" / "teleop_sim.yaml"


def run_graph(duration_s: float, overrides: dict | None = None, realtime: bool = True) -> dict:
    """Run the sim teleop graph for ``duration_s``; return the teleop summary.

    ``realtime=False`` runs every node at the default niceness (the launch file's
    ``nice`` values ignored): the baseline that shows what the priorities buy on a
    busy machine.
    """
    import dataclasses

    from abc_robot.nodes.registry import load_graph
    from abc_robot.runtime.figures import teleop_summary
    from abc_robot.runtime.supervisor import Supervisor

    os.environ.setdefault("MUJOCO_GL", "egl")
    graph = load_graph(LAUNCH, overrides)
    if not realtime:
        graph = dataclasses.replace(graph, nodes=[dataclasses.replace(n, rt_priority=0, nice=0) for n in graph.nodes])
    sup = Supervisor(graph, log=io.StringIO())
    code = sup.run(duration_s)
    summary = teleop_summary(sup.statuses())
    summary["exit"] = code
    summary["log_tail"] = {n: p.tail[-5:] for n, p in sup.nodes.items()}
    return summary


def _worst(summary: dict, key: str) -> float:
    arms = summary["arms"]
    if not arms:
        raise RuntimeError(f"no follower reported figures; graph exit {summary['exit']}: {summary['log_tail']}")
    # Worst arm: the figure an operator feels.
    return max(a.get(key) or float("nan") for a in arms.values())


def _both(summary: dict, key: str) -> float:
    """Both arms together (CPU shares add up)."""
    return float(sum(a.get(key) or 0.0 for a in summary["arms"].values()))


def _node(summary: dict, node: str, key: str) -> float:
    v = summary["nodes"].get(node, {}).get(key)
    return float("nan") if v is None else float(v)


def run(quick: bool = False) -> list[Row]:
    seconds = 12.0 if quick else 40.0
    rt = run_graph(seconds)
    base = run_graph(seconds, realtime=False)
    rows = []
    for prefix, summary, vs in (("teleop", rt, "normal_sched"), ("normal_sched", base, None)):
        rows += [
            Row(f"{prefix}/latency/p50", _worst(summary, "latency_ms_p50"), "ms", f"{vs}/latency/p50" if vs else None),
            Row(f"{prefix}/latency/p99", _worst(summary, "latency_ms_p99"), "ms", f"{vs}/latency/p99" if vs else None),
            Row(f"{prefix}/tracking/p50", _worst(summary, "tracking_mm_p50"), "mm"),
            Row(f"{prefix}/tracking/p99", _worst(summary, "tracking_mm_p99"), "mm"),
            Row(f"{prefix}/follower_step/p50", _worst(summary, "step_us_p50"), "us", f"{vs}/follower_step/p50" if vs else None),
            Row(f"{prefix}/follower_step/p99", _worst(summary, "step_us_p99"), "us", f"{vs}/follower_step/p99" if vs else None),
            Row(f"{prefix}/followers_cpu", _both(summary, "cpu_pct"), "%"),
            Row(f"{prefix}/world/rate", _node(summary, "sim", "rate_hz"), "Hz"),
            Row(f"{prefix}/world/overruns", _node(summary, "sim", "overruns"), "count"),
        ]
    # The operator's page open in a real browser, vs the plain teleop rows above.
    return rows + page_rows(quick)


NOTE = (
    "teleop: the launch file's priorities (followers and leader nice -10, sim -5, cameras +5); "
    "normal_sched: the same graph with every node at nice 0, same run. Latency = leader sample stamp "
    "-> follower command issued; tracking = MuJoCo end effector vs leader target; follower_step = one "
    "follower tick [us] (worst arm); followers_cpu = both followers [% of a core]; world = the sim's loop (500 Hz goal)."
    + "\n"
    + PAGE_NOTE
)
