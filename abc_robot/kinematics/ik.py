"""Inverse kinematics for one arm: damped least squares, warm-started, limit-safe.

The solver is a projected Levenberg–Marquardt iteration on the end-effector pose
error, written for the teleoperation hot path (one solve per arm per control tick):

* error ``e = [p_target − p, log3(R_target Rᵀ)]`` in the base frame's axes, against
  the LOCAL_WORLD_ALIGNED frame Jacobian ``J`` (rotation rows weighted by
  ``rot_weight_m``); ``J`` is the derivative of ``-e`` up to a term of order ``‖e‖``
  (``Jlog3 = I + O(‖e‖)``), so the iteration still converges quadratically;
* step ``dq = Jᵀ (J Jᵀ + λ I)⁻¹ e`` with adaptive damping
  ``λ = (damping + error_damping_gain · ½‖e‖²) · boost``: large errors (unreachable
  targets) take short, stable steps, small errors converge quadratically; ``boost``
  is a Levenberg–Marquardt trust factor (a step that makes the error worse is
  retried from the best iterate with ``boost × 4``; a good step divides it by 4);
  near a singularity, when the manipulability ``m = √det(J Jᵀ)`` falls below
  ``m₀ = manipulability_threshold``, ``singular_damping · (1 − (m/m₀)²)`` is added,
  faded out below 1 cm of error so that the last steps stay quadratic;
* every iterate is clamped into the joint limits (minus a margin) and into an
  optional per-call box ``|q − q_init| ≤ max_step_rad``; each iteration's step is
  capped at ``max_iter_step_rad``;
* optional posture task in the null space of the pose task:
  ``dq += (I − J⁺ J) · posture_gain · (q_posture − q)``; once the pose has
  converged, further steps are kept while they stay within the tolerances, until the
  posture step falls below ``posture_tol_rad`` or the iteration budget is spent;
* the best iterate (smallest weighted error) is returned, so an unreachable target
  yields the closest reachable pose found from the warm start, never a pose worse
  than the (limit-clamped) warm start; the solve stops early once three iterations
  in a row gain less than ``min_relative_progress`` (the closest point is reached);
* a joint resting on a limit that a step pushes further out is dropped from that
  step, so the other joints take its share instead of the whole step being clipped.

Per iteration it makes one pinocchio call (``computeFrameJacobian``, which also
updates the frame placement), one ``log3`` and one 6×6 LAPACK Cholesky solve
(``dposv``), and keeps the Python work around them to a few numpy operations; the
pinocchio ``Data`` belongs to the solver. An ``IKSolver`` is therefore not
thread-safe: use one per thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pinocchio as pin
from scipy.linalg.lapack import dposv

from abc_robot.errors import KinematicsError
from abc_robot.kinematics.model import ArmModel

__all__ = ["IKConfig", "IKResult", "IKSolver"]

_LWA = pin.LOCAL_WORLD_ALIGNED
# Weighted pose error [m] below which the singularity damping fades out linearly.
_SINGULAR_FADE_M = 0.01


@dataclass(frozen=True)
class IKConfig:
    """Settings of :class:`IKSolver` (defaults suit the YAM arm at teleop rates)."""

    max_iters: int = 50  # iterations per solve; a warm-started teleop solve needs 2-5
    pos_tol_m: float = 3e-5  # converged when the position error is below this [m]
    rot_tol_rad: float = 3e-4  # ... and the rotation error below this [rad]
    rot_weight_m: float = 0.3  # weight of rotation rows [m/rad]; 0 solves position only
    damping: float = 1e-6  # floor of the LM damping λ [m²]
    error_damping_gain: float = 1.0  # λ += gain · ½‖weighted error‖² (Sugihara) [1]
    singular_damping: float = 1e-3  # extra λ [m²] at zero manipulability
    # m₀ in units of √det(J Jᵀ) with the weighted rows: about the 5th percentile over
    # the YAM's joint space, so only genuinely near-singular poses get extra damping.
    manipulability_threshold: float = 3e-6
    max_iter_step_rad: float = 0.3  # largest joint change in one iteration [rad]
    max_step_rad: float | None = None  # largest joint change in one solve [rad]; None = off
    limit_margin_rad: float = 0.0  # stay this far inside the URDF joint limits [rad]
    posture_gain: float = 0.3  # fraction of the posture error corrected per iteration [1]
    posture_tol_rad: float = 1e-3  # stop polishing the posture when a step is below this [rad]
    stall_step_rad: float = 1e-9  # stop when an iteration moves every joint less than this
    min_relative_progress: float = 1e-4  # stop after 3 iterations each gaining less than this [1]

    def __post_init__(self) -> None:
        if self.max_iters < 1:
            raise ValueError(f"max_iters must be >= 1, got {self.max_iters}")
        for name in ("pos_tol_m", "rot_tol_rad", "max_iter_step_rad", "damping"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in (
            "rot_weight_m",
            "error_damping_gain",
            "singular_damping",
            "manipulability_threshold",
            "limit_margin_rad",
            "stall_step_rad",
            "min_relative_progress",
            "posture_tol_rad",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.posture_gain <= 1.0:
            raise ValueError(f"posture_gain must be in [0, 1], got {self.posture_gain}")
        if self.max_step_rad is not None and not self.max_step_rad > 0:
            raise ValueError(f"max_step_rad must be > 0 or None, got {self.max_step_rad}")


@dataclass(frozen=True)
class IKResult:
    """Outcome of one solve.

    Attributes:
        q: joint angles [rad], shape (6,), always inside the limits (and the per-call
            step box when ``max_step_rad`` is set); the best iterate found.
        pos_err_m: position error of ``q`` against the target [m].
        rot_err_rad: rotation error of ``q`` against the target [rad].
        converged: both errors are within the configured tolerances.
        iterations: iterations run (Jacobian evaluations).
        p_base_ee: end-effector position at ``q`` in the base frame [m], from the
            solve's own forward kinematics (to rounding): callers that need the
            pose's position at ``q`` (a workspace check) need no FK of their own.
    """

    q: np.ndarray
    pos_err_m: float
    rot_err_rad: float
    converged: bool
    iterations: int
    p_base_ee: np.ndarray | None = None


class IKSolver:
    """Pose IK for an :class:`ArmModel`'s end-effector frame.

    Args:
        model: the arm.
        cfg: solver settings.

    Example::

        arm = ArmModel.from_urdf("yam_follower.urdf")
        ik = IKSolver(arm)
        res = ik.solve(T_base_target, q_current)  # warm start: the current joints
        if res.converged: ...
    """

    def __init__(self, model: ArmModel, cfg: IKConfig | None = None) -> None:
        self.arm = model
        self.cfg = cfg or IKConfig()
        c = self.cfg
        self._model = model.model
        self._data = model.model.createData()
        self._fid = model.ee_frame_id
        lo = model.q_lower + c.limit_margin_rad
        hi = model.q_upper - c.limit_margin_rad
        if np.any(lo > hi):
            raise KinematicsError(f"limit_margin_rad={c.limit_margin_rad} leaves no room inside the joint limits")
        self._lo, self._hi = lo, hi
        self._rows = 6 if c.rot_weight_m > 0 else 3
        self._w = np.array([1.0, 1.0, 1.0, c.rot_weight_m, c.rot_weight_m, c.rot_weight_m])[: self._rows]
        self._wcol = self._w[:, None]
        self._zeros6 = np.zeros(6)

    def solve(
        self,
        T_base_target: np.ndarray,
        q_init: Sequence[float] | np.ndarray,
        q_posture: Sequence[float] | np.ndarray | None = None,
    ) -> IKResult:
        """Joint angles that bring the end effector to ``T_base_target``.

        Args:
            T_base_target: target pose of the end-effector frame in the arm's base
                frame, 4×4 [m].
            q_init: warm start [rad], normally the current (or last commanded) joint
                angles; clamped into the limits first.
            q_posture: optional preferred joint angles [rad] pursued in the null space
                of the pose task (only where the pose leaves freedom: position-only
                solves, singular or unreachable poses).

        Returns:
            The best iterate; ``converged`` says whether it met the tolerances. An
            unreachable target returns the closest pose reached from ``q_init``.
        """
        c = self.cfg
        model, data, fid = self._model, self._data, self._fid
        T = np.asarray(T_base_target, dtype=np.float64)
        if T.shape != (4, 4):
            raise KinematicsError(f"T_base_target must be 4x4, got shape {T.shape}")
        R_t = T[:3, :3]
        p_t = T[:3, 3]
        q0 = np.asarray(q_init, dtype=np.float64)
        if q0.shape != (model.nq,):
            raise KinematicsError(f"q_init must have {model.nq} values, got shape {q0.shape}")
        lo, hi = self._lo, self._hi
        if c.max_step_rad is not None:
            lo = np.maximum(lo, q0 - c.max_step_rad)
            hi = np.minimum(hi, q0 + c.max_step_rad)
            # q0 itself may lie outside the limits: keep the box non-empty.
            lo = np.minimum(lo, self._hi)
            hi = np.maximum(hi, self._lo)
        q = np.minimum(np.maximum(q0, lo), hi)
        posture = None if q_posture is None else np.asarray(q_posture, dtype=np.float64)

        rows, w, wcol = self._rows, self._w, self._wcol
        diag = rows + 1
        ptol2, rtol2 = c.pos_tol_m**2, c.rot_tol_rad**2
        # The weighted error must be below this for both tolerances to possibly hold.
        near2 = ptol2 + (c.rot_weight_m**2 * rtol2 if rows == 6 else 0.0)
        lam0, gain = c.damping, 0.5 * c.error_damping_gain
        m0sq, lam_s, fade2 = c.manipulability_threshold**2, c.singular_damping, _SINGULAR_FADE_M**2
        cap, stall, min_gain = c.max_iter_step_rad, c.stall_step_rad, c.min_relative_progress
        posture_tol = c.posture_tol_rad
        log3, jac, lwa = pin.log3, pin.computeFrameJacobian, _LWA
        q_best = q
        J_best = e_best = ew_best = self._zeros6
        best = math.inf
        boost = 1.0  # Levenberg–Marquardt trust factor on λ: grows after a failed step
        slow = 0
        converged = False
        it = 0
        while it < c.max_iters:
            it += 1
            J = jac(model, data, q, fid, lwa)  # also updates data.oMf[fid]
            M = data.oMf[fid]
            e = np.empty(6)
            e[:3] = p_t - M.translation
            e[3:] = log3(R_t @ M.rotation.T)
            ew = e[:rows] * w
            err = float(ew @ ew)
            within = err <= near2 and e[:3] @ e[:3] <= ptol2 and (rows == 3 or e[3:] @ e[3:] <= rtol2)
            if converged:
                # Posture polishing: keep the steps that stay within the tolerances,
                # shrink the ones that do not.
                if within:
                    best, q_best, J_best, e_best, ew_best = err, q, J, e, ew
                    boost = max(1.0, 0.25 * boost)
                else:
                    boost *= 4.0
                    if boost > 1e3:
                        break
            elif err < best:
                # Tiny gains several times running: an unreachable target's closest point.
                slow = slow + 1 if err > best * (1.0 - min_gain) else 0
                best, q_best, J_best, e_best, ew_best = err, q, J, e, ew
                boost = max(1.0, 0.25 * boost)
                if within:
                    converged = True
                    if posture is None:
                        break
                elif slow >= 3:
                    break
            else:
                # The step made things worse: retry from the best iterate, more damped.
                boost *= 4.0
                if boost > 1e6:
                    break
            q, J, ew, err = q_best, J_best, ew_best, best
            Jw = J[:rows] * wcol
            lam = (lam0 + gain * err) * boost
            # The posture step shrinks with the trust factor too, or a posture motion
            # that disturbs the pose would be retried unchanged.
            z = None if posture is None else (c.posture_gain / boost) * (posture - q)
            for attempt in (0, 1):
                A = Jw @ Jw.T
                A.ravel()[::diag] += lam
                chol, y, _ = dposv(A, ew, 1)
                if err > 1e-4 * fade2:
                    # det(A) from the Cholesky factor: the manipulability (plus a tiny
                    # λ bias). Near a singularity, damp more, fading out as the error
                    # vanishes so that the last steps still converge quadratically.
                    detA = math.prod(chol.diagonal().tolist()) ** 2
                    if detA < m0sq:
                        A.flat[::diag] += lam_s * (1.0 - detA / m0sq) * min(1.0, err / fade2)
                        chol, y, _ = dposv(A, ew, 1)
                dq = Jw.T @ y
                if z is not None:
                    # Undamped projector: a damped one would leak the posture into the
                    # pose task and leave a residual pose error.
                    P = Jw @ Jw.T
                    P.flat[::diag] += 1e-12
                    _, y2, _ = dposv(P, Jw @ z, lower=1)
                    dq += z - Jw.T @ y2
                big = max(map(abs, dq.tolist()))
                if big > cap:
                    dq *= cap / big
                q_raw = q + dq
                q_new = np.minimum(np.maximum(q_raw, lo), hi)
                if attempt or q_new.tolist() == q_raw.tolist():
                    break
                # A joint resting on a limit that the step pushes further out cannot
                # help: drop it from this step and let the others take its share.
                free = ~(((q <= lo) & (dq < 0)) | ((q >= hi) & (dq > 0)))
                if free.all():
                    break
                Jw = Jw * free
                if z is not None:
                    z = z * free
            if big < (posture_tol if converged else stall):
                break
            q = q_new
        return IKResult(
            q=q_best.copy(),
            pos_err_m=math.sqrt(e_best[:3] @ e_best[:3]),
            rot_err_rad=math.sqrt(e_best[3:] @ e_best[3:]),
            converged=converged,
            iterations=it,
            p_base_ee=p_t - e_best[:3],
        )
