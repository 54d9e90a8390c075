"""The preflight checks (:mod:`abc_robot.rig.preflight`), one function per property.

Each takes the rig and the options and yields :class:`CheckResult` rows. Device
libraries are imported inside the functions: checking files needs none of them.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from abc_robot.rig.preflight import CheckResult, PreflightOptions
from abc_robot.rig.schema import RigConfig

__all__ = [
    "calibration_files",
    "serial_ports",
    "latency_timers",
    "can_interfaces",
    "dynamixel_servos",
    "damiao_motors",
    "console_board",
    "cameras",
    "disk_space",
    "scheduling",
    "serial_devices",
    "latency_file",
    "VIRTUAL_CAN",
]

#: python-can interfaces that are not a physical bus (emulators, a hardware twin).
VIRTUAL_CAN = ("virtual", "udp_multicast")
_RIG = "abc-rig check"


def serial_devices(rig: RigConfig) -> list[tuple[str, str, str, str]]:
    """(device label, port, by-id name, latency-timer file) of every serial device of the rig."""
    out = [(f"leader {arm}", s.port, s.by_id, s.latency_timer_file) for arm, s in rig.leaders.items()]
    for arm, f in rig.followers.items():
        if f.kind == "dynamixel":
            out.append((f"follower {arm}", str(f.params.get("port", "")), f.by_id, f.latency_timer_file))
    if rig.console is not None:
        out.append(("console board", rig.console.board.port, rig.console.by_id, ""))
    return out


def latency_file(port: str, declared: str) -> Path | None:
    """The latency-timer file of ``port``: the declared one, else its USB adapter's sysfs file."""
    if declared:
        return Path(declared)
    device = Path(os.path.realpath(port)).name
    path = Path("/sys/bus/usb-serial/devices") / device / "latency_timer"
    return path if path.exists() else None


def calibration_files(rig: RigConfig, opts: PreflightOptions) -> Iterator[CheckResult]:
    """Every calibration file the rig names exists, loads, and fits the configured ids and baud."""
    from abc_robot.calibration.schema import load_leader_calibration
    from abc_robot.errors import ConfigError
    from abc_robot.rig.follower_calibration import load_follower_calibration

    for arm, spec in rig.leaders.items():
        path = Path(rig.path(spec.calibration))
        fix = f"abc-calibrate leader --rig {rig.root} --arm {arm}"
        if not path.is_file():
            yield CheckResult(f"leader {arm}", "calibration", "fail", f"{path} does not exist", fix)
            continue
        try:
            cal = load_leader_calibration(path, arm=arm, motor_ids=spec.motor_ids)
        except ConfigError as exc:
            yield CheckResult(f"leader {arm}", "calibration", "fail", str(exc), fix)
            continue
        if cal.baud != spec.baud:
            yield CheckResult(
                f"leader {arm}", "calibration", "fail",
                f"{path.name} was made at {cal.baud} baud, rig.yaml says {spec.baud}",
                f"set leaders.{arm}.baud to the servos' rate, or re-run {fix}",
            )  # fmt: skip
            continue
        yield CheckResult(f"leader {arm}", "calibration", "pass", f"{path.name}: ids {list(cal.motor_ids)}")
    for arm, f in rig.followers.items():
        if not f.calibration:
            detail = "no calibration file named (offsets from rig.yaml params)"
            yield CheckResult(f"follower {arm}", "calibration", "skip", detail)
            continue
        path = Path(rig.path(f.calibration))
        fix = f"abc-calibrate follower --rig {rig.root} --arm {arm}"
        if not path.is_file():
            yield CheckResult(f"follower {arm}", "calibration", "fail", f"{path} does not exist", fix)
            continue
        try:
            load_follower_calibration(path, arm=arm)
        except ConfigError as exc:
            yield CheckResult(f"follower {arm}", "calibration", "fail", str(exc), fix)
            continue
        yield CheckResult(f"follower {arm}", "calibration", "pass", path.name)


