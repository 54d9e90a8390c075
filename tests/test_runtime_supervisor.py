"""The supervisor over real processes: deaths, silences, policies, ordered stop."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from abc_robot.errors import ConfigError
from abc_robot.runtime.launch import load_launch
from abc_robot.runtime.supervisor import Supervisor

from .utils import REPO, wait_for


def _write(tmp_path, nodes, **top):
    # Generous silence and start-up limits: a busy machine descheduling a node for a second
    # is not what these tests are about (the hung-node test sets its own node's limit).
    data = {"graph": "t", "heartbeat_timeout_s": 15.0, "startup_timeout_s": 120.0, **top, "nodes": nodes}
    p = tmp_path / "g.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _probe(name, role="source", **params):
    if "teardown_file" in params:  # the same directory gets the ready marks
        params.setdefault("ready_file", str(Path(params["teardown_file"]).parent / "ready.txt"))
    return {"name": name, "kind": "probe", "role": role, "on_failure": params.pop("on_failure", "stop"), "params": params}


def _wait_ready(directory, n: int) -> None:
    """Until ``n`` probes run their loops (their signal handlers are in place)."""
    ready = Path(directory) / "ready.txt"
    assert wait_for(lambda: ready.exists() and len(ready.read_text().splitlines()) >= n, 120), "probes not running"


def _wait_heartbeats(sup, timeout=120):
    assert wait_for(lambda: (sup.poll(), all(n.heartbeat for n in sup.nodes.values()))[1], timeout), "no heartbeats"


def test_sigkilled_node_is_noticed_within_one_second_and_restarted(tmp_path, run_dir):
    p = _write(tmp_path, [_probe("a", on_failure="restart"), _probe("b", role="follower")])
    sup = Supervisor(load_launch(p), run_dir=run_dir, log=io.StringIO())
    sup.start()
    try:
        _wait_heartbeats(sup)
        old = sup.nodes["a"].proc.pid
        os.kill(old, signal.SIGKILL)
        # Dead (not reaped: the supervisor does that): its very next poll must notice. How
        # fast a busy machine gets there is a figure for abc-bench, not a test's business.
        os.waitid(os.P_PID, old, os.WEXITED | os.WNOWAIT)
        sup.poll()
        noticed = [e for e in sup.events if e.node == "a" and e.kind == "exited"]
        assert noticed and noticed[0].detail == "signal 9"
        assert wait_for(lambda: (sup.poll(), any(e.kind == "restarted" for e in sup.events))[1], 120)
        assert sup.nodes["a"].proc.pid != old
        assert wait_for(lambda: (sup.poll(), sup.nodes["a"].heartbeat is not None)[1], 120)
        assert sup.stop_reason is None
    finally:
        sup.stop()


def test_sigkilled_node_with_stop_policy_stops_the_graph_in_order(tmp_path, run_dir):
    marks = tmp_path / "teardown.txt"
    p = _write(
        tmp_path,
        [
            _probe("world", role="world", teardown_file=str(marks)),
            _probe("arm", role="follower", teardown_file=str(marks)),
            _probe("rec", role="sink", teardown_file=str(marks)),
            _probe("leader", role="source", teardown_file=str(marks)),
            _probe("doomed", role="source"),
        ],
    )
    sup = Supervisor(load_launch(p), run_dir=run_dir, log=io.StringIO())
    sup.start()
    _wait_heartbeats(sup)
    os.kill(sup.nodes["doomed"].proc.pid, signal.SIGKILL)
    code = sup.run()
    assert code == 1 and "doomed" in sup.stop_reason
    lines = [ln.split() for ln in marks.read_text().splitlines()]
    assert [ln[0] for ln in lines] == ["leader", "rec", "arm", "world"]
    assert all(ln[1] == "HOLD" for ln in lines)  # everyone was told HOLD before SIGTERM


def test_hung_node_is_detected_by_heartbeat_silence(tmp_path, run_dir):
    hang = {**_probe("hang", hang_after_s=1.0), "heartbeat_timeout_s": 1.0}
    p = _write(tmp_path, [hang, _probe("ok", role="follower")])
    sup = Supervisor(load_launch(p), run_dir=run_dir, log=io.StringIO())
    code = sup.run(duration_s=30)
    assert code == 1
    silent = [e for e in sup.events if e.kind == "silent"]
    assert silent and silent[0].node == "hang"


def test_crashing_step_runs_teardown_and_reports(tmp_path, run_dir):
    marks = tmp_path / "t.txt"
    p = _write(tmp_path, [_probe("c", crash_after_s=0.5, teardown_file=str(marks), on_failure="ignore"), _probe("ok")])
    sup = Supervisor(load_launch(p), run_dir=run_dir, log=io.StringIO())
    sup.start()
    assert wait_for(lambda: (sup.poll(), any(e.kind == "exited" for e in sup.events))[1], 120)
    sup.stop()
    assert marks.read_text().startswith("c RUN")
    assert "probe crash requested" in "\n".join(sup.nodes["c"].tail)
    assert [e.detail for e in sup.events if e.kind == "exited"] == ["status 70"]


def test_sigint_to_abc_launch_stops_every_node_with_teardown(tmp_path):
    marks = tmp_path / "teardown.txt"
    p = _write(
        tmp_path,
        [
            _probe("sim", role="world", teardown_file=str(marks)),
            _probe("fl", role="follower", teardown_file=str(marks)),
            _probe("lead", role="source", teardown_file=str(marks), bind="ipc://${run}/lead"),
        ],
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), ABC_RUN_DIR=str(tmp_path / "r"))
    proc = subprocess.Popen([sys.executable, "-m", "abc_robot.cli.launch", str(p), "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_ready(tmp_path, 3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert [ln.split()[0] for ln in marks.read_text().splitlines()] == ["lead", "fl", "sim"]
    assert "[supervisor] lead: stopping" in out


def test_config_error_names_file_node_and_field(tmp_path, run_dir):
    p = _write(tmp_path, [_probe("bad", rate_hz="fast")])
    sup = Supervisor(load_launch(p), run_dir=run_dir, log=io.StringIO())
    code = sup.run(duration_s=30)
    assert code == 1
    ev = [e for e in sup.events if e.kind == "config_error"]
    assert ev and f"{p}: nodes.bad.params.rate_hz: expected a number" in ev[0].detail
    assert sup.nodes["bad"].restarts == 0


def test_launch_file_errors_name_the_field(tmp_path):
    from abc_robot.nodes.registry import NODE_KINDS, load_graph

    p = _write(tmp_path, [{"name": "x", "kind": "nope"}])
    with pytest.raises(ConfigError, match=r"g.yaml: nodes.x.kind: unknown node kind 'nope'"):
        load_graph(p)
    with pytest.raises(ConfigError, match=r"valid kinds: \['camera'"):
        load_launch(p, kinds=sorted(NODE_KINDS))
    assert load_launch(p).nodes[0].kind == "nope"  # no table handed in: the node process refuses it
    p = _write(tmp_path, [_probe("x"), _probe("x")])
    with pytest.raises(ConfigError, match="unique"):
        load_launch(p)
    p = _write(tmp_path, [{"name": "x", "kind": "probe", "on_failure": "explode"}])
    with pytest.raises(ConfigError, match=r"nodes\[0\].on_failure: must be one of"):
        load_launch(p)


def test_nodes_take_their_teardown_when_the_supervisor_is_killed(tmp_path):
    marks = tmp_path / "teardown.txt"
    p = _write(tmp_path, [_probe("a", teardown_file=str(marks)), _probe("b", role="follower", teardown_file=str(marks))])
    env = dict(os.environ, PYTHONPATH=str(REPO), ABC_RUN_DIR=str(tmp_path / "r"))
    proc = subprocess.Popen([sys.executable, "-m", "abc_robot.cli.launch", str(p)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_ready(tmp_path, 2)
    proc.send_signal(signal.SIGKILL)  # no ordered stop possible
    proc.wait(10)
    assert wait_for(lambda: marks.exists() and len(marks.read_text().splitlines()) == 2, 60)
    assert sorted(ln.split()[0] for ln in marks.read_text().splitlines()) == ["a", "b"]


def test_a_run_dir_the_supervisor_made_is_removed_at_stop_and_a_given_one_is_kept(tmp_path, run_dir):
    p = _write(tmp_path, [_probe("a")])
    own = Supervisor(load_launch(p), log=io.StringIO())
    own.start()
    _wait_heartbeats(own)
    assert any(os.scandir(own.run_dir))  # the graph's sockets live there
    own.stop()
    assert not os.path.exists(own.run_dir)
    given = Supervisor(load_launch(p), run_dir=run_dir, log=io.StringIO())
    given.start()
    _wait_heartbeats(given)
    given.stop()
    assert os.path.isdir(run_dir)
