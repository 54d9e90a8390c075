"""Pinocchio model of one arm, loaded from the project's URDF files.

The URDF describes the arm plus its gripper (or the leader's trigger); the kinematics
of the stack only ever move the six arm joints, so :class:`ArmModel` builds a reduced
pinocchio model in which every other joint is locked (fingers and trigger at a fixed
opening). The same reduction is applied to the collision geometry, so FK, Jacobians,
IK and arm-to-arm collision all see one and the same chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pinocchio as pin

from abc_robot.errors import KinematicsError
from abc_robot.kinematics.urdf import URDF_DIR, urdf_path

__all__ = ["ArmModel", "ARM_JOINTS", "URDF_DIR"]

#: The six arm joints, base to wrist, in the order of every 6-vector in the stack.
ARM_JOINTS: tuple[str, ...] = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6")

#: Directory holding the project's robot descriptions.


@dataclass(eq=False)
class ArmModel:
    """A 6-joint arm with its end-effector frame, ready for FK and Jacobians.

    Build it with :meth:`from_urdf`. ``model``/``data`` are pinocchio objects of the
    reduced (6-DoF) chain; a solver that must not share ``data`` (another thread, the
    IK's own workspace) calls ``model.createData()``.

    Attributes:
        model: reduced pinocchio model, ``nq == nv == 6``, joints in :data:`ARM_JOINTS` order.
        data: pinocchio workspace used by the methods of this object.
        geom_model: collision geometry of the reduced model (URDF ``<collision>``).
        ee_frame: name of the end-effector frame.
        ee_frame_id: pinocchio id of that frame.
        q_lower: lower joint limits [rad], shape (6,).
        q_upper: upper joint limits [rad], shape (6,).
        velocity_limit: joint speed limits [rad/s] from the URDF, shape (6,).
        effort_limit: joint torque limits [N·m] from the URDF, shape (6,).
        urdf_path: the file it was loaded from.
    """

    model: pin.Model
    data: pin.Data
    geom_model: pin.GeometryModel
    ee_frame: str
    ee_frame_id: int
    q_lower: np.ndarray
    q_upper: np.ndarray
    velocity_limit: np.ndarray
    effort_limit: np.ndarray
    urdf_path: Path

    @classmethod
    def from_urdf(
        cls,
        path: str | Path,
        ee_frame: str = "ee",
        *,
        arm_joints: Sequence[str] = ARM_JOINTS,
        locked_q: Mapping[str, float] | None = None,
    ) -> ArmModel:
        """Load a URDF and reduce it to its arm joints.

        Args:
            path: URDF file; a bare name (``"yam_follower.urdf"``) is looked up in ``urdf/``.
            ee_frame: frame whose pose :meth:`fk` returns.
            arm_joints: the joints that stay movable, in the order of the q vector.
            locked_q: value [rad or m] at which to lock a non-arm joint; joints not
                named are locked at their upper limit, which for the follower means
                fingers fully open: the widest, conservative shape for collision checks.

        Raises:
            KinematicsError: the file is missing or unreadable, a named joint or frame
                does not exist, or the arm joints are not six 1-DoF joints.
        """
        p = urdf_path(path)
        if not p.exists():
            raise KinematicsError(f"URDF not found: {p} (project descriptions live in {URDF_DIR})")
        try:
            full = pin.buildModelFromUrdf(str(p))
            full_geom = pin.buildGeomFromUrdf(full, str(p), pin.COLLISION)
        except (RuntimeError, ValueError) as exc:
            raise KinematicsError(f"cannot load URDF {p}: {exc}") from exc

        names = list(full.names)
        missing = [j for j in arm_joints if j not in names]
        if missing:
            raise KinematicsError(f"{p.name}: no joint(s) {missing}; joints are {names[1:]}")
        locked_q = dict(locked_q or {})
        unknown = sorted(set(locked_q) - set(names))
        if unknown:
            raise KinematicsError(f"{p.name}: locked_q names unknown joint(s) {unknown}")

        q_ref = pin.neutral(full)
        lock_ids = []
        for jid in range(1, full.njoints):
            name = names[jid]
            if name in arm_joints:
                continue
            lock_ids.append(jid)
            idx = full.idx_qs[jid]
            q_ref[idx] = locked_q.get(name, full.upperPositionLimit[idx])
        model, geom = pin.buildReducedModel(full, full_geom, lock_ids, q_ref)
        if list(model.names[1:]) != list(arm_joints) or model.nq != len(arm_joints) or model.nv != model.nq:
            raise KinematicsError(
                f"{p.name}: arm joints must be 1-DoF joints on one chain in the order "
                f"{list(arm_joints)}; the reduced model has {list(model.names[1:])}"
            )
        if not model.existFrame(ee_frame):
            frames = sorted({f.name for f in model.frames})
            raise KinematicsError(f"{p.name}: no frame {ee_frame!r}; frames are {frames}")
        return cls(
            model=model,
            data=model.createData(),
            geom_model=geom,
            ee_frame=ee_frame,
            ee_frame_id=model.getFrameId(ee_frame),
            q_lower=np.array(model.lowerPositionLimit),
            q_upper=np.array(model.upperPositionLimit),
            velocity_limit=np.array(model.velocityLimit),
            effort_limit=np.array(model.effortLimit),
            urdf_path=p,
        )

    @property
    def reach_m(self) -> float:
        """A bound on the end effector's displacement per radian of summed joint motion
        [m/rad], whatever the configuration: the chain's link lengths, joint 2's origin
        to the end-effector frame (no point of the tool is farther than that from any
        joint's axis, so ``|p(q) − p(q')| ≤ reach_m · Σ|q − q'|``)."""
        m = self.model
        links = sum(float(np.linalg.norm(m.jointPlacements[j].translation)) for j in range(2, m.njoints))
        return links + float(np.linalg.norm(m.frames[self.ee_frame_id].placement.translation))

    @property
    def nq(self) -> int:
        """Number of arm joints (6)."""
        return int(self.model.nq)

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Arm joint names in q order."""
        return tuple(self.model.names[1:])

    def frame_id(self, frame: str) -> int:
        """Pinocchio id of a frame of the reduced model.

        Raises:
            KinematicsError: no such frame (the message lists the valid ones).
        """
        if not self.model.existFrame(frame):
            frames = sorted({f.name for f in self.model.frames})
            raise KinematicsError(f"no frame {frame!r} in {self.urdf_path.name}; frames are {frames}")
        return int(self.model.getFrameId(frame))

    def _q(self, q: Sequence[float] | np.ndarray) -> np.ndarray:
        qa = np.asarray(q, dtype=np.float64)
        if qa.shape != (self.model.nq,):
            raise KinematicsError(f"expected {self.model.nq} joint angles, got shape {qa.shape}")
        return qa

    def fk(self, q: Sequence[float] | np.ndarray) -> np.ndarray:
        """End-effector pose ``T_base_ee`` (4×4, [m]) at joint angles ``q`` [rad]."""
        return self.frame_pose(q, self.ee_frame_id)

    def frame_pose(self, q: Sequence[float] | np.ndarray, frame: str | int) -> np.ndarray:
        """Pose ``T_base_frame`` (4×4, [m]) of any frame at joint angles ``q`` [rad]."""
        fid = frame if isinstance(frame, int) else self.frame_id(frame)
        pin.forwardKinematics(self.model, self.data, self._q(q))
        return np.array(pin.updateFramePlacement(self.model, self.data, fid).homogeneous)

    def jacobian(self, q: Sequence[float] | np.ndarray, frame: str | int | None = None) -> np.ndarray:
        """6×6 Jacobian of a frame (default the end effector), LOCAL_WORLD_ALIGNED.

        Rows are ``[v; ω]``: the linear velocity [m/s] of the frame's origin and the
        angular velocity [rad/s] of the frame, both expressed in the base frame's axes,
        per unit joint velocity [rad/s]. So ``d p_base_ee = J[:3] dq`` and
        ``d R = [J[3:] dq]× R`` to first order.
        """
        fid = self.ee_frame_id if frame is None else (frame if isinstance(frame, int) else self.frame_id(frame))
        return np.array(pin.computeFrameJacobian(self.model, self.data, self._q(q), fid, pin.LOCAL_WORLD_ALIGNED))

    def clamp(self, q: Sequence[float] | np.ndarray, margin_rad: float = 0.0) -> np.ndarray:
        """``q`` clamped into ``[q_lower + margin, q_upper - margin]``."""
        return np.clip(self._q(q), self.q_lower + margin_rad, self.q_upper - margin_rad)

    def within_limits(self, q: Sequence[float] | np.ndarray, tol_rad: float = 1e-9) -> bool:
        """True when every joint lies inside its limits (with tolerance ``tol_rad``)."""
        qa = self._q(q)
        return bool(np.all(qa >= self.q_lower - tol_rad) and np.all(qa <= self.q_upper + tol_rad))

    def random_q(self, rng: np.random.Generator, margin_rad: float = 0.0) -> np.ndarray:
        """Uniformly random joint angles inside the limits (shrunk by ``margin_rad``)."""
        return rng.uniform(self.q_lower + margin_rad, self.q_upper - margin_rad)
