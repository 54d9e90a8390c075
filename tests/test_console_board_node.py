"""Console-board node as a real process: emulated board in, ``console/event`` out over ZeroMQ."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from abc_robot.runtime.episode_state import EpisodeAnnouncer
from abc_robot.runtime.node import EXIT_CONFIG
from abc_robot.testing.console_board_emulator import ConsoleBoardEmulator
from abc_robot.transport.bus import Publisher, ReliableSubscriber
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


def test_button_a_follows_the_episodes_of_the_other_console_sources(tmp_path, run_dir):
    """The keys (another console source) start and end episodes too: button A stops the
    episode they started, and starts one after an episode ended by success."""
    endpoint = f"ipc://{run_dir}/console_board"
    keys_ep = f"ipc://{run_dir}/console"
    keys_pub = Publisher(keys_ep, source="keys")
    keys = EpisodeAnnouncer(keys_pub, period_s=0.2)
    with ConsoleBoardEmulator(tmp_path / "console") as board:
        proc = _spawn({"bind": endpoint, "console": [keys_ep], "board": {"port": str(board.link)}})
        sub = ReliableSubscriber(endpoint, ["console/event"])
        got: list[Event] = []

        def mine(kind: str) -> int:
            got.extend(m for _, m in sub.drain())
            return sum(e.kind == kind for e in got)

        def click() -> None:
            board.press("button_a")
            board.release("button_a")

        def keys_wait(until) -> bool:  # the keys' loop: announce while waiting
            def check() -> bool:
                keys.tick()
                return until()

            return wait_for(check, 20, 0.05)

        try:
            assert wait_for(lambda: board.host_link, 30), "node never talked to the board"
            # The link and our subscription are up once a click is heard (repeat until
            # then: a port just opened drops what the board sent at its reset); a second
            # click ends that episode.
            for _ in range(30):
                click()
                if wait_for(lambda: mine("episode_start") + mine("episode_stop") + mine("episode_state") > 0, 0.5):
                    break
            assert got, "the node published nothing for button A"
            time.sleep(1.0)  # any click still in flight lands
            if board.led == "on":
                click()
            assert wait_for(lambda: board.led == "off", 10)
            time.sleep(0.3)
            mine("")  # drain what is already on its way
            got.clear()
            keys.send("episode_start")  # the node hears it (or the announcements) from the keys
            assert keys_wait(lambda: board.led == "on"), "the node did not hear the keys' episode"
            click()
            assert wait_for(lambda: mine("episode_stop") == 1 and board.led == "off", 10), [e.kind for e in got]
            assert mine("episode_start") == 0, "button A started an episode while one was running"
            keys.send("episode_start")
            assert keys_wait(lambda: board.led == "on")
            keys.send("success")  # ended from the keys
            assert wait_for(lambda: board.led == "off", 10)
            click()
            assert wait_for(lambda: mine("episode_start") == 1, 10), [e.kind for e in got]
            start = next(e for e in got if e.kind == "episode_start")
            assert start.data["input"] == "button_a" and start.data["episode"] and start.data["edge_stamp_ns"] > 0
            # While it runs, the node announces it (a restarted recorder joins it).
            assert wait_for(lambda: mine("episode_state") >= 2, 10)
            state = [e for e in got if e.kind == "episode_state"][-1]
            assert state.data["active"] and state.data["episode"] == start.data["episode"]
            board.press("button_b")
            board.release("button_b")  # short press: success ends it
            assert wait_for(lambda: mine("success") == 1 and board.led == "off", 10)
            click()
            assert wait_for(lambda: mine("episode_start") == 2, 10), [e.kind for e in got]
            assert mine("episode_stop") == 1
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        except AssertionError:
            if proc.poll() is None:
                proc.kill()
            print(proc.communicate(timeout=10)[0])
            raise
        finally:
            sub.close()
            keys_pub.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_node_refuses_a_bad_mapping_naming_the_field(run_dir):
    params = {"board": {"mapping": {"bindings": [{"input": "pedal_a", "edge": "stomp", "events": ["fail"]}]}}}
    proc = _spawn(params)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_CONFIG
    assert "launch/test.yaml" in out and "nodes.console.params.board.mapping.bindings" in out and "valid edges" in out
