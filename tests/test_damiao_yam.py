"""YAM arm driver against the emulated Damiao chain on python-can's virtual bus.

The driver code is the rig's: only ``interface: virtual`` differs from ``socketcan``.
"""

from __future__ import annotations

import itertools
import math
import time

import can
import numpy as np
import pytest

from abc_robot.devices.backend import ArmBackend
from abc_robot.devices.damiao import MotorState, YamArm, YamConfig
from abc_robot.errors import ConfigError, DeviceError
from abc_robot.runtime.config import from_dict
from abc_robot.testing.damiao_emulator import DamiaoChainEmulator
from abc_robot.testing.emulated import EmulatedYamArm

from .utils import wait_for

_channels = itertools.count()

# Generous timing for a loaded 2-core test machine; the logic is what is tested.
FAST = {"reply_timeout_s": 0.02, "silent_after_s": 0.5, "silent_after_cycles": 5, "control_hz": 200.0, "park_speed_rad_s": 5.0,
        "gravity_compensation": False}  # the default emulated joints carry no gravity


def _cfg(**kw) -> YamConfig:
    return YamConfig(**{"interface": "virtual", "channel": f"yam-test-{next(_channels)}", **FAST, **kw})


@pytest.fixture()
def rig():
    """An emulated YAM chain and a connected arm on the same virtual channel."""
    made: list = []

    def make(emu_kwargs=None, **cfg_kw):
        cfg = _cfg(**cfg_kw)
        emu = DamiaoChainEmulator(cfg.channel, cfg.motor_specs(), **(emu_kwargs or {})).start()
        arm = YamArm(cfg)
        made.append((emu, arm))
        arm.connect()
        return emu, arm

    yield make
    for emu, arm in made:
        arm.close()
        emu.stop()


def _reached(arm: YamArm, target: np.ndarray, tol: float) -> bool:
    s = arm.read_state()
    return s is not None and bool(np.all(np.abs(s.q - target) < tol))


def test_connect_leaves_torque_off_and_reads_state(rig):
    emu, arm = rig()
    assert isinstance(arm, ArmBackend) and arm.is_connected
    assert not arm.torque_enabled and arm.fault is None
    assert emu.states == [MotorState.DISABLED] * 7
    s = arm.read_state()
    assert s is not None and s.q.shape == (7,) and s.dq.shape == (7,) and s.effort.shape == (7,)
    assert np.allclose(s.q, 0.0, atol=1e-3) and s.stamp_ns > 0


def test_commanded_positions_are_tracked(rig):
    emu, arm = rig()
    target = np.array([0.5, 1.2, 0.8, 0.3, -0.4, 0.6, 0.7])
    sent = arm.command(target)
    assert np.allclose(sent, target)
    assert arm.torque_enabled and all(emu.enabled)  # command() enabled torque first
    assert wait_for(lambda: _reached(arm, target, 0.02), 10), f"q={arm.read_state()}"
    # And a second pose from there.
    target2 = np.array([-0.3, 0.4, 1.5, -0.2, 0.2, -0.5, 0.1])
    arm.command(target2)
    assert wait_for(lambda: _reached(arm, target2, 0.02), 10)
    # The motors' frames carry the configured gains.
    assert emu.last_command(0).kp == pytest.approx(80.0, abs=0.2)
    assert emu.last_command(4).kd == pytest.approx(1.5, abs=0.01)


