"""Console-board node: pedal and buttons in, ``console/event`` out.

One process owns the serial port (:class:`~abc_robot.devices.console_board.ConsoleBoard`)
and publishes every console event (``episode_start``, ``intervene_on``, ``success``...)
and every link fault (``fault`` with ``data["active"]``) on ``console/event``.
The status LED tells the operator what the node believes: off when idle, on while an
episode runs, fast blink while intervening (the board itself blips when it hears no
host at all).

Launch-file params (``kind: console_board``)::

    params:
      bind: ipc://${run}/console_board
      board: {port: /dev/abc_console}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from abc_robot.devices.console_board import ConsoleBoard, ConsoleBoardConfig
from abc_robot.runtime.node import Node
from abc_robot.transport.messages import Event

__all__ = ["ConsoleBoardNode", "ConsoleBoardNodeConfig", "TOPIC"]

TOPIC = "console/event"


@dataclass(frozen=True)
class ConsoleBoardNodeConfig:
    """Console-board node.

    Attributes:
        bind: endpoint where ``console/event`` is published.
        rate_hz: [Hz] polling rate; 200 Hz keeps the added latency under 5 ms.
        board: serial port, timing and the edge → event mapping.
    """

    bind: str = "ipc://${run}/console_board"
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
        self.board = ConsoleBoard(cfg.board, source=self.name)
        self.episode_running = False
        self.intervening_arms: set[str] = set()  # "" = both arms
        self.published = 0
        if not self.board.open():
            self.log(f"console board not available yet ({self.board.fault}); retrying")

    def step(self, now_ns: int) -> None:
        for ev in self.board.poll():
            self._update_led(ev)
            self.pub.publish(TOPIC, ev)
            self.published += 1

    def _update_led(self, ev: Event) -> None:
        if ev.kind == "fault":
            self.log(f"console board {'fault' if ev.data.get('active') else 'ok'}: {ev.data.get('text')}")
            return
        before = (self.episode_running, self.intervening)
        arm = str(ev.data.get("arm", ""))
        if ev.kind == "episode_start":
            self.episode_running = True
        elif ev.kind in ("episode_stop", "episode_discard"):
            self.episode_running = False
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
