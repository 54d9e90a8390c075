"""From pedal and button edges to console event kinds, as configured.

The mapping is data (a frozen dataclass loaded from the launch file), the mapper is
the small state machine that applies it: it remembers when each input went down (to
tell a short press from a long one) and where each toggle binding is in its cycle.

A start/stop toggle (a binding whose events are ``episode_start`` and ``episode_stop``)
follows the episode state instead of its own cycle: it stops an episode in progress
and starts one otherwise. The mapper knows the episodes its own events start and end;
the console-board node tells it about the others (:attr:`EventMapper.episode_active`:
the keys, the page, the director, their ``episode_state`` announcements), so after an
episode ended by ``success`` (or from another source) the next press starts one.
"""

from __future__ import annotations

from dataclasses import dataclass

from abc_robot.devices.console_board.protocol import INPUT_NAMES

__all__ = ["EVENT_KINDS", "EDGES", "ARMS", "Binding", "ConsoleMapping", "EventMapper", "DEFAULT_BINDINGS"]

#: Kinds that end an episode (as :data:`abc_robot.runtime.episode_state.END_KINDS`).
_END_KINDS = ("episode_stop", "success", "fail", "episode_discard")
_START_STOP = frozenset(("episode_start", "episode_stop"))

#: Event kinds a binding may emit (``abc_robot.transport.messages.Event.kind``).
EVENT_KINDS = (
    "episode_start",
    "episode_stop",
    "episode_discard",
    "intervene_on",
    "intervene_off",
    "success",
    "fail",
)
#: Arms a binding may address (``""``: both).
ARMS = ("", "left", "right")
#: ``press`` / ``release`` fire on the edge; ``short`` / ``long`` fire on release,
#: chosen by how long the input was held (``ConsoleMapping.long_press_s``).
EDGES = ("press", "release", "short", "long")


@dataclass(frozen=True)
class Binding:
    """One rule: when ``input`` sees ``edge``, emit the next kind of ``events``.

    Attributes:
        input: one of ``pedal_a``, ``pedal_b``, ``button_a``, ``button_b``.
        edge: one of ``press``, ``release``, ``short``, ``long``.
        events: event kinds emitted in turn, one per trigger; two kinds make a toggle
            (e.g. ``[episode_start, episode_stop]``; that one follows the episode state:
            stop while an episode runs, else start).
        arm: the arm the events are for (``left`` / ``right``; ``""``: both). A rig with
            a pedal per arm binds ``pedal_a`` to ``left`` and ``pedal_b`` to ``right``,
            so each operator hand takes over its own arm.
    """

    input: str
    edge: str
    events: tuple[str, ...]
    arm: str = ""

    def __post_init__(self) -> None:
        if self.input not in INPUT_NAMES:
            raise ValueError(f"input {self.input!r}; valid inputs: {list(INPUT_NAMES)}")
        if self.edge not in EDGES:
            raise ValueError(f"edge {self.edge!r}; valid edges: {list(EDGES)}")
        if not self.events:
            raise ValueError("events must name at least one event kind")
        if self.arm not in ARMS:
            raise ValueError(f"arm {self.arm!r}; valid arms: {list(ARMS)} ('' is both)")
        bad = [e for e in self.events if e not in EVENT_KINDS]
        if bad:
            raise ValueError(f"unknown event kind(s) {bad}; valid kinds: {list(EVENT_KINDS)}")


#: Hold the pedal to intervene; button A starts/stops an episode; button B marks the
#: outcome: a short press is success, a press held for ``long_press_s`` is failure.
DEFAULT_BINDINGS: tuple[Binding, ...] = (
    Binding("pedal_a", "press", ("intervene_on",)),
    Binding("pedal_a", "release", ("intervene_off",)),
    Binding("button_a", "press", ("episode_start", "episode_stop")),
    Binding("button_b", "short", ("success",)),
    Binding("button_b", "long", ("fail",)),
)


@dataclass(frozen=True)
class ConsoleMapping:
    """Which edges make which console events.

    Attributes:
        bindings: the rules, applied in order (several may fire on one edge).
        long_press_s: hold time [s] from which a press counts as ``long``.
    """

    bindings: tuple[Binding, ...] = DEFAULT_BINDINGS
    long_press_s: float = 1.0

    def __post_init__(self) -> None:
        if self.long_press_s <= 0:
            raise ValueError(f"long_press_s must be positive, got {self.long_press_s}")


class EventMapper:
    """Applies a :class:`ConsoleMapping` to a sequence of edges."""

    def __init__(self, mapping: ConsoleMapping) -> None:
        self.mapping = mapping
        self._cycle = [0] * len(mapping.bindings)
        self._down_ms: dict[str, int] = {}
        #: Whether an episode is in progress, as far as this console knows: set by the
        #: episode events this mapper fires, and by the owner from the other sources'.
        self.episode_active = False

    def on_edge(self, input_name: str, pressed: bool, t_ms: int) -> list[str]:
        """Event kinds triggered by ``input_name`` going down (``pressed``) or up.

        Args:
            input_name: one of ``INPUT_NAMES``.
            pressed: the new level.
            t_ms: the board's time of the edge [ms] (for short/long presses).
        """
        return [kind for kind, _ in self.fire(input_name, pressed, t_ms)]

    def fire(self, input_name: str, pressed: bool, t_ms: int) -> list[tuple[str, str]]:
        """Like :meth:`on_edge`, with each kind's arm (``""``: both arms)."""
        edges = ["press"] if pressed else ["release"]
        if pressed:
            self._down_ms[input_name] = t_ms
        else:
            down = self._down_ms.pop(input_name, None)
            if down is not None:
                held_s = ((t_ms - down) & 0xFFFFFFFF) / 1000.0  # board clock wraps at 2^32 ms
                edges.append("long" if held_s >= self.mapping.long_press_s else "short")
        fired: list[tuple[str, str]] = []
        for i, b in enumerate(self.mapping.bindings):
            if b.input == input_name and b.edge in edges:
                if frozenset(b.events) == _START_STOP:
                    kind = "episode_stop" if self.episode_active else "episode_start"
                else:
                    kind = b.events[self._cycle[i] % len(b.events)]
                    self._cycle[i] += 1
                fired.append((kind, b.arm))
                if kind == "episode_start":
                    self.episode_active = True
                elif kind in _END_KINDS:
                    self.episode_active = False
        return fired

    def forget_presses(self) -> None:
        """Drop remembered press times (after a disconnect: durations are unknown)."""
        self._down_ms.clear()
