"""Configuration of a Dynamixel bus and of a follower arm (6 joints + gripper on one bus)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from abc_robot.devices.dynamixel import control_table as ct

__all__ = ["BusConfig", "DynamixelArmConfig", "MODE_CODES", "expand_port"]

# Joint limits of urdf/yam_follower.urdf [rad].
_LOWER = (-2.61799, 0.0, 0.0, -1.69297, -1.5708, -2.0944)
_UPPER = (3.14159, 3.66519, 3.14159, 1.5708, 1.5708, 2.0944)

Mode = Literal["position", "extended_position", "current_based_position"]
#: Operating Mode register values of the modes a follower may use.
MODE_CODES: dict[str, int] = {"position": 3, "extended_position": 4, "current_based_position": 5}


# Baud rates the SDK's PortHandler accepts (others make setBaudRate return False).
_SDK_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1_000_000,
              1_152_000, 2_000_000, 2_500_000, 3_000_000, 3_500_000, 4_000_000)  # fmt: skip


def expand_port(port: str) -> str:
    """``${run}`` in a serial path → the graph's run directory (emulated devices in launch files)."""
    if "${run}" not in port:
        return port
    from abc_robot.transport.endpoints import run_dir

    return port.replace("${run}", str(run_dir()))


class _Invalid(ValueError):
    """A config value error naming its field (``from_dict`` puts it in the message)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class BusConfig:
    """A serial port and the servos on it.

    Attributes:
        port: serial device; prefer ``/dev/serial/by-id/...``, which survives a replug
            (``${run}`` expands to the graph's run directory, for emulated devices).
        motor_ids: ids of the servos on this bus, in the order of the driver's vectors.
        baud: [baud] bus rate; the servos' Baud Rate register must already match
            (set it once with Dynamixel Wizard). 4 Mbaud: ~0.3 ms of wire per 7-servo read.
        timeout_ms: [ms] wait for a read's replies before counting a timeout.
        retries: extra attempts of a failed read or write within one call.
        late_window_ms: [ms] after a request that got no answer, the barrier PING that
            clears the line of its late answer waits this long beyond ``timeout_ms`` (longer
            than an FTDI adapter's default 16 ms latency timer); grows by itself when
            replies are seen arriving later.
        fast_sync_read: ``auto`` (use FAST_SYNC_READ if the servos answer it), ``on``, ``off``.
        reconnect_interval_s: [s] time between attempts to reopen a lost port.
        return_delay_us: [µs] Return Delay Time written at connect (factory: 500 µs per
            servo, which alone caps a 7-servo read at ~280 Hz); None leaves the servos as they are.
        check_latency: warn at connect when the USB adapter's latency timer is not 1 ms.
    """

    port: str
    motor_ids: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    baud: int = 4_000_000
    timeout_ms: float = 10.0
    retries: int = 1
    fast_sync_read: Literal["auto", "on", "off"] = "auto"
    reconnect_interval_s: float = 0.5
    return_delay_us: int | None = 0
    check_latency: bool = True
    late_window_ms: float = 25.0

    def __post_init__(self) -> None:
        if not self.port:
            raise _Invalid("port", "a serial device path is required (e.g. /dev/serial/by-id/usb-FTDI_...)")
        if not self.motor_ids or len(set(self.motor_ids)) != len(self.motor_ids):
            raise _Invalid("motor_ids", f"need distinct servo ids, got {list(self.motor_ids)}")
        if not all(0 <= i <= 252 for i in self.motor_ids):
            raise _Invalid("motor_ids", f"servo ids must be in 0..252, got {list(self.motor_ids)}")
        if self.baud not in _SDK_BAUDS:
            raise _Invalid("baud", f"{self.baud} is not a rate dynamixel_sdk accepts; valid: {list(_SDK_BAUDS)}")
        if self.timeout_ms <= 0 or self.reconnect_interval_s <= 0:
            raise _Invalid("timeout_ms", "timeout_ms and reconnect_interval_s must be positive")
        if self.retries < 0:
            raise _Invalid("retries", "must be >= 0")
        if self.late_window_ms < 0:
            raise _Invalid("late_window_ms", "must be >= 0")
        if self.return_delay_us is not None and not 0 <= self.return_delay_us <= 508:
            raise _Invalid("return_delay_us", "must be in 0..508 µs (the register counts 2 µs steps)")


@dataclass(frozen=True)
class DynamixelArmConfig:
    """A position-controlled Dynamixel arm.

    Joint ``j`` = ``sign_j · (servo_j − offset_j) + 2πk_j`` [rad] (``k_j`` picked at each
    start to fit the joint range, as for the leader); the gripper opening in [0, 1] (0 closed,
    1 open) maps linearly from ``gripper_closed_rad`` to ``gripper_open_rad`` (servo angle).

    Attributes:
        port: serial device (prefer ``/dev/serial/by-id/...``).
        motor_ids: servo ids, joints 1..6 then the gripper.
        baud: [baud] bus rate (the servos must already use it).
        offsets_rad: [rad] servo angle at joint zero (6).
        signs: +1/-1 per joint (6).
        joint_lower_rad / joint_upper_rad: [rad] joint limits (6); commands are clamped.
        gripper_open_rad / gripper_closed_rad: [rad] gripper servo angle at opening 1 (open) / 0 (closed).
        joint_mode: operating mode of the joint servos; ``extended_position`` (default)
            accepts goals on any turn, ``position`` only within one turn (0..4095).
        gripper_mode: operating mode of the gripper servo; ``current_based_position``
            caps the squeeze at ``gripper_goal_current`` so a grasp never overloads it.
        gripper_goal_current: [raw, 2.69 mA on XM430] gripper current cap.
        profile_velocity_rad_s: [rad/s] servo-side speed limit of goal moves (0: none;
            the follower's safety filter already limits speed, this is a second net).
        profile_acceleration_rad_s2: [rad/s²] servo-side acceleration limit (0: none).
        position_p_gain: Position P Gain (raw) written at connect; None keeps the servo's.
        current_unit_a: [A] per Present Current unit (XM430: 0.00269, XL330: 0.001).
        timeout_ms / retries / fast_sync_read / reconnect_interval_s / return_delay_us:
            bus settings (:class:`~abc_robot.devices.dynamixel.bus.BusConfig`).
        torque_off_attempts: sync-write + read-back rounds before torque-off is declared failed.
    """

    port: str
    motor_ids: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    baud: int = 4_000_000
    offsets_rad: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    signs: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    joint_lower_rad: tuple[float, ...] = _LOWER
    joint_upper_rad: tuple[float, ...] = _UPPER
    gripper_open_rad: float = 0.0
    gripper_closed_rad: float = 1.0
    joint_mode: Mode = "extended_position"
    gripper_mode: Mode = "current_based_position"
    gripper_goal_current: int = 300
    profile_velocity_rad_s: float = 0.0
    profile_acceleration_rad_s2: float = 0.0
    position_p_gain: int | None = None
    current_unit_a: float = 0.00269
    timeout_ms: float = 10.0
    retries: int = 1
    fast_sync_read: Literal["auto", "on", "off"] = "auto"
    reconnect_interval_s: float = 0.5
    return_delay_us: int | None = 0
    torque_off_attempts: int = 3

    def __post_init__(self) -> None:
        if len(self.motor_ids) != 7:
            raise _Invalid("motor_ids", f"needs 7 ids (6 joints + gripper), got {list(self.motor_ids)}")
        for name in ("offsets_rad", "signs", "joint_lower_rad", "joint_upper_rad"):
            if len(getattr(self, name)) != 6:
                raise _Invalid(name, f"needs 6 values (one per joint), got {len(getattr(self, name))}")
        if any(s not in (1.0, -1.0) for s in self.signs):
            raise _Invalid("signs", f"signs must be +1 or -1, got {list(self.signs)}")
        if any(lo >= hi for lo, hi in zip(self.joint_lower_rad, self.joint_upper_rad)):
            raise _Invalid("joint_lower_rad", "each joint_lower_rad must be below its joint_upper_rad")
        if self.gripper_open_rad == self.gripper_closed_rad:
            raise _Invalid("gripper_closed_rad", "gripper_open_rad and gripper_closed_rad must differ")
        if self.profile_velocity_rad_s < 0 or self.profile_acceleration_rad_s2 < 0:
            raise _Invalid("profile_velocity_rad_s", "profiles must be >= 0 (0 disables them)")
        if self.torque_off_attempts < 1:
            raise _Invalid("torque_off_attempts", "must be >= 1")
        self.bus_config()  # the bus fields are checked there (ValueError names the field)

    def bus_config(self) -> BusConfig:
        return BusConfig(
            port=self.port,
            motor_ids=self.motor_ids,
            baud=self.baud,
            timeout_ms=self.timeout_ms,
            retries=self.retries,
            fast_sync_read=self.fast_sync_read,
            reconnect_interval_s=self.reconnect_interval_s,
            return_delay_us=self.return_delay_us,
        )

    @property
    def profile_velocity_raw(self) -> int:
        """Profile Velocity register value (0.229 rpm units; 0 = unlimited)."""
        return round(self.profile_velocity_rad_s / ct.RAD_S_PER_VELOCITY_UNIT)

    @property
    def profile_acceleration_raw(self) -> int:
        """Profile Acceleration register value (214.577 rev/min² units; 0 = unlimited)."""
        return round(self.profile_acceleration_rad_s2 / ct.RAD_S2_PER_ACCEL_UNIT)