def serial_ports(rig: RigConfig, opts: PreflightOptions) -> Iterator[CheckResult]:
    """Every serial device the rig names is present."""
    for label, port, by_id, _ in serial_devices(rig):
        if port and os.path.exists(port):
            real = os.path.realpath(port)
            yield CheckResult(label, "port", "pass", port if real == port else f"{port} → {real}")
        else:
            hint = f" (by-id {by_id})" if by_id else ""
            fix = (
                f"plug it in; `abc-rig discover` lists the serial devices present; `abc-rig udev {rig.root}` names them"
            )
            yield CheckResult(label, "port", "fail", f"{port or '(no port)'} does not exist{hint}", fix)


def latency_timers(rig: RigConfig, opts: PreflightOptions) -> Iterator[CheckResult]:
    """USB-serial latency timer 1 ms on every Dynamixel bus (16 ms makes every read 16 ms late)."""
    for label, port, _, declared in serial_devices(rig):
        if label == "console board" or not os.path.exists(port):
            continue  # the board sends small frames at 115200 baud; a missing port is already a failure
        path = latency_file(port, declared)
        if path is None:
            yield CheckResult(label, "latency timer", "skip", f"{port}: not a USB serial device (no latency_timer)")
            continue
        try:
            value = int(path.read_text().strip())
        except (OSError, ValueError) as exc:
            yield CheckResult(label, "latency timer", "fail", f"cannot read {path}: {exc}", f"check {path}")
            continue
        if value <= 1:
            yield CheckResult(label, "latency timer", "pass", f"{value} ms")
        else:
            fix = f"echo 1 | sudo tee {path}   (permanently: abc-rig udev {rig.root})"
            yield CheckResult(label, "latency timer", "fail", f"{value} ms ({path}); must be 1 ms", fix)


def can_interfaces(rig: RigConfig, opts: PreflightOptions) -> Iterator[CheckResult]:
    """Every YAM arm's CAN interface is up at its bitrate (1 Mbit/s)."""
    from abc_robot.rig.load import follower_config

    for arm, f in rig.followers.items():
        if f.kind != "yam":
            continue
        cfg = follower_config(rig, arm, missing_ok=True)
        label = f"follower {arm}"
        if cfg.interface in VIRTUAL_CAN:
            yield CheckResult(label, "CAN", "pass", f"{cfg.interface} {cfg.channel}: virtual bus (emulated motors)")
            continue
        if cfg.interface != "socketcan":
            yield CheckResult(label, "CAN", "skip", f"{cfg.interface}: only SocketCAN interfaces are inspected")
            continue
        fix = f"sudo ip link set {cfg.channel} down; sudo ip link set {cfg.channel} up type can bitrate {cfg.bitrate}"
        state, bitrate = _socketcan_state(cfg.channel)
        if state is None:
            yield CheckResult(
                label, "CAN", "fail", f"no interface {cfg.channel}", f"plug the CAN adapter in; then {fix}"
            )
        elif state != "up":
            yield CheckResult(label, "CAN", "fail", f"{cfg.channel} is {state}", fix)
        elif bitrate is not None and bitrate != cfg.bitrate:
            yield CheckResult(label, "CAN", "fail", f"{cfg.channel} at {bitrate} bit/s, rig needs {cfg.bitrate}", fix)
        else:
            yield CheckResult(label, "CAN", "pass", f"{cfg.channel} up at {bitrate or cfg.bitrate} bit/s")


def _socketcan_state(channel: str) -> tuple[str | None, int | None]:
    """(operstate or None if absent, bitrate or None if unknown) of a network interface."""
    import json
    import subprocess

    base = Path("/sys/class/net") / channel
    if not base.exists():
        return None, None
    flags = int((base / "flags").read_text(), 16) if (base / "flags").exists() else 0
    state = "up" if flags & 1 else "down"  # IFF_UP; CAN interfaces report operstate 'unknown'
    try:
        out = subprocess.run(
            ["ip", "-details", "-json", "link", "show", channel], capture_output=True, text=True, timeout=2
        )
        info = json.loads(out.stdout)[0]
        bitrate = info.get("linkinfo", {}).get("info_data", {}).get("bittiming", {}).get("bitrate")
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        bitrate = None
    return state, bitrate


