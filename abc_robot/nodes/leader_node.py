"""GELLO leader node: one process per arm, publishing ``leader/<arm>`` at its read rate.

Each tick is one sync read of the arm's seven servos
(:class:`~abc_robot.devices.dynamixel.leader.LeaderReader`: calibration, 2π turn
resolution, trigger, leader FK) and, if it succeeded, one
:class:`~abc_robot.transport.messages.LeaderState` stamped with the encoder read time.
A failed read publishes **nothing**: a follower's stale-input watchdog then holds the
arm, which is the safe reaction to a leader that lost its data. The reader keeps
retrying and reopens an unplugged adapter; a port that is missing at start is waited
for the same way (the node never dies of a device fault). Heartbeat status: reads
per second, read latency, the fault in words, bus counters, the USB latency warning.

An emulated leader for the hardware graph without hardware is node kind
``gello_leader_emulated`` (:class:`abc_robot.testing.emulated.EmulatedLeaderNode`).
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from abc_robot.runtime.node import Node
from abc_robot.runtime.stats import percentiles
from abc_robot.transport.messages import LeaderState

__all__ = ["LeaderNode", "LeaderNodeConfig"]


@dataclass(frozen=True)
class LeaderNodeConfig:
    """Attributes:
    arm: ``left`` or ``right`` (topic ``leader/<arm>``).
    bind: publisher endpoint.
    calibration: the arm's calibration file (``calibration/<rig>/<arm>.yaml``).
    port: serial device; overrides the calibration file's (prefer ``/dev/serial/by-id/...``;
        ``${run}`` expands to the graph's run directory, for emulated leaders).
    rate_hz: [Hz] read and publish rate (a 4 Mbaud bus with a 1 ms USB latency timer
        sustains ~400-1000 Hz for 7 servos).
    motor_ids: servo ids expected (checked against the file; None: the file's).
    timeout_ms: [ms] wait for a read's replies.
    retries: extra read attempts within one tick.
    fast_sync_read: ``auto`` / ``on`` / ``off``.
    reconnect_interval_s: [s] between attempts to reopen a lost (or never found) port.
    fk: publish the leader FK pose (needs the leader URDF).
    """

    arm: Literal["left", "right"]
    bind: str
    calibration: str
    port: str = ""
    rate_hz: float = 400.0
    motor_ids: tuple[int, ...] | None = None
    timeout_ms: float = 5.0
    retries: int = 1
    fast_sync_read: Literal["auto", "on", "off"] = "auto"
    reconnect_interval_s: float = 0.5
    fk: bool = True

    def __post_init__(self) -> None:
        if self.rate_hz <= 0:
            raise ValueError("rate_hz must be positive")
        # A refused calibration file is a configuration error (the node must not be
        # restarted in a loop): check it here, where it exits with EX_CONFIG.
        from abc_robot.calibration.schema import load_leader_calibration
        from abc_robot.errors import ConfigError

        try:
            load_leader_calibration(self.calibration, arm=self.arm, motor_ids=self.motor_ids)
        except ConfigError as exc:
            err = ValueError(str(exc))
            err.field = "calibration"  # type: ignore[attr-defined]
            raise err from exc


class LeaderNode(Node):
    """Reads one GELLO leader arm and publishes it; see the module docstring."""

    Config = LeaderNodeConfig

    def setup(self) -> None:
        from abc_robot.calibration.schema import load_leader_calibration
        from abc_robot.devices.dynamixel.bus import BusConfig, DynamixelBus
        from abc_robot.devices.dynamixel.leader import LeaderReader

        cfg: LeaderNodeConfig = self.config
        self.topic = f"leader/{cfg.arm}"
        self.cal = load_leader_calibration(cfg.calibration, arm=cfg.arm, motor_ids=cfg.motor_ids)
        port = cfg.port or self.cal.port
        if not port:
            from abc_robot.errors import ConfigError

            raise ConfigError("no serial port: set port in the node params or in the calibration file", field="port")
        bus_cfg = BusConfig(
            port=port,
            motor_ids=self.cal.motor_ids,
            baud=self.cal.baud,
            timeout_ms=cfg.timeout_ms,
            retries=cfg.retries,
            fast_sync_read=cfg.fast_sync_read,
            reconnect_interval_s=cfg.reconnect_interval_s,
        )
        self.reader = LeaderReader(self.cal, DynamixelBus(bus_cfg, log=self.log), fk=cfg.fk)
        self.pub = self.publisher(cfg.bind)
        self.connected = False
        self.next_connect_ns = 0
        self.connect_error: str | None = None
        self.published = 0
        self.failed_reads = 0
        self.stale_since_ns: int | None = None
        self.ok_stamps: collections.deque[int] = collections.deque(maxlen=4096)
        self.read_ns: collections.deque[int] = collections.deque(maxlen=2048)
        self._try_connect(time.monotonic_ns())

    def step(self, now_ns: int) -> None:
        if not self.connected:
            if now_ns >= self.next_connect_ns:
                self._try_connect(now_ns)
            return
        t0 = time.perf_counter_ns()
        sample = self.reader.read()
        self.read_ns.append(time.perf_counter_ns() - t0)
        if sample is None:
            self.failed_reads += 1
            if self.stale_since_ns is None:
                self.stale_since_ns = now_ns
                self.log(f"leader {self.config.arm}: no data ({self.reader.fault}); not publishing")
            return
        if self.stale_since_ns is not None:
            self.log(f"leader {self.config.arm}: data back after {(now_ns - self.stale_since_ns) / 1e9:.2f} s")
            self.stale_since_ns = None
        T = sample.T_base_ee if sample.T_base_ee is not None else np.eye(4)
        self.pub.publish(self.topic, LeaderState(q=sample.q, gripper=sample.gripper, T_base_ee=T, stamp_ns=sample.stamp_ns))
        self.published += 1
        self.ok_stamps.append(sample.stamp_ns)

    def teardown(self) -> None:
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.close()  # a leader's servos stay torque-off: nothing else to undo

    def status(self) -> dict[str, Any]:
        if not hasattr(self, "reader"):
            return {"arm": self.config.arm, "connected": False}
        now = time.monotonic_ns()
        recent = sum(1 for s in self.ok_stamps if now - s <= 1_000_000_000)
        lat = np.asarray(self.read_ns, dtype=np.float64) / 1e3
        read_p: list[float | None] = [*percentiles(lat, (50, 99))] if lat.size else [None, None]
        bus = self.reader.bus
        return {
            "arm": self.config.arm,
            "connected": self.connected,
            "stale": self.stale_since_ns is not None or not self.connected,
            "fault": self.reader.fault if self.connected else self.connect_error,
            "reads_per_s": recent,
            "read_us_p50": read_p[0],
            "read_us_p99": read_p[1],
            "published": self.published,
            "failed_reads": self.failed_reads,
            "turn_resolves": self.reader.resolves,
            "latency_warning": bus.latency_warning,
            "lateness": bus.lateness,
            "alert": bus.alert,
            **{
                k: bus.counts[k]
                for k in ("timeouts", "corrupt", "port_errors", "reconnects", "status_errors", "late_replies", "backlogs")
            },
        }

    # ---- internals -------------------------------------------------------------------------
    def _try_connect(self, now_ns: int) -> None:
        from abc_robot.errors import DeviceError

        try:
            self.reader.connect()
        except DeviceError as exc:
            self.next_connect_ns = now_ns + int(self.config.reconnect_interval_s * 1e9)
            if str(exc) != self.connect_error:
                self.log(f"leader {self.config.arm}: {exc}; retrying every {self.config.reconnect_interval_s:g} s")
            self.connect_error = str(exc)
            return
        self.connected = True
        self.connect_error = None
        self.log(f"leader {self.config.arm}: connected on {self.reader.bus.port} at {self.cal.baud} baud")
