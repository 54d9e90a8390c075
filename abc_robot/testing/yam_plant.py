"""A YAM arm with gravity behind the Damiao emulator: a :class:`JointPlant` for tests.

The six joints move by the follower URDF's rigid-body dynamics (pinocchio's forward
dynamics, semi-implicit Euler at the emulator's sub-step) under gravity, each with the
motor's reflected rotor inertia (armature), viscous friction and stiff end stops at the
URDF's joint limits; the gripper motor is a 1-DoF inertia between two end stops (its
closed and open motor positions). Motor positions are ``offset + direction · joint``, as
the driver's config says, so a driver configured for the arm reads it as the rig would.

Light enough for tests: one ``aba`` call per sub-step (a few µs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pinocchio as pin

from abc_robot.kinematics.model import ArmModel

__all__ = ["YamGravityPlant"]


class YamGravityPlant:
    """YAM joints under gravity (see the module docstring); implements ``JointPlant``.

    Args:
        q0: initial joint angles [rad] (6) and gripper motor position [rad].
        directions / offsets_rad: motor = offset + direction · joint (6 each).
        gripper_stops_rad: gripper motor end stops (low, high) [rad].
        armature: reflected rotor inertia per joint [kg·m²].
        friction: viscous friction per joint [N·m·s/rad] (6).
        urdf: the follower description.
        stop_stiffness / stop_damping: end stops [N·m/rad], [N·m·s/rad].
        gripper_inertia: [kg·m²] of the gripper motor and its linkage (reflected).
    """

    def __init__(
        self,
        q0: Sequence[float],
        *,
        directions: Sequence[float] = (1.0,) * 6,
        offsets_rad: Sequence[float] = (0.0,) * 6,
        gripper_stops_rad: tuple[float, float] = (0.0, 6.57),
        armature: Sequence[float] = (0.05, 0.05, 0.05, 0.02, 0.02, 0.02),
        friction: Sequence[float] = (0.2, 0.2, 0.2, 0.05, 0.05, 0.05),
        urdf: str = "yam_follower.urdf",
        stop_stiffness: float = 2000.0,
        stop_damping: float = 5.0,
        gripper_inertia: float = 0.02,
    ) -> None:
        arm = ArmModel.from_urdf(urdf)
        self.model = arm.model
        self.model.armature = np.asarray(armature, dtype=np.float64)
        self.data = self.model.createData()
        self.lower, self.upper = np.array(arm.q_lower), np.array(arm.q_upper)
        self.dir = np.asarray(directions, dtype=np.float64)
        self.off = np.asarray(offsets_rad, dtype=np.float64)
        self.friction = np.asarray(friction, dtype=np.float64)
        self.k_stop, self.d_stop = stop_stiffness, stop_damping
        start = np.asarray(q0, dtype=np.float64)
        self.q, self.dq = start[:6].copy(), np.zeros(6)
        self.g_lo, self.g_hi = float(min(gripper_stops_rad)), float(max(gripper_stops_rad))
        self.g, self.dg = float(np.clip(start[6], self.g_lo, self.g_hi)), 0.0
        self.g_inertia = gripper_inertia

    # ---- JointPlant -------------------------------------------------------------------
    def positions(self) -> np.ndarray:
        return np.append(self.off + self.dir * self.q, self.g)

    def velocities(self) -> np.ndarray:
        return np.append(self.dir * self.dq, self.dg)

    def step(self, torque_nm: np.ndarray, dt_s: float) -> None:
        tau = self.dir * np.asarray(torque_nm[:6], dtype=np.float64) - self.friction * self.dq
        tau += self._stops(self.q, self.dq, self.lower, self.upper)
        ddq = pin.aba(self.model, self.data, self.q, self.dq, tau)
        self.dq += ddq * dt_s
        self.q += self.dq * dt_s
        tg = float(torque_nm[6]) - 0.01 * self.dg
        pen = min(self.g - self.g_lo, 0.0) + max(self.g - self.g_hi, 0.0)
        if pen:  # a softer stop than the joints': the gripper's inertia is small
            tg += -200.0 * pen - 2.0 * self.dg
        self.dg += tg / self.g_inertia * dt_s
        self.g += self.dg * dt_s

    def _stops(self, q: np.ndarray, dq: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        below, above = np.minimum(q - lo, 0.0), np.maximum(q - hi, 0.0)
        pen = below + above
        return np.where(pen != 0.0, -self.k_stop * pen - self.d_stop * dq, 0.0)

    # ---- for tests --------------------------------------------------------------------
    def joint_q(self) -> np.ndarray:
        """Joint angles [rad] (6) as the URDF measures them."""
        return self.q.copy()
