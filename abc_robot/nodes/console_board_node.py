"""Console-board node: pedal and buttons in, ``console/event`` out.

One process owns the serial port (:class:`~abc_robot.devices.console_board.ConsoleBoard`)
and publishes every console event (``episode_start``, ``intervene_on``, ``success``...)
and every link fault (``fault`` with ``data["active"]``) on ``console/event``.
Its episode events go out through an
:class:`~abc_robot.runtime.episode_state.EpisodeAnnouncer`, so an episode the board
started is announced again (``episode_state``) until it ends, for a recorder that
restarted meanwhile.

The node follows the episode state of the whole console, not only its own presses: it
listens to the other console sources (``console``: the keys, the operator's page, the
director) and to their ``episode_state`` announcements, so the start/stop button stops
an episode in progress whoever started it, and starts one after an episode ended by
``success`` / ``fail`` (button B) or from elsewhere. The status LED tells the operator
what the node believes: off when idle, on while an episode runs, fast blink while
intervening (the board itself blips when it hears no host at all).

Launch-file params (``kind: console_board``)::

    params:
      bind: ipc://${run}/console_board
      console: [ipc://${run}/console]
      board: {port: /dev/abc_console}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from abc_robot.devices.console_board import ConsoleBoard, ConsoleBoardConfig
from abc_robot.runtime.episode_state import END_KINDS, STATE_KIND, EpisodeAnnouncer
from abc_robot.runtime.node import Node
from abc_robot.transport.messages import Event

__all__ = ["ConsoleBoardNode", "ConsoleBoardNodeConfig", "TOPIC"]

TOPIC = "console/event"


@dataclass(frozen=True)
class ConsoleBoardNodeConfig:
    """Console-board node.

    Attributes:
        bind: endpoint where ``console/event`` is published.
        console: endpoints of the other console sources, whose episode events and
            announcements the start/stop button follows.
        rate_hz: [Hz] polling rate; 200 Hz keeps the added latency under 5 ms.
        board: serial port, timing and the edge → event mapping.
    """

    bind: str = "ipc://${run}/console_board"
    console: list[str] = field(default_factory=list)
    rate_hz: float = 200.0
    board: ConsoleBoardConfig = ConsoleBoardConfig()

    def __post_init__(self) -> None:
        if self.rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {self.rate_hz}")


class ConsoleBoardNode(Node):
    """Publishes the console board's events; see the module docstring."""

    Config = ConsoleBoardNodeConfig

    def setup(self) -> None:
        cfg: ConsoleBoardNodeConfig = self.config
        self.pub = self.publisher(cfg.bind)
        self.announcer = EpisodeAnnouncer(self.pub)
        self.others = self.reliable(cfg.console, [TOPIC]) if cfg.console else None
        self.board = ConsoleBoard(cfg.board, source=self.name)
        self.episode_running = False
        self.episode_token = ""  # the episode in progress, as its start named it
        self.ended_tokens: set[str] = set()  # episodes known to be over (stale announcements)
        self.intervening_arms: set[str] = set()  # "" = both arms
        self.published = 0
        self.heard = 0  # events from the other console sources
        if not self.board.open():
            self.log(f"console board not available yet ({self.board.fault}); retrying")

    def step(self, now_ns: int) -> None:
        if self.others is not None:
            for _topic, msg in self.others.drain(100):
                if isinstance(msg, Event):
                    self.heard += 1
                    self._follow(msg)
        self.board.episode_active = self.episode_running
        for ev in self.board.poll():
            if ev.kind == "episode_start" or ev.kind in END_KINDS:
                # Through the announcer (it names the episode and repeats it while it
                # runs); the edge's own stamp travels in the data.
                ev = self.announcer.send(ev.kind, **ev.data, edge_stamp_ns=ev.stamp_ns)
            else:
                self.pub.publish(TOPIC, ev)
            self._follow(ev)
            self.published += 1
        self.announcer.tick()

    def _follow(self, ev: Event) -> None:
        """Track the episode and intervention state from any console event; update the LED."""
        if ev.kind == "fault":
            if ev.source in ("", self.name):
                self.log(f"console board {'fault' if ev.data.get('active') else 'ok'}: {ev.data.get('text')}")
            return
        before = (self.episode_running, self.intervening)
        arm = str(ev.data.get("arm", ""))
        token = str(ev.data.get("episode", ""))
        if ev.kind == STATE_KIND:
            if ev.data.get("active") and token and token not in self.ended_tokens:
                self.episode_running, self.episode_token = True, token  # e.g. started before this node
            elif not ev.data.get("active"):
                self.ended_tokens.add(token)
                if token == self.episode_token or not self.episode_token:
                    self.episode_running = False
                    self.intervening_arms.clear()
        elif ev.kind == "episode_start":
            self.episode_running, self.episode_token = True, token
        elif ev.kind in END_KINDS:
            if self.episode_token:
                self.ended_tokens.add(self.episode_token)
            self.episode_running, self.episode_token = False, ""
            self.intervening_arms.clear()
        elif ev.kind == "intervene_on":
            self.intervening_arms.add(arm)
        elif ev.kind == "intervene_off":
            # Releasing both arms ends every takeover; releasing one ends its own.
            self.intervening_arms = set() if arm == "" else self.intervening_arms - {arm}
        if (self.episode_running, self.intervening) != before:
            self.board.set_led("blink_fast" if self.intervening else "on" if self.episode_running else "off")

    @property
    def intervening(self) -> bool:
        return bool(self.intervening_arms)

    def status(self) -> dict[str, Any]:
        board = getattr(self, "board", None)
        if board is None:
            return {"connected": False}
        return {
            "connected": board.is_connected,
            "fault": board.fault,
            "inputs": board.inputs,
            "published": self.published,
            "heard": self.heard,
            "episode_running": self.episode_running,
            "intervening": self.intervening,
            "firmware": board.version.firmware if board.version else None,
            **board.stats.as_dict(),
        }

    def teardown(self) -> None:
        board = getattr(self, "board", None)
        if board is not None:
            board.set_led("off")
            board.close()
