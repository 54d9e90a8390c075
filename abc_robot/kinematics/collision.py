"""Arm-to-arm collision checking for the bimanual pair (pinocchio + coal/hpp-fcl).

Both arms' reduced models are merged into one 12-DoF pinocchio model of the world
(left joints first, names prefixed ``left/`` and ``right/``), with each arm's base
placed at its ``T_world_base``. Only pairs made of one left and one right collision
geometry are checked: self-collision of one arm is the joint limits' business, and
the two bases never move. Geometry is the URDF's ``<collision>`` primitives, with the
follower's fingers locked fully open (see :class:`ArmModel`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pinocchio as pin

from abc_robot.errors import KinematicsError
from abc_robot.kinematics.model import ArmModel

__all__ = ["PairCollision"]


def _append_arm(
    world: pin.Model, geom: pin.GeometryModel, arm: ArmModel, prefix: str, T_world_base: pin.SE3
) -> list[int]:
    """Copy ``arm``'s joints and collision geometry into ``world``; return geometry ids."""
    src = arm.model
    joint_map = {0: 0}
    for jid in range(1, src.njoints):
        parent_src = src.parents[jid]
        placement = src.jointPlacements[jid]
        if parent_src == 0:
            placement = T_world_base * placement
        idx = src.idx_qs[jid]
        new = world.addJoint(
            joint_map[parent_src],
            src.joints[jid],
            placement,
            prefix + src.names[jid],
            src.effortLimit[idx : idx + 1],
            src.velocityLimit[idx : idx + 1],
            src.lowerPositionLimit[idx : idx + 1],
            src.upperPositionLimit[idx : idx + 1],
        )
        world.appendBodyToJoint(new, src.inertias[jid], pin.SE3.Identity())
        joint_map[jid] = new
    ids = []
    for go in arm.geom_model.geometryObjects:
        placement = go.placement if go.parentJoint != 0 else T_world_base * go.placement
        obj = pin.GeometryObject(prefix + go.name, joint_map[go.parentJoint], placement, go.geometry)
        ids.append(geom.addGeometryObject(obj))
    return ids


class PairCollision:
    """Collision and distance queries between the left and the right arm.

    Args:
        left_model: the left arm.
        right_model: the right arm (may be the same :class:`ArmModel` object).
        T_world_left_base: 4×4 pose of the left arm's base in the world [m].
        T_world_right_base: 4×4 pose of the right arm's base in the world [m].
        margin_m: clearance [m] below which the arms count as colliding.

    Not thread-safe (it owns one pinocchio ``Data``/``GeometryData``).
    """

    def __init__(
        self,
        left_model: ArmModel,
        right_model: ArmModel,
        T_world_left_base: np.ndarray,
        T_world_right_base: np.ndarray,
        margin_m: float = 0.01,
    ) -> None:
        if margin_m < 0:
            raise KinematicsError(f"margin_m must be >= 0, got {margin_m}")
        self.margin_m = float(margin_m)
        self._nl, self._nr = left_model.nq, right_model.nq
        world = pin.Model()
        world.name = "bimanual"
        geom = pin.GeometryModel()
        left_ids = _append_arm(world, geom, left_model, "left/", pin.SE3(np.asarray(T_world_left_base, float)))
        right_ids = _append_arm(world, geom, right_model, "right/", pin.SE3(np.asarray(T_world_right_base, float)))
        for i in left_ids:
            for j in right_ids:
                geom.addCollisionPair(pin.CollisionPair(i, j))
        self.model, self.geom_model = world, geom
        self.data = world.createData()
        self.geom_data = pin.GeometryData(geom)
        for req in self.geom_data.collisionRequests:
            req.security_margin = self.margin_m
        self._q = np.zeros(world.nq)

    def _update(self, q_left: Sequence[float] | np.ndarray, q_right: Sequence[float] | np.ndarray) -> None:
        ql = np.asarray(q_left, dtype=np.float64)
        qr = np.asarray(q_right, dtype=np.float64)
        if ql.shape != (self._nl,) or qr.shape != (self._nr,):
            raise KinematicsError(
                f"expected {self._nl} left and {self._nr} right joint angles, got shapes {ql.shape}, {qr.shape}"
            )
        self._q[: self._nl] = ql
        self._q[self._nl :] = qr
        pin.updateGeometryPlacements(self.model, self.data, self.geom_model, self.geom_data, self._q)

    def in_collision(self, q_left: Sequence[float] | np.ndarray, q_right: Sequence[float] | np.ndarray) -> bool:
        """True when any left geometry comes within ``margin_m`` of any right geometry."""
        self._update(q_left, q_right)
        return bool(pin.computeCollisions(self.geom_model, self.geom_data, True))

    def min_distance(self, q_left: Sequence[float] | np.ndarray, q_right: Sequence[float] | np.ndarray) -> float:
        """Smallest distance [m] between the two arms (negative when penetrating)."""
        return self.closest_pair(q_left, q_right)[2]

    def closest_pair(
        self, q_left: Sequence[float] | np.ndarray, q_right: Sequence[float] | np.ndarray
    ) -> tuple[str, str, float]:
        """(left geometry name, right geometry name, distance [m]) of the closest pair."""
        self._update(q_left, q_right)
        k = pin.computeDistances(self.geom_model, self.geom_data)
        pair = self.geom_model.collisionPairs[k]
        objs = self.geom_model.geometryObjects
        return objs[pair.first].name, objs[pair.second].name, float(self.geom_data.distanceResults[k].min_distance)
