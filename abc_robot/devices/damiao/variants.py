"""YAM arm variants and grippers as their vendor publishes them (motor types, gains, gravity).

Joint motors, MIT gains, directions and the gravity-compensation factors are those of
the vendor's per-variant arm configs; gripper motor types and gains those of its
gripper configs (linear grippers: 6.57 rad of motor travel for 96 mm of finger stroke).
``grav_comp_kd`` is the damping the vendor applies while an arm floats under gravity
compensation (our torque-off state).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ArmVariant", "GripperVariant", "VARIANTS", "GRIPPERS"]


@dataclass(frozen=True)
class ArmVariant:
    """Motors and gains of one YAM variant's six joints.

    Attributes:
        motors: Damiao model per joint (6).
        directions: ±1 per joint (6).
        kp / kd: MIT gains per joint [N·m/rad], [N·m·s/rad] (6).
        gravity_scale: gravity-compensation factor per joint (6).
        grav_comp_kd: damping [N·m·s/rad] while floating under gravity compensation (6).
    """

    motors: tuple[str, ...]
    directions: tuple[float, ...]
    kp: tuple[float, ...]
    kd: tuple[float, ...]
    gravity_scale: tuple[float, ...]
    grav_comp_kd: tuple[float, ...]


@dataclass(frozen=True)
class GripperVariant:
    """A gripper: its motor, MIT gains, and motor travel for the finger stroke.

    Attributes:
        motor: Damiao model.
        kp / kd: MIT gains [N·m/rad], [N·m·s/rad].
        motor_stroke_rad: [rad] motor travel from closed to open.
        finger_stroke_m: [m] finger opening at full travel.
    """

    motor: str
    kp: float
    kd: float
    motor_stroke_rad: float = 6.57
    finger_stroke_m: float = 0.096


_BASE_KD = (5.0, 5.0, 5.0, 1.5, 1.5, 1.5)
_GRAV = (1.0, 1.1, 1.1, 1.2, 1.0, 1.0)
_GRAV_KD = (0.1, 0.1, 0.1, 0.3, 0.05, 0.05)
_ONES = (1.0,) * 6
_SMALL = ("DM4340", "DM4340", "DM4340", "DM4310", "DM4310", "DM4310")

#: The YAM variants by name (the vendor's ``yam``, ``yam_pro``, ``yam_ultra`` v1/v2, ``big_yam``).
VARIANTS: dict[str, ArmVariant] = {
    "yam": ArmVariant(_SMALL, _ONES, (80.0, 80.0, 80.0, 10.0, 10.0, 10.0), _BASE_KD, _GRAV, _GRAV_KD),
    "yam_pro": ArmVariant(_SMALL, _ONES, (80.0, 80.0, 80.0, 40.0, 10.0, 10.0), _BASE_KD, _GRAV, _GRAV_KD),
    "yam_ultra": ArmVariant(_SMALL, _ONES, (80.0, 80.0, 80.0, 40.0, 10.0, 10.0), _BASE_KD, _GRAV, _GRAV_KD),
    "yam_ultra_v2": ArmVariant(
        ("DM4340", "DM4340", "DM4340", "DM4340", "DM4310", "DM4310"),
        _ONES,
        (80.0, 80.0, 80.0, 40.0, 10.0, 10.0),
        (5.0, 5.0, 5.0, 3.0, 1.5, 1.5),
        (1.0, 1.2, 1.1, 1.1, 1.2, 1.0),
        _GRAV_KD,
    ),
    "big_yam": ArmVariant(
        ("DM6248", "DM6248", "DM4340", "DM4340", "DM4310", "DM4310"),
        (1.0, -1.0, 1.0, 1.0, 1.0, 1.0),
        (80.0, 80.0, 80.0, 40.0, 40.0, 10.0),
        (5.0, 5.0, 5.0, 3.0, 1.5, 1.5),
        (1.0, 1.2, 1.0, 1.1, 1.0, 1.0),
        (0.5, 0.5, 0.5, 0.3, 0.1, 0.1),
    ),
}

#: Grippers by name (the vendor's linear grippers on a DM4310 or a DM3507).
GRIPPERS: dict[str, GripperVariant] = {
    "linear_4310": GripperVariant("DM4310", 20.0, 0.5),
    "linear_3507": GripperVariant("DM3507", 10.0, 0.3),
}