def test_commands_are_clamped_to_joint_limits(rig):
    emu, arm = rig()
    sent = arm.command(np.array([9.0, -1.0, 0.5, 0.0, 0.0, 9.0, 3.0]))
    assert sent[0] == pytest.approx(3.14159) and sent[1] == 0.0 and sent[5] == pytest.approx(2.0944)
    assert sent[6] == 1.0
    with pytest.raises(ValueError, match="7 finite values"):
        arm.command(np.array([0.0, 0.0, math.nan, 0.0, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError):
        arm.command(np.zeros(6))


def test_setpoint_slews_instead_of_jumping(rig):
    emu, arm = rig(max_speed_rad_s=1.0)
    arm.command(np.zeros(7))
    wait_for(lambda: emu.last_command(0).kp > 0, 5)
    t0 = time.monotonic()
    arm.command(np.array([3.0, 0, 0, 0, 0, 0, 0]))
    time.sleep(0.2)
    p = emu.last_command(0).p
    elapsed = time.monotonic() - t0
    # Upper bound only: the setpoint never moves faster than max_speed_rad_s.
    assert 0.0 < p <= 1.0 * elapsed + 0.01


def test_silent_motor_is_reported_and_the_arm_stops_safely(rig):
    emu, arm = rig(safe_stop="damping")
    target = np.array([0.4, 1.0, 1.0, 0.2, 0.0, 0.3, 0.5])
    arm.command(target)
    assert wait_for(lambda: _reached(arm, target, 0.05), 10)
    emu.silence(2)  # joint3's CAN link is cut
    assert wait_for(lambda: arm.fault is not None, 5)
    assert "joint3 silent" in arm.fault and "answers again" in arm.fault
    assert not arm.torque_enabled and arm.state == "stopped"
    # The others are damping, not tracking: zero stiffness, configured damping.
    assert wait_for(lambda: all(emu.last_command(i).kp == 0.0 for i in (0, 1, 3, 4, 5, 6)), 5)
    assert emu.last_command(0).kd == pytest.approx(1.0, abs=0.01)
    # The loop keeps running (and keeps feeding the healthy motors).
    n = arm.cycles
    assert wait_for(lambda: arm.cycles > n + 10, 5)
    assert arm.read_state() is None  # in its safe stop: the follower must hold
    # Commands are refused during the safe stop (the follower's hold-and-retry path).
    with pytest.raises(DeviceError, match="joint3 silent"):
        arm.command(np.zeros(7))
    time.sleep(0.05)
    assert emu.last_command(1).kp == 0.0
    # The cut motor, left without frames for 0.4 s, dropped into damping itself.
    assert wait_for(lambda: emu.states[2] == MotorState.LOST_COMM, 5)
    assert arm.state == "stopped" and arm.read_state() is None
    # Link restored: the motor is cleared and enabled where it is, the arm held there.
    emu.silence(2, False)
    assert wait_for(lambda: arm.state == "held", 5), arm.fault
    assert arm.fault is None and all(emu.enabled)
    s = arm.read_state()
    assert s is not None
    here = s.q.copy()
    time.sleep(0.2)
    assert np.allclose(arm.read_state().q, here, atol=0.03)  # no jump to the old target
    # The next command tracks from there.
    arm.command(here)
    assert arm.torque_enabled and arm.fault is None
    assert any("joint3 silent" in f for f in arm.fault_log)
    assert any("joint3 re-enabled" in f for f in arm.fault_log)


def test_flapping_link_does_not_toggle_the_arm(rig):
    """A motor that answers for less than reconnect_after_s keeps the arm in its safe stop."""
    emu, arm = rig(reconnect_after_s=5.0)
    arm.command(np.array([0.2, 0.5, 0.5, 0.1, 0.0, 0.1, 0.5]))
    assert wait_for(lambda: all(emu.enabled), 5)
    emu.silence(2)
    assert wait_for(lambda: arm.state == "stopped", 5)
    emu.silence(2, False)
    assert wait_for(lambda: "joint3 silent" not in arm.fault, 5), arm.fault  # it answers
    time.sleep(0.3)
    assert arm.state == "stopped" and arm.read_state() is None
    emu.silence(2)
    assert wait_for(lambda: "joint3 silent" in arm.fault, 5), arm.fault
    assert arm.state == "stopped" and arm.read_state() is None


def test_hold_safe_stop_keeps_the_others_stiff(rig):
    emu, arm = rig(safe_stop="hold")
    target = np.array([0.4, 1.0, 1.0, 0.2, 0.0, 0.3, 0.5])
    arm.command(target)
    assert wait_for(lambda: _reached(arm, target, 0.05), 10)
    emu.silence(6)
    assert wait_for(lambda: arm.fault is not None and "gripper silent" in arm.fault, 5)
    assert wait_for(lambda: emu.last_command(0).kp > 0, 2)
    assert emu.last_command(0).p == pytest.approx(0.4, abs=0.06)


def test_motor_error_triggers_safe_stop(rig):
    emu, arm = rig()
    arm.command(np.zeros(7) + 0.1)
    wait_for(lambda: all(emu.enabled), 5)
    emu.set_error(4, MotorState.ROTOR_OVER_TEMP)
    assert wait_for(lambda: arm.fault is not None, 5)
    assert "joint5 reports rotor_over_temp" in arm.fault and not arm.torque_enabled
    assert "set_torque(True)" in arm.fault  # not a lost link: it does not end by itself
    assert arm.read_state() is None  # the arm is not following: the follower must hold
    time.sleep(0.3)
    assert arm.state == "stopped"


def test_motor_timeout_without_frames_drops_into_damping(rig):
    """Per-call mode: if nobody cycles for 0.4 s, the motors protect themselves."""
    emu, arm = rig(control_hz=0.0)
    arm.command(np.zeros(7) + 0.2)
    assert all(emu.enabled)
    time.sleep(0.6)  # the follower process stalls
    assert emu.states == [MotorState.LOST_COMM] * 7
    assert arm.read_state() is None  # the next cycle sees it
    assert arm.fault is not None and "lost_comm" in arm.fault and not arm.torque_enabled
    # Every motor still answers: after reconnect_after_s they are enabled where they are.
    deadline = time.monotonic() + 5
    while arm.state != "held":
        assert time.monotonic() < deadline, arm.fault
        arm.read_state()
        time.sleep(0.01)
    assert all(emu.enabled) and arm.fault is None and arm.read_state() is not None


def test_per_call_cycles_track(rig):
    emu, arm = rig(control_hz=0.0)
    target = np.array([0.3, 0.5, 0.5, 0.1, 0.1, 0.1, 0.3])
    deadline = time.monotonic() + 10
    while not _reached(arm, target, 0.02):
        assert time.monotonic() < deadline
        arm.command(target)
        time.sleep(0.004)


def test_torque_off_after_close_and_close_is_idempotent(rig):
    emu, arm = rig()
    arm.command(np.zeros(7) + 0.1)
    assert wait_for(lambda: all(emu.enabled), 5)
    arm.close()
    assert emu.states == [MotorState.DISABLED] * 7
    assert not arm.is_connected and arm.read_state() is None
    arm.close()
    with pytest.raises(DeviceError):
        arm.command(np.zeros(7))


def test_context_manager_disables_on_exception():
    cfg = _cfg()
    with DamiaoChainEmulator(cfg.channel, cfg.motor_specs()) as emu:
        with pytest.raises(RuntimeError, match="boom"):
            with YamArm(cfg) as arm:
                arm.command(np.zeros(7) + 0.1)
                assert all(emu.enabled)
                raise RuntimeError("boom")
        assert emu.states == [MotorState.DISABLED] * 7


def test_missing_motor_fails_connect_with_a_useful_message():
    cfg = _cfg()
    with DamiaoChainEmulator(cfg.channel, cfg.motor_specs()[:6]):  # no gripper motor
        arm = YamArm(cfg)
        with pytest.raises(DeviceError, match=r"gripper \(id 0x7\).*power, CAN wiring"):
            arm.connect()
        assert not arm.is_connected
        arm.close()  # after a failed connect: fine


def test_turn_ambiguity_resolved_at_connect(rig):
    # joint1 powered up one turn off: the motor reads 2π + 0.5.
    emu, arm = rig(emu_kwargs={"initial_p": [2 * math.pi + 0.5, 0, 0, 0, 0, 0, 0]})
    s = arm.read_state()
    assert s.q[0] == pytest.approx(0.5, abs=1e-3)
    arm.command(np.array([0.6, 0, 0, 0, 0, 0, 0]))
    assert wait_for(lambda: abs(emu.positions[0] - (2 * math.pi + 0.6)) < 0.02, 10)


def test_directions_offsets_and_gripper_mapping(rig):
    emu, arm = rig(
        directions=(-1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
        offsets_rad=(0.3, 0.0, 0.0, 0.0, 0.0, 0.0),
        gripper_open_rad=0.0,
        gripper_closed_rad=-2.0,
        emu_kwargs={"initial_p": [0.3, 0, 0, 0, 0, 0, 0]},
    )
    target = np.array([0.5, 0, 0, 0, 0, 0, 0.25])
    arm.command(target)
    assert wait_for(lambda: _reached(arm, target, 0.01), 10)
    # In motor terms: joint1 = 0.3 - 0.5; gripper 0.25 (0 = closed, 1 = open) is a quarter
    # of the way from closed (-2) to open (0).
    assert emu.positions[0] == pytest.approx(-0.2, abs=0.02)
    assert emu.positions[6] == pytest.approx(-1.5, abs=0.03)


def test_external_bus_and_the_emulated_backend():
    # The emulated backend: its chain (joints under gravity, folded at rest) comes up
    # inside the arm, on its channel; the driver compensates gravity as on the rig.
    cfg = _cfg(gravity_compensation=True, gravity_scale=(1.0,) * 6)
    target = np.array([0.2, 0.6, 0.6, -0.5, 0.2, 0.2, 0.5])
    with EmulatedYamArm(cfg) as arm:
        arm.command(target)
        assert wait_for(lambda: _reached(arm, target, 0.03), 15), arm.read_state()
    cfg2 = _cfg()
    bus = can.Bus(interface="virtual", channel=cfg2.channel)
    with DamiaoChainEmulator(cfg2.channel, cfg2.motor_specs()) as emu:
        arm = YamArm(cfg2, bus=bus)
        arm.connect()
        arm.close()
        assert emu.states == [MotorState.DISABLED] * 7
    bus.recv(timeout=0)  # the arm did not shut down a bus it does not own
    bus.shutdown()


def test_config_validation_names_fields():
    with pytest.raises(ConfigError, match="kp"):
        from_dict(YamConfig, {"kp": [1, 2, 3]}, file="calibration/rig/yam_left.yaml")
    with pytest.raises(ConfigError, match="lower control_hz"):
        from_dict(YamConfig, {"control_hz": 1000.0})
    with pytest.raises(ConfigError, match="directions must be"):
        from_dict(YamConfig, {"directions": [1, 1, 1, 1, 1, 2]})
    with pytest.raises(ConfigError, match="unknown motor model"):
        from_dict(YamConfig, {"motor_models": ["DM4340"] * 6 + ["DM9999"]})
    with pytest.raises(ConfigError, match="variant"):
        from_dict(YamConfig, {"variant": "yam_mega"})
    with pytest.raises(ConfigError, match="emulate"):  # emulated arms are the yam_emulated kind
        from_dict(YamConfig, {"emulate": True})
    cfg = from_dict(YamConfig, {"channel": "can1", "safe_stop": "hold"})
    assert cfg.channel == "can1" and cfg.bus_load() < 0.5


def test_follower_backend_registry_builds_the_yam_arm():
    from abc_robot.devices.registry import BackendContext, make_backend
    from abc_robot.transport.bus import Publisher

    pub = Publisher(f"inproc://yam-reg-{next(_channels)}")
    try:
        params = {"interface": "virtual", "channel": f"yam-test-{next(_channels)}", **FAST}
        backend = make_backend("yam_emulated", params, BackendContext("left", pub, file="launch/x.yaml"))
        assert isinstance(backend, EmulatedYamArm) and backend.arm == "left"
        with backend:
            assert backend.read_state() is not None
        with pytest.raises(ConfigError, match="launch/x.yaml.*backend.params.kp"):
            make_backend("yam", {"kp": [1.0]}, BackendContext("left", pub, file="launch/x.yaml"))
    finally:
        pub.close()
