"""``abc-bench teleop``'s page rows: the follower's leader → command latency while the
operator's page is served from the graph and a real browser watches it.

The sim teleop graph (``launch/teleop_sim.yaml``) runs once more with the page node
added the way ``--page`` adds it (:func:`~abc_robot.nodes.page_node.add_page_node`),
and a headless Chromium (:class:`~abc_robot.testing.page_watch.PageWatcher`) opens the
page. The measured window starts once the browser receives live arm poses (the leader
ghosts: the followers are held until then) and camera images, and lasts
``duration_s``; the browser stays attached until the graph stops. A run in which the
browser received no follower arm poses or no camera images through the window is not
a measurement: it raises. Without Chromium the rows are not produced and
the bench says which Debian package is missing.

Until the browser is live the followers are held (a repeated HOLD from the supervisor:
no leader-following, so no latency samples); the window starts with a TELEOP, so the
followers engage with the browser already on the page, as they do at the start of the
plain run. Their latency figures cover their whole run (their sample ring is not reset),
so ``samples_with_browser`` says which share of the samples were taken in the window:
the rest come from before a follower first heard the HOLD.
"""

from __future__ import annotations

import io
import os
import socket
import sys
import threading
import time
import urllib.request
from typing import Any

from abc_robot.bench.common import Row

__all__ = ["page_rows", "run_graph_with_page", "PREFIX", "NOTE"]

PREFIX = "teleop/latency_with_page"

