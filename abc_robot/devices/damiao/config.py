"""Configuration of a YAM arm on one CAN bus (ids, limits, gains, timing, safe stop)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from abc_robot.devices.damiao.chain import MotorSpec

__all__ = ["YamConfig", "CAN_FRAME_BITS"]

#: Bits on the wire of one standard 8-byte CAN frame, stuffing included (worst case ~135).
CAN_FRAME_BITS = 130

# Joint limits of urdf/yam_follower.urdf [rad].
_YAM_LOWER = (-2.61799, 0.0, 0.0, -1.69297, -1.5708, -2.0944)
_YAM_UPPER = (3.14159, 3.66519, 3.14159, 1.5708, 1.5708, 2.0944)


class _Invalid(ValueError):
    """A config value error that names its field (``from_dict`` puts it in the message)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class YamConfig:
    """A YAM arm on one CAN bus (6 joints, then the gripper).

    Attributes:
        interface: python-can interface: ``socketcan`` on the rig, ``virtual`` with the emulator.
        channel: CAN channel (``can0``, or any name on the virtual bus).
        bitrate: [bit/s] bus bitrate (the interface itself is configured with ``ip link``).
        bus_options: extra keyword arguments for ``can.Bus`` (e.g. ``port`` of the
            ``udp_multicast`` interface, which links processes on one host).
        motor_ids: CAN ids the motors listen on, joints 1..6 then gripper.
        master_ids: ids the motors answer from (``can_id + 0x10`` on the YAM).
        motor_models: Damiao model per motor (sets the MIT ranges).
        directions: ±1 per joint (6): joint = direction · (motor − offset).
        offsets_rad: [rad] motor position at joint zero, per joint (6).
        joint_lower_rad / joint_upper_rad: [rad] joint limits (6); commands are clamped.
        kp: [N·m/rad] MIT stiffness per motor (7).
        kd: [N·m·s/rad] MIT damping per motor (7).
        gripper_open_rad / gripper_closed_rad: [rad] gripper motor position at opening 0 / 1;
            rig-specific, measure them on your gripper.
        max_speed_rad_s: [rad/s] fastest the internal setpoint moves towards a target
            (motor side); a safety net under the follower's own velocity limits.
        control_hz: [Hz] background control loop rate; 0 runs one cycle per call instead.
        reply_timeout_s: [s] wait for the seven feedback frames of a cycle (about 1 ms
            of bus time at 1 Mbit/s).
        silent_after_s / silent_after_cycles: a motor is declared silent when it missed
            this many consecutive cycles *and* its last answer is this old [s] (both, so
            a stalled host process is not blamed on a motor).
        safe_stop: what the answering motors do after a fault: ``damping`` (what the
            motors do themselves on a CAN timeout, so all joints behave alike) or
            ``hold`` (stiff at their positions at the fault).
        damping_kd: [N·m·s/rad] damping in the ``damping`` safe stop.
        enable_attempts: enable / disable frames sent before a motor counts as refusing.
        emulate: start an emulated motor chain on this (virtual) bus in-process: for
            demos and launch tests without hardware.
    """

    interface: str = "socketcan"
    channel: str = "can0"
    bitrate: int = 1_000_000
    bus_options: dict[str, Any] = field(default_factory=dict)
    motor_ids: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    master_ids: tuple[int, ...] = (0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17)
    motor_models: tuple[str, ...] = ("DM4340", "DM4340", "DM4340", "DM4310", "DM4310", "DM4310", "DM4310")
    directions: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    offsets_rad: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    joint_lower_rad: tuple[float, ...] = _YAM_LOWER
    joint_upper_rad: tuple[float, ...] = _YAM_UPPER
    kp: tuple[float, ...] = (80.0, 80.0, 80.0, 40.0, 10.0, 10.0, 20.0)
    kd: tuple[float, ...] = (5.0, 5.0, 5.0, 1.5, 1.5, 1.5, 0.5)
    gripper_open_rad: float = 0.0
    gripper_closed_rad: float = 2.0
    max_speed_rad_s: float = 3.0
    control_hz: float = 250.0
    reply_timeout_s: float = 0.003
    silent_after_s: float = 0.05
    silent_after_cycles: int = 5
    safe_stop: Literal["damping", "hold"] = "damping"
    damping_kd: float = 1.0
    enable_attempts: int = 3
    emulate: bool = False

    def __post_init__(self) -> None:
        n = len(self.motor_ids)
        if n != 7:
            raise _Invalid("motor_ids", f"a YAM arm has 7 motors (6 joints + gripper), got {n}")
        for name in ("master_ids", "motor_models", "kp", "kd"):
            if len(getattr(self, name)) != n:
                raise _Invalid(name, f"needs {n} values (6 joints + gripper), got {len(getattr(self, name))}")
        for name in ("directions", "offsets_rad", "joint_lower_rad", "joint_upper_rad"):
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
        for name in ("max_speed_rad_s", "reply_timeout_s", "silent_after_s"):
            if getattr(self, name) <= 0:
                raise _Invalid(name, "must be positive")
        for name in ("silent_after_cycles", "enable_attempts"):
            if getattr(self, name) < 1:
                raise _Invalid(name, "must be >= 1")
        if self.damping_kd < 0:
            raise _Invalid("damping_kd", "must be >= 0")
        if self.control_hz < 0:
            raise _Invalid("control_hz", "must be >= 0 (0: one cycle per call)")
        if self.emulate and self.interface != "virtual":
            raise _Invalid(
                "emulate", "emulate: true needs interface: virtual (the emulator lives on python-can's virtual bus)"
            )
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