def _ping_chain(port: str, baud: int, ids: tuple[int, ...], timeout_s: float) -> dict[int, int | None]:
    """Model number per servo id (None: no answer), pinged one by one through dynamixel-sdk.

    Raises:
        DeviceError: the port does not open or refuses the baud rate.
    """
    from abc_robot.devices.dynamixel.sdk import COMM_SUCCESS, load_sdk
    from abc_robot.errors import DeviceError

    sdk = load_sdk()
    ph = sdk.PortHandler(port)
    if not ph.openPort():
        raise DeviceError(f"cannot open {port}")
    try:
        if not ph.setBaudRate(baud):
            raise DeviceError(f"{port} refuses {baud} baud")
        packet = sdk.PacketHandler(2.0)
        ph.setPacketTimeoutMillis(timeout_s * 1e3)
        found: dict[int, int | None] = {}
        for i in ids:
            found[i] = None
            # The SDK times a ping out after ~34 ms (its own latency-timer margin); a reply
            # late on a busy host is not a missing servo: ask up to four times.
            for _ in range(4):
                model, result, _err = packet.ping(ph, i)
                if result == COMM_SUCCESS:
                    found[i] = int(model)
                    break
        return found
    finally:
        ph.closePort()


def dynamixel_servos(rig: RigConfig, opts: PreflightOptions) -> Iterator[CheckResult]:
    """Every Dynamixel servo answers a ping, with the expected model where the rig names one."""
    if not opts.devices:
        return
    chains: list[tuple[str, str, int, tuple[int, ...], tuple[int, ...]]] = [
        (f"leader {arm}", s.port, s.baud, s.motor_ids, s.models) for arm, s in rig.leaders.items()
    ]
    for arm, f in rig.followers.items():
        if f.kind == "dynamixel":
            p = f.params
            chains.append((f"follower {arm}", str(p.get("port", "")), int(p.get("baud", 4_000_000)),
                           tuple(p.get("motor_ids", (1, 2, 3, 4, 5, 6, 7))), f.models))  # fmt: skip
    for label, port, baud, ids, models in chains:
        if not os.path.exists(port):
            continue
        try:
            found = _ping_chain(port, baud, ids, opts.reply_timeout_s)
        except Exception as exc:  # noqa: BLE001 - the port refused to open: say why
            yield CheckResult(
                label, "servos", "fail", f"cannot open {port}: {exc}", "check the adapter and its permissions"
            )
            continue
        missing = [i for i in ids if found.get(i) is None]
        wrong = [(i, found[i], m) for i, m in zip(ids, models) if found.get(i) is not None and found[i] != m]
        if missing:
            fix = (f"servo(s) {missing} do not answer at {baud} baud: check their cable and power; "
                   "`abc-rig discover` scans the ids and baud rates that answer")  # fmt: skip
            yield CheckResult(
                label, "servos", "fail", f"{len(ids) - len(missing)}/{len(ids)} answer; missing ids {missing}", fix
            )
        elif wrong:
            text = ", ".join(f"id {i}: model {got} (expected {want})" for i, got, want in wrong)
            yield CheckResult(
                label, "servos", "fail", text, "a servo of another model is on this id: swap it or fix `models`"
            )
        else:
            yield CheckResult(
                label,
                "servos",
                "pass",
                f"ids {list(ids)} answer, models {sorted({m for m in found.values() if m is not None})}",
            )


