"""abc-rig check on a rig whose every device is emulated at the protocol level.

rigs/example_mixed with an overlay (as a hardware twin writes one): GELLO leaders and
the Dynamixel follower are Dynamixel chains on pseudo-terminals (dynamixel-sdk talks to
them), the YAM arm is a Damiao chain on python-can's udp_multicast bus, the console
board its emulator, the cameras RealSense recordings played through librealsense, the
latency timers plain files. Checked: everything passes; then a wrong latency timer, a
missing servo, a missing motor and a wrong camera resolution each fail with the fix,
and a --rig command refuses to start with the same table.
"""

from __future__ import annotations

import random

import can
import pytest
import yaml

from abc_robot.calibration.schema import load_leader_calibration
from abc_robot.cli.rig import main as rig_main
from abc_robot.devices.damiao import YamConfig
from abc_robot.devices.damiao.protocol import Register
from abc_robot.rig import load_rig
from abc_robot.rig.checks import damiao_motors
from abc_robot.rig.preflight import PreflightOptions, run_preflight
from abc_robot.testing.console_board_emulator import ConsoleBoardEmulator
from abc_robot.testing.damiao_emulator import DamiaoChainEmulator
from abc_robot.testing.dynamixel_emulator import DynamixelChainEmulator
from abc_robot.testing.dynamixel_leader import EmulatedLeader
from abc_robot.testing.realsense_recording import RecordingSpec, pattern_frame, write_recording

from .utils import REPO

RIG = REPO / "rigs" / "example_mixed"
W, H = 64, 48
OPTS = PreflightOptions(camera_s=0.6, reply_timeout_s=0.1)


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """Every device of rigs/example_mixed emulated, and the overlay that points at them."""
    tmp = tmp_path_factory.mktemp("twin")
    leaders = {}
    for arm in ("left", "right"):
        cal = load_leader_calibration(RIG / f"{arm}.yaml", arm=arm)
        leaders[arm] = EmulatedLeader(
            tmp / f"ttyLEADER_{arm}", offsets_rad=cal.offsets_rad, signs=cal.signs,
            gripper_open_rad=cal.gripper_open_rad, gripper_closed_rad=cal.gripper_closed_rad, ids=cal.motor_ids,
        ).start()  # fmt: skip
    dxl = DynamixelChainEmulator(tmp / "ttyFOLLOWER_left", range(1, 8), return_delay=0).start()
    group = f"239.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    opts = {"port": random.randint(20000, 60000)}
    try:
        can.Bus(interface="udp_multicast", channel=group, **opts).shutdown()
    except Exception as exc:  # noqa: BLE001 - whatever the OS refuses, say so
        pytest.fail(f"udp_multicast CAN interface unavailable here ({exc})")
    yam_params = {"interface": "udp_multicast", "channel": group, "bus_options": opts}
    yam = DamiaoChainEmulator(
        group, YamConfig(**yam_params).motor_specs(), interface="udp_multicast", bus_options=opts
    ).start()
    console = ConsoleBoardEmulator(tmp / "ttyCONSOLE").start()
    cameras = {}
    for k, name in enumerate(("top", "left", "right")):
        path = tmp / f"{name}.db3"
        spec = RecordingSpec(width=W, height=H, fps=30, serial=f"00000000000{k}")
        write_recording(path, (pattern_frame(i, W, H) for i in range(60)), spec)
        cameras[name] = {
            "kind": "realsense",
            "params": {"serial": spec.serial, "file": str(path), "width": W, "height": H, "fps": 30, "loop": True},
        }
    timers = {}
    for label in ("leader_left", "leader_right", "follower_left"):
        timers[label] = tmp / f"latency_{label}"
        timers[label].write_text("1\n")
    overlay = {
        "leaders": {
            arm: {"port": str(leaders[arm].link), "latency_timer_file": str(timers[f"leader_{arm}"])} for arm in leaders
        },
        "followers": {
            "left": {"latency_timer_file": str(timers["follower_left"]), "params": {"port": str(dxl.link)}},
            "right": {"params": yam_params},
        },
        "console": {"board": {"port": str(console.link)}},
        "cameras": cameras,
        "recording": {"root": str(tmp / "episodes"), "min_free_gb": 0.01},
    }
    overlay_file = tmp / "overlay.yaml"
    overlay_file.write_text(yaml.safe_dump(overlay))
    yield {
        "overlay": overlay_file, "leaders": leaders, "dxl": dxl, "yam": yam, "timers": timers, "tmp": tmp,
        "yam_params": yam_params, "console": console,
    }  # fmt: skip
    console.stop()
    yam.stop()
    dxl.stop()
    for lead in leaders.values():
        lead.stop()


