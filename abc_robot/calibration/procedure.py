"""The GELLO calibration procedure for a passive leader arm.

1. **Pose** — the operator holds the arm in a known pose ``q_ref`` (``home``: folded
   against the hard stops, the most reproducible). For each joint the servo reads
   ``θ``; the offset that maps it onto the model is ``θ − sign·q_ref``. It is searched
   as a whole number of quarter turns (how a horn is mounted) plus a fine remainder;
   ``offsets: quarter`` keeps only the quarter turns (the GELLO way: a pose held a few
   degrees off does not leak into the offsets), ``fine`` (default) keeps both (a horn
   mounted off the quarter turns is absorbed). A remainder over ~20° is reported: the
   arm is probably not in that pose.
2. **Signs** — one pose cannot tell a servo's direction (any sign fits with another
   offset). The rig file says how each servo is mounted (``joint_signs``); a
   **second pose** measures it: between the poses each joint that moves by at least
   ``min_motion_rad`` must turn its servo by the same amount, and the direction gives the
   sign (a measured sign that disagrees with the rig file wins, and is reported). The
   offsets are then solved with the measured signs.
3. **Trigger** — the operator releases then squeezes the trigger; the two servo angles
   map to 0 and 1.
4. **Verify** — a fresh read through :class:`~abc_robot.devices.dynamixel.leader.LeaderReader`
   with the new calibration must give ``q_ref`` back; the leader FK of that reading is
   printed next to the FK of the expected pose.

Every wait for the operator goes through an :class:`Operator`; the CLI asks on the
terminal, tests move an emulated arm.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from abc_robot.calibration.schema import SCHEMA_VERSION, LeaderCalibration, LeaderRigConfig
from abc_robot.devices.dynamixel import control_table as ct
from abc_robot.devices.dynamixel.bus import DynamixelBus
from abc_robot.errors import DeviceError

__all__ = [
    "Operator",
    "ConsoleOperator",
    "ImmediateOperator",
    "OffsetFit",
    "fit_offsets",
    "measure_signs",
    "calibrate_leader",
    "verify_calibration",
    "Verification",
    "wrap_pi",
]

QUARTER = math.pi / 2


def wrap_pi(x: np.ndarray | float) -> np.ndarray:
    """Angle(s) wrapped into [-π, π)."""
    return (np.asarray(x, dtype=np.float64) + math.pi) % (2 * math.pi) - math.pi


class Operator(Protocol):
    """Whoever holds the arm: :meth:`hold` returns once the arm is as asked."""

    def hold(self, step: str, instruction: str) -> None:
        """``step`` is ``pose:<name>``, ``gripper:open`` or ``gripper:closed``."""


class ConsoleOperator:
    """Asks on the terminal and waits for Enter."""

    def __init__(self, ask: Callable[[str], str] | None = None) -> None:
        self.ask = ask

    def hold(self, step: str, instruction: str) -> None:
        (self.ask or input)(f"{instruction} — then press Enter ")


class ImmediateOperator:
    """Non-interactive (``--yes``): the arm is already in place."""

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.say = say

    def hold(self, step: str, instruction: str) -> None:
        self.say(f"(non-interactive) {instruction}")


@dataclass(frozen=True)
class OffsetFit:
    """Offsets [rad] in [-π, π) (6) and how far each is from a quarter turn [rad]."""

    offsets_rad: np.ndarray
    quarter_turns: np.ndarray
    fine_rad: np.ndarray


def fit_offsets(theta_rad: np.ndarray, q_ref: np.ndarray, signs: np.ndarray, mode: Literal["fine", "quarter"] = "fine") -> OffsetFit:
    """Offsets mapping servo angles ``theta_rad`` onto ``q_ref`` with ``signs`` (6 each).

    The exact offset ``θ − sign·q_ref`` is split into the nearest whole number of quarter
    turns (the search over multiples of π/2) and a fine remainder in [-π/4, π/4).
    """
    exact = np.asarray(theta_rad, dtype=np.float64) - np.asarray(signs) * np.asarray(q_ref, dtype=np.float64)
    k = np.round(exact / QUARTER)
    fine = exact - k * QUARTER
    off = k * QUARTER + (fine if mode == "fine" else 0.0)
    return OffsetFit(offsets_rad=wrap_pi(off), quarter_turns=(k % 4).astype(int), fine_rad=fine)


def measure_signs(
    theta_a: np.ndarray,
    theta_b: np.ndarray,
    q_a: np.ndarray,
    q_b: np.ndarray,
    rig_signs: np.ndarray,
    *,
    min_motion_rad: float = 0.3,
    tolerance_rad: float = 0.3,
) -> tuple[np.ndarray, list[str]]:
    """Signs (6) from two poses; joints that barely move keep the rig file's sign.

    Returns:
        the signs and notes for the operator (disagreements with the rig file).

    Raises:
        DeviceError: a joint turned its servo by an amount that does not match the
            poses (the arm was not in one of them); the message names the joint.
    """
    d_theta = wrap_pi(np.asarray(theta_b) - np.asarray(theta_a))  # servo motion, shortest way
    d_q = np.asarray(q_b, dtype=np.float64) - np.asarray(q_a, dtype=np.float64)
    signs = np.asarray(rig_signs, dtype=np.float64).copy()
    notes = []
    for j in range(6):
        if abs(d_q[j]) < min_motion_rad:
            continue
        if abs(abs(d_theta[j]) - abs(d_q[j])) > tolerance_rad:
            raise DeviceError(
                f"joint{j + 1}: the servo turned {math.degrees(d_theta[j]):+.0f}° between the poses, "
                f"the poses differ by {math.degrees(d_q[j]):+.0f}°: was the arm held in both poses?"
            )
        s = 1.0 if d_theta[j] * d_q[j] > 0 else -1.0
        if s != signs[j]:
            notes.append(f"joint{j + 1}: measured sign {s:+.0f} disagrees with the rig file ({signs[j]:+.0f}); using {s:+.0f}")
        signs[j] = s
    return signs, notes


@dataclass
class Verification:
    """A fresh calibrated read compared with the expected pose."""

    q_expected: np.ndarray
    q_measured: np.ndarray
    gripper: float
    T_expected: np.ndarray | None = None
    T_measured: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def max_joint_error_rad(self) -> float:
        return float(np.max(np.abs(self.q_measured - self.q_expected)))

    @property
    def position_error_m(self) -> float | None:
        if self.T_expected is None or self.T_measured is None:
            return None
        return float(np.linalg.norm(self.T_measured[:3, 3] - self.T_expected[:3, 3]))

    def table(self) -> str:
        """Text the CLI prints: joints and FK, expected next to measured."""
        lines = ["joint     expected    measured    error"]
        for j in range(6):
            e, m = math.degrees(self.q_expected[j]), math.degrees(self.q_measured[j])
            lines.append(f"joint{j + 1}  {e:9.2f}°  {m:9.2f}°  {m - e:+7.2f}°")
        lines.append(f"gripper   (open = 1)  {self.gripper:9.3f}")
        if self.T_expected is not None and self.T_measured is not None:
            pe, pm = self.T_expected[:3, 3] * 1e3, self.T_measured[:3, 3] * 1e3
            lines.append(f"FK ee [mm] expected ({pe[0]:.1f}, {pe[1]:.1f}, {pe[2]:.1f})  measured ({pm[0]:.1f}, {pm[1]:.1f}, {pm[2]:.1f})")
            c = (np.trace(self.T_expected[:3, :3].T @ self.T_measured[:3, :3]) - 1) / 2
            lines.append(
                f"FK error: {1e3 * (self.position_error_m or 0.0):.2f} mm, {math.degrees(math.acos(max(-1.0, min(1.0, c)))):.2f}°"
            )
        lines.extend(self.notes)
        return "\n".join(lines)


def _median_theta(bus: DynamixelBus, samples: int) -> np.ndarray:
    """Servo angles [rad] (7), median of ``samples`` reads (the arm is held still)."""
    group = bus.sync_read([ct.PRESENT_POSITION])
    reads: list[np.ndarray] = []
    attempts = 0
    while len(reads) < samples:
        attempts += 1
        if attempts > 5 * samples + 20:
            raise DeviceError(f"cannot read the leader servos: {bus.fault}")
        r = bus.read(group)
        if r is not None:
            reads.append(r.values[:, 0])
    return np.median(np.asarray(reads, dtype=np.float64), axis=0) * ct.RAD_PER_TICK


def calibrate_leader(
    bus: DynamixelBus,
    rig: LeaderRigConfig,
    arm: Literal["left", "right"],
    pose: str,
    operator: Operator,
    *,
    second_pose: str | None = None,
    offsets: Literal["fine", "quarter"] = "fine",
    gripper_range_rad: tuple[float, float] | None = None,
    samples: int = 20,
    joint_limits: tuple[np.ndarray, np.ndarray] | None = None,
    say: Callable[[str], None] = print,
) -> LeaderCalibration:
    """Run the procedure on an open ``bus``; return the calibration (not yet saved).

    Args:
        bus: connected bus with the leader's 7 servos (torque off).
        rig: poses, signs and ids of the leader build.
        arm: which arm this is.
        pose: name of the pose held for the offsets (in ``rig.poses``).
        operator: who holds the arm (terminal, non-interactive, or a test).
        second_pose: a second pose that measures the signs (None: the rig file's).
        offsets: ``fine`` or ``quarter`` (see the module docstring).
        gripper_range_rad: trigger servo angles (released, squeezed) [rad] to use
            instead of measuring them (non-interactive runs).
        samples: reads averaged (median) per held pose.
        joint_limits: (lower, upper) [rad] joint ranges for the turn resolution
            (default: the YAM leader's).

    Raises:
        DeviceError: reads fail, or the poses/trigger are inconsistent (explained).
        KeyError: unknown pose name (the message lists the valid ones).
    """
    for name in (pose, second_pose):
        if name is not None and name not in rig.poses:
            raise KeyError(f"unknown pose {name!r}; the rig defines {sorted(rig.poses)}")
    q_a = np.asarray(rig.poses[pose], dtype=np.float64)
    operator.hold(f"pose:{pose}", f"Hold the {arm} leader arm in pose '{pose}' (q = {np.round(q_a, 3).tolist()} rad), trigger released")
    theta_a = _median_theta(bus, samples)
    signs = np.asarray(rig.joint_signs, dtype=np.float64)
    if second_pose is not None and second_pose != pose:
        q_b = np.asarray(rig.poses[second_pose], dtype=np.float64)
        operator.hold(f"pose:{second_pose}", f"Now hold it in pose '{second_pose}' (q = {np.round(q_b, 3).tolist()} rad)")
        theta_b = _median_theta(bus, samples)
        signs, notes = measure_signs(theta_a[:6], theta_b[:6], q_a, q_b, signs)
        for n in notes:
            say(n)
    fit = fit_offsets(theta_a[:6], q_a, signs, offsets)
    for j in np.flatnonzero(np.abs(fit.fine_rad) > math.radians(20)):
        say(
            f"warning: joint{j + 1} is {math.degrees(fit.fine_rad[j]):+.0f}° off a quarter turn: "
            f"was the arm really in pose '{pose}'?"
        )
    if gripper_range_rad is not None:
        g_open, g_closed = (float(v) for v in gripper_range_rad)
    else:
        operator.hold("gripper:open", "Release the trigger fully (open)")
        g_open = float(_median_theta(bus, samples)[6])
        operator.hold("gripper:closed", "Squeeze the trigger fully (closed)")
        g_closed_raw = float(_median_theta(bus, samples)[6])
        g_open = float(wrap_pi(g_open))
        g_closed = g_open + float(wrap_pi(g_closed_raw - g_open))  # the short way round
    travel = abs(g_closed - g_open)
    if travel < rig.gripper_min_travel_rad:
        raise DeviceError(
            f"trigger travel {math.degrees(travel):.1f}° is below {math.degrees(rig.gripper_min_travel_rad):.0f}°: "
            "was it released and then squeezed fully? (or pass --gripper-range OPEN CLOSED)"
        )
    lower, upper = joint_limits if joint_limits is not None else (None, None)
    extra = {}
    if lower is not None and upper is not None:
        extra = {"joint_lower_rad": tuple(float(v) for v in lower), "joint_upper_rad": tuple(float(v) for v in upper)}
    return LeaderCalibration(
        schema_version=SCHEMA_VERSION,
        arm=arm,
        motor_ids=tuple(bus.config.motor_ids),
        offsets_rad=tuple(float(v) for v in fit.offsets_rad),
        signs=tuple(float(v) for v in signs),
        gripper_open_rad=g_open,
        gripper_closed_rad=g_closed,
        baud=bus.config.baud,
        port=bus.config.port,
        urdf=rig.urdf,
        reference_pose=pose,
        reference_q_rad=tuple(float(v) for v in q_a),
        calibrated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        fine_residual_rad=tuple(round(float(v), 6) for v in fit.fine_rad),
        **extra,  # type: ignore[arg-type]
    )


def verify_calibration(cal: LeaderCalibration, bus: DynamixelBus, *, fk: bool = True, samples: int = 5) -> Verification:
    """Read the arm (still in the reference pose) with ``cal`` and compare with the pose.

    Args:
        cal: the calibration to check.
        bus: the connected bus it was measured on.
        fk: also compare the leader FK (needs the kinematics and the URDF).
        samples: reads; the last one is reported.
    """
    from abc_robot.devices.dynamixel.leader import LeaderReader

    reader = LeaderReader(cal, bus, fk=False)
    reader.connect()  # the bus is already open: this only registers the read
    sample = None
    for _ in range(max(1, samples) * 5):
        s = reader.read()
        if s is not None:
            sample = s
            samples -= 1
            if samples <= 0:
                break
    if sample is None:
        raise DeviceError(f"cannot read the leader to verify: {bus.fault}")
    q_exp = np.asarray(cal.reference_q_rad)
    v = Verification(q_expected=q_exp, q_measured=sample.q, gripper=sample.gripper)
    if fk:
        try:
            from abc_robot.kinematics.model import ArmModel

            model = ArmModel.from_urdf(cal.urdf)
            v.T_expected, v.T_measured = model.fk(q_exp), model.fk(sample.q)
        except Exception as exc:  # noqa: BLE001 - verification of joints stands without FK
            v.notes.append(f"(FK not shown: {exc})")
    return v
