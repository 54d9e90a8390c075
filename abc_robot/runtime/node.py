"""Base class for a process of the graph.

A node is one OS process running ``setup()`` once, ``step(now_ns)`` at a fixed rate,
and ``teardown()`` always — after SIGINT, SIGTERM, an exception in ``step`` or a
supervisor stop. Teardown is where torque goes off and files are closed, so it runs
even when setup failed half-way (it must tolerate that).

Each node sends a :class:`~abc_robot.transport.Heartbeat` with its loop statistics
and its ``status()`` dict to the supervisor (PUSH to ``$ABC_SUPERVISOR``) a few times a
second, and listens for the supervisor's :class:`~abc_robot.transport.ModeCommand`
broadcasts (``$ABC_SUPERVISOR_CMD``), handed to :meth:`on_mode_command`. Outside a
launched graph (tests, scripts) both are simply absent.

Subclass contract::

    class MyNode(Node):
        Config = MyConfig            # frozen dataclass; may have rate_hz [Hz]
        def setup(self): ...          # open devices and sockets (self.publisher(...))
        def step(self, now_ns): ...   # one tick; must not block longer than a period
        def teardown(self): ...       # release everything; tolerate a partial setup
        def status(self): return {}   # figures for the console (JSON-able)
"""

from __future__ import annotations

import abc
import gc
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import zmq

from abc_robot.runtime.rate import RateLoop
from abc_robot.transport.bus import LatestSubscriber, Publisher, ReliableSubscriber, Replier, Requester, context
from abc_robot.transport.codec import encode
from abc_robot.transport.curve import stop_authenticator
from abc_robot.transport.keyring import endpoint_host, graph_keyring, is_tcp
from abc_robot.transport.messages import Heartbeat, ModeCommand

__all__ = ["Node", "SUPERVISOR_ENV", "SUPERVISOR_CMD_ENV", "EXIT_CONFIG", "EXIT_STEP_ERROR"]

SUPERVISOR_ENV = "ABC_SUPERVISOR"
SUPERVISOR_CMD_ENV = "ABC_SUPERVISOR_CMD"
#: Exit status of a node whose configuration was refused (sysexits EX_CONFIG).
EXIT_CONFIG = 78
#: Exit status of a node whose step raised.
EXIT_STEP_ERROR = 70


