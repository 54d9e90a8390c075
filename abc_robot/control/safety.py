"""Safety filter between every command source and the arm.

Applied to each command, in this order: joint limits (with a margin), per-tick
velocity and acceleration limits, gripper range and slew, the workspace box of the
end effector, and arm–arm collision. Limits *clamp* (the arm moves as fast as allowed
towards the request); the workspace box and a predicted collision *refuse*: the arm
holds its previous command and the reason is reported. The follower's watchdog
(stale input → HOLD) sits above this filter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SafetyConfig", "SafetyFilter", "SafetyResult"]


@dataclass(frozen=True)
class SafetyConfig:
    """Per-arm safety limits.

    Attributes:
        limit_margin_rad: stay this far inside the URDF joint limits [rad].
        max_velocity_rad_s: joint speed limit [rad/s] (arm joints).
        max_accel_rad_s2: joint acceleration limit [rad/s²] (arm joints).
        engage_velocity_rad_s: speed limit while engaging (ramping to the leader) [rad/s].
        gripper_max_rate: gripper slew limit [1/s] of the normalized opening.
        workspace_min_m: lower corner of the allowed end-effector box in the arm's base
            frame [m] (x, y, z).
        workspace_max_m: upper corner [m].
    """

    limit_margin_rad: float = 0.02
    max_velocity_rad_s: float = 3.0
    max_accel_rad_s2: float = 60.0
    engage_velocity_rad_s: float = 0.6
    gripper_max_rate: float = 4.0
    workspace_min_m: tuple[float, float, float] = (-0.35, -0.6, -0.10)
    workspace_max_m: tuple[float, float, float] = (0.75, 0.6, 0.75)

    def __post_init__(self) -> None:
        for name in ("max_velocity_rad_s", "max_accel_rad_s2", "engage_velocity_rad_s", "gripper_max_rate"):
            if getattr(self, name) <= 0:
                err = ValueError(f"must be positive, got {getattr(self, name)}")
                err.field = name  # type: ignore[attr-defined]
                raise err
        if self.limit_margin_rad < 0:
            raise ValueError("limit_margin_rad must be >= 0")
        if any(lo >= hi for lo, hi in zip(self.workspace_min_m, self.workspace_max_m)):
            raise ValueError("workspace_min_m must be below workspace_max_m on every axis")


@dataclass
class SafetyResult:
    """What the filter let through.

    Attributes:
        q: the command to send [rad, gripper in 0..1].
        clamped: names of the limits that changed the request (``joint_limit``,
            ``velocity``, ``acceleration``, ``gripper``).
        refused: why the request was refused and the previous command held, or None.
    """

    q: np.ndarray
    clamped: list[str] = field(default_factory=list)
    refused: str | None = None


class SafetyFilter:
    """Stateful per-arm filter (it remembers the last command and velocity).

    Args:
        cfg: limits.
        q_lower, q_upper: URDF joint limits of the arm joints [rad].
        fk: ``q6 -> T_base_ee`` (for the workspace box); None disables the box.
        collision: ``q6 -> reason or None`` (arm–arm check against the other arm's
            latest state); None disables it.
        reach_m: a bound on how far the end effector moves per radian of summed joint
            motion [m/rad] (:attr:`ArmModel.reach_m`); with it, an end-effector position
            already known at nearby joints (``known_fk`` of :meth:`filter`) settles the
            workspace check without an FK whenever it is provably inside the box.
    """

    def __init__(
        self,
        cfg: SafetyConfig,
        q_lower: np.ndarray,
        q_upper: np.ndarray,
        fk: Callable[[np.ndarray], np.ndarray] | None = None,
        collision: Callable[[np.ndarray], str | None] | None = None,
        reach_m: float | None = None,
    ) -> None:
        self.cfg = cfg
        self.lo = np.asarray(q_lower, float) + cfg.limit_margin_rad
        self.hi = np.asarray(q_upper, float) - cfg.limit_margin_rad
        self._lo_l, self._hi_l = self.lo.tolist(), self.hi.tolist()
        self.fk = fk
        self.collision = collision
        self.reach_m = reach_m
        self.n = len(self.lo)
        self.q_prev: np.ndarray | None = None
        self.v_prev = np.zeros(self.n)
        self.box_lo = np.asarray(cfg.workspace_min_m)
        self.box_hi = np.asarray(cfg.workspace_max_m)
        self._box_lo_l, self._box_hi_l = self.box_lo.tolist(), self.box_hi.tolist()
        self.refusals = 0

    def reset(self, q_measured: np.ndarray) -> None:
        """Start from the measured state (at start and after a fault): zero velocity."""
        self.q_prev = np.asarray(q_measured, float).copy()
        self.q_prev[: self.n] = np.clip(self.q_prev[: self.n], self.lo, self.hi)
        self.v_prev = np.zeros(self.n)

    def in_workspace(self, q6: np.ndarray, known: tuple[np.ndarray, np.ndarray | None] | None = None) -> bool:
        """True when the end effector at ``q6`` lies inside the workspace box.

        Args:
            q6: arm joints [rad].
            known: ``(q6', p_base_ee)``, the end effector's position already computed at
                joints ``q6'`` [rad, m] (the IK's solution). With ``reach_m`` the end
                effector at ``q6`` lies within ``reach_m · Σ|q6 − q6'|`` of it; when that
                ball is inside the box the answer needs no FK (otherwise the FK decides,
                so the answer is always exact).
        """
        if self.fk is None:
            return True
        if known is not None and known[1] is not None and self.reach_m is not None:
            # On floats: a handful of numpy calls on 3- and 6-vectors cost more than this.
            q_l, k_l = np.asarray(q6, float).tolist(), np.asarray(known[0], float).tolist()
            if len(q_l) == len(k_l):
                # (+1 nm for the rounding in the known position itself)
                ball = self.reach_m * sum(abs(a - b) for a, b in zip(q_l, k_l)) + 1e-9
                p_l = np.asarray(known[1], float).tolist()
                if all(p - lo > ball and hi - p > ball for p, lo, hi in zip(p_l, self._box_lo_l, self._box_hi_l)):
                    return True
        p = self.fk(q6)[:3, 3]
        return bool((p >= self.box_lo).all() and (p <= self.box_hi).all())

    def filter(
        self,
        q_request: np.ndarray,
        dt_s: float,
        engaging: bool = False,
        known_fk: tuple[np.ndarray, np.ndarray | None] | None = None,
    ) -> SafetyResult:
        """Filter one command.

        Args:
            q_request: requested joints [rad] + gripper [0, 1].
            dt_s: time since the previous command [s] (bounded to [10 µs, 50 ms]).
            engaging: use the slower engage speed (ramping towards a new source).
            known_fk: ``(q6, p_base_ee)``: the end effector's position already known at
                ``q6`` (the IK solution the request came from), so the workspace check
                needs no FK when the limits leave the request as it is.
        """
        if self.q_prev is None:
            raise RuntimeError("SafetyFilter.reset(q_measured) must be called before filter()")
        req = np.asarray(q_request, float)
        n = self.n
        req_l = req.tolist() if req.ndim == 1 else None
        if req_l is not None and len(req_l) >= n:
            qp = self.q_prev.tolist()
            vp = self.v_prev.tolist()
            # Finite inputs only (NaN and inf take the array path, which propagates them
            # exactly as before): on finite floats Python's min/max/arithmetic give the
            # very same IEEE results as numpy's, at a fraction of the cost on 6 joints.
            if math.isfinite(sum(req_l[:n]) + sum(qp[:n]) + sum(vp)):
                return self._filter_floats(req_l, qp, vp, dt_s, engaging, known_fk)
        return self._filter_arrays(req, dt_s, engaging, known_fk)

    def _filter_floats(
        self,
        req: list[float],
        qp: list[float],
        vp: list[float],
        dt_s: float,
        engaging: bool,
        known_fk: tuple[np.ndarray, np.ndarray | None] | None,
    ) -> SafetyResult:
        """:meth:`_filter_arrays` on Python floats (finite inputs), operation for operation."""
        cfg, n = self.cfg, self.n
        dt = min(max(dt_s, 1e-5), 0.05)
        lo, hi = self._lo_l, self._hi_l
        vmax = cfg.engage_velocity_rad_s if engaging else cfg.max_velocity_rad_s
        ad = cfg.max_accel_rad_s2 * dt
        add = ad * dt
        sqrt = math.sqrt
        q_new = [0.0] * n
        v_new = [0.0] * n
        lim = acc = vel = False
        for i in range(n):
            r = req[i]
            q = min(max(r, lo[i]), hi[i])
            if q != r:
                lim = True
            q0 = qp[i]
            err = q - q0
            v = err / dt
            # Braking curve: never faster than a speed from which the joint can still
            # stop at the target with the acceleration limit (discrete-time form), so
            # limited commands do not overshoot the request.
            abs_err = abs(err)
            v_brake = ad * (sqrt(0.25 + 2.0 * abs_err / add) - 0.5)
            v_b = min(max(v, -v_brake), v_brake)
            v0 = vp[i]
            v_acc = v0 + min(max(v_b - v0, -ad), ad)
            if abs(v_acc - v) > 1e-9:
                acc = True
            v_lim = min(max(v_acc, -vmax), vmax)
            if abs(v_lim - v_acc) > 1e-9:
                vel = True
            # Land on the target instead of passing it.
            if abs(v_lim * dt) > abs_err:
                v_lim = v
            q = min(max(q0 + v_lim * dt, lo[i]), hi[i])
            q_new[i] = q
            v_new[i] = (q - q0) / dt
        clamped: list[str] = []
        if lim:
            clamped.append("joint_limit")
        if acc:
            clamped.append("acceleration")
        if vel:
            clamped.append("velocity")
        out_l = list(qp)
        out_l[:n] = q_new
        if len(req) > n:
            r = float(req[n])
            g_req = min(max(r, 0.0), 1.0)
            g_prev = qp[n]
            step = cfg.gripper_max_rate * dt
            g = min(max(g_req, g_prev - step), g_prev + step)
            if g != r:
                clamped.append("gripper")
            out_l[n] = g
        q_arr = np.array(q_new)
        if not self.in_workspace(q_arr, known_fk):
            return self._refuse("end effector would leave the workspace box")
        if self.collision is not None:
            reason = self.collision(q_arr)
            if reason:
                return self._refuse(reason)
        self.v_prev = np.array(v_new)
        out = np.array(out_l)
        self.q_prev = out
        return SafetyResult(out.copy(), clamped, None)

    def _filter_arrays(
        self, req: np.ndarray, dt_s: float, engaging: bool, known_fk: tuple[np.ndarray, np.ndarray | None] | None
    ) -> SafetyResult:
        """The filter on numpy arrays: any input, non-finite values included."""
        assert self.q_prev is not None
        # This runs on every tick of every arm: array methods and np.minimum/maximum
        # instead of np.clip / np.max / np.allclose (whose Python wrappers cost several
        # µs each on 6-vectors); the arithmetic is the same.
        cfg, n = self.cfg, self.n
        mn, mx = np.minimum, np.maximum
        dt = min(max(dt_s, 1e-5), 0.05)
        out = self.q_prev.copy()
        clamped: list[str] = []
        q_prev = self.q_prev[:n]
        q = mn(mx(req[:n], self.lo), self.hi)
        if (q != req[:n]).any():
            clamped.append("joint_limit")
        vmax = cfg.engage_velocity_rad_s if engaging else cfg.max_velocity_rad_s
        amax = cfg.max_accel_rad_s2
        err = q - q_prev
        v = err / dt
        # Braking curve: never faster than a speed from which the joint can still stop
        # at the target with the acceleration limit (discrete-time form), so limited
        # commands do not overshoot the request.
        ad = amax * dt
        abs_err = np.abs(err)
        v_brake = ad * (np.sqrt(0.25 + 2.0 * abs_err / (ad * dt)) - 0.5)
        v_b = mn(mx(v, -v_brake), v_brake)
        dv = mn(mx(v_b - self.v_prev, -ad), ad)
        v_acc = self.v_prev + dv
        if np.abs(v_acc - v).max() > 1e-9:
            clamped.append("acceleration")
        v_lim = mn(mx(v_acc, -vmax), vmax)
        if np.abs(v_lim - v_acc).max() > 1e-9:
            clamped.append("velocity")
        # Land on the target instead of passing it.
        v_lim = np.where(np.abs(v_lim * dt) > abs_err, v, v_lim)
        q = mn(mx(q_prev + v_lim * dt, self.lo), self.hi)
        out[:n] = q
        if len(req) > n:
            r = float(req[n])
            g_req = min(max(r, 0.0), 1.0)
            g_prev = float(self.q_prev[n])
            step = cfg.gripper_max_rate * dt
            g = min(max(g_req, g_prev - step), g_prev + step)
            if g != r:
                clamped.append("gripper")
            out[n] = g
        if not self.in_workspace(q, known_fk):
            return self._refuse("end effector would leave the workspace box")
        if self.collision is not None:
            reason = self.collision(q)
            if reason:
                return self._refuse(reason)
        self.v_prev = (q - q_prev) / dt
        self.q_prev = out
        return SafetyResult(out.copy(), clamped, None)

    def _refuse(self, reason: str) -> SafetyResult:
        # Hold the previous command; the arm decelerates to a stop there.
        self.refusals += 1
        self.v_prev = np.zeros(self.n)
        assert self.q_prev is not None
        return SafetyResult(self.q_prev.copy(), [], reason)
