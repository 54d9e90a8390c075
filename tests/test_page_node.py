"""The page node without a browser: how ``--page`` wires it into a graph, its config
checks, and, as a real process, that it serves the page on loopback and, with no
browser connected, subscribes to nothing but console events."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from abc_robot.cli.page import add_page_args, with_page
from abc_robot.cli.teleop import LAUNCH_DIR
from abc_robot.nodes.page_node import PageConfig, add_page_node
from abc_robot.nodes.registry import load_graph, resolve
from abc_robot.runtime.config import from_dict
from abc_robot.transport.bus import Publisher
from abc_robot.transport.messages import Event

from .utils import REPO, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_add_page_node_reads_the_graph_and_reaches_every_console_listener():
    graph = load_graph(LAUNCH_DIR / "teleop_sim.yaml")
    out = add_page_node(graph, port=9001)
    page = out.node("page")
    assert page.kind == "page" and page.role == "sink" and resolve("page").__name__ == "PageNode"
    p = page.params
    assert p["host"] == "127.0.0.1" and p["port"] == 9001 and p["blind"] is False
    assert p["followers"] == {"left": "ipc://${run}/follower_left", "right": "ipc://${run}/follower_right"}
    assert p["leaders"] == ["ipc://${run}/leader"]
    assert p["cameras"] == {c: f"ipc://${{run}}/camera_{c}" for c in ("top", "left", "right")}
    assert p["console"] == ["ipc://${run}/console"]
    # The page's buttons reach whoever listens to the console: followers and recorder.
    for name in ("follower_left", "follower_right", "recorder"):
        assert out.node(name).params["console"][-1] == "ipc://${run}/page", name
        assert graph.node(name).params["console"] == ["ipc://${run}/console"]  # the input graph is untouched
    from_dict(PageConfig, p)  # a valid config as written


def test_the_page_flag_is_explicit_and_loopback_by_default():
    import argparse

    ap = argparse.ArgumentParser()
    add_page_args(ap)
    graph = load_graph(LAUNCH_DIR / "teleop_sim.yaml")
    assert with_page(graph, ap.parse_args([])) is graph
    assert with_page(graph, ap.parse_args(["--page"])).node("page").params["host"] == "127.0.0.1"
    other = with_page(graph, ap.parse_args(["--page", "--page-host", "0.0.0.0", "--page-port", "9100"]), blind=True)
    params = other.node("page").params
    assert (params["host"], params["port"], params["blind"]) == ("0.0.0.0", 9100, True)


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"port": 0}, "port"),
        ({"rate_hz": 100}, "rate_hz"),
        ({"camera_hz": 50}, "camera_hz"),
        ({"layout": "/no"}, "layout"),
    ],
)
def test_bad_page_config_names_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        PageConfig(**bad)


def test_page_process_serves_on_loopback_and_idles_without_a_browser(run_dir):
    port = free_port()
    console = Publisher(f"ipc://{run_dir}/console", "console")
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    params = {"port": port, "console": ["ipc://${run}/console"], "cameras": {"top": "ipc://${run}/camera_top"}}
    cmd = [sys.executable, "-m", "abc_robot.nodes", "--kind", "page", "--name", "page"]
    proc = subprocess.Popen(
        [*cmd, "--params", json.dumps(params)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:

        def serves() -> bool:
            if proc.poll() is not None:
                return True  # it died: the assertion below says how
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    return r.status == 200 and b"<html" in r.read().lower()
            except OSError:
                return False

        assert wait_for(serves, 120, 0.5) and proc.poll() is None, proc.poll()
        # Bound to loopback only: another address of this machine does not answer.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent; picks this host's outward address
            outward = s.getsockname()[0]
        if outward != "127.0.0.1":
            with pytest.raises(OSError):
                socket.create_connection((outward, port), timeout=2).close()
        console.publish("console/event", Event(kind="episode_start"))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        console.close()
    assert proc.returncode == 0, out
    assert f"page on http://127.0.0.1:{port}" in out
