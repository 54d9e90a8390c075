"""A position-controlled Dynamixel follower arm: :class:`DynamixelArm` (an ArmBackend).

``connect()`` opens the bus, sets the operating modes (EEPROM: only while torque is
off), the profiles, the gripper current cap and the P gain, and reads the arm once
to pick each servo's turn (the 2π ambiguity, as for the leader). ``read_state()`` is
one sync read of current, velocity and position (126..135, one span); a fault returns
None with ``fault`` saying why, and a lost port is reopened on later calls.
``command()`` enables torque on first use — goal set to the present position first, so
torque on never makes a jump — and sync-writes the goals.

Torque goes **off on every exit path**: ``close()`` (idempotent, also after a failed
``connect()``), the context manager, an ``atexit`` hook, and SIGTERM (when nobody else
handles it, it is turned into ``SystemExit`` so the hooks run; a node's own SIGTERM
handling calls ``close()`` from its teardown). Torque-off is written and read back
``torque_off_attempts`` times; an unconfirmed one is reported in ``fault``.
"""

from __future__ import annotations

import atexit
import signal
import threading
from typing import Any

import numpy as np

from abc_robot.devices.backend import ArmBackend, ArmSample
from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel.bus import DynamixelBus, SyncRead
from abc_robot.devices.dynamixel.config import MODE_CODES, DynamixelArmConfig
from abc_robot.devices.dynamixel.leader import TWO_PI, nearest_turn_to_interval
from abc_robot.devices.joint_map import JointMap
from abc_robot.errors import DeviceError

__all__ = ["DynamixelArm", "DynamixelArmConfig"]


def _sigterm_to_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


