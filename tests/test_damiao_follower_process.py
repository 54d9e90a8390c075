"""A follower process driving the YAM arm over CAN, the motors emulated in this process.

The follower and the emulator are in different processes, so they share a CAN bus
through python-can's ``udp_multicast`` interface (a private group and port per test);
the follower's driver code is the rig's, only the interface name differs. Checked:
the follower tracks a scripted leader through the real driver; the joints behind the
emulated motors are the follower model under gravity (the arm starts folded at rest);
after SIGTERM and SIGINT the arm is parked at rest and only then released; after a
SIGKILL the motors' own CAN timeout drops them into damping, so the arm never falls
as freely as it would with the motors released.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import can
import numpy as np
import pytest

from abc_robot.devices.damiao import MotorState, YamConfig
from abc_robot.devices.damiao.config import REST_Q
from abc_robot.testing.damiao_emulator import DamiaoChainEmulator
from abc_robot.testing.yam_plant import YamGravityPlant
from abc_robot.transport import LatestSubscriber

from .utils import REPO, wait_for

HOME = [0.0, 1.3, 1.2, -1.47, 0.0, 0.0]


def _node(kind: str, name: str, params: dict) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "abc_robot.nodes", "--kind", kind, "--name", name]
    return subprocess.Popen(
        cmd + ["--params", json.dumps(params)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture()
def yam_bus():
    """A private udp_multicast CAN bus with the seven YAM motors on it (at HOME)."""
    group = f"239.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    opts = {"port": random.randint(20000, 60000)}
    try:
        can.Bus(interface="udp_multicast", channel=group, **opts).shutdown()
    except Exception as exc:  # noqa: BLE001 - whatever the OS refuses, say so
        pytest.fail(f"udp_multicast CAN interface unavailable here ({exc}): the YAM follower's process test needs it (Linux multicast on loopback)")
    params = {
        "interface": "udp_multicast",
        "channel": group,
        "bus_options": opts,
        "control_hz": 200.0,
        "reply_timeout_s": 0.02,
        "silent_after_s": 0.5,
        "gravity_scale": [1.0] * 6,  # the plant's gravity is the model's exactly
    }
    cfg = YamConfig(**params)
    plant = YamGravityPlant([*REST_Q, 3.0])
    emu = DamiaoChainEmulator(
        group, cfg.motor_specs(), interface="udp_multicast", bus_options=opts, plant=plant, physics_dt=0.002
    )
    emu.start()
    yield emu, params
    emu.stop()


def _start(run_dir: str, yam_params: dict) -> list[subprocess.Popen]:
    follower = _node(
        "follower",
        "follower_left",
        {
            "arm": "left",
            "bind": f"ipc://{run_dir}/follower_left",
            "leader": f"ipc://{run_dir}/leader",
            "backend": {"kind": "yam", "params": yam_params},
        },
    )
    leader = _node(
        "scripted_leader", "leader", {"bind": f"ipc://{run_dir}/leader", "arms": ["left"], "start_delay_s": 0.5}
    )
    return [follower, leader]


def _stop_all(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_follower_tracks_through_the_yam_driver_and_torque_is_off_after_signal(run_dir, yam_bus, sig):
    emu, yam_params = yam_bus
    procs = _start(run_dir, yam_params)
    state = LatestSubscriber(f"ipc://{run_dir}/follower_left", ["follower/left/state", "follower/left/command"])
    try:
        assert wait_for(lambda: all(emu.enabled), 90), f"follower never enabled the motors; states {emu.states}"
        start = emu.positions.copy()
        assert wait_for(lambda: np.abs(emu.positions[:6] - start[:6]).max() > 0.05, 20), "the arm never moved"

        def tracking() -> bool:
            state.poll()
            s, c = state.get("follower/left/state"), state.get("follower/left/command")
            return (
                s is not None
                and c is not None
                and c.control_source == "operator"
                and np.abs(s.q[:6] - c.q[:6]).max() < 0.1
            )

        assert wait_for(tracking, 20), "measured joints never followed the commands"
        procs[0].send_signal(sig)
        assert procs[0].wait(15) == 0
        assert emu.states == [MotorState.DISABLED] * 7, f"torque still on after {sig.name}: {emu.states}"
        parked = emu.plant.joint_q()
        assert np.abs(parked - REST_Q).max() < 0.06, f"released away from rest: {parked}"
    except AssertionError:
        _stop_all(procs)
        print(procs[0].communicate()[0][-3000:])
        raise
    finally:
        state.close()
        _stop_all(procs)


def test_sigkilled_follower_leaves_motors_to_their_own_timeout(run_dir, yam_bus):
    emu, yam_params = yam_bus
    procs = _start(run_dir, yam_params)
    try:
        assert wait_for(lambda: all(emu.enabled), 90), f"follower never enabled the motors; states {emu.states}"
        assert wait_for(lambda: np.abs(emu.plant.joint_q() - REST_Q).max() > 0.5, 20), "the arm never rose"
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        # No teardown ran; 0.4 s later every motor has latched LOST_COMM and only damps.
        assert wait_for(lambda: emu.states == [MotorState.LOST_COMM] * 7, 3)
        # From there the arm sinks against the motors' damping; released it would fall.
        q0 = emu.plant.joint_q()
        peak = 0.0
        t_end = time.monotonic() + 0.5
        while time.monotonic() < t_end:
            peak = max(peak, float(np.abs(emu.velocities[:6]).max()))
            time.sleep(0.01)
        free = YamGravityPlant([*q0, 3.0])
        free_peak = 0.0
        for _ in range(250):  # the same 0.5 s, motors released
            free.step(np.zeros(7), 0.002)
            free_peak = max(free_peak, float(np.abs(free.dq).max()))
        assert peak < 0.7 * free_peak, f"peak joint speed {peak:.2f} rad/s, released {free_peak:.2f} rad/s"
    except AssertionError:
        _stop_all(procs)
        print(procs[0].communicate()[0][-3000:])
        raise
    finally:
        _stop_all(procs)
