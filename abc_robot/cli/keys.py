"""Operator keys in the terminal → console events and mode commands.

=====  =====================================================
key    action
=====  =====================================================
r      start / stop recording an episode
d      discard the current episode
s / f  mark the episode a success / a failure (and stop it)
i      intervene / hand back to the policy (toggle)
t      TELEOP, p POLICY, h HOLD, e ESTOP (h clears an e-stop)
q      quit (ordered stop of the graph)
=====  =====================================================

The same events come from the console board's pedal and buttons
(:mod:`abc_robot.devices.console_board`); both publish on ``console/``.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty
from collections.abc import Callable

from abc_robot.runtime.episode_state import EpisodeAnnouncer
from abc_robot.transport.bus import Publisher
from abc_robot.transport.messages import ModeCommand

__all__ = ["ConsoleKeys", "KEYMAP"]

KEYMAP: dict[str, tuple[str, str]] = {
    "r": ("event", "episode_toggle"),
    "d": ("event", "episode_discard"),
    "s": ("event", "success"),
    "f": ("event", "fail"),
    "i": ("event", "intervene_toggle"),
    "t": ("mode", "TELEOP"),
    "p": ("mode", "POLICY"),
    "h": ("mode", "HOLD"),
    "e": ("mode", "ESTOP"),
}


class ConsoleKeys:
    """Publishes console events for key presses (or for scripted calls of :meth:`press`).

    Args:
        publisher: bound at the graph's console endpoint.
        on_quit: called for ``q``.
    """

    def __init__(self, publisher: Publisher, on_quit: Callable[[], None] | None = None) -> None:
        self.pub = publisher
        self.announcer = EpisodeAnnouncer(publisher)  # a restarted recorder joins the episode in progress
        self.on_quit = on_quit
        self.recording = False
        self.intervening = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def press(self, key: str) -> None:
        if key == "q":
            if self.on_quit:
                self.on_quit()
            return
        what = KEYMAP.get(key)
        if what is None:
            return
        kind, value = what
        if kind == "mode":
            self.pub.publish("console/mode", ModeCommand(mode=value, reason=f"key {key!r}"))
            return
        if value == "episode_toggle":
            value = "episode_stop" if self.recording else "episode_start"
            self.recording = not self.recording
        elif value in ("episode_discard", "success", "fail"):
            self.recording = False
        elif value == "intervene_toggle":
            value = "intervene_off" if self.intervening else "intervene_on"
            self.intervening = not self.intervening
        self.announcer.send(value)

    def start(self) -> bool:
        """Read keys from the terminal in a thread; False when stdin is not a terminal."""
        if not sys.stdin.isatty():
            return False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return True

    def _read(self) -> None:
        fd = sys.stdin.fileno()
        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            while not self._stop.is_set():
                ready, _, _ = select.select([fd], [], [], 0.1)
                if ready:
                    self.press(os.read(fd, 1).decode(errors="ignore").lower())
                self.announcer.tick()
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1)
