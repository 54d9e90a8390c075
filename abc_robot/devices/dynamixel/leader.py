"""GELLO leader arm reader: servo encoders → calibrated joints, trigger, leader FK.

A GELLO leader is a passive arm of Dynamixel servos with torque off; the operator
moves it by hand. :class:`LeaderReader` sync-reads the seven Present Positions (6
joints + trigger) and applies the calibration (:class:`LeaderCalibration`)::

    q_j     = sign_j · (θ_j − offset_j) + 2π·k_j        θ = servo angle [rad]
    gripper = clip((θ_g − closed) / (open − closed), 0, 1)   (0 squeezed = closed, 1 released = open)

**The 2π ambiguity**: a servo's absolute encoder covers one turn, and Present Position
can come up a whole number of turns away after a power cycle. Offsets are therefore
stored modulo 2π and ``k_j`` is chosen at every start — first read after connect,
after a reconnect (the servos may have been power-cycled) and after any gap in the
data longer than ``resync_after_s`` — as the turn that puts ``q_j`` inside the
joint's range (nearest the calibration pose among candidates). Between those, ``k_j``
follows the joint continuously (a jump of more than half a turn between two reads is
a counter wrap, never a motion), so a servo that reports only ``[0, 4096)`` works too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from abc_robot.calibration.schema import LeaderCalibration
from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel.bus import BusConfig, DynamixelBus, SyncRead
from abc_robot.errors import KinematicsError

__all__ = ["LeaderReader", "LeaderSample", "resolve_turns", "nearest_turn_to_interval", "TWO_PI"]

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class LeaderSample:
    """One calibrated reading of a leader arm.

    Attributes:
        q: [rad] leader joint angles (6), the leader's own model.
        gripper: trigger in [0, 1] (0 squeezed = closed, 1 released = open).
        T_base_ee: leader end-effector pose (4×4, leader base frame) [m]; None without FK.
        stamp_ns: ``time.monotonic_ns()`` of the encoder read.
        ticks: raw Present Position of the 7 servos [tick].
    """

    q: np.ndarray
    gripper: float
    T_base_ee: np.ndarray | None
    stamp_ns: int
    ticks: np.ndarray


def nearest_turn_to_interval(x: np.ndarray, lower: np.ndarray, upper: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Integer ``k`` per element so that ``x + 2πk`` lies in ``[lower, upper]``.

    Among candidate turns the one inside (or least outside) the interval wins; ties
    (an interval wider than a turn) go to the one nearest ``ref``.
    """
    x = np.asarray(x, dtype=np.float64)
    k0 = np.round((ref - x) / TWO_PI)
    best_k = k0.copy()
    best_cost = np.full(x.shape, np.inf)
    for dk in (-2, -1, 0, 1, 2):
        k = k0 + dk
        v = x + TWO_PI * k
        outside = np.maximum(lower - v, 0.0) + np.maximum(v - upper, 0.0)
        cost = 1e3 * outside + np.abs(v - ref)
        better = cost < best_cost
        best_k = np.where(better, k, best_k)
        best_cost = np.where(better, cost, best_cost)
    return best_k.astype(np.int64)


def resolve_turns(q_raw: np.ndarray, cal: LeaderCalibration) -> np.ndarray:
    """Turns ``k`` (6) that put ``q_raw + 2πk`` in the calibrated joint ranges."""
    return nearest_turn_to_interval(
        q_raw, np.asarray(cal.joint_lower_rad), np.asarray(cal.joint_upper_rad), np.asarray(cal.reference_q_rad)
    )


