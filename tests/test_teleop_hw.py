"""The rig's teleop graph (launch/templates/teleop.yaml built from rigs/example_mixed),
end to end against emulated devices.

The launcher (``python -m abc_robot.cli.launch``) runs the graph built from the rig;
only the device addresses differ, through a rig overlay: the serial ports point at
emulators served by this test on pseudo-terminals, and the YAM arm's CAN interface is
python-can's ``udp_multicast`` (a private group per test) because the Damiao emulator
lives in this process and the follower in another. ``${run}`` is set to this test's
run directory so the test can listen to the graph.

- Two GELLO leaders: Dynamixel chains built with the example rig's calibration
  (offsets, signs, trigger range) and power-up wraps, moved by a scripted hand.
- follower_left: a Dynamixel arm (emulated chain), follower_right: a YAM arm (Damiao
  chain emulator), console board: its emulator.

Checked: both followers engage, their commands track their leader's end-effector pose
and the arms move; a leader whose port vanishes stops publishing and reports it while
its follower holds still, and both resume when it is back; after SIGINT (Ctrl-C) and after SIGTERM to the launcher every
follower motor's torque is off, read from the emulators' own registers.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import can
import numpy as np
import pytest
import yaml

from abc_robot.calibration.schema import load_leader_calibration
from abc_robot.devices.damiao import MotorState, YamConfig
from abc_robot.rig import load_rig
from abc_robot.rig.graphs import build_graph, write_graph, write_layout
from abc_robot.testing.console_board_emulator import ConsoleBoardEmulator
from abc_robot.testing.damiao_emulator import DamiaoChainEmulator, MotorPhysics
from abc_robot.testing.dynamixel_emulator import DynamixelChainEmulator
from abc_robot.testing.dynamixel_leader import EmulatedLeader, sine_motion
from abc_robot.transport import LatestSubscriber

from .utils import REPO, wait_for

RIG = REPO / "rigs" / "example_mixed"
#: A pose both arms reach comfortably (joints [rad]); leaders swing around it.
CENTER = [0.0, 1.3, 1.2, -1.2, 0.0, 0.0]
ARMS = ("left", "right")


@pytest.fixture()
def devices(run_dir):
    """Every device of the graph, emulated: leaders, both followers, the console board."""
    run = Path(run_dir)
    leaders = {}
    for k, arm in enumerate(ARMS):
        cal = load_leader_calibration(RIG / f"{arm}.yaml", arm=arm)
        leaders[arm] = EmulatedLeader(
            run / f"ttyLEADER_{arm}",
            offsets_rad=cal.offsets_rad,
            signs=cal.signs,
            gripper_open_rad=cal.gripper_open_rad,
            gripper_closed_rad=cal.gripper_closed_rad,
            ids=cal.motor_ids,
            motion=sine_motion(CENTER, amplitude_rad=0.12, period_s=3.0 + k, gripper_period_s=4.0),
            wraps=[1, -1, 0, 2, 0, -1, 1] if arm == "left" else [0, 1, 1, -1, 0, 0, -2],
        ).start()
    # The Dynamixel follower as rig.yaml describes it: offsets 0, signs +1, so shaft = joint.
    dxl = DynamixelChainEmulator(
        run / "ttyFOLLOWER_left", range(1, 8), initial_rad=CENTER + [0.0], return_delay=0
    ).start()
    group = f"239.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    opts = {"port": random.randint(20000, 60000)}
    try:
        can.Bus(interface="udp_multicast", channel=group, **opts).shutdown()
    except Exception as exc:  # noqa: BLE001 - whatever the OS refuses, say so
        for d in (*leaders.values(), dxl):
            d.stop()
        pytest.fail(f"udp_multicast CAN interface unavailable here ({exc}): the hardware graph's YAM arm needs it (Linux multicast on loopback)")
    yam_params = {
        "interface": "udp_multicast",
        "channel": group,
        "bus_options": opts,
        # Generous timing: the motors are a thread of this process, sharing its
        # interpreter with three Dynamixel chains on a busy 2-core machine.
        "control_hz": 100.0,
        "reply_timeout_s": 0.05,
        "silent_after_s": 0.5,
        "enable_attempts": 5,
        # The emulated joints carry no gravity (the Damiao emulator's default plant): a
        # gravity feed-forward would push them off every target, the rest pose included.
        "gravity_compensation": False,
    }
    yam = DamiaoChainEmulator(
        group,
        YamConfig(**yam_params).motor_specs(),
        interface="udp_multicast",
        bus_options=opts,
        initial_p=CENTER + [0.0],
        # The emulator judges the CAN timeout when its thread runs: a stall of this busy
        # process longer than the rig's 0.4 s would look like a silent host. A motor left
        # enabled still shows ENABLED (not DISABLED) when the test looks, so the check holds.
        physics=MotorPhysics(timeout_s=2.0),
    ).start()
    console = ConsoleBoardEmulator(run / "ttyCONSOLE").start()
    yield {"leaders": leaders, "dxl": dxl, "yam": yam, "yam_params": yam_params, "console": console}
    console.stop()
    yam.stop()
    dxl.stop()
    for lead in leaders.values():
        lead.stop()


def _launch(run_dir: str, dev: dict) -> tuple[subprocess.Popen, Path]:
    """Start the rig's teleop graph (the template built from rigs/example_mixed) with an
    overlay that points every device address at this test's emulators."""
    overlay = {
        "leaders": {arm: {"port": str(dev["leaders"][arm].link), "timeout_ms": 30.0} for arm in ARMS},
        "followers": {
            # Emulated servos answer when this busy process gets the CPU, not within the
            # rig's microseconds: wait longer for replies (the driver's defaults are 10 ms / 5 ms).
            "left": {"params": {"port": str(dev["dxl"].link), "timeout_ms": 50.0, "retries": 2}},
            "right": {"params": dev["yam_params"]},
        },
        "console": {"board": {"port": str(dev["console"].link)}},
        # Two cores shared by the whole graph and the emulators (every emulated servo is
        # Python in this process): leaders and followers at 100 Hz instead of 400 / 250.
        "rates": {"leader_hz": 100, "follower_hz": 100},
    }
    overlay_file = Path(run_dir) / "overlay.yaml"
    overlay_file.write_text(yaml.safe_dump(overlay))
    rig = load_rig(RIG, overlay_file)
    graph = build_graph(rig, "teleop", layout=str(write_layout(rig, Path(run_dir) / "layout.yaml")))
    kinds = {n["name"]: n["kind"] for n in graph["nodes"]}
    assert kinds["follower_left"] == "follower" and kinds["leader_left"] == "gello_leader"
    assert (
        graph["nodes"][[n["name"] for n in graph["nodes"]].index("follower_left")]["params"]["backend"]["kind"]
        == "dynamixel"
    )
    # The arms only: the cameras and the recorder of this graph run on the hardware twin's tests.
    graph["nodes"] = [n for n in graph["nodes"] if n["kind"] not in ("camera", "recorder")]
    for n in graph["nodes"]:
        # The emulators are threads of this (normally scheduled) process: SCHED_FIFO
        # nodes polling for replies would starve them on a 2-core machine. Real servos
        # answer whatever the host's scheduling, so only this test drops the priority.
        n["rt_priority"] = 0
        if n["kind"] == "follower":
            # Leader frames reach the followers late when this machine is saturated (load
            # averages of 30-40 are common here): a 50 ms watchdog then holds the arms
            # again and again. The watchdog itself is tested in test_nodes_follower*.
            n["params"]["stale_timeout_ms"] = 250.0
    launch_file = write_graph(
        json.loads(json.dumps(graph).replace("${run}", run_dir)), Path(run_dir) / "teleop_rig.yaml"
    )
    log = Path(run_dir) / "launch.log"
    cmd = [sys.executable, "-m", "abc_robot.cli.launch", str(launch_file)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, log


def _tracking(sub: LatestSubscriber, arm: str, fk) -> float | None:
    """Distance [m] between the follower's commanded and the leader's end-effector positions."""
    sub.poll()
    lead, cmd = sub.get(f"leader/{arm}"), sub.get(f"follower/{arm}/command")
    if lead is None or cmd is None or cmd.control_source != "operator":
        return None
    return float(np.linalg.norm(fk(np.asarray(cmd.q[:6]))[:3, 3] - np.asarray(lead.T_base_ee)[:3, 3]))


def _leader_unplugged_follower_holds(dev: dict, sub: LatestSubscriber, log: Path) -> None:
    """Unplug leader_left: its node stops publishing and says so, follower_left holds
    still (its goals do not move), and both resume when the leader is plugged back."""
    dxl, leader = dev["dxl"], dev["leaders"]["left"]

    def command():
        sub.poll()
        return sub.get("follower/left/command")

    leader.chain.unplug()
    assert wait_for(lambda: (c := command()) is not None and c.mode == "HOLD" and c.control_source == "none", 10), (
        "follower_left kept following a leader whose port vanished"
    )
    held = dxl.goals_rad.copy()
    seq = sub.get("leader/left").seq  # type: ignore[union-attr]
    for _ in range(20):  # 0.5 s of a leader swinging ±0.12 rad: a follower that moved would show it
        time.sleep(0.025)
        assert np.abs(dxl.goals_rad - held).max() < 2e-3, "follower_left moved while its leader was unplugged"
    sub.poll()
    assert sub.get("leader/left").seq == seq, "leader_left published while its port was gone"  # type: ignore[union-attr]
    assert wait_for(lambda: "leader left: no data" in log.read_text(), 5), "leader_left did not report the fault"
    leader.chain.replug()
    assert wait_for(lambda: (c := command()) is not None and c.control_source == "operator", 20), (
        "follower_left did not follow again after the leader came back"
    )
    assert wait_for(lambda: "leader left: data back" in log.read_text(), 5), "leader_left did not report its recovery"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_teleop_hw_graph_tracks_leaders_and_leaves_torque_off(run_dir, devices, sig):
    from abc_robot.kinematics.model import URDF_DIR, ArmModel

    fk = ArmModel.from_urdf(URDF_DIR / "yam_follower.urdf").fk
    dxl, yam = devices["dxl"], devices["yam"]
    subs = {
        arm: LatestSubscriber(
            [f"ipc://{run_dir}/leader_{arm}", f"ipc://{run_dir}/follower_{arm}"],
            [f"leader/{arm}", f"follower/{arm}/command"],
        )
        for arm in ARMS
    }
    proc, log = _launch(run_dir, devices)
    try:
        assert wait_for(lambda: all(dxl.torque_enabled), 60), "the Dynamixel follower never enabled torque"
        assert wait_for(lambda: all(yam.enabled), 30), f"the YAM follower never enabled its motors: {yam.states}"
        goals0, yam0 = dxl.goals_rad.copy(), yam.positions.copy()
        for arm in ARMS:
            err: list[float] = []

            def close_enough(arm=arm, err=err) -> bool:
                e = _tracking(subs[arm], arm, fk)
                if e is not None:
                    err.append(e)
                return e is not None and e < 0.02

            assert wait_for(close_enough, 20), (
                f"follower_{arm} commands never tracked leader_{arm} (errors [m]: {err[-5:]})"
            )
        # The leaders swing ±0.12 rad: the commands reach the motors, the arms move.
        assert wait_for(lambda: np.abs(dxl.goals_rad[:6] - goals0[:6]).max() > 0.05, 10), "Dynamixel goals never moved"
        assert wait_for(lambda: np.abs(yam.positions[:6] - yam0[:6]).max() > 0.05, 10), "YAM joints never moved"
        if sig == signal.SIGINT:  # once is enough: the SIGTERM run checks only the stop
            _leader_unplugged_follower_holds(devices, subs["left"], log)
        proc.send_signal(sig)
        assert proc.wait(30) == 0, f"launcher exit status after {sig.name}"
        assert not any(dxl.torque_enabled), f"Dynamixel torque still on after {sig.name}: {dxl.torque_enabled}"
        assert yam.states == [MotorState.DISABLED] * 7, f"YAM torque still on after {sig.name}: {yam.states}"
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        print(log.read_text()[-6000:])
        raise
    finally:
        for s in subs.values():
            s.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
