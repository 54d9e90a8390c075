"""Run a rig's hardware graph (``launch/templates/<graph>.yaml``) against a running twin.

The graph is built exactly as a ``--rig R --rig-overlay FILE`` command builds it
(:func:`abc_robot.rig.graphs.build_graph` on ``load_rig(R, overlay)``), written as a
launch file and started with the launcher (``python -m abc_robot.cli.launch``) in a
child process. Only what a busy CI machine needs is overridden through ``--set``
(rates, timeouts), as an operator would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from abc_robot.testing.twin.rig_twin import RigTwin

__all__ = ["build_twin_graph", "launch_twin_graph", "CI_SETS"]

_REPO = Path(__file__).resolve().parents[3]


def CI_SETS(
    rig_leaders: list[str], rig_followers: list[str], *, leader_hz: float = 100.0, follower_hz: float = 100.0
) -> list[str]:
    """``--set`` overrides for a shared 2-core machine: slower leader and follower loops,
    and the patience that emulated servos (threads of one busy Python process) need."""
    sets = [f"leader_{arm}.rate_hz={leader_hz}" for arm in rig_leaders]
    sets += [f"leader_{arm}.timeout_ms=100" for arm in rig_leaders]
    sets += [f"follower_{arm}.rate_hz={follower_hz}" for arm in rig_followers]
    sets += [f"follower_{arm}.stale_timeout_ms=250" for arm in rig_followers]
    return sets


def build_twin_graph(
    twin: RigTwin,
    graph: str,
    run_dir: str | Path,
    *,
    keep_rt: bool = False,
    heartbeat_timeout_s: float | None = None,
    **opts: Any,
) -> dict[str, Any]:
    """The launch dict of ``graph`` for the twin's rig with the twin's overlay, ``${run}`` set.

    Args:
        keep_rt: keep the template's real-time priorities (SCHED_FIFO followers); by
            default they are dropped, since emulated devices polled by a SCHED_FIFO
            process on two shared cores could starve.
        heartbeat_timeout_s: the supervisor's patience with a silent node [s] (default
            the template's); a loaded CI machine can starve a camera process for seconds.
    """
    from abc_robot.rig import load_rig
    from abc_robot.rig.graphs import build_graph

    overlay = twin.write_overlay()
    rig = load_rig(twin.rig.root, overlay)
    data = build_graph(rig, graph, **opts)
    text = yaml.safe_dump(data, sort_keys=False).replace("${run}", str(run_dir))
    data = yaml.safe_load(text)
    if heartbeat_timeout_s is not None:
        data["heartbeat_timeout_s"] = heartbeat_timeout_s
    if not keep_rt:
        for node in data["nodes"]:
            node["rt_priority"] = 0
    return data


def launch_twin_graph(
    data: Mapping[str, Any], run_dir: str | Path, sets: list[str] | None = None, log_name: str = "launch.log"
) -> tuple[subprocess.Popen[bytes], Path]:
    """Write ``data`` as a launch file in ``run_dir`` and start the launcher on it.

    Returns:
        the launcher process and its log file (every node's output, prefixed).
    """
    run = Path(run_dir)
    launch_file = run / f"{data.get('graph', 'graph').replace(':', '_')}.yaml"
    launch_file.write_text(yaml.safe_dump(dict(data), sort_keys=False))
    cmd = [sys.executable, "-m", "abc_robot.cli.launch", str(launch_file)]
    for s in sets or []:
        cmd += ["--set", s]
    env = dict(os.environ, PYTHONPATH=str(_REPO))
    log = run / log_name
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=_REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, log


def set_json(node: str, param: str, value: Any) -> str:
    """A ``--set NODE.PARAM=VALUE`` item whose value is any YAML/JSON value."""
    return f"{node}.{param}={json.dumps(value)}"
