"""Two test hosts on one machine, and commands run on them in the background.

:func:`two_hosts` makes two network namespaces joined by a veth pair (``10.77.0.1``
and ``10.77.0.2``, loopback up in each), so that what crosses between them is real
tcp over a real link that can be cut (``ip link set ... down``). Where the sandbox
refuses namespaces (no root, no ``ip``), the hosts are two loopback addresses,
``127.0.0.1`` and ``127.0.0.2``, on the one network stack, and ``cut`` is None: the
caller stalls the server instead. The namespaces are removed on exit.

:class:`Background` runs a command, collecting its output line by line, for tests and
benchmarks that watch a graph from outside.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Hosts", "two_hosts", "Background"]


@dataclass
class Hosts:
    """Attributes:
    rig, gpu: command prefixes that run a command on each host ([] = this one).
    rig_addr, gpu_addr: each host's address as the other reaches it.
    gpu_link: ``ip ... link set <dev>`` for the gpu side's link (append ``down`` or
        ``up``); empty without namespaces.
    namespaces: the namespace names ((), without namespaces).
    """

    rig: list[str]
    gpu: list[str]
    rig_addr: str
    gpu_addr: str
    gpu_link: list[str] = field(default_factory=list)
    namespaces: tuple[str, ...] = ()

    def link(self, up: bool) -> None:
        """Bring the gpu side's link up or down (namespaces only)."""
        if not self.gpu_link:
            raise RuntimeError("no link to cut without network namespaces")
        subprocess.run([*self.gpu_link, "up" if up else "down"], check=True, capture_output=True, timeout=10)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def two_hosts(tag: str | None = None) -> Iterator[Hosts]:
    """Two hosts joined by a link (see the module docstring); removed on exit."""
    tag = tag or str(os.getpid() % 100000)
    rig, gpu, vr, vg = f"abcrig{tag}", f"abcgpu{tag}", f"vr{tag}", f"vg{tag}"
    try:
        _ip("netns", "add", rig)
        _ip("netns", "add", gpu)
        _ip("link", "add", vr, "type", "veth", "peer", "name", vg)
        _ip("link", "set", vr, "netns", rig)
        _ip("link", "set", vg, "netns", gpu)
        for ns, dev, addr in ((rig, vr, "10.77.0.1/24"), (gpu, vg, "10.77.0.2/24")):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
    except (OSError, subprocess.SubprocessError):
        for ns in (rig, gpu):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        yield Hosts([], [], "127.0.0.1", "127.0.0.2")
        return
    try:
        yield Hosts(
            ["ip", "netns", "exec", rig],
            ["ip", "netns", "exec", gpu],
            "10.77.0.1",
            "10.77.0.2",
            gpu_link=["ip", "-n", gpu, "link", "set", vg],
            namespaces=(rig, gpu),
        )
    finally:
        for ns in (rig, gpu):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class Background:
    """A command whose output is collected line by line in a thread."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.p = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env
        )
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.lines[-n:])

    def wait_for(self, text: str, timeout_s: float, since: int = 0) -> bool:
        """True once a line from index ``since`` on contains ``text`` (False at timeout or exit)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in ln for ln in self.lines[since:]):
                return True
            if self.p.poll() is not None:
                self._t.join(2)
                return any(text in ln for ln in self.lines[since:])
            time.sleep(0.1)
        return False

    def finish(self, timeout_s: float) -> int:
        """Wait for the exit status (stopped and AssertionError with the tail at timeout)."""
        try:
            return self.p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError("timed out:\n" + self.tail()) from None
        finally:
            self._t.join(5)

    def signal(self, sig: int) -> None:
        os.killpg(self.p.pid, sig)

    def stop(self) -> None:
        """SIGINT (a clean stop), then SIGKILL after 20 s."""
        if self.p.poll() is None:
            self.signal(signal.SIGINT)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.p.wait(5)
        self._t.join(5)

    def summary(self) -> dict[str, Any]:
        """The last JSON object line of the output (a command's ``--json`` summary)."""
        for ln in reversed(self.lines):
            if ln.startswith("{"):
                out: dict[str, Any] = json.loads(ln)
                return out
        raise AssertionError("no JSON summary:\n" + self.tail())
