"""The device end of a pseudo-terminal behind a stable symlink: what emulated serial
devices plug into.

A real USB-serial device appears at a stable path (``/dev/serial/by-id/...``) and
vanishes when unplugged; an emulator does the same with a pty: the host opens the
symlink exactly as it would open the device, and :meth:`PtyDevice.unplug` /
:meth:`PtyDevice.replug` take the pty away and bring a new one back at the same path.
"""

from __future__ import annotations

import os
import threading
import tty
from pathlib import Path

__all__ = ["PtyDevice"]


class PtyDevice:
    """Mixin for an emulator served on a pty.

    The class using it sets ``link`` (the symlink path) and calls ``_init_pty()`` in its
    constructor; it may override :meth:`_on_plug` (e.g. to reset a stream decoder).
    ``_master`` is the emulator's end (non-blocking), None while unplugged.
    """

    link: Path

    def _init_pty(self) -> None:
        self._lock = getattr(self, "_lock", None) or threading.RLock()
        self._master: int | None = None
        self._slave: int | None = None

    def _on_plug(self) -> None:
        """Called with a fresh pty (override to reset per-connection state)."""

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: raw bytes as on a UART
        os.set_blocking(master, False)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(self.link.name + ".tmp")
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)  # atomic: the path never points at a stale pty
        self._master, self._slave = master, slave
        self._on_plug()

    def unplug(self) -> None:
        """The cable is pulled: the pty disappears and the symlink with it."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = None
            try:
                self.link.unlink()
            except FileNotFoundError:
                pass

    def replug(self) -> None:
        """The cable is back: a new pty behind the same symlink."""
        with self._lock:
            if self._master is None:
                self._plug()

    @property
    def plugged(self) -> bool:
        return self._master is not None
