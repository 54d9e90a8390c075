"""A headless Chromium driven over the Chrome DevTools protocol (websockets): a real
browser on the operator's page, for its tests and ``abc-bench teleop``.

Chromium is Debian's ``chromium`` (scripts/setup.sh installs it); it runs with a fresh
profile, no network services of its own, and software WebGL (``--disable-gpu``).
DevTools events (``Network.webSocketFrameReceived``...) reach the callbacks given to
:meth:`Browser.on` whenever the connection is read: in :meth:`Browser.call` and
:meth:`Browser.pump`.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from typing import Any

__all__ = ["Browser", "BrowserError", "chromium_path", "CHROMIUM_PACKAGE"]

#: The Debian package that provides the browser.
CHROMIUM_PACKAGE = "chromium"

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or a DevTools command failed."""


def chromium_path() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium with one tab.

    Args:
        width, height: window size [px].
        start_timeout_s: how long Chromium may take to open its DevTools port [s].
    """

    def __init__(self, width: int = 1200, height: int = 760, start_timeout_s: float = 120.0) -> None:
        exe = chromium_path()
        if exe is None:
            raise BrowserError(
                f"Chromium is not installed: install Debian's {CHROMIUM_PACKAGE!r} package (scripts/setup.sh does)"
            )
        self.profile = tempfile.mkdtemp(prefix="abc-chromium-")
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._ids = itertools.count(1)
        cmd = [exe, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"]
        cmd += ["--remote-debugging-port=0", "about:blank"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.ws = self._connect(start_timeout_s)
        except BaseException:
            self.close()
            raise

    def _connect(self, timeout_s: float) -> Any:
        from websockets.sync.client import connect

        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout_s
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BrowserError(f"chromium did not open its DevTools port within {timeout_s:.0f} s")
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        # A tab of our own (the target list may hold Chromium's internal pages too).
        req = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            page = json.load(r)
        return connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout_s)

    def on(self, method: str, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback(params)`` for every DevTools event ``method`` read from now on."""
        self.handlers[method] = callback

    def _dispatch(self, msg: dict[str, Any]) -> None:
        handler = self.handlers.get(str(msg.get("method")))
        if handler is not None:
            handler(msg.get("params", {}))

    def pump(self, timeout_s: float = 0.0) -> int:
        """Read the events that arrived (waiting up to ``timeout_s`` for the first); how many."""
        n = 0
        wait = timeout_s
        while True:
            try:
                raw = self.ws.recv(timeout=wait)
            except TimeoutError:
                return n
            wait = 0.0
            n += 1
            self._dispatch(json.loads(raw))

    def call(self, method: str, timeout_s: float = 120.0, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events read meanwhile are dispatched)."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no reply within {timeout_s:.0f} s")
            try:
                reply = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                continue
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self._dispatch(reply)

    def open(self, url: str) -> None:
        """Navigate the tab to ``url``."""
        self.call("Page.enable")
        self.call("Page.navigate", url=url)

    def js(self, expression: str, timeout_s: float = 120.0) -> Any:
        """Evaluate ``expression`` in the page; its value (JSON-able)."""
        res = self.call("Runtime.evaluate", timeout_s, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise BrowserError(f"{expression!r}: {res['exceptionDetails']}")
        return res.get("result", {}).get("value")

    def wait_js(self, expression: str, timeout_s: float = 60.0, period_s: float = 1.0) -> Any:
        """Poll ``expression`` until it is truthy; its value (None on timeout)."""
        return self.wait(lambda: self.js(expression), timeout_s, period_s)

    def wait(self, probe: Callable[[], Any], timeout_s: float, period_s: float = 1.0) -> Any:
        """Poll ``probe()`` (events pumped in between) until it is truthy; its value (None on timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = probe()
            if value or time.monotonic() >= deadline:
                return value or None
            self.pump(min(period_s, max(0.0, deadline - time.monotonic())))

    def click_button(self, label: str) -> bool:
        """Click the (first) button whose text is ``label``; False if there is none."""
        expr = (
            "(() => { const b = [...document.querySelectorAll('button')]"
            f".find(e => e.innerText.trim() === {json.dumps(label)});"
            " if (!b) return false; b.click(); return true; })()"
        )
        return bool(self.js(expr))

    def screenshot(self, timeout_s: float = 180.0) -> bytes:
        """PNG of the viewport."""
        return base64.b64decode(self.call("Page.captureScreenshot", timeout_s, format="png")["data"])

    def close(self) -> None:
        """Close the connection, stop Chromium, remove its profile."""
        try:
            if hasattr(self, "ws"):
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
