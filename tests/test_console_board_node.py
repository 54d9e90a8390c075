"""Console-board node as a real process: emulated board in, ``console/event`` out over ZeroMQ."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from abc_robot.runtime.node import EXIT_CONFIG
from abc_robot.testing.console_board_emulator import ConsoleBoardEmulator
from abc_robot.transport.bus import ReliableSubscriber
from abc_robot.transport.messages import Event

from .utils import REPO, wait_for


def _spawn(params: dict, name: str = "console") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "abc_robot.nodes", "--kind", "console_board", "--name", name]
    cmd += ["--params", json.dumps(params), "--where", "launch/test.yaml: nodes.console"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_node_publishes_console_events_and_faults(tmp_path, run_dir):
    endpoint = f"ipc://{run_dir}/console_board"
    with ConsoleBoardEmulator(tmp_path / "console") as board:
        proc = _spawn({"bind": endpoint, "board": {"port": str(board.link), "reconnect_period_s": 0.05}})
        sub = ReliableSubscriber(endpoint, ["console/event"])
        got: list[Event] = []

        def received(kind: str, n: int = 1) -> bool:
            got.extend(m for _, m in sub.drain())
            return sum(e.kind == kind for e in got) >= n

        try:
            assert wait_for(lambda: board.host_link, 30), "node never talked to the board"
            # The subscription may join after the node started: repeat until heard.
            assert wait_for(
                lambda: (board.press("button_a"), board.release("button_a"), received("episode_start"))[-1], 10, 0.3
            )
            assert wait_for(lambda: board.led == "on", 5), "LED should be on while an episode runs"
            board.press("pedal_a")
            assert wait_for(lambda: received("intervene_on"), 5)
            assert wait_for(lambda: board.led == "blink_fast", 5)
            board.unplug()
            assert wait_for(lambda: received("fault"), 5)
            board.replug()
            assert wait_for(lambda: received("fault", 2), 5)
            faults = [e for e in got if e.kind == "fault"]
            assert [f.data["active"] for f in faults] == [True, False]
            ev = next(e for e in got if e.kind == "intervene_on")
            assert ev.source == "console" and ev.data["input"] == "pedal_a" and ev.stamp_ns > 0
            assert sub.gaps.total_missing == 0
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            # Teardown switched the LED off on its way out.
            assert board.led == "off"
        except AssertionError:
            if proc.poll() is None:
                proc.kill()
            print(proc.communicate(timeout=10)[0])  # the node's own log, shown by pytest on failure
            raise
        finally:
            sub.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_node_refuses_a_bad_mapping_naming_the_field(run_dir):
    params = {"board": {"mapping": {"bindings": [{"input": "pedal_a", "edge": "stomp", "events": ["fail"]}]}}}
    proc = _spawn(params)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_CONFIG
    assert "launch/test.yaml" in out and "nodes.console.params.board.mapping.bindings" in out and "valid edges" in out
