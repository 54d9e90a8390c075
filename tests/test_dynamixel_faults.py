"""Late, erroneous and rejected replies through the real dynamixel_sdk against the emulator.

The servos' shafts move on a ramp, so every Present Position says when the servo
latched it: a reading may never carry data latched before its own request was sent.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel.bus import FAST_MISSES_TO_GIVE_UP, BusConfig, DynamixelBus
from abc_robot.devices.dynamixel.packet import Err
from abc_robot.testing.dynamixel_emulator import DynamixelChainEmulator

IDS = tuple(range(1, 8))
RATE_RAD_S = 2.0  # ramp speed: ~1300 ticks/s, one tick per ~0.8 ms of latch time


def _ramp(t_s: float) -> list[float]:
    return [RATE_RAD_S * t_s] * len(IDS)


def _chain(tmp_path, **kw) -> DynamixelChainEmulator:
    return DynamixelChainEmulator(tmp_path / "ttyDXL0", IDS, return_delay=0, **kw)


def _bus(chain: DynamixelChainEmulator, **kw) -> DynamixelBus:
    logs: list[str] = []
    cfg = {"timeout_ms": 500.0, "retries": 1, "return_delay_us": None, **kw}  # patient: load is not a fault
    bus = DynamixelBus(BusConfig(port=str(chain.link), **cfg), log=logs.append)
    bus.logs = logs  # type: ignore[attr-defined]
    bus.connect()
    return bus


def _latched_ns(chain: DynamixelChainEmulator, ticks: np.ndarray) -> float:
    """Monotonic time [ns] at which the servos latched ``ticks`` (from the ramp)."""
    t_s = float(np.median(ticks)) * ct.RAD_PER_TICK / RATE_RAD_S
    return (chain._t0 + t_s) * 1e9


@pytest.mark.parametrize("fast", ["auto", "off"])
@pytest.mark.parametrize("delay_ms", [14.0, 30.0])
def test_replies_later_than_the_timeout_are_never_read_as_fresh(tmp_path, fast, delay_ms):
    # An FTDI adapter at its default 16 ms latency timer, the reader at a 10 ms timeout.
    with _chain(tmp_path, trajectory=_ramp) as chain:
        chain.reply_delay_s = delay_ms / 1e3
        bus = _bus(chain, timeout_ms=10.0, fast_sync_read=fast)
        group = bus.sync_read([ct.PRESENT_POSITION])
        readings = []
        for _ in range(25):
            r = bus.read(group)
            if r is not None:
                readings.append(r)
            time.sleep(0.002)
        stale = [(r.stamp_ns - _latched_ns(chain, r.values[:, 0])) / 1e6 for r in readings]
        assert all(age < 1.5 for age in stale), f"readings latched before their request: {stale} ms"
        # Chronic lateness is the fault, with its fix.
        assert bus.lateness is not None and "latency timer" in bus.lateness and "timeout_ms" in bus.lateness
        assert bus.fault is not None and "latency timer" in bus.fault
        assert bus.counts["late_replies"] >= 3
        bus.close()


def test_a_patient_timeout_reads_late_replies_fresh(tmp_path):
    with _chain(tmp_path, trajectory=_ramp, reply_delay_s=0.014) as chain:
        bus = _bus(chain, timeout_ms=500.0)  # far longer than the delay, even on a busy machine
        group = bus.sync_read([ct.PRESENT_POSITION])
        readings = [bus.read(group) for _ in range(10)]
        ok = [r for r in readings if r is not None]
        assert len(ok) >= 5, bus.fault_log
        for r in ok:
            assert r.stamp_ns - _latched_ns(chain, r.values[:, 0]) < 1.5e6
            assert r.latency_ns > 14e6  # the delay is visible in the figure, not hidden
        assert bus.counts["backlogs"] == 0
        bus.close()


def test_bytes_waiting_with_no_request_are_a_backlog(tmp_path):
    with _chain(tmp_path, initial_rad=[0.1] * 7) as chain:
        bus = _bus(chain)
        group = bus.sync_read([ct.PRESENT_POSITION])
        assert bus.read(group) is not None
        # A reply nobody asked for (what a late answer looks like) sits on the port.
        chain.reply_delay_s = 0.0
        assert bus._port is not None
        bus._ph.txPacket(bus._port, [0, 0, 0, 0, 1, 3, 0, 0x01, 0, 0])  # a PING we never read back
        bus._port.is_using = False
        time.sleep(0.05)
        r = bus.read(group)
        assert r is not None and bus.counts["backlogs"] == 1 and bus.counts["late_bytes"] > 0
        assert any("backlog" in line for line in bus.logs)  # type: ignore[attr-defined]
        bus.close()


@pytest.mark.parametrize("fast", ["on", "off"])
def test_a_status_error_is_never_used_as_data(tmp_path, fast):
    with _chain(tmp_path, initial_rad=[0.3] * 7) as chain:
        bus = _bus(chain, fast_sync_read=fast)
        group = bus.sync_read([ct.PRESENT_POSITION])
        chain.set_status_error(3, Err.RESULT_FAIL)
        assert bus.read(group) is None
        assert "servo 3" in bus.fault and "status error 0x01" in bus.fault
        assert bus.counts["status_errors"] >= 1
        chain.set_status_error(3, 0)
        assert bus.read(group) is not None and bus.fault is None
        bus.close()


@pytest.mark.parametrize("fast", ["on", "off"])
def test_the_hardware_alert_bit_is_reported_and_the_data_kept(tmp_path, fast):
    with _chain(tmp_path, initial_rad=[0.3] * 7) as chain:
        bus = _bus(chain, fast_sync_read=fast)
        group = bus.sync_read([ct.PRESENT_POSITION])
        chain.set_status_error(5, Err.ALERT)
        r = bus.read(group)
        assert r is not None
        np.testing.assert_array_equal(r.values[:, 0], round(0.3 / ct.RAD_PER_TICK))
        assert bus.alert is not None and "[5]" in bus.alert and "Hardware Error Status" in bus.alert
        assert bus.status()["alert"] == bus.alert and any("hardware alert" in line for line in bus.logs)  # type: ignore[attr-defined]
        chain.set_status_error(5, 0)
        assert bus.read(group) is not None and bus.alert is None
        bus.close()


def test_an_access_error_without_data_is_named_as_such(tmp_path):
    with _chain(tmp_path) as chain:
        bus = _bus(chain)
        chain.set_status_error(2, Err.ACCESS)
        assert bus.read_register(2, ct.PRESENT_POSITION) is None
        assert "servo 2" in bus.fault and "status error 0x07" in bus.fault and "CRC" not in bus.fault
        bus.close()


def test_servos_that_reject_fast_sync_read_are_named_and_auto_falls_back(tmp_path):
    with _chain(tmp_path, initial_rad=[0.2] * 7, fast_sync_read=False) as chain:
        bus = _bus(chain)
        group = bus.sync_read([ct.PRESENT_POSITION])
        r = bus.read(group)
        assert r is not None and group.fast is False
        assert any("rejects FAST_SYNC_READ" in line for line in bus.logs)  # type: ignore[attr-defined]
        assert bus.counts["timeouts"] == 0  # a rejection is not a missing reply
        bus.close()
        forced = _bus(chain, fast_sync_read="on")
        g2 = forced.sync_read([ct.PRESENT_POSITION])
        assert forced.read(g2) is not None  # the retry's SYNC_READ answers
        assert any("rejects FAST_SYNC_READ" in f and "fast_sync_read" in f for f in forced.fault_log)
        forced.close()


def test_one_dropped_fast_reply_does_not_disable_fast_sync_read(tmp_path):
    with _chain(tmp_path, initial_rad=[0.2] * 7) as chain:
        bus = _bus(chain, timeout_ms=300.0, late_window_ms=5.0)
        group = bus.sync_read([ct.PRESENT_POSITION])
        chain.drop_next(1)  # the very first FAST_SYNC_READ's answer is lost
        assert bus.read(group) is not None  # the retry (SYNC_READ) answers
        assert group.fast is None and bus.counts["timeouts"] == 1
        assert bus.read(group) is not None and group.fast is True
        assert not any("FAST_SYNC_READ" in line for line in bus.logs)  # type: ignore[attr-defined]
        # Servos that never answer it (while SYNC_READ works) are given up on after a few misses.
        bus.close()
    with _chain(tmp_path, initial_rad=[0.2] * 7) as chain:
        bus = _bus(chain, timeout_ms=300.0, late_window_ms=5.0)
        group = bus.sync_read([ct.PRESENT_POSITION])
        for _ in range(FAST_MISSES_TO_GIVE_UP):
            chain.drop_next(1)
            assert bus.read(group) is not None
        assert group.fast is False and any("using SYNC_READ" in line for line in bus.logs)  # type: ignore[attr-defined]
        bus.close()
