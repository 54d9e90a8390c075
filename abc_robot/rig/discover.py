"""``abc-rig discover``: what is plugged in, and a starter ``rig.yaml`` for it.

- serial ports (pyserial's list plus ``/dev/serial/by-id/`` names), each pinged for
  Dynamixel servos at the usual baud rates (ids and model numbers, dynamixel-sdk),
  and listened to for the console board's frames;
- CAN interfaces (state, bitrate) and the Damiao motor ids answering on each;
- RealSense serial numbers (pyrealsense2) and V4L2 video devices (OpenCV).

Extra serial ports and CAN buses (a hardware twin's pseudo-terminals and
``udp_multicast`` groups) can be named; the scan treats them like hardware.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SerialFound", "CanFound", "Discovery", "discover", "starter_rig", "DEFAULT_BAUDS"]

#: Baud rates scanned, most likely first (GELLO / U2D2 builds use 4 Mbaud or 1 Mbaud;
#: 57600 is the factory rate).
DEFAULT_BAUDS = (4_000_000, 1_000_000, 57_600)


@dataclass
class SerialFound:
    """Attributes: port (device path), by_id (its by-id name or ""), description, baud
    and servos ({id: model number}) when Dynamixel servos answered, console (a console
    board answered)."""

    port: str
    by_id: str = ""
    description: str = ""
    baud: int | None = None
    servos: dict[int, int] = field(default_factory=dict)
    console: bool = False


@dataclass
class CanFound:
    """Attributes: interface, channel, state, bitrate [bit/s], motor ids answering."""

    interface: str
    channel: str
    state: str = ""
    bitrate: int | None = None
    motors: list[int] = field(default_factory=list)
    bus_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Discovery:
    serial: list[SerialFound] = field(default_factory=list)
    can: list[CanFound] = field(default_factory=list)
    realsense: list[str] = field(default_factory=list)
    video: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        lines = ["serial ports:"]
        for s in self.serial or []:
            what = (f"Dynamixel at {s.baud} baud: ids {sorted(s.servos)} models {sorted(set(s.servos.values()))}"
                    if s.servos else "console board" if s.console else "nothing answered")  # fmt: skip
            lines.append(f"  {s.port}  {s.by_id or '-'}  {s.description}  → {what}")
        lines.append("CAN interfaces:")
        for c in self.can:
            lines.append(
                f"  {c.interface} {c.channel}  {c.state or '-'}  {c.bitrate or '-'} bit/s  → Damiao ids {c.motors}"
            )
        lines.append(f"RealSense: {self.realsense or 'none'}")
        lines.append(f"video devices: {self.video or 'none'}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _by_id_names() -> dict[str, str]:
    out = {}
    for link in glob.glob("/dev/serial/by-id/*"):
        out[os.path.realpath(link)] = link
    return out


def _serial_ports(extra: list[str]) -> list[SerialFound]:
    by_id = _by_id_names()
    found: dict[str, SerialFound] = {}
    try:
        from serial.tools import list_ports

        for p in list_ports.comports():
            found[p.device] = SerialFound(p.device, by_id.get(os.path.realpath(p.device), ""), p.description or "")
    except ImportError:
        pass
    for port in extra:
        found.setdefault(port, SerialFound(port, by_id.get(os.path.realpath(port), "")))
    return list(found.values())


def _scan_dynamixel(s: SerialFound, bauds: tuple[int, ...], max_id: int, timeout_s: float) -> None:
    from abc_robot.rig.checks import _ping_chain

    for baud in bauds:
        try:
            got = _ping_chain(s.port, baud, tuple(range(1, max_id + 1)), timeout_s)
        except Exception:  # noqa: BLE001 - a port that will not open has nothing to find
            return
        servos = {i: m for i, m in got.items() if m is not None}
        if servos:
            s.baud, s.servos = baud, servos
            return


def _listen_console(s: SerialFound, seconds: float) -> None:
    import time

    from abc_robot.devices.console_board import ConsoleBoard, ConsoleBoardConfig

    board = ConsoleBoard(ConsoleBoardConfig(port=s.port), source="discover")
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and board.stats.frames == 0:
            board.poll(0.05)
        s.console = board.stats.frames > 0
    finally:
        board.close()


def _can_interfaces() -> list[CanFound]:
    from abc_robot.rig.checks import _socketcan_state

    out = []
    for net in sorted(Path("/sys/class/net").glob("*")):
        try:
            if (net / "type").read_text().strip() != "280":  # ARPHRD_CAN
                continue
        except OSError:
            continue
        state, bitrate = _socketcan_state(net.name)
        out.append(CanFound("socketcan", net.name, state or "", bitrate))
    return out


def _scan_damiao(c: CanFound, max_id: int, timeout_s: float) -> None:
    import can

    from abc_robot.devices.damiao.chain import DamiaoChain, MotorSpec
    from abc_robot.devices.damiao.protocol import Special

    if c.interface == "socketcan" and c.state != "up":
        return
    bus = can.Bus(interface=c.interface, channel=c.channel, **c.bus_options)
    try:
        # YAM motors answer from can_id + 0x10; the model only sets value ranges, unused here.
        chain = DamiaoChain(bus, [MotorSpec(i, i + 0x10, "DM4310") for i in range(1, max_id + 1)])
        answered = [False] * len(chain)
        for _ in range(5):  # a reply lost to a busy bus is not a missing motor
            got = chain.special(Special.CLEAR_ERROR, timeout_s, [i for i, a in enumerate(answered) if not a])
            answered = [a or g for a, g in zip(answered, got, strict=True)]
        c.motors = [i + 1 for i, a in enumerate(answered) if a]
    finally:
        bus.shutdown()


def _realsense(d: Discovery) -> None:
    try:
        import pyrealsense2 as rs

        d.realsense = [dev.get_info(rs.camera_info.serial_number) for dev in rs.context().query_devices()]
    except Exception as exc:  # noqa: BLE001 - no library or no libusb: say so, find the rest
        d.notes.append(f"RealSense not scanned: {exc}")


def discover(
    *,
    extra_ports: list[str] | None = None,
    extra_can: list[CanFound] | None = None,
    bauds: tuple[int, ...] = DEFAULT_BAUDS,
    max_id: int = 10,
    timeout_s: float = 0.02,
    console_s: float = 1.0,
    cameras: bool = True,
) -> Discovery:
    """Scan the host (and the extra ports and buses) for the rig's devices."""
    d = Discovery()
    d.serial = _serial_ports(extra_ports or [])
    for s in d.serial:
        _scan_dynamixel(s, bauds, max_id, timeout_s)
        if not s.servos:
            _listen_console(s, console_s)
    d.can = _can_interfaces() + list(extra_can or [])
    for c in d.can:
        try:
            _scan_damiao(c, max_id, timeout_s)
        except Exception as exc:  # noqa: BLE001
            d.notes.append(f"CAN {c.channel}: {exc}")
    if cameras:
        _realsense(d)
        d.video = sorted(glob.glob("/dev/v4l/by-id/*")) or sorted(glob.glob("/dev/video*"))
    return d


