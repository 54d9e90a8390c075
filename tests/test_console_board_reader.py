"""Console-board reader against the emulated board on a pty (real pyserial, real protocol)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from abc_robot.devices.console_board import (
    Binding,
    ConsoleBoard,
    ConsoleBoardConfig,
    ConsoleMapping,
    EventMapper,
)
from abc_robot.devices.console_board.protocol import LedSetMsg, VersionQueryMsg
from abc_robot.errors import ConfigError
from abc_robot.runtime.config import from_dict
from abc_robot.testing.console_board_emulator import ConsoleBoardEmulator
from abc_robot.transport.messages import Event


class Pump:
    """Polls a reader, collecting events, until a condition holds (or fails loudly)."""

    def __init__(self, reader: ConsoleBoard) -> None:
        self.reader = reader
        self.events: list[Event] = []

    def until(self, cond: Callable[[], bool], timeout_s: float = 5.0, what: str = "") -> list[Event]:
        start = len(self.events)
        deadline = time.monotonic() + timeout_s
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or cond}; events: {self.kinds()}")
            self.events += self.reader.poll(0.01)
        return self.events[start:]

    def for_s(self, s: float) -> list[Event]:
        start = len(self.events)
        end = time.monotonic() + s
        while time.monotonic() < end:
            self.events += self.reader.poll(0.01)
        return self.events[start:]

    def kinds(self, events: list[Event] | None = None) -> list[str]:
        return [e.kind for e in (self.events if events is None else events)]

    def wait_kind(self, kind: str, timeout_s: float = 5.0) -> Event:
        self.until(lambda: any(e.kind == kind for e in self.events), timeout_s, kind)
        return next(e for e in self.events if e.kind == kind)


@pytest.fixture()
def board(tmp_path):
    with ConsoleBoardEmulator(tmp_path / "console") as emu:
        yield emu


@pytest.fixture()
def reader(board):
    r = ConsoleBoard(ConsoleBoardConfig(port=str(board.link), reconnect_period_s=0.05, heartbeat_timeout_s=0.3))
    yield r
    r.close()


def connected(reader: ConsoleBoard) -> Pump:
    p = Pump(reader)
    p.until(lambda: reader.last_heartbeat is not None and reader.version is not None, what="first heartbeat")
    return p


def test_version_and_heartbeat_on_connect(board, reader):
    p = connected(reader)
    assert reader.is_connected and reader.fault is None
    assert reader.version.name == "abc-console-emu" and reader.version.firmware == "1.0.0"
    p.until(lambda: board.host_link, what="board hears the host")
    assert any(isinstance(m, VersionQueryMsg) for m in board.host_messages)
    assert reader.stats.frames >= 2 and reader.stats.bad_frames == {}
    assert p.events == []  # no inputs touched, nothing to report


def test_default_mapping_pedal_and_buttons(board, reader):
    p = connected(reader)
    board.press("pedal_a")
    ev = p.wait_kind("intervene_on")
    assert ev.data == {
        "input": "pedal_a",
        "edge": "press",
        "board_ms": ev.data["board_ms"],
        "synthetic": False,
        "board_seq": ev.data["board_seq"],
    }
    assert reader.inputs["pedal_a"] is True
    board.release("pedal_a")
    p.wait_kind("intervene_off")
    board.press("button_a")
    board.release("button_a")
    board.press("button_a")
    p.until(lambda: p.kinds().count("episode_start") == 1 and "episode_stop" in p.kinds(), what="toggle")
    board.press("button_b")
    board.release("button_b")
    p.wait_kind("success")
    assert p.kinds() == ["intervene_on", "intervene_off", "episode_start", "episode_stop", "success"]
    assert all(e.source == "console_board" and e.stamp_ns > 0 for e in p.events)


def test_a_pedal_per_arm_sends_events_for_that_arm(board, tmp_path):
    mapping = ConsoleMapping(
        bindings=(
            Binding("pedal_a", "press", ("intervene_on",), arm="left"),
            Binding("pedal_a", "release", ("intervene_off",), arm="left"),
            Binding("pedal_b", "press", ("intervene_on",), arm="right"),
            Binding("button_a", "press", ("episode_start",)),
        )
    )
    with ConsoleBoard(ConsoleBoardConfig(port=str(board.link), mapping=mapping)) as r:
        p = connected(r)
        for name in ("pedal_b", "pedal_a", "button_a"):
            board.press(name)
        board.release("pedal_a")
        p.until(lambda: len(p.events) == 4, what="four events")
        assert [(e.kind, e.data.get("arm")) for e in p.events] == [
            ("intervene_on", "right"),
            ("intervene_on", "left"),
            ("episode_start", None),  # for both arms: no arm named
            ("intervene_off", "left"),
        ]
    with pytest.raises(ConfigError, match="valid arms"):
        from_dict(ConsoleMapping, {"bindings": [{"input": "pedal_a", "edge": "press", "events": ["intervene_on"], "arm": "middle"}]})


def test_event_stamps_are_host_times_of_the_edge(board, reader):
    p = connected(reader)
    p.for_s(0.3)  # a few heartbeats to estimate the board clock offset
    before = time.monotonic_ns()
    board.press("pedal_a")
    ev = p.wait_kind("intervene_on")
    after = time.monotonic_ns()
    # The stamp is converted from the board clock: never after reception, and (with
    # a small allowance for the emulator's millisecond clock) not before the press.
    assert before - 5_000_000 <= ev.stamp_ns <= after


def test_long_press_is_fail(board, tmp_path):
    cfg = ConsoleBoardConfig(port=str(board.link), mapping=ConsoleMapping(long_press_s=0.2))
    with ConsoleBoard(cfg) as r:
        p = connected(r)
        board.press("button_b")
        p.for_s(0.35)
        board.release("button_b")
        assert p.wait_kind("fail").data["edge"] == "release"
        assert "success" not in p.kinds()


def test_garbage_and_bad_crc_are_counted_and_survived(board, reader):
    p = connected(reader)
    board.inject_garbage(b"\x13\x37\xde\xad\xbe\xef\x00")  # noise, then idle line
    board.corrupt_next(3)
    board.press("pedal_b")  # this event frame is one of the corrupted ones
    p.until(lambda: reader.stats.bad_frames.get("crc", 0) >= 3, what="3 CRC errors")
    assert reader.stats.bad_frames.get("cobs", 0) >= 1
    # The lost edge comes back from the next good heartbeat, marked synthetic.
    p.until(lambda: reader.inputs["pedal_b"], what="pedal_b reconciled")
    assert reader.stats.synthetic_edges == 1
    # Still healthy: events after the noise arrive normally.
    board.press("pedal_a")
    assert p.wait_kind("intervene_on").data["synthetic"] is False
    assert reader.fault is None and reader.stats.disconnects == 0


def test_lost_event_frame_reconciled_from_heartbeat(board, reader):
    p = connected(reader)
    board.set_inputs_silently(0b0001)  # the press event never made it
    ev = p.wait_kind("intervene_on")
    assert ev.data["synthetic"] is True and "board_seq" not in ev.data


def test_unplug_reports_fault_and_reconnects_at_the_same_path(board, reader):
    p = connected(reader)
    board.press("pedal_a")
    p.wait_kind("intervene_on")
    board.unplug()
    fault = p.wait_kind("fault")
    assert fault.data["active"] is True and "lost" in fault.data["text"]
    assert not reader.is_connected and reader.fault is not None
    p.for_s(0.2)  # several failed reopen attempts while the port is gone: no crash
    board.release("pedal_a")  # happens while unplugged: nobody hears the event
    board.replug()
    p.until(lambda: p.kinds().count("fault") == 2, what="recovery event")
    recovered = [e for e in p.events if e.kind == "fault"][-1]
    assert recovered.data["active"] is False and reader.fault is None
    # The release during the outage is reconstructed from the first heartbeat.
    off = p.wait_kind("intervene_off")
    assert off.data["synthetic"] is True
    assert reader.stats.connects == 2 and reader.stats.disconnects == 1
    # And the link works normally afterwards.
    board.press("button_a")
    p.wait_kind("episode_start")


def test_unplug_replug_many_times(board, reader):
    p = connected(reader)
    for _ in range(3):
        board.unplug()
        p.until(lambda: not reader.is_connected, what="disconnect")
        board.replug()
        p.until(lambda: reader.is_connected and reader.fault is None, what="reconnect")
    assert reader.stats.disconnects == 3
    assert [e.data["active"] for e in p.events if e.kind == "fault"] == [True, False] * 3


def test_silent_board_is_stale_then_recovers(board, reader):
    p = connected(reader)
    board.mute(True)
    ev = p.wait_kind("fault")
    assert ev.data["active"] is True and "no frame" in ev.data["text"]
    board.mute(False)
    p.until(lambda: reader.fault is None, what="recovery")
    assert [e.data["active"] for e in p.events if e.kind == "fault"][-1] is False


def test_led_command_and_keepalive(board, reader):
    p = connected(reader)
    reader.set_led("blink_fast")
    p.until(lambda: board.led == "blink_fast", what="LED mode")
    n = sum(isinstance(m, LedSetMsg) for m in board.host_messages)
    p.until(lambda: sum(isinstance(m, LedSetMsg) for m in board.host_messages) > n, timeout_s=3.0, what="keepalive")
    assert reader.stats.nacks == 0
    with pytest.raises(ValueError, match="valid modes"):
        reader.set_led("disco")


def test_missing_port_is_a_fault_not_an_exception(tmp_path):
    r = ConsoleBoard(ConsoleBoardConfig(port=str(tmp_path / "nothing"), reconnect_period_s=0.05))
    assert r.open() is False
    events = r.poll(0.01)
    assert [e.kind for e in events] == ["fault"] and "cannot open" in r.fault
    assert r.poll(0.06) == []  # retried, still absent, no repeated fault event
    r.close()


def test_mapping_toggle_and_durations():
    m = EventMapper(
        ConsoleMapping(
            bindings=(
                Binding("pedal_b", "press", ("episode_start", "episode_stop")),
                Binding("button_a", "short", ("success",)),
                Binding("button_a", "long", ("fail",)),
                Binding("button_a", "release", ("episode_discard",)),
            ),
            long_press_s=0.5,
        )
    )
    assert m.on_edge("pedal_b", True, 0) == ["episode_start"]
    assert m.on_edge("pedal_b", False, 10) == []
    assert m.on_edge("pedal_b", True, 20) == ["episode_stop"]
    assert m.on_edge("pedal_b", True, 30) == ["episode_start"]
    assert m.on_edge("button_a", True, 100) == []
    assert m.on_edge("button_a", False, 599) == ["success", "episode_discard"]
    assert m.on_edge("button_a", True, 0xFFFFFF00) == []
    assert m.on_edge("button_a", False, 0x00000200) == ["fail", "episode_discard"]  # across the clock wrap
    m.forget_presses()
    assert m.on_edge("button_a", False, 700) == ["episode_discard"]  # no press known: no duration


def test_start_stop_toggle_follows_the_episode_state():
    """Button A starts an episode when none runs and stops the one in progress, whoever
    started or ended it (button B's success, the keys, the page)."""
    m = EventMapper(ConsoleMapping())  # the default bindings: A start/stop, B success/fail
    assert m.on_edge("button_a", True, 0) == ["episode_start"]
    m.on_edge("button_a", False, 50)
    assert m.on_edge("button_b", True, 100) == []
    assert m.on_edge("button_b", False, 200) == ["success"]  # ends the episode
    assert m.on_edge("button_a", True, 300) == ["episode_start"]  # not a stop of nothing
    m.on_edge("button_a", False, 350)
    m.episode_active = False  # the keys stopped it meanwhile
    assert m.on_edge("button_a", True, 400) == ["episode_start"]
    m.on_edge("button_a", False, 450)
    assert m.on_edge("button_a", True, 500) == ["episode_stop"]
    m.on_edge("button_a", False, 550)
    m.episode_active = True  # the page started one
    assert m.on_edge("button_a", True, 600) == ["episode_stop"]


def test_config_from_dict_names_the_bad_field():
    cfg = from_dict(
        ConsoleBoardConfig,
        {
            "port": "/dev/ttyACM0",
            "mapping": {"bindings": [{"input": "pedal_a", "edge": "press", "events": ["success"]}]},
        },
    )
    assert cfg.mapping.bindings == (Binding("pedal_a", "press", ("success",)),)
    with pytest.raises(ConfigError, match="mapping.bindings") as info:
        from_dict(
            ConsoleBoardConfig,
            {"mapping": {"bindings": [{"input": "pedal_a", "edge": "press", "events": ["explode"]}]}},
            file="launch/x.yaml",
        )
    assert "valid kinds" in str(info.value) and "launch/x.yaml" in str(info.value)
    with pytest.raises(ConfigError, match="valid inputs"):
        from_dict(
            ConsoleBoardConfig, {"mapping": {"bindings": [{"input": "knee", "edge": "press", "events": ["fail"]}]}}
        )
