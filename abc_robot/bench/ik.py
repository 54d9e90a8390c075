"""``abc-bench ik``: full-pose IK solve time and accuracy, ours against pink and mink.

All three solvers get the same random reachable targets of the YAM follower's ``ee``
frame (FK of random joint angles inside the limits) and the same warm start: the
target's joint angles perturbed by up to ±0.1 rad per joint, i.e. a previous solution
a few centimetres away, which is the realistic teleoperation case (at 500 Hz the real
warm start is far closer). Every solver gets the same budget of 50 iterations. The
baselines stop at 0.1 mm and 1 mrad; ours runs with its defaults, which are 3×
tighter (0.03 mm, 0.3 mrad), so that its speed is never bought with accuracy:

* ours: :class:`~abc_robot.kinematics.IKSolver` with its defaults;
* pink (pin-pink, DAQP QP solver) on the same reduced pinocchio model, a
  ``FrameTask`` with dead-beat gain and ``dt = 1`` (each QP is one full Gauss–Newton
  step), configuration limits on;
* mink (DAQP) on a MuJoCo model compiled from the same URDF (finger joints removed
  so that both see the six arm joints), the same task and limits.

The baselines' loop (update kinematics, check the error, solve one QP, integrate) is
timed per solve, exactly like ours. Rows: median and p99 time per solve [µs],
median position [mm] and rotation [mrad] error, and the fraction of solves within
0.1 mm and 1 mrad and inside the joint limits [%].
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from abc_robot.bench.common import Row, percentiles_us

__all__ = ["run"]

POS_TOL_M = 1e-4  # baselines' tolerance; ours uses its (tighter) defaults
ROT_TOL_RAD = 1e-3
MAX_ITERS = 50
WARM_START_RAD = 0.1
URDF = "yam_follower.urdf"

Solve = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _problems(n: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from abc_robot.kinematics import ArmModel

    arm = ArmModel.from_urdf(URDF)
    rng = np.random.default_rng(seed)
    targets, inits = [], []
    for _ in range(n):
        q = arm.random_q(rng, margin_rad=0.05)
        targets.append(arm.fk(q))
        inits.append(arm.clamp(q + rng.uniform(-WARM_START_RAD, WARM_START_RAD, arm.nq)))
    return targets, inits


def _ours() -> Solve:
    from abc_robot.kinematics import ArmModel, IKConfig, IKSolver

    cfg = IKConfig(max_iters=MAX_ITERS)
    assert cfg.pos_tol_m <= POS_TOL_M and cfg.rot_tol_rad <= ROT_TOL_RAD
    ik = IKSolver(ArmModel.from_urdf(URDF), cfg)
    return lambda T, q0: ik.solve(T, q0).q


def _pink() -> Solve:
    import pink
    import pinocchio as pin
    from pink.limits import ConfigurationLimit
    from pink.tasks import FrameTask

    from abc_robot.kinematics import ArmModel

    arm = ArmModel.from_urdf(URDF)
    model = arm.model
    config = pink.Configuration(model, model.createData(), pin.neutral(model))
    task = FrameTask("ee", position_cost=1.0, orientation_cost=1.0, lm_damping=1e-6, gain=1.0)
    limits = [ConfigurationLimit(model)]
    fid = arm.ee_frame_id
    log3 = pin.log3

    def solve(T: np.ndarray, q0: np.ndarray) -> np.ndarray:
        target = pin.SE3(T)
        task.set_target(target)
        p_t, R_t = target.translation, target.rotation
        config.update(q0)
        for _ in range(MAX_ITERS):
            M = config.data.oMf[fid]
            if (
                np.linalg.norm(p_t - M.translation) <= POS_TOL_M
                and np.linalg.norm(log3(R_t @ M.rotation.T)) <= ROT_TOL_RAD
            ):
                break
            v = pink.solve_ik(config, [task], 1.0, solver="daqp", damping=1e-12, limits=limits, safety_break=False)
            config.integrate_inplace(v, 1.0)
        return np.array(config.q)

    return solve


def _mink() -> Solve:
    import mink
    import mujoco

    from abc_robot.kinematics import URDF_DIR

    spec = mujoco.MjSpec.from_file(str(URDF_DIR / URDF))
    for eq in list(spec.equalities):
        spec.delete(eq)
    for name in ("finger_left", "finger_right"):
        spec.delete(spec.joint(name))
    model = spec.compile()
    config = mink.Configuration(model)
    task = mink.FrameTask("ee", "body", position_cost=1.0, orientation_cost=1.0, lm_damping=1e-6, gain=1.0)
    limits = [mink.ConfigurationLimit(model)]
    body = model.body("ee").id
    data = config.data

    def solve(T: np.ndarray, q0: np.ndarray) -> np.ndarray:
        task.set_target(mink.SE3.from_matrix(T))
        p_t, R_t = T[:3, 3], T[:3, :3]
        config.update(q0)
        for _ in range(MAX_ITERS):
            R = data.xmat[body].reshape(3, 3)
            cos = 0.5 * (np.trace(R_t.T @ R) - 1.0)
            if np.linalg.norm(p_t - data.xpos[body]) <= POS_TOL_M and cos >= np.cos(ROT_TOL_RAD):
                break
            v = mink.solve_ik(config, [task], 1.0, solver="daqp", damping=1e-12, limits=limits)
            config.integrate_inplace(v, 1.0)
        return np.array(config.q)

    return solve


def _measure(solve: Solve, targets: list[np.ndarray], inits: list[np.ndarray]) -> dict[str, float]:
    from abc_robot.kinematics import ArmModel, pose_error

    arm = ArmModel.from_urdf(URDF)
    for T, q0 in zip(targets[:5], inits[:5], strict=True):  # warm caches and lazy imports
        solve(T, q0)
    times, pos, rot, ok = [], [], [], 0
    for T, q0 in zip(targets, inits, strict=True):
        t0 = time.perf_counter_ns()
        q = solve(T, q0)
        times.append(time.perf_counter_ns() - t0)
        d, a = pose_error(arm.fk(q), T)
        pos.append(d)
        rot.append(a)
        ok += d <= POS_TOL_M and a <= ROT_TOL_RAD and arm.within_limits(q, tol_rad=1e-6)
    p50, p99 = percentiles_us(times)
    return {
        "p50": p50,
        "p99": p99,
        "pos_mm": float(np.median(pos)) * 1e3,
        "rot_mrad": float(np.median(rot)) * 1e3,
        "ok": 100.0 * ok / len(targets),
    }


def run(quick: bool = False) -> list[Row]:
    """Measure the three solvers on the same targets; see the module docstring."""
    n = 20 if quick else 2000
    targets, inits = _problems(n)
    results = {
        name: _measure(make(), targets, inits) for name, make in (("ours", _ours), ("pink", _pink), ("mink", _mink))
    }
    base = min(("pink", "mink"), key=lambda k: results[k]["p50"])
    rows: list[Row] = []
    for name, r in results.items():
        ours = name == "ours"
        rows += [
            Row(f"{name}/ik", r["p50"], "us", f"{base}/ik" if ours else None),
            Row(f"{name}/ik/p99", r["p99"], "us", f"{base}/ik/p99" if ours else None),
            Row(f"{name}/ik/pos_err_mm", r["pos_mm"], "mm", f"{base}/ik/pos_err_mm" if ours else None),
            Row(f"{name}/ik/rot_err_mrad", r["rot_mrad"], "mrad", f"{base}/ik/rot_err_mrad" if ours else None),
            Row(f"{name}/ik/converged", r["ok"], "%", f"{base}/ik/converged" if ours else None),
        ]
    return rows


if __name__ == "__main__":
    import sys

    from abc_robot.bench.common import report

    report("ik", run(quick="--quick" in sys.argv), as_json="--json" in sys.argv)