def _rows(report, device, check):
    return [r for r in report.results if r.device == device and r.check == check]


def test_everything_passes_on_the_emulated_rig(twin):
    report = run_preflight(load_rig(RIG, twin["overlay"]), OPTS)
    assert report.ok, report.table()
    for device, check in [
        ("leader left", "servos"), ("leader right", "latency timer"), ("follower left", "servos"),
        ("follower right", "motors"), ("follower right", "model"), ("follower right", "CAN"), ("console board", "frames"),
        ("camera top", "resolution"), ("camera right", "fps"), ("leader left", "calibration"),
    ]:  # fmt: skip
        rows = _rows(report, device, check)
        assert [r.status for r in rows] == ["pass"], (device, check, report.table())
    assert "virtual bus" in _rows(report, "follower right", "CAN")[0].detail


def test_wrong_latency_timer_fails_with_the_fix(twin):
    timer = twin["timers"]["leader_right"]
    timer.write_text("16\n")
    try:
        report = run_preflight(load_rig(RIG, twin["overlay"]), PreflightOptions(devices=False))
    finally:
        timer.write_text("1\n")
    (row,) = _rows(report, "leader right", "latency timer")
    assert row.status == "fail" and "16 ms" in row.detail
    assert f"echo 1 | sudo tee {timer}" in row.fix and "abc-rig udev" in row.fix
    assert not report.ok and [r.device for r in report.failures] == ["leader right"]


def test_a_pty_without_a_declared_timer_is_skipped_not_failed(twin, tmp_path):
    overlay = yaml.safe_load(twin["overlay"].read_text())
    overlay["leaders"]["left"].pop("latency_timer_file")
    (tmp_path / "o.yaml").write_text(yaml.safe_dump(overlay))
    report = run_preflight(load_rig(RIG, tmp_path / "o.yaml"), PreflightOptions(devices=False))
    (row,) = _rows(report, "leader left", "latency timer")
    assert row.status == "skip" and "not a USB serial device" in row.detail


def test_missing_servo_and_missing_motor_fail_with_the_fix(twin):
    servo = twin["leaders"]["left"].chain.servos[3]
    servo.missing = True
    twin["yam"].silence(5)
    try:
        report = run_preflight(load_rig(RIG, twin["overlay"]), OPTS)
    finally:
        servo.missing = False
        twin["yam"].silence(5, False)
    (servos,) = _rows(report, "leader left", "servos")
    assert servos.status == "fail" and "missing ids [4]" in servos.detail and "cable and power" in servos.fix
    (motors,) = _rows(report, "follower right", "motors")
    assert motors.status == "fail" and "missing ids [6]" in motors.detail and "CAN id" in motors.fix
    assert {r.device for r in report.failures} == {"leader left", "follower right"}, report.table()


def test_a_motor_of_another_model_fails_the_model_row_with_the_fix(twin):
    """Damiao motors have no model register: the read-only gear ratio tells a DM4340
    (40:1) from a DM4310 (10:1), and the stored MIT ranges must be the model's."""
    rig = load_rig(RIG, twin["overlay"])
    rows = {r.check: r for r in damiao_motors(rig, OPTS)}
    assert rows["model"].status == "pass" and "no model register" in rows["model"].detail, rows["model"]
    yam = twin["yam"]
    with yam.lock:
        saved = [dict(m.registers) for m in yam.motors]
        yam.motors[4].registers[Register.GR] = 40.0  # joint5 (id 5, a DM4310) answers as a DM4340
        yam.motors[1].registers[Register.VMAX] = 8.0  # joint2 (id 2, a DM4340) set up with another range
    try:
        rows = {r.check: r for r in damiao_motors(rig, OPTS)}
    finally:
        with yam.lock:
            for m, regs in zip(yam.motors, saved, strict=True):
                m.registers.update(regs)
    model = rows["model"]
    assert rows["motors"].status == "pass", rows["motors"]
    assert model.status == "fail", model
    assert "id 5 (DM4310, wants 10): gear ratio 40 (a DM4340)" in model.detail, model.detail
    assert "id 2 (DM4340, wants 10): VMAX 8" in model.detail, model.detail
    assert "id 1" not in model.detail and "motor_models" in model.fix and "registers 21, 22, 23" in model.fix


