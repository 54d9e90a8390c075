"""Running a rig graph with the operator in charge: ``abc-rollout --rig``, ``abc-replay --rig``.

No sim director on a rig: the operator starts each episode and judges it, with the
keys (``r`` start/stop, ``s`` success, ``f`` fail, ``i`` intervene) or the console
board. :class:`OperatorEpisodes` listens to the console events of the graph: an
episode start hands the arms to the policy (``POLICY``), a verdict (or a stop) takes
them back (``HOLD``), and after ``episodes`` verdicts the graph is stopped.

Replay: :func:`replay_chunks` turns an episode's recorded actions into time-indexed
chunks on the policy endpoint; the followers engage them with their ramp
(``policy_blend_s``) and pass every target through their safety filter, exactly as for
a policy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from abc_robot.transport.messages import ActionChunk, ModeCommand

__all__ = ["OperatorEpisodes", "Verdict", "replay_chunks", "stream_replay"]

VERDICTS = ("success", "fail", "episode_stop", "episode_discard")


@dataclass
class Verdict:
    """Attributes: index (1-based), outcome (``success``, ``fail``, ``stopped``,
    ``discarded``), duration_s (from the start event)."""

    index: int
    outcome: str
    duration_s: float


@dataclass
class OperatorEpisodes:
    """Counts the operator's episodes from ``console/event``; see the module docstring.

    Args:
        endpoints: console endpoints (keys and board).
        mode: publishes a ModeCommand (the keys' publisher).
        episodes: stop after this many verdicts (0: never).
        on_done: called once that many are in.
    """

    endpoints: list[str]
    mode: Callable[[ModeCommand], object]
    episodes: int = 0
    on_done: Callable[[], None] | None = None
    verdicts: list[Verdict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at: float | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="operator-episodes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def handle(self, kind: str) -> None:
        """One console event (public so the bookkeeping is testable without sockets)."""
        if kind == "episode_start" and self._started_at is None:
            self._started_at = time.monotonic()
            self.mode(ModeCommand(mode="POLICY", reason="operator started the episode"))
        elif kind in VERDICTS and self._started_at is not None:
            outcome = {"episode_stop": "stopped", "episode_discard": "discarded"}.get(kind, kind)
            self.verdicts.append(Verdict(len(self.verdicts) + 1, outcome, time.monotonic() - self._started_at))
            self._started_at = None
            self.mode(ModeCommand(mode="HOLD", reason=f"episode {outcome}"))
            judged = sum(v.outcome in ("success", "fail") for v in self.verdicts)
            if self.episodes and judged >= self.episodes and self.on_done is not None:
                self.on_done()

    def summary(self) -> dict[str, Any]:
        judged = [v for v in self.verdicts if v.outcome in ("success", "fail")]
        return {
            "episodes": [vars(v) for v in self.verdicts],
            "judged": len(judged),
            "success_rate": sum(v.outcome == "success" for v in judged) / len(judged) if judged else None,
        }

    def _run(self) -> None:
        from abc_robot.transport.bus import ReliableSubscriber
        from abc_robot.transport.messages import Event

        sub = ReliableSubscriber(self.endpoints, ["console/event"])
        try:
            while not self._stop.is_set():
                got = sub.recv(0.1)
                if got is not None and isinstance(got[1], Event):
                    self.handle(got[1].kind)
        finally:
            sub.close()


def replay_chunks(
    actions: np.ndarray, tick_ns: int, t0_ns: int, *, window: int = 30, step: int = 3
) -> Iterator[tuple[int, ActionChunk]]:
    """Chunks of an episode's actions on the monotonic clock.

    Args:
        actions: N×14 recorded actions (left arm then right arm, 7 each).
        tick_ns: [ns] time between recorded steps.
        t0_ns: [ns] monotonic time at which action 0 is due.
        window: actions per chunk (one second at 30 Hz).
        step: recorded steps between chunks (a fresh chunk every ``step`` ticks).

    Yields:
        (send time [monotonic ns], chunk) in order.
    """
    n = len(actions)
    for k in range(0, n, step):
        rows = actions[k : k + window]
        t_ns = t0_ns + (np.arange(k, k + len(rows), dtype=np.int64) * tick_ns)
        yield (
            t0_ns + k * tick_ns - tick_ns,
            ActionChunk(actions=np.asarray(rows, np.float64), t_ns=t_ns, obs_stamp_ns=int(t_ns[0])),
        )


def stream_replay(
    publish: Callable[[ActionChunk], object],
    mode: Callable[[ModeCommand], object],
    actions: np.ndarray,
    tick_ns: int,
    stop: threading.Event,
    lead_s: float = 1.0,
) -> int:
    """Stream ``actions`` as chunks, switching the followers to POLICY first and to HOLD at
    the end (or when ``stop`` is set). Returns how many chunks were sent."""
    t0 = time.monotonic_ns() + int(lead_s * 1e9)  # the ramp towards the first action starts now
    sent = 0
    chunks = replay_chunks(actions, tick_ns, t0)
    first = True
    try:
        for due_ns, chunk in chunks:
            while not first and not stop.is_set() and time.monotonic_ns() < due_ns - int(0.1e9):
                time.sleep(0.005)
            if stop.is_set():
                break
            publish(chunk)
            sent += 1
            if first:
                mode(ModeCommand(mode="POLICY", reason="replay"))
                first = False
        end = t0 + len(actions) * tick_ns
        while not stop.is_set() and time.monotonic_ns() < end:
            time.sleep(0.01)
    finally:
        mode(ModeCommand(mode="HOLD", reason="replay finished"))
    return sent