def damiao_motors(rig: RigConfig, opts: PreflightOptions) -> Iterator[CheckResult]:
    """Every Damiao motor of a YAM arm answers on its CAN bus (a clear-error frame, which
    leaves the motor's enable state and torque as they are), and is the model the arm's
    variant names: the protocol has no model register, so its read-only gear ratio and
    its stored MIT ranges are read and compared (:mod:`abc_robot.devices.damiao.identity`)."""
    if not opts.devices:
        return
    import can

    from abc_robot.devices.damiao.chain import DamiaoChain
    from abc_robot.devices.damiao.protocol import Special
    from abc_robot.rig.load import follower_config

    for arm, f in rig.followers.items():
        if f.kind != "yam":
            continue
        cfg = follower_config(rig, arm, missing_ok=True)
        label = f"follower {arm}"
        if cfg.interface == "socketcan" and _socketcan_state(cfg.channel)[0] != "up":
            continue  # the CAN row already says so, with the fix
        try:
            bus = can.Bus(interface=cfg.interface, channel=cfg.channel, **cfg.bus_options)
        except Exception as exc:  # noqa: BLE001 - python-can raises many kinds
            yield CheckResult(label, "motors", "fail", f"cannot open CAN {cfg.interface} {cfg.channel}: {exc}",
                              f"bring the interface up: sudo ip link set {cfg.channel} up type can bitrate {cfg.bitrate}")  # fmt: skip
            continue
        try:
            chain = DamiaoChain(bus, cfg.motor_specs())
            answered = [False] * len(chain)
            for _ in range(3):  # a frame lost to a busy bus is not a missing motor
                got = chain.special(
                    Special.CLEAR_ERROR, opts.reply_timeout_s, [i for i, a in enumerate(answered) if not a]
                )
                answered = [a or g for a, g in zip(answered, got, strict=True)]
                if all(answered):
                    break
            model_row = _damiao_models(chain, cfg, answered, label, opts)
        finally:
            bus.shutdown()
        missing = [cfg.motor_ids[i] for i, a in enumerate(answered) if not a]
        if missing:
            fix = (f"motor(s) {missing} do not answer on {cfg.channel}: check power, the CAN cable and termination, "
                   "and each motor's CAN id (`abc-rig discover` lists the ids that answer)")  # fmt: skip
            yield CheckResult(
                label,
                "motors",
                "fail",
                f"{len(answered) - len(missing)}/{len(answered)} answer; missing ids {missing}",
                fix,
            )
        else:
            models = sorted(set(cfg.motor_models))
            yield CheckResult(
                label, "motors", "pass", f"ids {list(cfg.motor_ids)} answer ({', '.join(models)} configured)"
            )
        if model_row is not None:
            yield model_row


def _damiao_models(chain: Any, cfg: Any, answered: list[bool], label: str, opts: PreflightOptions) -> CheckResult | None:
    """The ``model`` row of a YAM arm: each answering motor's gear ratio and MIT ranges
    against its configured model's (None when no motor answered)."""
    from abc_robot.devices.damiao.identity import model_from_gear_ratio, read_identity
    from abc_robot.devices.damiao.protocol import GEAR_RATIO, Register

    wrong, unread, unknown_gear = [], [], set()
    for i, model in enumerate(cfg.motor_models):
        if not answered[i]:
            continue  # the motors row names it
        ident = read_identity(chain, i, max(opts.reply_timeout_s, 0.02))
        if not ident.answered:
            unread.append(cfg.motor_ids[i])
            continue
        if model.split("_")[0] not in GEAR_RATIO:
            unknown_gear.add(model)
        for reg, held, want in ident.mismatches(model):
            if reg is Register.GR:
                seems = model_from_gear_ratio(held)
                what = f"gear ratio {held:g}" + (f" (a {seems})" if seems else "") if held is not None else "no gear ratio"
            else:
                what = f"{reg.name} {held:g}" if held is not None else f"no {reg.name}"
            wrong.append(f"id {cfg.motor_ids[i]} ({model}, wants {want:g}): {what}")
    if not any(answered):
        return None
    how = "gear ratio (read-only) and PMAX/VMAX/TMAX registers: Damiao motors have no model register"
    if unknown_gear:
        how += f"; {', '.join(sorted(unknown_gear))}: no known gear ratio, only the MIT ranges compared"
    if wrong or unread:
        detail = "; ".join(wrong + [f"id {m}: register reads unanswered" for m in unread])
        fix = (
            "check `variant:` / `motor_models` in rig.yaml match the arm's motors; a motor of another model is "
            "a wrong part (swap it); wrong PMAX/VMAX/TMAX: write them with the motor vendor's setup tool "
            "(registers 21, 22, 23), save to flash, power-cycle the motor"
        )
        return CheckResult(label, "model", "fail", f"{detail} [{how}]", fix)
    n = sum(answered)
    return CheckResult(label, "model", "pass", f"{n} motors are {', '.join(sorted(set(cfg.motor_models)))} as configured [{how}]")


