"""Sim tasks: seeded starts, success and progress tests, scripted demonstrations."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from abc_robot.errors import ConfigError
from abc_robot.sim import ARMS, Demonstrator, JointDemonstrator, SimConfig, SimWorld, WorldSnapshot
from abc_robot.sim.tasks import make_task, task_names
from abc_robot.sim.trajectory import PlanBuilder, min_jerk

TASKS = task_names()
_worlds: dict[str, SimWorld] = {}


def world_for(task: str) -> SimWorld:
    if task not in _worlds:
        _worlds[task] = SimWorld(SimConfig(task=task))
    return _worlds[task]


def run_demo(world: SimWorld, seed: int, control_hz: float = 100.0) -> tuple[bool, float]:
    """Play the task's demonstrator through the follower IK; return (success, best progress)."""
    snap = world.reset(seed)
    demo = JointDemonstrator(Demonstrator(world.task, snap))
    n = int(round(1.0 / control_hz / world.cfg.timestep_s))
    best = 0.0
    success_at = None
    while world.time_s < world.task.time_limit_s:
        targets = demo.joint_targets(world.time_s, {a: world.arm_state(a)[0] for a in ARMS})
        for arm, q in targets.items():
            world.set_targets(arm, q)
        world.step(n)
        if int(world.time_s * control_hz) % 10 == 0:  # score at 10 Hz, as the sim node does
            p = world.task.progress(world)
            assert 0.0 <= p <= 1.0
            best = max(best, p)
        if success_at is None and world.task.success(world):
            success_at = world.time_s
        if world.time_s > demo.demo.duration_s + 0.5:
            break
    return world.task.success(world), best


def test_there_are_at_least_three_tasks_easiest_first() -> None:
    assert len(TASKS) >= 3 and TASKS[:3] == ["lift_cube_easy", "lift_cube_either", "lift_cube"]
    with pytest.raises(ConfigError, match="lift_cube"):
        make_task("fold_laundry")


@pytest.mark.parametrize("task", TASKS)
def test_reset_is_seeded_and_objects_rest_on_the_table(task: str) -> None:
    w = world_for(task)
    a = w.reset(5).objects
    b = w.reset(6).objects
    c = w.reset(5).objects
    for name in a:
        np.testing.assert_array_equal(a[name], c[name])
    assert any(not np.allclose(a[n], b[n]) for n in a)
    start = {n: w.object_pose(n) for n in a}
    w.step(250)  # objects placed, not dropped: they barely move in half a second
    for name, T in start.items():
        moved = np.linalg.norm(w.object_pose(name)[:3, 3] - T[:3, 3])
        assert moved < 2e-3, f"{name} moved {moved * 1e3:.1f} mm"
        assert w.object_pose(name)[2, 3] > w.table_top_z - 1e-3
    assert not w.task.success(w)
    assert 0.0 <= w.task.progress(w) < 0.5


def test_lift_cube_needs_a_grasp_not_just_height() -> None:
    w = world_for("lift_cube")
    w.reset(0)
    T = w.object_pose("cube")
    w.set_object_pose("cube", T[:3, 3] + [0, 0, 0.10])  # floating, untouched
    assert not w.task.success(w)
    assert w.task.progress(w) < 0.5


def test_bottle_in_bin_success_is_inside_the_walls_and_released() -> None:
    w = world_for("bottle_in_bin")
    w.reset(0)
    p_bin = w.object_pose("bin")[:3, 3]
    w.set_object_pose("bottle", p_bin + [0.0, 0.0, 0.01 + 0.045 + 0.001])
    w.step(100)
    assert w.task.success(w) and w.task.progress(w) == 1.0
    w.set_object_pose("bottle", p_bin + [0.12, 0.0, 0.046])  # beside the bin
    w.step(50)
    assert not w.task.success(w)


def test_snapshot_travels_over_msgpack_and_plans_the_same() -> None:
    w = world_for("handover")
    snap = w.reset(3)
    wire = msgpack.unpackb(msgpack.packb(snap.to_dict()))
    back = WorldSnapshot.from_dict(wire)
    d1, d2 = Demonstrator("handover", snap), Demonstrator("handover", back)
    for t in (0.0, 2.3, 7.7, 12.0):
        for arm in ARMS:
            np.testing.assert_allclose(d1.targets(t)[arm][0], d2.targets(t)[arm][0], atol=1e-12)
    with pytest.raises(ValueError, match="objects"):
        WorldSnapshot.from_dict({k: v for k, v in snap.to_dict().items() if k != "objects"})


@pytest.mark.parametrize("task", TASKS)
def test_demonstration_starts_where_the_arms_are_and_moves_smoothly(task: str) -> None:
    w = world_for(task)
    snap = w.reset(1)
    demo = Demonstrator(task, snap)
    assert demo.duration_s < w.task.time_limit_s - 1.0
    dt = 0.004
    for arm in ARMS:
        T0, g0 = demo.targets(0.0)[arm]
        np.testing.assert_allclose(T0, snap.T_base_ee[arm], atol=1e-9)
        assert g0 == pytest.approx(snap.gripper[arm], abs=1e-9)
        prev = T0[:3, 3]
        for t in np.arange(dt, demo.duration_s + 1.0, dt):
            T, g = demo.targets(float(t))[arm]
            assert 0.0 <= g <= 1.0
            np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9)
            speed = np.linalg.norm(T[:3, 3] - prev) / dt
            assert speed < 0.5, f"{arm} at {t:.2f} s moves at {speed:.2f} m/s"
            prev = T[:3, 3]


def test_min_jerk_profile_and_plan_builder() -> None:
    assert min_jerk(0.0) == 0.0 and min_jerk(1.0) == 1.0 and min_jerk(0.5) == pytest.approx(0.5)
    assert min_jerk(-1.0) == 0.0 and min_jerk(2.0) == 1.0
    T = np.eye(4)
    T2 = np.eye(4)
    T2[:3, 3] = [0.1, 0.0, 0.0]
    traj = PlanBuilder(T, 0.0).move(T2, 1.0).grip(1.0, 0.5).wait_until(3.0).build()
    assert traj.duration_s == pytest.approx(3.0)
    assert traj(0.5)[0][0, 3] == pytest.approx(0.05)
    assert traj(1.25)[1] == pytest.approx(0.5)
    assert traj(10.0)[1] == 1.0
    with pytest.raises(ValueError, match="decrease"):
        from abc_robot.sim.trajectory import Keyframe, PoseTrajectory

        PoseTrajectory([Keyframe(1.0, T, 0.0), Keyframe(0.5, T, 0.0)])


# Seeds per task: enough to see "most initial conditions", few enough for < 30 s in all.
DEMO_SEEDS = {"lift_cube_easy": range(3), "lift_cube": range(4), "bottle_in_bin": range(3), "handover": range(2)}


@pytest.mark.parametrize("task", TASKS)
def test_scripted_demonstrator_succeeds_in_process(task: str) -> None:
    seeds = DEMO_SEEDS.get(task, range(2))
    results = [run_demo(world_for(task), s) for s in seeds]
    successes = sum(ok for ok, _ in results)
    assert successes >= len(results) - 1 and successes >= 1, results
    for ok, best in results:
        if ok:
            assert best == 1.0


def test_demonstrator_imports_no_physics_engine() -> None:
    """A scripted leader plays demonstrations without loading MuJoCo (or torch)."""
    import subprocess
    import sys

    from .utils import REPO

    code = "import sys, abc_robot.sim.demonstrator; print('mujoco' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