def test_wrong_camera_resolution_fails_with_the_modes_offered(twin, tmp_path):
    overlay = yaml.safe_load(twin["overlay"].read_text())
    overlay["cameras"]["left"]["params"].update(width=2 * W, height=2 * H)
    (tmp_path / "o.yaml").write_text(yaml.safe_dump(overlay))
    rig = load_rig(RIG, tmp_path / "o.yaml")
    report = run_preflight(rig, OPTS)
    (row,) = _rows(report, "camera left", "resolution")
    assert row.status == "fail" and f"{2 * W}×{2 * H}" in row.detail
    assert f"{W}×{H}@30" in row.fix and "cameras.left.params" in row.fix
    assert [r.device for r in report.failures] == ["camera left"]


def test_cli_check_and_a_rig_command_refuse_with_the_table(twin, tmp_path, capsys):
    assert rig_main(["check", str(RIG), "--rig-overlay", str(twin["overlay"]), "--camera-s", "0.5"]) == 0
    assert "rig example_mixed: PASS" in capsys.readouterr().out
    twin["timers"]["follower_left"].write_text("16\n")
    try:
        assert rig_main(["check", str(RIG), "--rig-overlay", str(twin["overlay"]), "--no-devices"]) == 1
        out = capsys.readouterr().out
        assert "follower left" in out and "FAIL" in out and "fix: echo 1 | sudo tee" in out
        from abc_robot.cli.teleop import main as teleop_main

        code = teleop_main(["--rig", str(RIG), "--rig-overlay", str(twin["overlay"]), "--headless", "--duration", "1"])
        err = capsys.readouterr().err
        assert code == 2 and "refusing to start" in err and "latency timer" in err and "sudo tee" in err
        from abc_robot.cli.rollout import main as rollout_main

        rollout = ["--policy", str(tmp_path), "--rig", str(RIG), "--rig-overlay", str(twin["overlay"]), "--headless"]
        assert rollout_main(rollout) == 2
        assert "abc-rollout: refusing to start" in capsys.readouterr().err
    finally:
        twin["timers"]["follower_left"].write_text("1\n")


def test_discover_finds_the_emulated_devices_and_starts_a_rig(twin):
    from abc_robot.rig.discover import CanFound, discover, starter_rig

    leaders = twin["leaders"]
    ports = [str(leaders["left"].link), str(leaders["right"].link), str(twin["console"].link)]
    p = twin["yam_params"]
    found = discover(
        extra_ports=ports, extra_can=[CanFound(p["interface"], p["channel"], bus_options=p["bus_options"])],
        bauds=(1_000_000,), max_id=8, timeout_s=0.2, cameras=False,
    )  # fmt: skip
    by_port = {s.port: s for s in found.serial}
    for arm in ("left", "right"):
        chain = by_port[str(leaders[arm].link)]
        assert sorted(chain.servos) == [1, 2, 3, 4, 5, 6, 7] and chain.baud == 1_000_000, found.table()
    assert by_port[str(twin["console"].link)].console and not by_port[str(twin["console"].link)].servos
    (bus,) = [c for c in found.can if c.channel == p["channel"]]
    assert bus.motors == [1, 2, 3, 4, 5, 6, 7], found.table()
    rig = starter_rig(found, "found")
    assert set(rig["leaders"]) == {"left", "right"} and rig["followers"]["left"]["params"]["channel"] == p["channel"]
    assert rig["console"]["board"]["port"] == str(twin["console"].link)
