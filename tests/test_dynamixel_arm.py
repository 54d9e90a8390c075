"""DynamixelArm (ArmBackend) against the emulator: modes, tracking, faults, torque off on every exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel.arm import DynamixelArm, DynamixelArmConfig
from abc_robot.devices.registry import BackendContext, make_backend
from abc_robot.errors import ConfigError, DeviceError
from abc_robot.testing.dynamixel_emulator import DynamixelChainEmulator

from .utils import REPO, wait_for

IDS = tuple(range(1, 8))
OFF = (0.5, -1.0, 2.0, 0.3, 0.0, 1.0)
SGN = (1.0, -1.0, 1.0, 1.0, -1.0, 1.0)
Q0 = np.array([0.0, 0.2, 0.3, 0.0, 0.1, 0.0])
G_OPEN, G_CLOSED = 0.2, 1.0


def _shafts(q: np.ndarray, g: float) -> list[float]:
    return [*(np.array(OFF) + np.array(SGN) * q[:6]).tolist(), G_CLOSED + g * (G_OPEN - G_CLOSED)]  # gripper 0 closed, 1 open


@pytest.fixture()
def chain(tmp_path):
    wraps = [1, 0, -1, 0, 2, 0, 1]  # powered up a few turns away: the driver must not care
    with DynamixelChainEmulator(tmp_path / "ttyDXL0", IDS, initial_rad=_shafts(Q0, 1.0), wraps=wraps, return_delay=0, lag_s=0.01) as c:
        yield c


def _config(chain, **kw) -> DynamixelArmConfig:
    base = dict(
        port=str(chain.link), offsets_rad=OFF, signs=SGN, gripper_open_rad=G_OPEN, gripper_closed_rad=G_CLOSED,
        timeout_ms=100.0, retries=3, reconnect_interval_s=0.05, profile_velocity_rad_s=3.0, profile_acceleration_rad_s2=20.0,
    )  # fmt: skip
    base.update(kw)
    return DynamixelArmConfig(**base)


def test_connect_configures_and_reads_without_torque(chain):
    with DynamixelArm(_config(chain), arm="left") as arm:
        s = arm.read_state()
        np.testing.assert_allclose(s.q[:6], Q0, atol=2 * ct.RAD_PER_TICK)
        assert s.q[6] == pytest.approx(1.0, abs=0.01) and s.dq.shape == (7,) and s.effort.shape == (7,)
        assert not any(chain.torque_enabled) and not arm.torque_enabled
        assert [chain.register(i, ct.OPERATING_MODE) for i in IDS] == [4] * 6 + [5]
        assert chain.register(1, ct.PROFILE_VELOCITY) == round(3.0 / ct.RAD_S_PER_VELOCITY_UNIT)
        assert chain.register(1, ct.PROFILE_ACCELERATION) == round(20.0 / ct.RAD_S2_PER_ACCEL_UNIT)
        assert chain.register(7, ct.GOAL_CURRENT) == 300


def test_commands_track_and_are_clamped(chain):
    target = np.array([0.3, 0.5, 0.6, 0.2, -0.1, 0.4, 0.5])
    with DynamixelArm(_config(chain)) as arm:
        sent = arm.command(np.array([0.3, 0.5, 0.6, 0.2, -0.1, 0.4, 1.7]))
        assert sent[6] == 1.0 and arm.torque_enabled and all(chain.torque_enabled)
        sent = arm.command(np.array([0.3, -0.5, 0.6, 0.2, -0.1, 0.4, 0.5]))
        assert sent[1] == 0.0  # joint2's lower limit
        arm.command(target)

        def tracked() -> bool:
            s = arm.read_state()
            return s is not None and np.max(np.abs(s.q - target)) < 0.01

        assert wait_for(tracked, 5.0)
        with pytest.raises(ValueError, match="7 finite values"):
            arm.command(np.full(7, np.nan))


def test_torque_off_after_close_and_close_is_idempotent(chain):
    arm = DynamixelArm(_config(chain))
    arm.connect()
    arm.command(np.append(Q0, 0.0))
    assert all(chain.torque_enabled)
    arm.close()
    assert not any(chain.torque_enabled)
    arm.close()
    assert not arm.is_connected and arm.read_state() is None


def test_torque_off_after_an_exception(chain):
    with pytest.raises(RuntimeError, match="boom"):
        with DynamixelArm(_config(chain)) as arm:
            arm.command(np.append(Q0, 0.2))
            assert all(chain.torque_enabled)
            raise RuntimeError("boom")
    assert not any(chain.torque_enabled)


@pytest.mark.parametrize("ending", ["exit", "sigterm"])
def test_torque_off_when_the_process_ends_without_close(chain, ending):
    """atexit and SIGTERM: the child never calls close()."""
    code = f"""