def console_board(rig: RigConfig, opts: PreflightOptions) -> Iterator[CheckResult]:
    """The console board answers (valid frames within its boot grace)."""
    if not opts.devices or rig.console is None or not os.path.exists(rig.console.board.port):
        return
    from abc_robot.devices.console_board import ConsoleBoard

    board = ConsoleBoard(rig.console.board, source="preflight")
    try:
        deadline = time.monotonic() + rig.console.board.boot_grace_s + 0.5
        while time.monotonic() < deadline and board.stats.frames == 0:
            board.poll(0.05)
        frames = board.stats.frames
    finally:
        board.close()
    if frames:
        yield CheckResult("console board", "frames", "pass", f"{frames} valid frames")
    else:
        fix = f"check the board's firmware and its baud rate ({rig.console.board.baudrate}); re-plug it"
        yield CheckResult("console board", "frames", "fail", "no valid frame from the board", fix)


def cameras(rig: RigConfig, opts: PreflightOptions) -> Iterator[CheckResult]:
    """Every camera opens and delivers the configured resolution and frame rate."""
    from abc_robot.rig.load import camera_config

    for name in rig.camera_names:
        spec = rig.cameras[name]
        label = f"camera {name}"
        if spec.kind == "sim":
            yield CheckResult(label, "frames", "skip", "rendered view of a hardware twin")
            continue
        if not opts.devices:
            continue
        cfg = camera_config(rig, name)
        yield from _camera_isolated(label, spec.kind, spec.params, cfg, opts)


def _camera_in_child(label: str, kind: str, params: dict[str, Any], cfg: Any, opts: PreflightOptions) -> list[CheckResult]:
    return list(_camera(label, kind, params, cfg, opts))


