"""A real browser on the operator's page that counts what the page sends it.

:class:`PageWatcher` opens the page (``--page``, :mod:`abc_robot.nodes.page_node`) in a
headless Chromium (:mod:`abc_robot.testing.cdp`) and counts, in the page itself, the
update messages its client hands to the 3D scene and the panel: follower arm poses,
leader ghost poses, camera images and text. A test or a benchmark judges from these
counts that a browser is attached and kept up to date, not merely that a socket is open.

The counts come from viser's client: its WebSocket worker posts each decoded batch
(``{type: "message_batch", messages}``) to the page, and a script installed before the
page's own code listens to those posts. Should a viser release change that shape the
counts stay zero and whoever waits on them fails saying so.

Headless Chromium's document never has the focus, and viser's client retries a failed
connection (its 5 s open timeout, easily reached on a loaded machine) only while the
document has it: focus is emulated, so the page connects however long the server takes.
"""

from __future__ import annotations

import time
from typing import Any

from abc_robot.testing.cdp import Browser

__all__ = ["PageWatcher", "COUNTED"]

#: What is counted, from live messages only (not the server's replay of its state to a
#: client that (re)connects, which ends with viser's ``ReplayDoneMessage``): ``scene``
#: message batches that move the follower arms (``/left/...``, ``/right/...``: one per
#: page tick that moved them), ``ghost`` batches that move the leader ghosts, ``camera``
#: camera strip images, ``text`` text updates; ``batches`` message batches of any kind
#: and ``replays`` replays completed (one per connection).
COUNTED = ("scene", "ghost", "camera", "text", "batches", "replays")

_HOOK = """
(() => {
  const c = {scene: 0, ghost: 0, camera: 0, text: 0, batches: 0, replays: 0};
  let replayed = false;
  window.__abcPage = c;
  const count = (d) => {
    if (!d) return;
    if (d.type === "connected" || d.type === "closed") { replayed = false; return; }
    if (d.type !== "message_batch" || !Array.isArray(d.messages)) return;
    c.batches += 1;
    let scene = 0, ghost = 0;
    for (const m of d.messages) {
      const t = m && m.type;
      if (t === "ReplayDoneMessage") { replayed = true; c.replays += 1; continue; }
      if (!replayed) continue;
      if (t === "SetOrientationMessage" || t === "SetPositionMessage") {
        const root = String(m.name || "").split("/")[1] || "";
        if (root.endsWith("_leader")) ghost = 1; else if (root) scene = 1;
      } else if (t === "GuiUpdateMessage" && m.updates) {
        if ("_data" in m.updates) c.camera += 1;
        if ("_markdown" in m.updates) c.text += 1;
      }
    }
    c.scene += scene;
    c.ghost += ghost;
  };
  const Base = window.Worker;
  window.Worker = class extends Base {
    constructor(...args) { super(...args); this.addEventListener("message", (e) => count(e.data)); }
  };
})();
"""

_COUNTS = "window.__abcPage ? Object.assign({}, window.__abcPage) : null"
_BUTTONS = "[...document.querySelectorAll('button')].map(e => e.innerText.trim())"


class PageWatcher:
    """Headless Chromium on the page at ``url``; counts the updates the page receives.

    Args:
        url: the page, e.g. ``http://127.0.0.1:8080``.
        width, height: browser window [px].
    """

    def __init__(self, url: str, width: int = 1100, height: int = 760) -> None:
        self.url = url
        self.browser = Browser(width, height)
        try:
            self.browser.call("Page.enable")
            self.browser.call("Emulation.setFocusEmulationEnabled", enabled=True)
            self.browser.call("Page.addScriptToEvaluateOnNewDocument", source=_HOOK)
            self.browser.call("Page.navigate", url=url)
        except BaseException:
            self.browser.close()
            raise

    def counts(self) -> dict[str, int]:
        """Updates received so far (zeros until the page's script ran)."""
        got = self.browser.js(_COUNTS, timeout_s=300.0)
        return {k: int(got.get(k, 0)) if isinstance(got, dict) else 0 for k in COUNTED}

    def buttons(self) -> list[str]:
        """Labels of the page's buttons (its controls once the server sent them)."""
        got = self.browser.js(_BUTTONS, timeout_s=300.0)
        return [str(b) for b in got] if isinstance(got, list) else []

    def wait_live(self, timeout_s: float, need: tuple[str, ...] = ("scene", "camera")) -> dict[str, int] | None:
        """Wait until the page received at least one update of each kind in ``need``
        (its controls are then there too); the counts, or None on timeout."""

        def live() -> dict[str, int] | None:
            c = self.counts()
            return c if all(c[k] > 0 for k in need) else None

        got = self.browser.wait(live, timeout_s)
        return got if isinstance(got, dict) else None

    def wait_counts(self, more_than: dict[str, int], timeout_s: float) -> dict[str, int] | None:
        """Wait until every count named in ``more_than`` exceeds its value there."""

        def grew() -> dict[str, int] | None:
            c = self.counts()
            return c if all(c[k] > v for k, v in more_than.items()) else None

        got = self.browser.wait(grew, timeout_s)
        return got if isinstance(got, dict) else None

    def sample(self) -> tuple[float, dict[str, int]]:
        """(monotonic time [s], counts) now."""
        return time.monotonic(), self.counts()

    def close(self) -> None:
        """Close the browser."""
        self.browser.close()

    def __enter__(self) -> PageWatcher:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
