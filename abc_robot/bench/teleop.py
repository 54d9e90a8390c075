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

__all__ = ["run", "run_graph"]

LAUNCH = Path(__file__).resolve().parents[2] / "launch" / "teleop_sim.yaml"


def run_graph(duration_s: float, overrides: dict | None = None) -> dict:
    """Run the sim teleop graph for ``duration_s``; return the teleop summary."""
    from abc_robot.cli.console import teleop_summary
    from abc_robot.runtime.launch import load_launch
    from abc_robot.runtime.supervisor import Supervisor

    os.environ.setdefault("MUJOCO_GL", "egl")
    graph = load_launch(LAUNCH, overrides)
    sup = Supervisor(graph, log=io.StringIO())
    code = sup.run(duration_s)
    summary = teleop_summary(sup.statuses())
    summary["exit"] = code
    summary["log_tail"] = {n: p.tail[-5:] for n, p in sup.nodes.items()}
    return summary


def run(quick: bool = False) -> list[Row]:
    summary = run_graph(12.0 if quick else 40.0)
    arms = summary["arms"]
    if not arms:
        raise RuntimeError(f"no follower reported figures; graph exit {summary['exit']}: {summary['log_tail']}")
    # Worst arm: the figure an operator feels.
    p50 = max(a.get("latency_ms_p50") or float("nan") for a in arms.values())
    p99 = max(a.get("latency_ms_p99") or float("nan") for a in arms.values())
    trk50 = max(a.get("tracking_mm_p50") or float("nan") for a in arms.values())
    trk99 = max(a.get("tracking_mm_p99") or float("nan") for a in arms.values())
    return [
        Row("teleop/latency/p50", p50, "ms"),
        Row("teleop/latency/p99", p99, "ms"),
        Row("teleop/tracking/p50", trk50, "mm"),
        Row("teleop/tracking/p99", trk99, "mm"),
    ]
