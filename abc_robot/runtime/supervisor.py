"""Supervisor: starts a graph's processes, merges their logs, watches their health.

One process per node (``python -m abc_robot.nodes``), each in its own
process group so that a terminal's Ctrl-C reaches only the supervisor, which then stops
the graph in the defined order (see :mod:`abc_robot.runtime.launch`). Children's output
is merged into one stream, each line prefixed with ``[node]``.

Health: a node that exits, or sends no heartbeat for ``heartbeat_timeout_s`` (after its
first one; before that ``startup_timeout_s``), is handled by its ``on_failure`` policy:
``restart`` (up to ``max_restarts``), ``stop`` (ordered stop of the whole graph: HOLD
to everyone, then SIGTERM by role) or ``ignore``. A node that exits with status 78
refused its configuration: that is never restarted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import zmq

from abc_robot.errors import CodecError
from abc_robot.runtime.launch import STOP_ORDER, LaunchGraph, NodeSpec
from abc_robot.runtime.node import EXIT_CONFIG, SUPERVISOR_CMD_ENV, SUPERVISOR_ENV
from abc_robot.transport.bus import Publisher, context
from abc_robot.transport.codec import decode
from abc_robot.transport.keyring import KEYS_ENV
from abc_robot.transport.messages import Heartbeat, ModeCommand

__all__ = ["Supervisor", "NodeProcess", "SupervisorEvent"]


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the supervisor dies (Linux).

    Nodes run in their own session (so a terminal's Ctrl-C reaches only the
    supervisor), which also means nothing would stop them if the supervisor were
    killed; with PR_SET_PDEATHSIG they take the same ordered teardown (torque off)
    as on a normal stop instead of running on orphaned.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except OSError:
        pass


#: A stopping node that keeps heartbeating gets up to this many stop timeouts to exit.
STOP_FINISH_FACTOR = 12


@dataclass
class SupervisorEvent:
    """Something the supervisor noticed or did (kept for summaries and tests)."""

    t_s: float  # seconds since the graph started
    node: str
    kind: str  # started | exited | silent | restarted | config_error | stopping | stopped
    detail: str = ""


@dataclass
class NodeProcess:
    spec: NodeSpec
    proc: subprocess.Popen | None = None
    started_ns: int = 0
    last_heartbeat_ns: int = 0
    heartbeat: Heartbeat | None = None
    final: Heartbeat | None = None
    restarts: int = 0
    exit_code: int | None = None
    handled: bool = False
    log_thread: threading.Thread | None = None
    tail: list[str] = field(default_factory=list)


class Supervisor:
    """Runs one graph.

    Args:
        graph: the validated launch graph.
        run_dir: directory for ipc sockets (made if None, and then removed by ``stop``).
        log: stream for merged logs (None: stdout); ``quiet`` nodes' lines are kept
            only in ``NodeProcess.tail``.
        echo_logs: print children's lines (False keeps them in ``tail`` only).
    """

    #: The module each node process runs (``python -m``): the node table's entry point.
    node_entry = "abc_robot.nodes"

    def __init__(self, graph: LaunchGraph, run_dir: str | None = None, log: TextIO | None = None, echo_logs: bool = True) -> None:
        self.graph = graph
        self._own_run_dir = run_dir is None
        self.run_dir = run_dir or tempfile.mkdtemp(prefix="abc-")
        self.log_stream = log or sys.stdout
        self.echo_logs = echo_logs
        self.nodes = {spec.name: NodeProcess(spec) for spec in graph.nodes}
        self.events: list[SupervisorEvent] = []
        self._t0 = time.monotonic()
        self._log_lock = threading.Lock()
        self._stop_reason: str | None = None
        self.hb_endpoint = f"ipc://{self.run_dir}/supervisor_hb"
        self.cmd_endpoint = f"ipc://{self.run_dir}/supervisor_cmd"
        self._hb_sock: zmq.Socket | None = None
        self._cmd_pub: Publisher | None = None
        self.failed = False

    # ---- logging -----------------------------------------------------------------
    def say(self, text: str) -> None:
        self._emit("supervisor", text)

    def _emit(self, prefix: str, line: str) -> None:
        with self._log_lock:
            self.log_stream.write(f"[{prefix}] {line}\n")
            self.log_stream.flush()

    def _event(self, node: str, kind: str, detail: str = "") -> None:
        ev = SupervisorEvent(time.monotonic() - self._t0, node, kind, detail)
        self.events.append(ev)
        self.say(f"{node}: {kind}{' — ' + detail if detail else ''}")

    # ---- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Bind the supervisor sockets and start every node in file order."""
        env_dir = Path(self.run_dir)
        env_dir.mkdir(parents=True, exist_ok=True)
        self._hb_sock = context().socket(zmq.PULL)
        self._hb_sock.setsockopt(zmq.LINGER, 0)
        self._hb_sock.bind(self.hb_endpoint)
        self._cmd_pub = Publisher(self.cmd_endpoint, "supervisor")
        for np_ in self.nodes.values():
            self._spawn(np_)

    def _spawn(self, np_: NodeProcess) -> None:
        spec = np_.spec
        env = dict(os.environ)
        env.update(
            {
                "ABC_RUN_DIR": self.run_dir,
                SUPERVISOR_ENV: self.hb_endpoint,
                SUPERVISOR_CMD_ENV: self.cmd_endpoint,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.graph.keys:
            env[KEYS_ENV] = str(Path(self.graph.keys).resolve())
        where = f"{self.graph.source_file}: nodes.{spec.name}"
        cmd = [
            sys.executable,
            "-m",
            self.node_entry,
            "--kind",
            spec.kind,
            "--name",
            spec.name,
            "--params",
            json.dumps(spec.params),
            "--where",
            where,
            "--rt-priority",
            str(spec.rt_priority),
            "--nice",
            str(spec.nice),
        ]
        np_.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            text=True,
            bufsize=1,
        )
        np_.started_ns = time.monotonic_ns()
        np_.last_heartbeat_ns = 0
        np_.heartbeat = None
        np_.exit_code = None
        np_.handled = False
        np_.log_thread = threading.Thread(target=self._pump, args=(np_, np_.proc), daemon=True)
        np_.log_thread.start()
        self._event(spec.name, "started", f"pid {np_.proc.pid}")

    def _pump(self, np_: NodeProcess, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            np_.tail.append(line)
            if len(np_.tail) > 200:
                del np_.tail[:100]
            if self.echo_logs:
                self._emit(np_.spec.name, line)

    def poll(self) -> None:
        """Read heartbeats, detect deaths and silences, apply policies. Call often."""
        self._read_heartbeats()
        now = time.monotonic_ns()
        for np_ in self.nodes.values():
            if np_.proc is None or np_.handled:
                continue
            code = np_.proc.poll()
            if code is not None:
                np_.exit_code = code
                np_.handled = True
                how = f"signal {-code}" if code < 0 else f"status {code}"
                if code == EXIT_CONFIG:
                    self._event(np_.spec.name, "config_error", "; ".join(np_.tail[-3:]))
                    self._request_stop(f"{np_.spec.name} refused its configuration")
                    continue
                self._event(np_.spec.name, "exited", how)
                self._apply_policy(np_)
                continue
            hb_timeout = np_.spec.heartbeat_timeout_s or self.graph.heartbeat_timeout_s
            timeout = hb_timeout if np_.last_heartbeat_ns else self.graph.startup_timeout_s
            since = now - (np_.last_heartbeat_ns or np_.started_ns)
            if since > timeout * 1e9:
                np_.handled = True
                self._event(np_.spec.name, "silent", f"no heartbeat for {since / 1e9:.2f} s; killing it")
                self._kill(np_.proc, signal.SIGKILL)
                np_.proc.wait(timeout=5)
                np_.exit_code = np_.proc.returncode
                self._apply_policy(np_)

    def _apply_policy(self, np_: NodeProcess) -> None:
        spec = np_.spec
        if self._stop_reason is not None:
            return
        if spec.on_failure == "restart" and np_.restarts < spec.max_restarts:
            np_.restarts += 1
            self._event(spec.name, "restarted", f"restart {np_.restarts}/{spec.max_restarts}")
            self._spawn(np_)
        elif spec.on_failure == "ignore":
            pass
        else:
            self.failed = True
            self._request_stop(f"node {spec.name!r} failed (policy {spec.on_failure})")

    def _read_heartbeats(self) -> None:
        if self._hb_sock is None:
            return
        while True:
            try:
                frames = self._hb_sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                _, msg = decode(frames)
            except CodecError:
                continue
            if not isinstance(msg, Heartbeat):
                continue
            np_ = self.nodes.get(msg.node)
            if np_ is None or np_.proc is None or msg.pid != np_.proc.pid:
                continue
            np_.last_heartbeat_ns = time.monotonic_ns()
            np_.heartbeat = msg
            if msg.final:
                np_.final = msg

    def _request_stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            self.say(f"stopping graph: {reason}")

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    def request_stop(self, reason: str = "requested") -> None:
        """Ask :meth:`run` to stop the graph (thread-safe, signal-safe)."""
        self._request_stop(reason)

    def broadcast_mode(self, mode: str, reason: str = "", arm: str = "") -> None:
        """Tell every node (followers act on it) to switch mode, e.g. HOLD."""
        if self._cmd_pub is not None:
            self._cmd_pub.publish("supervisor/mode", ModeCommand(mode=mode, arm=arm, reason=reason))

    def run(self, duration_s: float | None = None, on_tick: Callable[[Supervisor], None] | None = None, tick_s: float = 0.05) -> int:
        """Start (if needed), supervise until a stop is requested, then stop in order.

        Returns:
            0 on a clean stop, 1 if a node failed under a ``stop`` policy or refused its
            configuration.
        """
        if self._hb_sock is None:
            self.start()
        prev = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, _f: Any) -> None:
            self._request_stop(f"{signal.Signals(signum).name} received")

        for s in prev:
            signal.signal(s, handler)
        end = None if duration_s is None else time.monotonic() + duration_s
        try:
            while self._stop_reason is None:
                self.poll()
                if on_tick is not None:
                    on_tick(self)
                if end is not None and time.monotonic() >= end:
                    self._request_stop("duration reached")
                    break
                time.sleep(tick_s)
        finally:
            self.stop()
            for s, h in prev.items():
                signal.signal(s, h)
        config_error = any(e.kind == "config_error" for e in self.events)
        return 1 if (self.failed or config_error) else 0

    def _await_group(self, group: list[NodeProcess]) -> None:
        """Wait for SIGTERMed nodes to exit; SIGKILL those silent past the stop timeout.

        A node that keeps heartbeating while it stops is finishing work it must not lose
        (a recorder writing the backlog of its episode on a busy machine): its deadline
        runs from its latest heartbeat, up to ``STOP_FINISH_FACTOR`` stop timeouts in all.
        """
        start = time.monotonic()
        timeout_s = self.graph.stop_timeout_s
        cap = start + STOP_FINISH_FACTOR * timeout_s
        since_ns = time.monotonic_ns()
        waiting = list(group)
        while waiting:
            self._read_heartbeats()
            now = time.monotonic()
            for np_ in list(waiting):
                assert np_.proc is not None
                if np_.proc.poll() is None:
                    beat_s = (np_.last_heartbeat_ns - since_ns) / 1e9 if np_.last_heartbeat_ns > since_ns else None
                    deadline = start + timeout_s if beat_s is None else min(cap, start + beat_s + timeout_s)
                    if now < max(start + timeout_s, deadline):
                        continue
                    why = "did not stop" if beat_s is None else "stopped heartbeating and did not stop"
                    self._event(np_.spec.name, "killed", f"{why} within {timeout_s} s")
                    self._kill(np_.proc, signal.SIGKILL)
                    np_.proc.wait(timeout=5)
                waiting.remove(np_)
                np_.exit_code = np_.proc.returncode
                np_.handled = True
                self._event(np_.spec.name, "stopped", f"status {np_.exit_code}")
            if waiting:
                time.sleep(0.02)

    def stop(self) -> None:
        """Ordered stop: HOLD broadcast, then SIGTERM by role (sources first)."""
        if self._stop_reason is None:
            self._stop_reason = "stop() called"
        self.broadcast_mode("HOLD", reason=self._stop_reason)
        deadline = time.monotonic() + self.graph.hold_grace_s
        while time.monotonic() < deadline:
            self._read_heartbeats()
            time.sleep(0.01)
        for role in STOP_ORDER:
            group = [n for n in self.nodes.values() if n.spec.role == role and n.proc and n.proc.poll() is None]
            if not group:
                continue
            for np_ in group:
                self._event(np_.spec.name, "stopping", f"SIGTERM ({role})")
                self._kill(np_.proc, signal.SIGTERM)
            self._await_group(group)
        # Let final heartbeats (summaries) arrive, then the log pumps drain.
        time.sleep(0.1)
        self._read_heartbeats()
        for np_ in self.nodes.values():
            if np_.log_thread is not None:
                np_.log_thread.join(timeout=2)
        if self._cmd_pub is not None:
            self._cmd_pub.close()
            self._cmd_pub = None
        if self._hb_sock is not None:
            self._hb_sock.close(linger=0)
            self._hb_sock = None
        if self._own_run_dir:  # sockets of a stopped graph: nothing left to connect to
            shutil.rmtree(self.run_dir, ignore_errors=True)

    @staticmethod
    def _kill(proc: subprocess.Popen | None, sig: int) -> None:
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def statuses(self) -> dict[str, dict[str, Any]]:
        """Latest heartbeat status per node (final one if the node has stopped)."""
        out = {}
        for name, np_ in self.nodes.items():
            hb = np_.final or np_.heartbeat
            out[name] = {"loop": hb.loop if hb else {}, "status": hb.status if hb else {}, "alive": bool(np_.proc and np_.proc.poll() is None)}
        return out