NOTE = (
    f"{PREFIX}: the same graph plus the page node (--page), headless Chromium (software WebGL, "
    "same machine) attached; arms held until the browser has live leader poses and camera images, then "
    "TELEOP and the window; "
    "page/*_updates: updates the browser received [Hz]; samples_with_browser: share of latency "
    "samples taken with the browser attached [%]."
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serves(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


class _Viewer(threading.Thread):
    """The browser, in a thread of its own: waits for the page to serve, opens it,
    waits until it receives live leader arm poses and camera images (``live``; the
    followers hold still until then), then samples its counts every second until
    ``done``."""

    def __init__(self, url: str, attach_timeout_s: float) -> None:
        super().__init__(name="page-viewer", daemon=True)
        self.url = url
        self.attach_timeout_s = attach_timeout_s
        self.live = threading.Event()
        self.done = threading.Event()
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.error: str | None = None

    def run(self) -> None:
        from abc_robot.testing.page_watch import PageWatcher

        deadline = time.monotonic() + self.attach_timeout_s
        try:
            while not _serves(self.url):
                if self.done.is_set():
                    return
                if time.monotonic() > deadline:
                    self.error = f"the page did not serve {self.url} within {self.attach_timeout_s:.0f} s"
                    return
                time.sleep(0.5)
            with PageWatcher(self.url) as watcher:
                counts = watcher.counts()
                while counts["ghost"] == 0 or counts["camera"] == 0:
                    if self.done.is_set():
                        return
                    if time.monotonic() > deadline:
                        self.error = (
                            f"the browser received no live arm poses or no camera images within "
                            f"{self.attach_timeout_s:.0f} s (counts {counts}, buttons {watcher.buttons()})"
                        )
                        return
                    time.sleep(1.0)
                    counts = watcher.counts()
                self.samples.append((time.monotonic(), counts))
                self.live.set()
                while not self.done.wait(1.0):
                    self.samples.append(watcher.sample())
        except Exception as exc:  # reported by the bench, with the graph stopped
            self.error = f"browser: {type(exc).__name__}: {exc}"


def _latency_samples(statuses: dict[str, dict[str, Any]]) -> dict[str, int]:
    out = {}
    for st in statuses.values():
        s = st.get("status", {})
        if "arm" in s and "mode" in s:
            out[str(s["arm"])] = int(s.get("latency_samples") or 0)
    return out


def _modes(statuses: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {
        str(st["status"]["arm"]): str(st["status"]["mode"])
        for st in statuses.values()
        if {"arm", "mode"} <= st.get("status", {}).keys()
    }


def run_graph_with_page(duration_s: float, attach_timeout_s: float = 300.0) -> dict[str, Any]:
    """Run the sim teleop graph with the page node and a browser attached; its summary.

    Returns:
        :func:`~abc_robot.runtime.figures.teleop_summary`'s dict plus ``exit`` and
        ``page``: ``attach_s`` (graph start → browser live), ``window_s``,
        ``scene_hz`` / ``camera_hz`` (updates the browser received in the window) and
        ``samples_with_browser`` (0..1, worst arm).

    Raises:
        RuntimeError: the browser did not attach, or received no scene or camera
            updates through the window: no valid figure.
    """
    from abc_robot.bench.teleop import LAUNCH
    from abc_robot.nodes.page_node import add_page_node
    from abc_robot.nodes.registry import load_graph
    from abc_robot.runtime.figures import teleop_summary
    from abc_robot.runtime.supervisor import Supervisor

    os.environ.setdefault("MUJOCO_GL", "egl")
    port = _free_port()
    graph = add_page_node(load_graph(LAUNCH), port=port)
    viewer = _Viewer(f"http://127.0.0.1:{port}", attach_timeout_s)
    sup = Supervisor(graph, log=io.StringIO())
    t0 = time.monotonic()
    window: dict[str, Any] = {}
    resend = {"at": 0.0}

    def tick(s: Supervisor) -> None:
        now = time.monotonic()
        if viewer.error is not None:
            s.request_stop("browser failed")
        elif "start" not in window:
            if viewer.live.is_set():
                # The window: the followers engage now, with the browser on the page.
                window.update(start=now, samples=_latency_samples(s.statuses()))
                resend["at"] = 0.0
            elif now - t0 > attach_timeout_s + 10:
                s.request_stop("browser never attached")
            elif now >= resend["at"]:
                # Until then the arms hold (no latency samples): the followers subscribe
                # at start-up, so the HOLD is repeated until the browser is live.
                s.broadcast_mode("HOLD", "bench: waiting for the browser on the page")
                resend["at"] = now + 0.5
        elif now >= window["start"] + duration_s:
            # Modes before the ordered stop's HOLD; the browser stays on until the graph stopped.
            window.update(end=now, modes=_modes(s.statuses()))
            s.request_stop("duration reached")
        elif now >= resend["at"] and set(_modes(s.statuses()).values()) != {"TELEOP"}:
            s.broadcast_mode("TELEOP", "bench: browser live on the page")
            resend["at"] = now + 1.0

    viewer.start()
    try:
        code = sup.run(None, on_tick=tick)
    finally:
        viewer.done.set()
        viewer.join(120)
    summary = teleop_summary(sup.statuses())
    summary["exit"] = code
    tail = {n: p.tail[-5:] for n, p in sup.nodes.items() if n == "page" or n.startswith("follower")}
    if viewer.error is not None or "end" not in window:
        raise RuntimeError(f"{PREFIX}: no valid run: {viewer.error or sup.stop_reason}; graph exit {code}; {tail}")
    samples = [(t, c) for t, c in viewer.samples if t <= window["end"] + 0.5]
    (ta, first), (tb, last) = samples[0], samples[-1]
    span = max(tb - ta, 1e-9)
    rates = {k: (last[k] - first[k]) / span for k in ("scene", "camera")}
    if len(samples) < 2 or rates["scene"] <= 0 or rates["camera"] <= 0:
        raise RuntimeError(
            f"{PREFIX}: the browser stopped receiving updates during the window "
            f"(counts {first} -> {last} over {span:.1f} s): no valid figure; {tail}"
        )
    final = _latency_samples(sup.statuses())
    modes = window["modes"]
    if set(modes.values()) != {"TELEOP"} or any(final.get(a, 0) <= window["samples"].get(a, 0) for a in modes):
        raise RuntimeError(
            f"{PREFIX}: the followers did not follow the leader through the window "
            f"(modes {modes}, latency samples {window['samples']} -> {final}): no valid figure; {tail}"
        )
    # Samples taken before a follower first heard the HOLD (a lower bound: some may
    # have left the follower's sample ring since).
    shares = [1.0 - window["samples"].get(a, 0) / n for a, n in final.items() if n]
    summary["page"] = {
        "attach_s": window["start"] - t0,
        "window_s": window["end"] - window["start"],
        "scene_hz": rates["scene"],
        "camera_hz": rates["camera"],
        "samples_with_browser": min(shares) if shares else 0.0,
    }
    return summary


def page_rows(quick: bool = False) -> list[Row]:
    """The page rows (``vs`` the plain ``teleop/latency/*`` rows of the same suite run);
    none, said on stderr, when Chromium is not installed."""
    from abc_robot.testing.cdp import CHROMIUM_PACKAGE, chromium_path

    if chromium_path() is None:
        print(
            f"abc-bench teleop: {PREFIX} not measured: Chromium is not installed "
            f"(Debian package {CHROMIUM_PACKAGE!r}; scripts/setup.sh installs it)",
            file=sys.stderr,
        )
        return []
    summary = run_graph_with_page(3.0 if quick else 40.0)
    arms = summary["arms"]
    if not arms:
        raise RuntimeError(f"{PREFIX}: no follower reported figures; graph exit {summary['exit']}")

    def worst(key: str) -> float:
        return max(float(a.get(key) or float("nan")) for a in arms.values())

    page = summary["page"]
    return [
        Row(f"{PREFIX}/p50", worst("latency_ms_p50"), "ms", "teleop/latency/p50"),
        Row(f"{PREFIX}/p99", worst("latency_ms_p99"), "ms", "teleop/latency/p99"),
        Row("teleop/page/scene_updates", page["scene_hz"], "Hz"),
        Row("teleop/page/camera_updates", page["camera_hz"], "Hz"),
        Row("teleop/page/samples_with_browser", 100.0 * page["samples_with_browser"], "%"),
    ]
