"""Configuration of a YAM arm on one CAN bus (variant, ids, gains, gravity, gripper, timing, stops)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from abc_robot.devices.damiao.chain import MotorSpec
from abc_robot.devices.damiao.variants import GRIPPERS, VARIANTS

__all__ = ["YamConfig", "CAN_FRAME_BITS", "REST_Q"]

#: Bits on the wire of one standard 8-byte CAN frame, stuffing included (worst case ~135).
CAN_FRAME_BITS = 130

# Joint limits of urdf/yam_follower.urdf [rad].
_YAM_LOWER = (-2.61799, 0.0, 0.0, -1.69297, -1.5708, -2.0944)
_YAM_UPPER = (3.14159, 3.66519, 3.14159, 1.5708, 1.5708, 2.0944)
#: Rest pose [rad]: folded, each gravity-loaded joint (2, 3, 4) resting on its lower stop
#: (gravity pushes it there), so releasing the motors there drops nothing.
REST_Q = (0.0, 0.0, 0.0, -1.68, 0.0, 0.0)


class _Invalid(ValueError):
    """A config value error that names its field (``from_dict`` puts it in the message)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class YamConfig:
    """A YAM arm on one CAN bus (6 joints, then the gripper).

    ``variant`` and ``gripper`` select motor types, MIT gains, directions and gravity
    factors as the vendor publishes them (:mod:`.variants`); ``motor_models``, ``kp``,
    ``kd``, ``directions``, ``gravity_scale`` and ``grav_comp_kd`` left out (None) come
    from there, given ones override them (a calibration's directions, a rig's tuning).

    Attributes:
        variant: ``yam``, ``yam_pro``, ``yam_ultra``, ``yam_ultra_v2`` or ``big_yam``.
        gripper: ``linear_4310`` or ``linear_3507``.
        interface: python-can interface: ``socketcan`` on the rig, ``virtual`` with the emulator.
        channel: CAN channel (``can0``, or any name on the virtual bus).
        bitrate: [bit/s] bus bitrate (the interface itself is configured with ``ip link``).
        bus_options: extra keyword arguments for ``can.Bus`` (e.g. ``port`` of the
            ``udp_multicast`` interface, which links processes on one host).
        motor_ids: CAN ids the motors listen on, joints 1..6 then gripper.
        master_ids: ids the motors answer from (``can_id + 0x10`` on the YAM).
        motor_models: Damiao model per motor (sets the MIT ranges; each motor's stored
            PMAX/VMAX/TMAX must equal its model's, or connect refuses).
        directions: ±1 per joint (6): joint = direction · (motor − offset).
        offsets_rad: [rad] motor position at joint zero, per joint (6).
        joint_lower_rad / joint_upper_rad: [rad] joint limits (6); commands are clamped.
        kp: [N·m/rad] MIT stiffness per motor (7).
        kd: [N·m·s/rad] MIT damping per motor (7).
        gripper_open_rad / gripper_closed_rad: [rad] gripper motor position fully open
            (gripper 1) / closed (gripper 0); from ``abc-calibrate follower`` or measured at
            every connect (``gripper_stops: measure``).
        gripper_stops: ``config`` (the two fields above) or ``measure`` (drive the gripper
            to each end stop at connect, at ``gripper_probe_torque_nm``, as the vendor does).
        gripper_probe_torque_nm / gripper_probe_speed_rad_s: the end-stop probe's torque
            cap [N·m] and speed [rad/s].
        grip_force_n: [N] largest finger force a grasp squeezes with (the motor torque cap
            is this × finger stroke / motor stroke).
        gravity_compensation: add the follower model's gravity torque (× ``gravity_scale``)
            to every MIT frame. gravity_scale: per joint (6). grav_comp_kd: [N·m·s/rad]
            damping while floating (torque off) (6).
        urdf: the follower description the gravity model is built from.
        limit_fault_rad: [rad] a measured joint this far past a limit is a fault (safe
            stop); commands are always clamped to the limits themselves.
        can_timeout_s: [s] the CAN timeout each motor must hold (factory 0.4 s); read at
            connect, written (RAM only) where a motor has none or a longer one.
        rest_q_rad: [rad] where a clean exit parks the arm before releasing the motors.
        park_speed_rad_s: [rad/s] speed of that move. park_timeout_s: [s] its bound.
        max_speed_rad_s: [rad/s] fastest the internal setpoint moves towards a target
            (motor side); a safety net under the follower's own velocity limits.
        control_hz: [Hz] background control loop rate; 0 runs one cycle per call instead.
        reply_timeout_s: [s] wait for the seven feedback frames of a cycle (about 1 ms
            of bus time at 1 Mbit/s).
        silent_after_s / silent_after_cycles: a motor is declared silent when it missed
            this many consecutive cycles *and* its last answer is this old [s] (both, so
            a stalled host process is not blamed on a motor).
        safe_stop: what the answering motors do after a fault: ``hold`` (stiff at their
            positions at the fault, gravity compensated) or ``damping`` (damped, gravity
            compensated: the arm floats and can be moved by hand).
        damping_kd: [N·m·s/rad] damping in the ``damping`` safe stop.
        reconnect_after_s: [s] a safe stop caused only by lost links (silent motors, or
            motors that latched LOST_COMM) ends by itself once every motor has answered
            for this long: the returning motors are cleared and enabled holding where
            they are, the arm is held (``held``), and the next command tracks from there
            (so a flapping connector does not toggle the arm at the cycle rate).
        enable_attempts: enable / disable frames sent before a motor counts as refusing.

    Emulated arms (demos, launch tests) are the backend kind ``yam_emulated``
    (:class:`abc_robot.testing.emulated.EmulatedYamArm`), not a field here.
    """

    variant: str = "yam"
    gripper: str = "linear_4310"

    interface: str = "socketcan"
    channel: str = "can0"
    bitrate: int = 1_000_000
    bus_options: dict[str, Any] = field(default_factory=dict)
    motor_ids: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    master_ids: tuple[int, ...] = (0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17)
    motor_models: tuple[str, ...] = None  # type: ignore[assignment]  # None: the variant's
    directions: tuple[float, ...] = None  # type: ignore[assignment]
    offsets_rad: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    joint_lower_rad: tuple[float, ...] = _YAM_LOWER
    joint_upper_rad: tuple[float, ...] = _YAM_UPPER
    kp: tuple[float, ...] = None  # type: ignore[assignment]
    kd: tuple[float, ...] = None  # type: ignore[assignment]
    gripper_open_rad: float = 6.57
    gripper_closed_rad: float = 0.0
    gripper_stops: Literal["config", "measure"] = "config"
    gripper_probe_torque_nm: float = 0.5
    gripper_probe_speed_rad_s: float = 4.0
    grip_force_n: float = 50.0
    gravity_compensation: bool = True
    gravity_scale: tuple[float, ...] = None  # type: ignore[assignment]
    grav_comp_kd: tuple[float, ...] = None  # type: ignore[assignment]
    urdf: str = "yam_follower.urdf"
    limit_fault_rad: float = 0.25
    can_timeout_s: float = 0.4
    rest_q_rad: tuple[float, ...] = REST_Q
    park_speed_rad_s: float = 0.6
    park_timeout_s: float = 10.0
    max_speed_rad_s: float = 3.0
    control_hz: float = 250.0
    reply_timeout_s: float = 0.003
    silent_after_s: float = 0.05
    silent_after_cycles: int = 5
    safe_stop: Literal["damping", "hold"] = "hold"
    damping_kd: float = 1.0
    reconnect_after_s: float = 0.1
    enable_attempts: int = 3

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise _Invalid("variant", f"unknown YAM variant {self.variant!r}; known: {sorted(VARIANTS)}")
        if self.gripper not in GRIPPERS:
            raise _Invalid("gripper", f"unknown gripper {self.gripper!r}; known: {sorted(GRIPPERS)}")
        v, g = VARIANTS[self.variant], GRIPPERS[self.gripper]
        filled = {
            "motor_models": (*v.motors, g.motor),
            "directions": v.directions,
            "kp": (*v.kp, g.kp),
            "kd": (*v.kd, g.kd),
            "gravity_scale": v.gravity_scale,
            "grav_comp_kd": v.grav_comp_kd,
        }
        for name, value in filled.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, tuple(value))
            else:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        n = len(self.motor_ids)
        if n != 7:
            raise _Invalid("motor_ids", f"a YAM arm has 7 motors (6 joints + gripper), got {n}")
        for name in ("master_ids", "motor_models", "kp", "kd"):
            if len(getattr(self, name)) != n:
                raise _Invalid(name, f"needs {n} values (6 joints + gripper), got {len(getattr(self, name))}")
        for name in ("directions", "offsets_rad", "joint_lower_rad", "joint_upper_rad", "gravity_scale", "grav_comp_kd", "rest_q_rad"):
            if len(getattr(self, name)) != 6:
                raise _Invalid(name, f"needs 6 values (one per joint), got {len(getattr(self, name))}")
        if any(d not in (1.0, -1.0) for d in self.directions):
            raise _Invalid("directions", f"directions must be +1 or -1, got {self.directions}")
        if any(lo >= hi for lo, hi in zip(self.joint_lower_rad, self.joint_upper_rad, strict=True)):
            raise _Invalid("joint_lower_rad", "every joint_lower_rad must be below its joint_upper_rad")
        for name in ("kp", "kd"):
            if min(getattr(self, name)) < 0:
                raise _Invalid(name, "gains must be >= 0")
        if self.gripper_open_rad == self.gripper_closed_rad:
            raise _Invalid("gripper_closed_rad", "gripper_open_rad and gripper_closed_rad must differ")
        for name in (
            "max_speed_rad_s", "reply_timeout_s", "silent_after_s", "reconnect_after_s", "grip_force_n", "can_timeout_s",
            "park_speed_rad_s", "park_timeout_s", "gripper_probe_torque_nm", "gripper_probe_speed_rad_s",
            "limit_fault_rad",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                raise _Invalid(name, "must be positive")
        for name in ("silent_after_cycles", "enable_attempts"):
            if getattr(self, name) < 1:
                raise _Invalid(name, "must be >= 1")
        if self.damping_kd < 0:
            raise _Invalid("damping_kd", "must be >= 0")
        if self.control_hz < 0:
            raise _Invalid("control_hz", "must be >= 0 (0: one cycle per call)")
        load = self.bus_load()
        if load > 0.8:
            raise _Invalid(
                "control_hz",
                f"{self.control_hz} Hz needs {load:.0%} of a {self.bitrate} bit/s bus "
                "(command + feedback per motor per cycle); lower control_hz",
            )
        for i in range(n):
            try:
                MotorSpec(self.motor_ids[i], self.master_ids[i], self.motor_models[i])
            except ValueError as exc:
                raise _Invalid("motor_models" if "model" in str(exc) else "motor_ids", str(exc)) from exc

    def bus_load(self) -> float:
        """Fraction of the bus the control loop uses (one frame each way per motor per cycle)."""
        return 2 * len(self.motor_ids) * CAN_FRAME_BITS * self.control_hz / self.bitrate

    def motor_specs(self) -> list[MotorSpec]:
        return [MotorSpec(c, m, t) for c, m, t in zip(self.motor_ids, self.master_ids, self.motor_models, strict=True)]
