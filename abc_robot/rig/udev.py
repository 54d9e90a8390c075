"""udev rules for a rig (``abc-rig udev R``): stable device names and the 1 ms latency timer.

For every serial device of the rig that has a ``/dev/serial/by-id/`` name, a rule
matches the adapter's USB serial number and adds the symlink the rig's ``port`` uses
(``/dev/abc_leader_left``); one rule sets the latency timer of every FTDI adapter to
1 ms when it is plugged in (the FTDI default of 16 ms delays every servo read by it).
"""

from __future__ import annotations

import re
from pathlib import Path

from abc_robot.rig.checks import serial_devices
from abc_robot.rig.schema import RigConfig

__all__ = ["udev_rules", "usb_serial_number", "install_hint"]

_BY_ID = re.compile(r"^usb-(?P<name>.+?)-if(?P<iface>\d+)(-port\d+)?$")


def usb_serial_number(by_id: str) -> str | None:
    """The USB serial number inside a by-id name (``usb-FTDI_..._FT8ISNO8-if00-port0`` → ``FT8ISNO8``)."""
    m = _BY_ID.match(Path(by_id).name)
    if m is None or "_" not in m.group("name"):
        return None
    return m.group("name").rsplit("_", 1)[1] or None


def udev_rules(rig: RigConfig) -> str:
    """The rules file for ``rig`` (comments say what each rule is for)."""
    lines = [
        f"# udev rules of rig {rig.name} (abc-rig udev {rig.root})",
        "# USB-serial adapters: 1 ms latency timer (FTDI default 16 ms delays every servo read).",
        'ACTION=="add", SUBSYSTEM=="usb-serial", DRIVER=="ftdi_sio", ATTR{latency_timer}="1"',
    ]
    for label, port, by_id, _ in serial_devices(rig):
        source = by_id or (port if "/serial/by-id/" in port else "")
        if not source:
            lines.append(f"# {label}: {port}: no by-id name in rig.yaml (set by_id to name it here)")
            continue
        serial = usb_serial_number(source)
        if serial is None:
            lines.append(f"# {label}: cannot read a USB serial number from {source}")
            continue
        if port.startswith("/dev/") and "/serial/by-id/" not in port and port.count("/") == 2:
            link = Path(port).name
            lines.append(f"# {label}: {source}")
            lines.append(f'SUBSYSTEM=="tty", ATTRS{{serial}}=="{serial}", SYMLINK+="{link}", MODE="0666"')
        else:
            lines.append(f"# {label}: uses {source} directly")
            lines.append(f'SUBSYSTEM=="tty", ATTRS{{serial}}=="{serial}", MODE="0666"')
    return "\n".join(lines) + "\n"


def install_hint(rig: RigConfig) -> str:
    """How to install the rules."""
    name = f"/etc/udev/rules.d/99-abc-{rig.name}.rules"
    return (
        f"install: abc-rig udev {rig.root} | sudo tee {name}\n"
        "         sudo udevadm control --reload-rules && sudo udevadm trigger\n"
        "then re-plug the adapters and run: abc-rig check " + rig.root
    )