class DynamixelArm(ArmBackend):
    """Six Dynamixel joints and a Dynamixel gripper; see the module docstring.

    Args:
        config: port, ids, calibration, modes, profiles.
        arm: arm name (``left`` / ``right``), for messages.
        bus: an existing bus to use (tests); default: one from the config.
    """

    dof = 7
    Config = DynamixelArmConfig

    def __init__(self, config: DynamixelArmConfig, *, arm: str = "", bus: DynamixelBus | None = None) -> None:
        self.config = config
        self.arm = arm
        self.bus = bus or DynamixelBus(config.bus_config())
        self.map = JointMap(config.offsets_rad, config.signs, config.gripper_closed_rad, config.gripper_open_rad)
        self._lower = np.asarray(config.joint_lower_rad, dtype=np.float64)
        self._upper = np.asarray(config.joint_upper_rad, dtype=np.float64)
        self._ids = list(config.motor_ids)
        self._group: SyncRead | None = None
        self._torque_group: SyncRead | None = None
        self._turns: np.ndarray | None = None  # per servo (7)
        self._last: np.ndarray | None = None  # last unwrapped servo-side values (7) [rad]
        self._ticks: np.ndarray | None = None  # last present positions [tick]
        self._goal_limits: tuple[np.ndarray, np.ndarray] | None = None
        self._torque = False
        self._connected = False
        self._own_fault: str | None = None
        self._close_lock = threading.Lock()
        self.fault_log: list[str] = []

    @classmethod
    def from_config(cls, config: DynamixelArmConfig, arm: str = "") -> DynamixelArm:
        """Build from a config (the follower's backend registry calls this)."""
        return cls(config, arm=arm)

    # ---- ArmBackend -----------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def fault(self) -> str | None:
        return self._own_fault or self.bus.fault

    @property
    def torque_enabled(self) -> bool:
        return self._torque

    def connect(self) -> None:
        """Open the bus, configure the servos (torque stays off), read the arm once.

        Raises:
            DeviceError: port or servos missing, a setting refused, or no valid reading.
        """
        if self._connected:
            return
        try:
            self.bus.connect()
            if self._group is None:
                self._group = self.bus.sync_read([ct.PRESENT_CURRENT, ct.PRESENT_VELOCITY, ct.PRESENT_POSITION])
                self._torque_group = self.bus.sync_read([ct.TORQUE_ENABLE])
                self.bus.on_reconnect.append(self._on_reconnect)
            self._configure()
            self._connected = True
            if self.read_state() is None:
                raise DeviceError(f"{self._name()}: no valid first reading: {self.fault}")
        except BaseException:
            self.close()
            raise
        atexit.register(self.close)
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _sigterm_to_exit)

    def read_state(self) -> ArmSample | None:
        if not self._connected or self._group is None:
            return None
        r = self.bus.read(self._group)
        if r is None:
            return None
        cur, vel, pos = r.values[:, 0], r.values[:, 1], r.values[:, 2]
        self._ticks = pos
        theta = self._unwrap(pos.astype(np.float64) * ct.RAD_PER_TICK)
        # Gripper 0 = closed, 1 = open (ABC's and the YAM vendor's convention).
        q = self.map.joints(theta)
        dq = self.map.rates(vel.astype(np.float64) * ct.RAD_S_PER_VELOCITY_UNIT)
        effort = self.map.efforts(cur.astype(np.float64) * self.config.current_unit_a)
        return ArmSample(q=q, stamp_ns=r.stamp_ns, dq=dq, effort=effort)

    def command(self, q: np.ndarray) -> np.ndarray:
        """Joint targets [rad] (6) and gripper opening [0, 1]; returns them after clamping.

        Enables torque first if it is off. With no valid reading since the last
        (re)connect nothing is sent (``fault`` says why) and the clamped target is returned.
        """
        if not self._connected:
            raise DeviceError(f"{self._name()}: command() before connect()")
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (7,) or not np.all(np.isfinite(q)):
            raise ValueError(f"command needs 7 finite values (6 joints [rad] + gripper [0, 1]), got {q!r}")
        out = np.concatenate([np.clip(q[:6], self._lower, self._upper), [np.clip(q[6], 0.0, 1.0)]])
        if self._turns is None and self.read_state() is None:
            return out
        if not self._torque:
            self.set_torque(True)
        self.bus.sync_write(ct.GOAL_POSITION, dict(zip(self._ids, self._goal_ticks(out).tolist())))
        return out

    def set_torque(self, enabled: bool) -> None:
        """Torque on (goal = present first, so nothing jumps) or off (read back).

        Raises:
            DeviceError: enabling failed (torque is switched off again); disabling never raises.
        """
        if not enabled:
            self._torque_off()
            return
        if self.read_state() is None or self._ticks is None:
            raise DeviceError(f"{self._name()}: cannot enable torque without a valid reading: {self.fault}")
        self.bus.sync_write(ct.GOAL_POSITION, dict(zip(self._ids, self._ticks.tolist())))
        ok = self.bus.sync_write(ct.TORQUE_ENABLE, {i: 1 for i in self._ids})
        on = self._read_torque()
        if not ok or on is None or not all(on):
            self._torque_off()
            raise DeviceError(f"{self._name()}: torque enable not confirmed ({on}): {self.bus.fault}")
        self._torque = True
        self._own_fault = None

    def close(self) -> None:
        """Torque off (confirmed), close the port. Idempotent, never raises."""
        atexit.unregister(self.close)
        if not self._close_lock.acquire(timeout=2.0):
            return
        try:
            if self._connected or self.bus.is_connected:
                try:
                    self._torque_off()
                except Exception as exc:  # noqa: BLE001 - close must finish releasing the port
                    self._set_fault(f"torque off at close failed: {exc!r}")
            self._connected = False
            self.bus.close()
        finally:
            self._close_lock.release()

    def status(self) -> dict[str, Any]:
        """Bus counters, torque and fault (JSON-able)."""
        return {**self.bus.status(), "torque": self._torque, "fault": self.fault}

    # ---- internals --------------------------------------------------------------------------
    def _configure(self) -> None:
        c = self.config
        modes = [MODE_CODES[c.joint_mode]] * 6 + [MODE_CODES[c.gripper_mode]]
        torque = self._read_torque()
        for i, mode in zip(self._ids, modes):
            current = self.bus.read_register(i, ct.OPERATING_MODE)
            if current == mode:
                continue
            if torque is None or torque[self._ids.index(i)]:
                self.bus.write(i, ct.TORQUE_ENABLE, 0)  # the mode is in EEPROM, locked while torque is on
            if not self.bus.write(i, ct.OPERATING_MODE, mode):
                raise DeviceError(f"{self._name()}: servo {i} refused operating mode {mode}: {self.bus.fault}")
        on = self._read_torque()
        self._torque = bool(on) and all(on or [])
        ids = {i: 0 for i in self._ids}
        self.bus.sync_write(ct.PROFILE_VELOCITY, {i: c.profile_velocity_raw for i in ids})
        self.bus.sync_write(ct.PROFILE_ACCELERATION, {i: c.profile_acceleration_raw for i in ids})
        if c.gripper_mode == "current_based_position":
            self.bus.write(self._ids[6], ct.GOAL_CURRENT, c.gripper_goal_current)
        if c.position_p_gain is not None:
            self.bus.sync_write(ct.POSITION_P_GAIN, {i: c.position_p_gain for i in ids})
        if "position" in (c.joint_mode, c.gripper_mode):
            lo = [self.bus.read_register(i, ct.MIN_POSITION_LIMIT) for i in self._ids]
            hi = [self.bus.read_register(i, ct.MAX_POSITION_LIMIT) for i in self._ids]
            big = 1 << 30
            self._goal_limits = (
                np.array([lv if m == 3 and lv is not None else -big for lv, m in zip(lo, modes)]),
                np.array([hv if m == 3 and hv is not None else big for hv, m in zip(hi, modes)]),
            )

    def _unwrap(self, theta: np.ndarray) -> np.ndarray:
        """Servo angles → continuous servo-side angles with the turn picked at each start."""
        if self._turns is None:
            m = self.map
            span_lo = m.off + np.minimum(m.sign * self._lower, m.sign * self._upper)
            span_hi = m.off + np.maximum(m.sign * self._lower, m.sign * self._upper)
            lo = np.append(span_lo, min(m.g_open, m.g_closed))
            hi = np.append(span_hi, max(m.g_open, m.g_closed))
            ref = np.append(m.off + m.sign * np.clip(0.0, self._lower, self._upper), m.g_open)
            self._turns = nearest_turn_to_interval(theta, lo, hi, ref).astype(np.float64)
        full = theta + TWO_PI * self._turns
        if self._last is not None:
            jump = np.round((self._last - full) / TWO_PI)  # a counter wrap, not a motion
            if np.any(jump):
                self._turns += jump
                full += TWO_PI * jump
        self._last = full
        return full

    def _goal_ticks(self, q: np.ndarray) -> np.ndarray:
        assert self._turns is not None
        theta = self.map.motors(q)
        ticks = np.round((theta - TWO_PI * self._turns) / ct.RAD_PER_TICK).astype(np.int64)
        if self._goal_limits is not None:
            ticks = np.clip(ticks, *self._goal_limits)
        return ticks

    def _read_torque(self) -> list[bool] | None:
        r = self.bus.read(self._torque_group) if self._torque_group is not None else None
        return None if r is None else [bool(v) for v in r.values[:, 0]]

    def _torque_off(self) -> None:
        for _ in range(self.config.torque_off_attempts):
            self.bus.sync_write(ct.TORQUE_ENABLE, {i: 0 for i in self._ids})
            on = self._read_torque()
            if on is not None and not any(on):
                self._torque = False
                return
        # Last resort: one write with status per servo (names the one that refuses).
        failed = [i for i in self._ids if not self.bus.write(i, ct.TORQUE_ENABLE, 0)]
        self._torque = False
        if failed:
            self._set_fault(f"torque off not confirmed by servo(s) {failed}: {self.bus.fault}")

    def _on_reconnect(self) -> None:
        # The servos may have been power-cycled (torque off, RAM reset, turns re-wrapped).
        self._turns = None
        self._last = None
        if self._connected:
            try:
                self._configure()
            except DeviceError as exc:
                self._set_fault(str(exc))

    def _set_fault(self, text: str) -> None:
        self.fault_log.append(text)
        self._own_fault = text

    def _name(self) -> str:
        return f"Dynamixel arm{' ' + self.arm if self.arm else ''} on {self.bus.port}"

