"""DynamixelBus over the real dynamixel_sdk against the emulator: reads, writes, faults, reconnect."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel import packet as pk
from abc_robot.devices.dynamixel.bus import BusConfig, DynamixelBus
from abc_robot.devices.dynamixel.group import parse_fast_sync_read
from abc_robot.devices.dynamixel.usb import check_latency_timer
from abc_robot.errors import ConfigError, DeviceError
from abc_robot.runtime.config import from_dict
from abc_robot.testing.dynamixel_emulator import DynamixelChainEmulator

from .utils import wait_for

IDS = tuple(range(1, 8))
RAD = [0.2 * k - 0.6 for k in range(7)]


@pytest.fixture()
def chain(tmp_path):
    with DynamixelChainEmulator(tmp_path / "ttyDXL0", IDS, initial_rad=RAD, return_delay=250) as c:
        yield c


def _bus(chain, **kw) -> DynamixelBus:
    logs: list[str] = []
    kw = {"timeout_ms": 100.0, "retries": 3, **kw}  # patient unless a test asks: load is not a fault
    bus = DynamixelBus(BusConfig(port=str(chain.link), reconnect_interval_s=0.05, **kw), log=logs.append)
    bus.logs = logs  # type: ignore[attr-defined]
    bus.connect()
    return bus


def _expected_ticks() -> np.ndarray:
    return np.round(np.array(RAD) / ct.RAD_PER_TICK) % 4096  # powered up within one turn


@pytest.mark.parametrize("fast", ["on", "off"])
def test_sync_read_of_seven_servos(chain, fast):
    bus = _bus(chain, fast_sync_read=fast)
    group = bus.sync_read([ct.PRESENT_CURRENT, ct.PRESENT_VELOCITY, ct.PRESENT_POSITION])
    assert (group.address, group.size) == (126, 10)
    r = bus.read(group)
    assert r is not None and r.values.shape == (7, 3)
    np.testing.assert_array_equal(r.values[:, 2], _expected_ticks())
    assert r.latency_ns > 0 and bus.fault is None
    # connect() applied Return Delay Time 0 (factory: 250 = 500 µs) to every servo.
    assert all(chain.register(i, ct.RETURN_DELAY_TIME) == 0 for i in IDS)
    bus.close()


def test_auto_detects_fast_sync_read(chain):
    bus = _bus(chain)
    group = bus.sync_read([ct.PRESENT_POSITION])
    assert bus.read(group) is not None and group.fast is True
    assert chain.requests.get(0x8A, 0) >= 1
    bus.close()


def test_corrupt_reply_is_retried_within_the_call(chain):
    bus = _bus(chain, retries=1)
    group = bus.sync_read([ct.PRESENT_POSITION])
    chain.corrupt_next()
    assert bus.read(group) is not None
    assert bus.counts["corrupt"] == 1 and bus.counts["retries"] == 1 and bus.fault is None
    bus.close()


def test_persistent_crc_errors_are_reported_then_recovered(chain):
    bus = _bus(chain, retries=1)
    group = bus.sync_read([ct.PRESENT_POSITION])
    chain.corrupt_all()
    assert bus.read(group) is None
    assert "corrupt reply (CRC)" in bus.fault and "servo 1" in bus.fault
    chain.corrupt_all(False)
    assert bus.read(group) is not None and bus.fault is None
    bus.close()


def test_missing_servo_is_named_and_reads_resume(chain):
    bus = _bus(chain, retries=0)
    group = bus.sync_read([ct.PRESENT_POSITION])
    assert bus.read(group) is not None
    chain.set_missing(5)
    for _ in range(3):  # the fast read fails first, the sync read then names the servo
        assert bus.read(group) is None
    assert bus.fault.startswith("servo 5: no reply")
    chain.set_missing(5, False)
    assert wait_for(lambda: bus.read(group) is not None, 2.0)
    assert bus.read(group) is not None and group.fast and not group.use_normal
    bus.close()


def test_no_reply_at_all(chain):
    bus = _bus(chain, retries=0)
    group = bus.sync_read([ct.PRESENT_POSITION])
    chain.mute()
    assert bus.read(group) is None and bus.read(group) is None
    # The second read sends nothing until a barrier PING shows the line clear of late replies.
    assert "no reply" in bus.fault and bus.counts["timeouts"] >= 1 and bus.counts["barriers"] >= 1
    chain.mute(False)
    assert bus.read(group) is not None
    bus.close()


def test_unplug_then_replug_reconnects(chain):
    bus = _bus(chain)
    hooks: list[int] = []
    bus.on_reconnect.append(lambda: hooks.append(1))
    group = bus.sync_read([ct.PRESENT_POSITION])
    assert bus.read(group) is not None
    chain.unplug()
    assert bus.read(group) is None
    assert "port error" in bus.fault and not bus.is_connected
    assert bus.read(group) is None  # still gone: reopening fails, the call returns at once
    assert "port lost" in bus.fault or "port error" in bus.fault
    chain.replug()
    assert wait_for(lambda: bus.read(group) is not None, 3.0)
    assert bus.counts["reconnects"] == 1 and hooks == [1] and bus.fault is None
    assert any("reopened" in line for line in bus.logs)  # type: ignore[attr-defined]
    bus.close()


def test_writes_and_single_registers(chain):
    bus = _bus(chain)
    assert bus.sync_write(ct.GOAL_POSITION, {i: 100 * i for i in IDS})
    assert wait_for(lambda: chain.register(3, ct.GOAL_POSITION) == 300, 2.0)  # no reply to wait for
    assert bus.write(2, ct.LED, 1) and chain.register(2, ct.LED) == 1
    assert bus.read_register(6, ct.MODEL_NUMBER) == 1020
    assert bus.ping(7) == 1020 and bus.ping(42) is None
    assert not bus.write(2, ct.PRESENT_POSITION, 1)  # read-only: refused by the servo
    assert "PRESENT_POSITION" in bus.fault.upper()
    bus.close()


def test_connect_names_the_silent_servos(chain):
    chain.set_missing(3)
    bus = DynamixelBus(BusConfig(port=str(chain.link), timeout_ms=5.0, retries=0))
    with pytest.raises(DeviceError, match=r"servo\(s\) \[3\].*daisy-chain"):
        bus.connect()
    assert not bus.is_connected


def test_connect_to_a_missing_port_says_what_to_check(tmp_path):
    with pytest.raises(DeviceError, match="plugged in"):
        DynamixelBus(BusConfig(port=str(tmp_path / "nothing"))).connect()


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="bus.yaml: baud: .*valid"):
        from_dict(BusConfig, {"port": "/dev/x", "baud": 123}, file="bus.yaml")
    with pytest.raises(ConfigError, match="motor_ids"):
        from_dict(BusConfig, {"port": "/dev/x", "motor_ids": [1, 1]}, file="bus.yaml")


def test_latency_timer_check(tmp_path):
    sysfs = tmp_path / "sys"
    (sysfs / "ttyUSB0").mkdir(parents=True)
    (sysfs / "ttyUSB0" / "latency_timer").write_text("16\n")
    dev = tmp_path / "ttyUSB0"
    dev.write_text("")
    link = tmp_path / "usb-FTDI_by_id"
    link.symlink_to(dev)  # a by-id name resolves to the kernel name
    chk = check_latency_timer(link, sysfs_root=sysfs)
    assert chk is not None and chk.latency_ms == 16 and not chk.ok
    assert f"echo 1 | sudo tee {sysfs / 'ttyUSB0' / 'latency_timer'}" in chk.warning()
    (sysfs / "ttyUSB0" / "latency_timer").write_text("1\n")
    assert check_latency_timer(link, sysfs_root=sysfs).warning() is None
    assert check_latency_timer(tmp_path / "ttyACM0", sysfs_root=sysfs) is None


# ---- FAST_SYNC_READ parsing (ours: the SDK's neither unstuffs nor checks the sender) ----------------
@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=4, max_size=4).map(lambda b: b"\xff\xff\xfd\x00"[: b[0] % 4] + b[b[0] % 4 :]), min_size=7, max_size=7))
def test_fast_sync_read_parse_unstuffs_and_keeps_ids(datas):
    blocks = [(0, i, d) for i, d in zip(IDS, datas)]
    wire = list(pk.build_fast_sync_read_status(blocks))
    got = parse_fast_sync_read(wire, IDS, 4)
    assert got == dict(zip(IDS, datas))


def test_fast_sync_read_parse_refuses_what_is_not_the_answer():
    blocks = [(0, i, bytes(4)) for i in IDS]
    assert parse_fast_sync_read(list(pk.build_fast_sync_read_status(blocks)), IDS[::-1], 4) is None  # other order
    assert parse_fast_sync_read(list(pk.build_fast_sync_read_status(blocks[:6])), IDS, 4) is None  # one missing
    assert parse_fast_sync_read(list(pk.build_status(3, 0, bytes(4))), IDS, 4) is None  # a late single status