class LeaderReader:
    """Reads one GELLO leader arm; see the module docstring.

    Args:
        calibration: the arm's calibration (ids, offsets, signs, trigger range).
        bus: an open-able bus, or its config (default: the calibration's port and baud).
        fk: compute the leader end-effector pose with :class:`abc_robot.kinematics.ArmModel`
            of ``calibration.urdf`` (pinocchio; imported on connect).
        resync_after_s: [s] re-resolve the turns when the data had a gap this long.

    Usage::

        with LeaderReader(load_leader_calibration(path, arm="left")) as leader:
            sample = leader.read()   # None while faulted; leader.fault says why
    """

    def __init__(
        self,
        calibration: LeaderCalibration,
        bus: DynamixelBus | BusConfig | None = None,
        *,
        fk: bool = True,
        resync_after_s: float = 0.5,
    ) -> None:
        self.cal = calibration
        if bus is None:
            bus = BusConfig(port=calibration.port, motor_ids=calibration.motor_ids, baud=calibration.baud)
        self.bus = bus if isinstance(bus, DynamixelBus) else DynamixelBus(bus)
        if tuple(self.bus.config.motor_ids) != calibration.motor_ids:
            raise ValueError(f"bus ids {self.bus.config.motor_ids} differ from the calibration's {calibration.motor_ids}")
        self.want_fk = fk
        self.model: Any = None
        self.resync_after_ns = int(resync_after_s * 1e9)
        self._off = np.asarray(calibration.offsets_rad, dtype=np.float64)
        self._sign = np.asarray(calibration.signs, dtype=np.float64)
        self._g_open = float(calibration.gripper_open_rad)
        self._g_span = float(calibration.gripper_closed_rad - calibration.gripper_open_rad)
        self._g_lo = min(calibration.gripper_open_rad, calibration.gripper_closed_rad)
        self._g_hi = max(calibration.gripper_open_rad, calibration.gripper_closed_rad)
        self._turns: np.ndarray | None = None  # per servo (7), None: resolve at next read
        self._last_q: np.ndarray | None = None
        self._last_ok_ns = 0
        self._group: SyncRead | None = None
        self.resolves = 0

    # ---- lifecycle ---------------------------------------------------------------------
    def connect(self) -> None:
        """Open the bus (every servo must answer; kept if already open) and load the model for FK.

        Raises:
            DeviceError: the port or a servo is missing (named).
            KinematicsError: the leader URDF cannot be loaded (with ``fk=True``).
        """
        if self.want_fk and self.model is None:
            from abc_robot.kinematics.model import ArmModel

            try:
                self.model = ArmModel.from_urdf(self.cal.urdf)
            except KinematicsError as exc:
                raise KinematicsError(f"leader FK for the {self.cal.arm} arm: {exc}") from exc
        if not self.bus.is_connected:
            self.bus.connect()
        if self._group is None:
            self._group = self.bus.sync_read([ct.PRESENT_POSITION])
            self.bus.on_reconnect.append(self.invalidate_turns)
        self.invalidate_turns()

    def close(self) -> None:
        """Close the port (the leader's servos stay torque-off). Idempotent."""
        self.bus.close()

    def __enter__(self) -> LeaderReader:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fault(self) -> str | None:
        return self.bus.fault

    def invalidate_turns(self) -> None:
        """Resolve the 2π ambiguity again at the next read (after a reconnect or a gap)."""
        self._turns = None
        self._last_q = None

    # ---- reading ----------------------------------------------------------------------------
    def read(self) -> LeaderSample | None:
        """One calibrated sample, or None (``fault`` says why); never raises for device faults."""
        if self._group is None:
            raise RuntimeError("LeaderReader.read() before connect()")
        r = self.bus.read(self._group)
        if r is None:
            return None
        ticks = r.values[:, 0]
        if self._last_ok_ns and r.stamp_ns - self._last_ok_ns > self.resync_after_ns:
            self.invalidate_turns()  # the arm may have moved any amount meanwhile
        self._last_ok_ns = r.stamp_ns
        q, g = self.convert(ticks)
        T = self.model.fk(q) if self.model is not None else None
        return LeaderSample(q=q, gripper=g, T_base_ee=T, stamp_ns=r.stamp_ns, ticks=ticks)

    def convert(self, ticks: np.ndarray) -> tuple[np.ndarray, float]:
        """Servo ticks (7) → joint angles [rad] (6) and trigger [0, 1], tracking turns."""
        theta = np.asarray(ticks, dtype=np.float64) * ct.RAD_PER_TICK
        q_raw = self._sign * (theta[:6] - self._off)
        g_raw = theta[6]
        if self._turns is None:
            kq = resolve_turns(q_raw, self.cal)
            kg = nearest_turn_to_interval(
                np.array([g_raw]), np.array([self._g_lo]), np.array([self._g_hi]), np.array([self._g_open])
            )
            self._turns = np.concatenate([kq, kg]).astype(np.float64)
            self.resolves += 1
        full = np.concatenate([q_raw, [g_raw]]) + TWO_PI * self._turns
        if self._last_q is not None:
            # More than half a turn between two reads is a counter wrap, not a motion.
            jump = np.round((self._last_q - full) / TWO_PI)
            if np.any(jump):
                self._turns += jump
                full += TWO_PI * jump
        self._last_q = full
        # 0 closed (squeezed), 1 open (released): ABC's and the YAM vendor's convention.
        g = min(1.0, max(0.0, 1.0 - (full[6] - self._g_open) / self._g_span))
        return full[:6].copy(), float(g)

    def status(self) -> dict[str, Any]:
        """Bus counters and the turn resolution count (JSON-able)."""
        return {**self.bus.status(), "turn_resolves": self.resolves}