class Node(abc.ABC):
    """One process of the graph; see the module docstring for the contract.

    Args:
        name: node name (unique in the graph; used as message source and log prefix).
        config: the node's frozen config dataclass.
        rate_hz: loop rate [Hz]; defaults to ``config.rate_hz`` or 100 Hz.
        heartbeat_hz: heartbeat rate [Hz].
    """

    Config: ClassVar[type[Any] | None] = None

    def __init__(self, name: str, config: Any = None, *, rate_hz: float | None = None, heartbeat_hz: float = 10.0) -> None:
        self.name = name
        self.config = config
        rate = rate_hz if rate_hz is not None else getattr(config, "rate_hz", 100.0)
        self.loop = RateLoop(rate)
        self.heartbeat_period_ns = int(1e9 / heartbeat_hz)
        self._stop_requested = False
        self._stop_reason = ""
        self._sockets: list[Any] = []
        self._hb_sock: zmq.Socket | None = None
        self._cmd_sub: LatestSubscriber | None = None
        self._next_hb_ns = 0
        self._hb_seq = 0
        self._cpu0: tuple[float, float] | None = None  # (process CPU time, wall time) when the loop began

    # ---- to override -------------------------------------------------------------
    def setup(self) -> None:
        """Open devices and sockets. Runs once before the loop."""

    @abc.abstractmethod
    def step(self, now_ns: int) -> None:
        """One tick of the loop. ``now_ns`` is the tick time (monotonic)."""

    def teardown(self) -> None:
        """Release everything. Always runs; must tolerate a partial setup."""

    def status(self) -> dict[str, Any]:
        """Node-specific figures for heartbeats and the console (JSON-able)."""
        return {}

    def on_mode_command(self, cmd: ModeCommand) -> None:
        """A supervisor broadcast (e.g. HOLD before an ordered stop)."""

    # ---- helpers for subclasses -------------------------------------------------
    def publisher(self, endpoint: str, **kw: Any) -> Publisher:
        """A publisher bound at ``endpoint``, closed automatically at exit.

        On a ``tcp://`` endpoint of a graph with a key ring (``$ABC_KEYS``) it is a
        CURVE server unless ``curve`` is given; see :mod:`abc_robot.transport.keyring`.
        """
        return self._track(Publisher(endpoint, self.name, **_with_curve(kw, [endpoint], server=True)))

    def latest(self, endpoints: str | Iterable[str], topics: Sequence[str], **kw: Any) -> LatestSubscriber:
        """A latest-value subscriber, closed automatically at exit (CURVE as for publishers)."""
        eps = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        return self._track(LatestSubscriber(eps, topics, **_with_curve(kw, eps, server=False)))

    def reliable(self, endpoints: str | Iterable[str], topics: Sequence[str], **kw: Any) -> ReliableSubscriber:
        """A reliable subscriber, closed automatically at exit (CURVE as for publishers)."""
        eps = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        return self._track(ReliableSubscriber(eps, topics, **_with_curve(kw, eps, server=False)))

    def replier(self, endpoint: str, **kw: Any) -> Replier:
        return self._track(Replier(endpoint, self.name, **_with_curve(kw, [endpoint], server=True)))

    def requester(self, endpoint: str, **kw: Any) -> Requester:
        return self._track(Requester(endpoint, self.name, **_with_curve(kw, [endpoint], server=False)))

    def log(self, text: str) -> None:
        """One log line (the supervisor prefixes it with the node name)."""
        print(text, flush=True)

    def request_stop(self, reason: str = "") -> None:
        """Ask the loop to end after the current tick (teardown then runs)."""
        self._stop_requested = True
        self._stop_reason = reason or self._stop_reason

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    # ---- the loop ----------------------------------------------------------------
    def run(self, duration_s: float | None = None) -> int:
        """Run setup, the loop and teardown; return a process exit status.

        Args:
            duration_s: stop after this long (tests); None runs until a signal.
        """
        self._install_signals()
        status = 0
        try:
            self._connect_supervisor()
            self.setup()
            # Everything setup built (models, MuJoCo, sockets, imported modules) lives as
            # long as the node: out of the collector's sight, a full collection no longer
            # walks it (one took ~15 ms, several missed ticks, on a follower).
            gc.freeze()
            end_ns = None if duration_s is None else time.monotonic_ns() + int(duration_s * 1e9)
            self.loop.start()
            self._cpu0 = (time.process_time(), time.monotonic())
            while not self._stop_requested:
                now = self.loop.sleep()
                if end_ns is not None and now >= end_ns:
                    break
                t_step = time.perf_counter_ns()
                self._poll_supervisor()
                self.step(now)
                self.loop.add_busy(time.perf_counter_ns() - t_step)
                if now >= self._next_hb_ns:
                    self._send_heartbeat(final=False)
                    self._next_hb_ns = now + self.heartbeat_period_ns
        except KeyboardInterrupt:
            pass
        except Exception:
            traceback.print_exc()
            sys.stderr.flush()
            status = EXIT_STEP_ERROR
        finally:
            try:
                self.teardown()
            except Exception:
                traceback.print_exc()
                status = status or EXIT_STEP_ERROR
            try:
                self._send_heartbeat(final=True)
            except Exception:
                pass
            self._close_sockets()
        return status

    def _track(self, sock: Any) -> Any:
        self._sockets.append(sock)
        return sock

    def _install_signals(self) -> None:
        def handler(signum: int, _frame: Any) -> None:
            self.request_stop(signal.Signals(signum).name)

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                signal.signal(sig, handler)
            except ValueError:  # not the main thread (tests running a node in a thread)
                pass

    def _connect_supervisor(self) -> None:
        hb = os.environ.get(SUPERVISOR_ENV)
        if hb:
            s = context().socket(zmq.PUSH)
            s.setsockopt(zmq.SNDHWM, 20)
            s.setsockopt(zmq.LINGER, 200)
            s.connect(hb)
            self._hb_sock = s
        cmd = os.environ.get(SUPERVISOR_CMD_ENV)
        if cmd:
            self._cmd_sub = self._track(LatestSubscriber(cmd, ["supervisor/mode"]))

    def _poll_supervisor(self) -> None:
        if self._cmd_sub is None:
            return
        for msg in self._cmd_sub.poll().values():
            if isinstance(msg, ModeCommand):
                self.on_mode_command(msg)

    def _send_heartbeat(self, final: bool) -> None:
        if self._hb_sock is None:
            return
        try:
            status = self.status()
        except Exception as exc:  # a broken status() must not kill the node
            status = {"status_error": repr(exc)}
        hb = Heartbeat(
            seq=self._hb_seq,
            stamp_ns=time.monotonic_ns(),
            source=self.name,
            node=self.name,
            pid=os.getpid(),
            loop=self._loop_stats(),
            status=status,
            final=final,
        )
        self._hb_seq += 1
        try:
            self._hb_sock.send_multipart(encode(b"heartbeat", hb), zmq.NOBLOCK, copy=False)
        except zmq.Again:
            pass

    def _loop_stats(self) -> dict[str, float]:
        """The rate loop's figures and this process's CPU share since the loop began.

        ``cpu_pct`` counts every thread of the node (its ZeroMQ I/O thread too), in % of
        one core: what to look at first when a small machine falls behind.
        """
        st = self.loop.stats()
        if self._cpu0 is not None:
            cpu0, wall0 = self._cpu0
            wall = time.monotonic() - wall0
            if wall > 0:
                st["cpu_pct"] = round(100.0 * (time.process_time() - cpu0) / wall, 1)
        return st

    def _close_sockets(self) -> None:
        for s in self._sockets:
            try:
                s.close()
            except Exception:
                pass
        self._sockets.clear()
        if self._hb_sock is not None:
            self._hb_sock.close(linger=500)  # let the final heartbeat out
            self._hb_sock = None
        # A CURVE server's ZAP thread holds a socket of the context: stop it, or the
        # context's termination at exit waits for it forever.
        stop_authenticator(context())


def _with_curve(kw: dict[str, Any], endpoints: list[str], *, server: bool) -> dict[str, Any]:
    """``kw`` with the graph key ring's CURVE keys for tcp:// endpoints (if none given).

    Raises:
        ConfigError: a socket that would mix tcp:// and local endpoints, or tcp://
            endpoints of different hosts, under a key ring (one socket, one key).
    """
    if kw.get("curve") is not None:
        return kw
    ring = graph_keyring()
    tcp = [e for e in endpoints if is_tcp(e)]
    if ring is None or not tcp:
        return kw
    from abc_robot.errors import ConfigError

    if len(tcp) != len(endpoints):
        raise ConfigError(f"one socket mixes tcp:// and local endpoints under a key ring: {endpoints}")
    if server:
        return {**kw, "curve": ring.server()}
    hosts = {endpoint_host(e) for e in tcp}
    if len(hosts) > 1:
        raise ConfigError(f"one socket connects to several hosts under a key ring: {sorted(hosts)}")
    return {**kw, "curve": ring.client(tcp[0])}
