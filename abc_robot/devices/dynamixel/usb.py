"""USB-serial latency timer check (FTDI adapters such as the U2D2).

An FTDI adapter holds received bytes for up to its *latency timer* (16 ms by
default) before handing them to the host, so a status packet shorter than the
adapter's buffer waits that long: a 7-servo read then takes ~16 ms instead of
~0.5 ms at 4 Mbaud. Linux exposes the timer at
``/sys/bus/usb-serial/devices/<ttyUSBx>/latency_timer``; it must be 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SYSFS_USB_SERIAL", "LatencyCheck", "check_latency_timer"]

SYSFS_USB_SERIAL = Path("/sys/bus/usb-serial/devices")


@dataclass(frozen=True)
class LatencyCheck:
    """Result of :func:`check_latency_timer`.

    Attributes:
        device: kernel name of the serial device (``ttyUSB0``).
        sysfs_path: the ``latency_timer`` file.
        latency_ms: its value [ms].
    """

    device: str
    sysfs_path: Path
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.latency_ms <= 1

    def warning(self) -> str | None:
        """The operator-facing warning with the fix, None when the timer is 1 ms."""
        if self.ok:
            return None
        return (
            f"{self.device}: USB latency timer is {self.latency_ms} ms (reads will take ~{self.latency_ms} ms); "
            f"fix now: `echo 1 | sudo tee {self.sysfs_path}`; permanently: a udev rule "
            '`ACTION=="add", SUBSYSTEM=="usb-serial", DRIVER=="ftdi_sio", ATTR{latency_timer}="1"` '
            "in /etc/udev/rules.d/99-dynamixel.rules"
        )


def check_latency_timer(port: str | os.PathLike[str], sysfs_root: Path = SYSFS_USB_SERIAL) -> LatencyCheck | None:
    """Read the latency timer of the adapter behind ``port``.

    Args:
        port: serial device path; symlinks (``/dev/serial/by-id/...``) are resolved.
        sysfs_root: ``/sys/bus/usb-serial/devices`` (tests point it elsewhere).

    Returns:
        the check, or None when the device has no such file (not a USB-serial
        adapter, e.g. an ACM device or an emulator's pseudo-terminal).
    """
    try:
        device = Path(os.path.realpath(port)).name
    except OSError:
        return None
    path = sysfs_root / device / "latency_timer"
    try:
        value = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return LatencyCheck(device, path, value)
