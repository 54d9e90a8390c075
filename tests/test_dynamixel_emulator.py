"""The Dynamixel emulator against the real, unmodified dynamixel_sdk (and its packet codec)."""

from __future__ import annotations

import math
import os

import dynamixel_sdk as sdk
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel import packet as pk
from abc_robot.devices.dynamixel.bus import PORT_ERRORS
from abc_robot.testing.dynamixel_emulator import DynamixelChainEmulator

from .utils import wait_for

IDS = list(range(1, 8))


@pytest.fixture()
def chain(tmp_path):
    with DynamixelChainEmulator(tmp_path / "ttyDXL0", IDS, initial_rad=[0.1 * k for k in range(7)], return_delay=0) as c:
        yield c


@pytest.fixture(autouse=True)
def _patient_sdk(monkeypatch):
    # The SDK's own packet timeout (2 x its 16 ms latency timer) is wall-clock: a machine
    # busy with other work can starve the emulator's thread that long. A longer timer
    # changes no protocol outcome here (a silent servo still times out, just later).
    import dynamixel_sdk.port_handler

    monkeypatch.setattr(dynamixel_sdk.port_handler, "LATENCY_TIMER", 250)


@pytest.fixture()
def port(chain):
    p = sdk.PortHandler(str(chain.link))
    assert p.setBaudRate(4_000_000)
    yield p
    if p.is_open:
        p.closePort()


PH = sdk.PacketHandler(2.0)


# ---- packet codec vs the SDK's own ----------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=64))
def test_crc_matches_the_sdk(data):
    assert pk.crc16(data) == PH.updateCRC(0, list(data), len(data))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0xFF, 0xFD, 0x00, 0x55, 0x01]), min_size=0, max_size=40))
def test_stuffing_round_trips_and_never_shows_a_header(payload):
    wire = pk.build_packet(3, pk.Inst.WRITE, bytes(payload))
    assert wire.find(pk.HEADER, 1) == -1  # no header inside the body
    got = list(pk.PacketReader().feed(b"\x00\xff" + wire))  # garbage before: resync
    assert len(got) == 1 and got[0].params == bytes(payload) and got[0].dxl_id == 3


def test_reader_drops_a_bad_crc_and_finds_the_next_packet():
    good = pk.build_status(2, 0, b"\x01\x02")
    bad = bytearray(pk.build_status(1, 0, b"\x09"))
    bad[-1] ^= 0xFF
    r = pk.PacketReader()
    got = list(r.feed(bytes(bad) + good))
    assert [p.dxl_id for p in got] == [2] and r.crc_errors == 1


def test_wire_sizes_match_built_packets():
    assert pk.status_bytes(4) == len(pk.build_status(1, 0, b"\x00" * 4))
    blocks = [(0, i, b"\x00" * 4) for i in IDS]
    assert pk.fast_sync_read_status_bytes(7, 4) == len(pk.build_fast_sync_read_status(blocks))
    assert pk.sync_read_request_bytes(7) == len(pk.build_packet(0xFE, pk.Inst.SYNC_READ, bytes([132, 0, 4, 0, *IDS])))


# ---- the SDK talks to the chain -------------------------------------------------------------------
def test_ping_read_write(chain, port):
    model, res, err = PH.ping(port, 3)
    assert (model, res, err) == (1020, sdk.COMM_SUCCESS, 0)
    assert PH.ping(port, 9)[1] == sdk.COMM_RX_TIMEOUT
    assert PH.read1ByteTxRx(port, 4, ct.ID.address)[0] == 4
    res, err = PH.write4ByteTxRx(port, 2, ct.PROFILE_VELOCITY.address, 77)
    assert (res, err) == (sdk.COMM_SUCCESS, 0)
    assert chain.register(2, ct.PROFILE_VELOCITY) == 77
    # Read-only register refused with an access error.
    res, err = PH.write4ByteTxRx(port, 2, ct.PRESENT_POSITION.address, 5)
    assert res == sdk.COMM_SUCCESS and err == pk.Err.ACCESS


