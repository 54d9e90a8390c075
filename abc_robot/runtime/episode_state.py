"""The episode in progress, announced again and again, so a restarted recorder joins it.

Console events travel PUB/SUB: a recorder that is restarting (killed, crashed, out of
memory) when the operator presses *record* never sees that ``episode_start``, and the
episode would be lost whole. Every console source (the episode director, the keys)
therefore keeps an :class:`EpisodeAnnouncer` beside its publisher: it watches what the
source sends and, while an episode is in progress, republishes ``episode_state``
(:class:`~abc_robot.transport.messages.Event`, ``data``: ``active``, ``episode`` (a
token naming this episode), ``started_ns`` and the start's data) every ``period_s``;
when the episode ends it says ``active: False`` once. A recorder that is not recording
and hears an active state it has not recorded starts the episode from the data it has
(see :mod:`abc_robot.nodes.recorder_node`); one that hears the episode it records
declared over, having missed the end event, finalizes it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from abc_robot.transport.bus import Publisher
from abc_robot.transport.messages import Event

__all__ = ["EpisodeAnnouncer", "END_KINDS", "STATE_KIND"]

STATE_KIND = "episode_state"
#: Console events that end an episode.
END_KINDS = ("episode_stop", "success", "fail", "episode_discard")


class EpisodeAnnouncer:
    """Republishes the episode in progress on a console publisher.

    Not thread-safe, like the publisher: call :meth:`send` and :meth:`tick` from the
    thread that owns it.

    Args:
        pub: the console publisher (topic ``console/event``).
        period_s: how often an episode in progress is announced again [s].
    """

    def __init__(self, pub: Publisher, period_s: float = 0.5) -> None:
        self.pub = pub
        self.period_ns = int(period_s * 1e9)
        self.state: dict[str, Any] | None = None
        self._next_ns = 0

    def send(self, kind: str, **data: Any) -> Event:
        """Publish console event ``kind``; an ``episode_start`` gets an ``episode`` token."""
        now = time.monotonic_ns()
        if kind == "episode_start":
            data.setdefault("episode", uuid.uuid4().hex[:12])
        ev = Event(kind=kind, data=data, stamp_ns=now)
        self.pub.publish("console/event", ev)
        if kind == "episode_start":
            self.state = {**data, "active": True, "started_ns": now}
            self._next_ns = now + self.period_ns
        elif kind in END_KINDS and self.state is not None:
            ended = {"active": False, "episode": self.state["episode"], "end": kind}
            self.state = None
            self.pub.publish("console/event", Event(kind=STATE_KIND, data=ended))
        return ev

    def tick(self) -> None:
        """Announce the episode in progress again if it is due."""
        now = time.monotonic_ns()
        if self.state is not None and now >= self._next_ns:
            self.pub.publish("console/event", Event(kind=STATE_KIND, data=dict(self.state)))
            self._next_ns = now + self.period_ns
