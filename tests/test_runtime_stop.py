"""The supervisor's ordered stop waits for a node still finishing its work, not for a silent one."""

from __future__ import annotations

import io

import yaml

from abc_robot.runtime.launch import load_launch
from abc_robot.runtime.supervisor import Supervisor

from .utils import wait_for


def _graph(tmp_path, **sink):
    marks = tmp_path / "teardown.txt"
    nodes = [
        {"name": "src", "kind": "probe", "role": "source", "params": {"teardown_file": str(marks)}},
        {"name": "rec", "kind": "probe", "role": "sink", "params": {"teardown_file": str(marks), **sink}},
    ]
    data = {"graph": "t", "heartbeat_timeout_s": 5.0, "startup_timeout_s": 60.0, "stop_timeout_s": 2.0, "nodes": nodes}
    p = tmp_path / "g.yaml"
    p.write_text(yaml.safe_dump(data))
    return p, marks


def _started(sup: Supervisor) -> None:
    sup.start()
    assert wait_for(lambda: (sup.poll(), all(n.heartbeat for n in sup.nodes.values()))[1], 120), "no heartbeats"


def test_a_sink_that_heartbeats_while_finishing_is_not_killed(tmp_path, run_dir):
    # Finishing takes 2.5 stop timeouts (a recorder writing the backlog of a busy machine).
    p, marks = _graph(tmp_path, teardown_s=5.0, teardown_heartbeats=True)
    sup = Supervisor(load_launch(p), run_dir=run_dir, log=io.StringIO())
    _started(sup)
    sup.stop()
    assert not [e for e in sup.events if e.kind == "killed"], sup.events
    assert [ln.split()[0] for ln in marks.read_text().splitlines()] == ["src", "rec"]
    assert sup.nodes["rec"].exit_code == 0


def test_a_silent_sink_is_still_killed_after_the_stop_timeout(tmp_path, run_dir):
    p, marks = _graph(tmp_path, teardown_s=60.0, teardown_heartbeats=False)
    sup = Supervisor(load_launch(p), run_dir=run_dir, log=io.StringIO())
    _started(sup)
    sup.stop()
    killed = [e for e in sup.events if e.kind == "killed"]
    assert [e.node for e in killed] == ["rec"] and "did not stop within 2.0 s" in killed[0].detail
    assert [ln.split()[0] for ln in marks.read_text().splitlines()] == ["src"]