def test_sync_read_of_seven_servos(chain, port):
    g = sdk.GroupSyncRead(port, PH, ct.PRESENT_POSITION.address, 4)
    for i in IDS:
        g.addParam(i)
    assert g.txRxPacket() == sdk.COMM_SUCCESS
    ticks = [ct.to_signed(g.getData(i, ct.PRESENT_POSITION.address, 4), 4) for i in IDS]
    np.testing.assert_allclose(np.array(ticks) * ct.RAD_PER_TICK, [0.1 * k for k in range(7)], atol=ct.RAD_PER_TICK)
    assert g.fastSyncRead() == sdk.COMM_SUCCESS
    assert [ct.to_signed(g.getData(i, ct.PRESENT_POSITION.address, 4), 4) for i in IDS] == ticks


def test_sync_write_moves_torqued_servos_with_a_lag(chain, port):
    assert PH.write1ByteTxRx(port, 5, ct.TORQUE_ENABLE.address, 1) == (sdk.COMM_SUCCESS, 0)
    # EEPROM (operating mode) is locked while torque is on.
    assert PH.write1ByteTxRx(port, 5, ct.OPERATING_MODE.address, 4)[1] == pk.Err.ACCESS
    w = sdk.GroupSyncWrite(port, PH, ct.GOAL_POSITION.address, 4)
    goal = 3000
    w.addParam(5, list(goal.to_bytes(4, "little")))
    assert w.txPacket() == sdk.COMM_SUCCESS
    assert wait_for(lambda: abs(chain.register(5, ct.PRESENT_POSITION) - goal) < 3, 3.0)
    assert abs(chain.register(4, ct.PRESENT_POSITION) - round(0.3 / ct.RAD_PER_TICK)) <= 1  # torque off: not moved


def test_broadcast_write_reaches_every_servo(chain, port):
    PH.write1ByteTxOnly(port, 0xFE, ct.TORQUE_ENABLE.address, 1)
    assert wait_for(lambda: all(chain.torque_enabled), 2.0)


def test_power_up_wraps_present_position(tmp_path):
    wraps = [0, 1, -1, 2, 0, -3, 1]
    with DynamixelChainEmulator(tmp_path / "tty", IDS, initial_rad=[-0.5] * 7, wraps=wraps, return_delay=0) as c:
        p = sdk.PortHandler(str(c.link))
        assert p.setBaudRate(1_000_000)
        for i, w in zip(IDS, wraps):
            v, res, _ = PH.read4ByteTxRx(p, i, ct.PRESENT_POSITION.address)
            # -0.5 rad powers up as one turn minus 0.5 rad, then the extra turns.
            assert res == sdk.COMM_SUCCESS
            assert ct.to_signed(v, 4) == pytest.approx((2 * math.pi - 0.5) / ct.RAD_PER_TICK + 4096 * w, abs=1)
        c.power_cycle(wraps=[0] * 7)
        assert ct.to_signed(PH.read4ByteTxRx(p, 1, ct.PRESENT_POSITION.address)[0], 4) < 4096
        p.closePort()


def test_faults_as_the_sdk_sees_them(chain, port):
    g = sdk.GroupSyncRead(port, PH, ct.PRESENT_POSITION.address, 4)
    for i in IDS:
        g.addParam(i)
    chain.corrupt_next()
    assert g.txRxPacket() == sdk.COMM_RX_CORRUPT
    assert g.txRxPacket() == sdk.COMM_SUCCESS
    chain.set_missing(4)
    assert g.txRxPacket() == sdk.COMM_RX_TIMEOUT
    assert len(g.data_dict[4]) == 0  # the SDK stopped at the silent servo
    chain.set_missing(4, False)
    chain.mute()
    assert g.txRxPacket() == sdk.COMM_RX_TIMEOUT
    chain.mute(False)
    assert g.txRxPacket() == sdk.COMM_SUCCESS


def test_unplug_and_replug_keep_the_link(chain, port):
    first = os.readlink(chain.link)
    chain.unplug()
    assert not chain.link.exists()
    g = sdk.GroupSyncRead(port, PH, ct.PRESENT_POSITION.address, 4)
    g.addParam(1)
    with pytest.raises(PORT_ERRORS):  # SerialException or termios.error: the device is gone
        g.txRxPacket()
    chain.replug()
    assert chain.link.is_symlink() and os.path.exists(os.readlink(chain.link))
    p2 = sdk.PortHandler(str(chain.link))
    assert p2.setBaudRate(4_000_000)
    assert PH.ping(p2, 1)[1] == sdk.COMM_SUCCESS
    p2.closePort()
    assert first  # the pty may or may not be renumbered; the link is what matters