import sys, numpy as np
from abc_robot.devices.dynamixel.arm import DynamixelArm, DynamixelArmConfig
arm = DynamixelArm(DynamixelArmConfig(port={str(chain.link)!r}, offsets_rad={OFF!r}, signs={SGN!r},
                   gripper_open_rad={G_OPEN}, gripper_closed_rad={G_CLOSED}, timeout_ms=100.0, retries=3))
arm.connect()
arm.command(np.array({Q0.tolist()!r} + [0.0]))
print("torque on", flush=True)
sys.stdin.readline()  # the test says when to end
sys.exit(0)
"""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert child.stdout.readline().strip() == "torque on", child.stdout.read()
        assert all(chain.torque_enabled)
        if ending == "sigterm":
            child.send_signal(signal.SIGTERM)
        else:
            child.stdin.write("end\n")
            child.stdin.flush()
        child.wait(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not any(chain.torque_enabled)
    assert child.returncode == (0 if ending == "exit" else 128 + signal.SIGTERM)


def test_faults_return_none_and_recover(chain):
    with DynamixelArm(_config(chain, retries=0, timeout_ms=20.0)) as arm:
        arm.command(np.append(Q0, 0.0))
        chain.set_missing(6)
        assert arm.read_state() is None and arm.read_state() is None
        assert "servo 6" in arm.fault
        chain.set_missing(6, False)
        assert wait_for(lambda: arm.read_state() is not None, 2.0) and arm.fault is None
        chain.corrupt_all()
        assert arm.read_state() is None and "CRC" in arm.fault
        chain.corrupt_all(False)
        assert wait_for(lambda: arm.read_state() is not None, 2.0)


def test_unplug_with_a_servo_power_cycle_reconnects_without_a_jump(chain):
    with DynamixelArm(_config(chain)) as arm:
        q = np.array([0.2, 0.4, 0.5, 0.1, 0.0, 0.2, 0.3])
        arm.command(q)
        assert wait_for(lambda: (s := arm.read_state()) is not None and np.max(np.abs(s.q - q)) < 0.01, 5.0)
        chain.unplug()
        assert arm.read_state() is None and arm.fault
        chain.power_cycle(wraps=[0, 3, 0, -2, 0, 0, 1])  # torque off, turns re-wrapped
        chain.replug()
        assert wait_for(lambda: arm.read_state() is not None, 3.0)
        s = arm.read_state()
        np.testing.assert_allclose(s.q, q, atol=0.01)  # same joints despite the new turns
        assert not arm.torque_enabled
        arm.command(q)  # torque back on from where the arm is
        assert all(chain.torque_enabled)
        time.sleep(0.05)
        assert wait_for(lambda: (s := arm.read_state()) is not None and np.max(np.abs(s.q - q)) < 0.01, 2.0)


def test_connect_fails_cleanly_and_close_still_works(chain):
    chain.set_missing(2)
    arm = DynamixelArm(_config(chain, timeout_ms=5.0, retries=0))
    with pytest.raises(DeviceError, match=r"\[2\]"):
        arm.connect()
    arm.close()
    assert not arm.is_connected


def test_backend_registry_builds_it_and_refuses_bad_params(chain):
    ctx = BackendContext(arm="left", publisher=None, file="launch/hw.yaml")  # type: ignore[arg-type]
    arm = make_backend("dynamixel", {"port": str(chain.link), "offsets_rad": list(OFF), "signs": list(SGN)}, ctx)
    assert isinstance(arm, DynamixelArm) and arm.arm == "left"
    with pytest.raises(ConfigError, match=r"launch/hw.yaml: backend.params.signs: signs must be \+1 or -1"):
        make_backend("dynamixel", {"port": "/dev/x", "signs": [1, 1, 1, 1, 1, 2]}, ctx)


def test_emulated_kind_runs_a_chain_in_process(run_dir):
    # As in a launch file: the emulated device lives in the graph's run directory.
    ctx = BackendContext(arm="left", publisher=None, file="launch/hw.yaml")  # type: ignore[arg-type]
    arm = make_backend("dynamixel_emulated", {"port": "${run}/ttyDXL_emu", "timeout_ms": 100.0, "retries": 3}, ctx)
    assert isinstance(arm, DynamixelArm) and arm.bus.config.timeout_ms == 100.0
    with arm:
        q = np.array([0.1, 0.3, 0.3, 0.0, 0.0, 0.0, 0.5])
        arm.command(q)
        assert wait_for(lambda: (s := arm.read_state()) is not None and np.max(np.abs(s.q - q)) < 0.01, 5.0)
        assert arm.bus.port == f"{run_dir}/ttyDXL_emu"
    assert not os.path.exists(f"{run_dir}/ttyDXL_emu")
