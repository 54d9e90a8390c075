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

__all__ = ["PairCollision", "PairGuard", "Skeleton"]


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


class Skeleton:
    """World positions of an arm's joint origins and tool point: a cheap stand-in for
    its geometry (one forward-kinematics pass, no collision geometry).

    Args:
        arm: the arm.
        T_world_base: 4×4 pose of its base in the world [m].
    """

    def __init__(self, arm: ArmModel, T_world_base: np.ndarray) -> None:
        self.arm = arm
        self.data = arm.model.createData()
        T = np.asarray(T_world_base, dtype=float)
        self._R_T, self._p = T[:3, :3].T.copy(), T[:3, 3].copy()
        self._joints = range(2, arm.model.njoints)  # joint 1's origin sits on the fixed base

    def points(self, q6: np.ndarray) -> np.ndarray:
        """(n, 3) world positions [m] of the joint origins and the tool point."""
        m, d = self.arm.model, self.data
        pin.forwardKinematics(m, d, np.asarray(q6, dtype=np.float64))
        pin.updateFramePlacement(m, d, self.arm.ee_frame_id)
        pts = np.array([d.oMi[j].translation for j in self._joints] + [d.oMf[self.arm.ee_frame_id].translation])
        return pts @ self._R_T + self._p


class PairGuard:
    """One follower's arm–arm check: the skeletons' distance first, the exact
    :class:`PairCollision` check only when they come closer than ``precheck_m``.

    The exact check costs ~0.1 ms; skeletons farther apart than any two links can
    reach towards each other need none. While the arms are far apart the skeleton
    distance itself is not recomputed on every tick: two arms at full speed close at
    most :attr:`CLOSING_SPEED_M_S` (3 cm in 10 ms), so a distance ``d`` measured at
    ``t`` stays above ``precheck_m`` until ``t + (d - precheck_m) / CLOSING_SPEED_M_S``;
    the guard recomputes it by then, at least every ``refresh_ns`` (the default
    10 ms is the reuse a distance of ``precheck_m + 3 cm`` gets) and at most every
    :attr:`MAX_REUSE_NS`.

    Args:
        arm: which arm this follower drives, ``left`` or ``right``.
        own / other: the two arms' models.
        T_world_own / T_world_other: 4×4 base poses in the world [m].
        margin_m: minimum distance kept between the arms [m].
        precheck_m: the exact check runs below this skeleton distance [m] (must exceed
            twice the largest link radius plus the gripper length).
        refresh_ns: shortest reuse of a far-apart skeleton distance [ns].
    """

    SLACK_M = 0.03
    #: Fastest the two tool points close on each other [m/s] (both arms at speed).
    CLOSING_SPEED_M_S = 3.0
    #: Longest reuse of one skeleton distance [ns], however far apart the arms are.
    MAX_REUSE_NS = 50_000_000

    def __init__(
        self,
        arm: str,
        own: ArmModel,
        other: ArmModel,
        T_world_own: np.ndarray,
        T_world_other: np.ndarray,
        margin_m: float = 0.01,
        precheck_m: float = 0.30,
        refresh_ns: int = 10_000_000,
    ) -> None:
        if arm not in ("left", "right"):
            raise KinematicsError(f"arm must be 'left' or 'right', got {arm!r}")
        self.left = arm == "left"
        left, right = (own, other) if self.left else (other, own)
        T_l, T_r = (T_world_own, T_world_other) if self.left else (T_world_other, T_world_own)
        self.exact = PairCollision(left, right, T_l, T_r, margin_m=margin_m)
        self.own, self.other = Skeleton(own, T_world_own), Skeleton(other, T_world_other)
        self.precheck_m = float(precheck_m)
        self.refresh_ns = int(refresh_ns)
        self.exact_checks = 0
        self._t_ns: int | None = None
        self._d_m = 0.0
        self._valid_ns = 0  # how long the distance measured at _t_ns may be reused

    def reusable(self, now_ns: int) -> bool:
        """True while the last distance still proves the arms apart at ``now_ns``
        (:meth:`collides` then answers False without looking at the joints)."""
        return self._t_ns is not None and now_ns - self._t_ns < self._valid_ns

    def _reuse_ns(self, d_m: float) -> int:
        """How long a skeleton distance ``d_m`` [m] proves the arms apart [ns] (0: not)."""
        if not d_m > self.precheck_m + self.SLACK_M:
            return 0
        ns = int((d_m - self.precheck_m) / self.CLOSING_SPEED_M_S * 1e9)
        return min(max(ns, self.refresh_ns), max(self.MAX_REUSE_NS, self.refresh_ns))

    def skeleton_distance(self, q_own: np.ndarray, q_other: np.ndarray) -> float:
        """Smallest distance [m] between the two skeletons' points."""
        a, b = self.own.points(q_own), self.other.points(q_other)
        return float(np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).min())

    def collides(self, q_own: np.ndarray, q_other: np.ndarray, now_ns: int) -> bool:
        """True when commanding ``q_own`` would bring the arms within the margin.

        Args:
            q_own: this arm's 6 joint angles [rad].
            q_other: the other arm's 6 measured joint angles [rad].
            now_ns: the caller's clock [ns, monotonic] (for the refresh interval).
        """
        if self.reusable(now_ns):
            return False
        d = self.skeleton_distance(q_own, q_other)
        self._t_ns, self._d_m = now_ns, d
        self._valid_ns = self._reuse_ns(d)
        if d > self.precheck_m:
            return False
        self.exact_checks += 1
        ql, qr = (q_own, q_other) if self.left else (q_other, q_own)
        return self.exact.in_collision(ql, qr)