def starter_rig(d: Discovery, name: str = "my_rig") -> dict[str, Any]:
    """A starter ``rig.yaml`` from what was found (7-servo chains → leaders, CAN buses with
    motors → YAM followers, RealSense → cameras); the operator completes it."""
    chains = [s for s in d.serial if len(s.servos) >= 7]
    leaders = {}
    for arm, s in zip(("left", "right"), chains):
        leaders[arm] = {
            "port": s.by_id or s.port,
            "baud": s.baud,
            "motor_ids": sorted(s.servos)[:7],
            "calibration": f"{arm}.yaml",
        }
    followers = {}
    buses = [c for c in d.can if c.motors] or [CanFound("socketcan", "can0"), CanFound("socketcan", "can1")]
    for arm, c in zip(("left", "right"), buses):
        params: dict[str, Any] = {"interface": c.interface, "channel": c.channel, "bitrate": 1_000_000}
        if c.bus_options:
            params["bus_options"] = c.bus_options
        followers[arm] = {"kind": "yam", "calibration": f"follower_{arm}.yaml", "params": params}
    cams = {}
    for cam, serial in zip(("top", "left", "right"), d.realsense):
        cams[cam] = {"kind": "realsense", "params": {"serial": serial, "width": 640, "height": 480, "fps": 30}}
    rig: dict[str, Any] = {"schema": 1, "name": name, "leaders": leaders, "followers": followers, "cameras": cams}
    console = next((s for s in d.serial if s.console), None)
    if console is not None:
        rig["console"] = {"board": {"port": console.by_id or console.port}}
    return rig