def _camera_isolated(label: str, kind: str, params: dict[str, Any], cfg: Any, opts: PreflightOptions) -> Iterator[CheckResult]:
    """:func:`_camera` in a child process: a camera driver that aborts (librealsense can,
    in ``pipeline.stop``) fails this check instead of ending the command that runs it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            yield from pool.submit(_camera_in_child, label, kind, params, cfg, opts).result()
        except BrokenProcessPool:
            fix = "re-plug the camera; if it repeats, update its firmware and librealsense"
            yield CheckResult(label, "open", "fail", f"the {kind} driver crashed while the camera was checked", fix)


def _camera(label: str, kind: str, params: dict[str, Any], cfg: Any, opts: PreflightOptions) -> Iterator[CheckResult]:
    import numpy as np

    from abc_robot.devices.cameras.registry import make_camera

    name = label.split()[-1]
    cam = make_camera(kind, params, name)
    fix_open = "plug it in (USB 3 for RealSense); `abc-rig discover` lists the cameras present"
    try:
        cam.open()
    except Exception as exc:  # noqa: BLE001 - driver errors say what is wrong
        modes = _realsense_modes(cfg) if kind == "realsense" else []
        mode = (cfg.width, cfg.height, int(cfg.fps))
        if modes and mode not in modes:
            offered = ", ".join(f"{w}×{h}@{f}" for w, h, f in sorted(modes))
            fix = f"set cameras.{name}.params width/height/fps to a mode the camera offers ({offered})"
            detail = f"camera offers {offered}; rig.yaml asks {mode[0]}×{mode[1]}@{mode[2]}"
            yield CheckResult(label, "resolution", "fail", detail, fix)
        else:
            yield CheckResult(label, "open", "fail", str(exc), fix_open)
        return
    stamps: list[int] = []
    shapes: set[tuple[int, int]] = set()
    try:
        deadline = time.monotonic() + opts.camera_s
        while time.monotonic() < deadline:
            reading = cam.read(timeout_s=1.0)
            stamps.append(reading.stamp_ns)
            shapes.add((reading.image.shape[1], reading.image.shape[0]))
    except Exception as exc:  # noqa: BLE001
        yield CheckResult(label, "frames", "fail", f"stopped delivering frames: {exc}", fix_open)
        return
    finally:
        cam.close()
    want = (cfg.width, cfg.height)
    got = ", ".join(f"{w}×{h}" for w, h in sorted(shapes)) or "none"
    if shapes != {want} and cfg.width and cfg.height:
        fix = f"use a mode the camera has (set cameras.{label.split()[-1]}.params width/height), or check the camera is the one named"
        yield CheckResult(label, "resolution", "fail", f"delivers {got}, rig.yaml asks {want[0]}×{want[1]}", fix)
    else:
        yield CheckResult(label, "resolution", "pass", got)
    if len(stamps) >= 3 and cfg.fps:
        fps = 1e9 / float(np.median(np.diff(stamps)))
        if fps < cfg.fps * (1 - opts.fps_tolerance):
            fix = "USB 3 port, less light-limited exposure (auto exposure lowers the rate in the dark), or a lower fps"
            yield CheckResult(label, "fps", "fail", f"{fps:.1f} Hz measured, rig.yaml asks {cfg.fps:g}", fix)
        else:
            yield CheckResult(label, "fps", "pass", f"{fps:.1f} Hz (asked {cfg.fps:g})")
    else:
        yield CheckResult(label, "fps", "fail", f"only {len(stamps)} frames in {opts.camera_s:g} s", fix_open)


def _realsense_modes(cfg: Any) -> set[tuple[int, int, int]]:
    """Colour modes (width, height, fps) of the RealSense camera (or recording) ``cfg`` names."""
    try:
        from abc_robot.devices.cameras.realsense_camera import import_pyrealsense2

        rs = import_pyrealsense2()
        ctx = rs.context()
        if cfg.file:
            devices = [ctx.load_device(cfg.file)]
        else:
            devices = [d for d in ctx.query_devices() if d.get_info(rs.camera_info.serial_number) == cfg.serial]
        modes = set()
        for dev in devices:
            for sensor in dev.query_sensors():
                for p in sensor.get_stream_profiles():
                    if p.stream_type() == rs.stream.color:
                        v = p.as_video_stream_profile()
                        modes.add((int(v.width()), int(v.height()), int(p.fps())))
        if cfg.file:
            ctx.unload_device(cfg.file)
        return modes
    except Exception:  # noqa: BLE001 - no modes known: the open error stands alone
        return set()


def disk_space(rig: RigConfig, opts: PreflightOptions) -> Iterator[CheckResult]:
    """Free space where the episodes go."""
    root = Path(rig.recording.root).resolve()
    probe = root
    while not probe.exists():
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    if free_gb >= rig.recording.min_free_gb:
        yield CheckResult("disk", "free space", "pass", f"{free_gb:.1f} GB free at {probe}")
    else:
        fix = f"free space, or point recording.root at a larger disk (needs {rig.recording.min_free_gb:g} GB)"
        yield CheckResult("disk", "free space", "fail", f"{free_gb:.1f} GB free at {probe}", fix)


def scheduling(rig: RigConfig, opts: PreflightOptions) -> Iterator[CheckResult]:
    """The control processes may raise their priority (nice -10, SCHED_FIFO 20 for YAM arms)."""
    import resource

    if os.geteuid() == 0:
        yield CheckResult("host", "scheduling", "pass", "root: nice and SCHED_FIFO allowed")
        return
    nice_lim = resource.getrlimit(resource.RLIMIT_NICE)[0]
    rt_lim = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
    need_rt = any(f.kind == "yam" for f in rig.followers.values())
    inf = resource.RLIM_INFINITY
    nice_ok = nice_lim == inf or nice_lim >= 30  # RLIMIT_NICE 30 allows nice -10
    rt_ok = not need_rt or rt_lim == inf or rt_lim >= 20
    detail = f"RLIMIT_NICE {nice_lim}, RLIMIT_RTPRIO {rt_lim}"
    if nice_ok and rt_ok:
        yield CheckResult("host", "scheduling", "pass", detail)
    else:
        user = os.environ.get("USER", "<user>")
        fix = (f"add to /etc/security/limits.d/99-abc.conf: `{user} - rtprio 50` and `{user} - nice -20`, "
               "then log in again (the graph still runs, with more jitter)")  # fmt: skip
        yield CheckResult("host", "scheduling", "warn", detail + ": the control nodes run unprioritised", fix)
