"""Safety filter between every command source and the arm.

Applied to each command, in this order: joint limits (with a margin), per-tick
velocity and acceleration limits, gripper range and slew, the workspace box of the
end effector, and arm–arm collision. Limits *clamp* (the arm moves as fast as allowed
towards the request); the workspace box and a predicted collision *refuse*: the arm
holds its previous command and the reason is reported. The follower's watchdog
(stale input → HOLD) sits above this filter.
"""

from __future__ import annotations

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
    """

    def __init__(
        self,
        cfg: SafetyConfig,
        q_lower: np.ndarray,
        q_upper: np.ndarray,
        fk: Callable[[np.ndarray], np.ndarray] | None = None,
        collision: Callable[[np.ndarray], str | None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.lo = np.asarray(q_lower, float) + cfg.limit_margin_rad
        self.hi = np.asarray(q_upper, float) - cfg.limit_margin_rad
        self.fk = fk
        self.collision = collision
        self.n = len(self.lo)
        self.q_prev: np.ndarray | None = None
        self.v_prev = np.zeros(self.n)
        self.box_lo = np.asarray(cfg.workspace_min_m)
        self.box_hi = np.asarray(cfg.workspace_max_m)
        self.refusals = 0

    def reset(self, q_measured: np.ndarray) -> None:
        """Start from the measured state (at start and after a fault): zero velocity."""
        self.q_prev = np.asarray(q_measured, float).copy()
        self.q_prev[: self.n] = np.clip(self.q_prev[: self.n], self.lo, self.hi)
        self.v_prev = np.zeros(self.n)

    def in_workspace(self, q6: np.ndarray) -> bool:
        if self.fk is None:
            return True
        p = self.fk(q6)[:3, 3]
        return bool((p >= self.box_lo).all() and (p <= self.box_hi).all())

    def filter(self, q_request: np.ndarray, dt_s: float, engaging: bool = False) -> SafetyResult:
        """Filter one command.

        Args:
            q_request: requested joints [rad] + gripper [0, 1].
            dt_s: time since the previous command [s] (bounded to [10 µs, 50 ms]).
            engaging: use the slower engage speed (ramping towards a new source).
        """
        # This runs on every tick of every arm: array methods and np.minimum/maximum
        # instead of np.clip / np.max / np.allclose (whose Python wrappers cost several
        # µs each on 6-vectors); the arithmetic is the same.
        if self.q_prev is None:
            raise RuntimeError("SafetyFilter.reset(q_measured) must be called before filter()")
        cfg, n = self.cfg, self.n
        mn, mx = np.minimum, np.maximum
        dt = min(max(dt_s, 1e-5), 0.05)
        req = np.asarray(q_request, float)
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
        if not self.in_workspace(q):
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
