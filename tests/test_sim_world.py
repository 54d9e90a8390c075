"""The MuJoCo world: scene assembly, servo tracking, cameras, qpos round trip."""

from __future__ import annotations

import numpy as np
import pytest

from abc_robot.errors import ConfigError
from abc_robot.sim.gl import ensure_gl_backend

ensure_gl_backend()

from abc_robot.sim import HOME_Q, SimConfig, SimWorld  # noqa: E402
from abc_robot.sim.arms import FINGER_TRAVEL_M  # noqa: E402


@pytest.fixture(scope="module")
def world() -> SimWorld:
    w = SimWorld(SimConfig(task="lift_cube", image_width=96, image_height=64))
    yield w
    w.close()


def test_scene_has_two_prefixed_arms_cameras_and_task_objects(world: SimWorld) -> None:
    m = world.model
    for arm in ("left", "right"):
        for j in range(1, 7):
            assert m.joint(f"{arm}_joint{j}").type == 3  # hinge
            assert m.actuator(f"{arm}_joint{j}").trnid[0] == m.joint(f"{arm}_joint{j}").id
        assert m.actuator(f"{arm}_gripper").ctrlrange.tolist() == [0.0, 1.0]
        assert m.body(f"{arm}_ee").id > 0
    assert set(world.cameras) == {"top", "left", "right"}
    assert m.body("cube").id > 0 and m.body("table").id > 0
    # Two free-floating arms would add 14 qpos; the scene has 2 x 8 arm joints + 7 (cube).
    assert m.nq == 2 * 8 + 7
    assert m.opt.timestep == pytest.approx(0.002)


def test_arm_bases_follow_the_layout_file(world: SimWorld) -> None:
    for arm, y in (("left", 0.30), ("right", -0.30)):
        T = world.T_world_base(arm)
        np.testing.assert_allclose(T[:3, 3], [0.0, y, 0.75])
        base = world.data.xpos[world.model.body(f"{arm}_base_link").id]
        np.testing.assert_allclose(base, T[:3, 3], atol=1e-12)


def test_reset_is_at_home_without_contacts_between_arm_and_table(world: SimWorld) -> None:
    world.reset(0)
    for arm in ("left", "right"):
        q, dq = world.arm_state(arm)
        np.testing.assert_allclose(q, HOME_Q, atol=1e-9)
        np.testing.assert_allclose(dq, 0.0)
        T = world.ee_pose(arm)
        assert T[2, 2] < -0.99  # ready pose points the gripper at the table
    world.step(250)  # half a second: nothing should move by itself
    for arm in ("left", "right"):
        q, _ = world.arm_state(arm)
        np.testing.assert_allclose(q[:6], HOME_Q[:6], atol=2e-3)


def test_arms_settle_on_a_far_target_within_a_millimetre(world: SimWorld) -> None:
    world.reset(1)
    from abc_robot.kinematics.model import ArmModel

    fk = ArmModel.from_urdf("yam_follower.urdf")
    target = np.array([0.3, 1.6, 1.1, -1.0, 0.3, -0.4, 0.0])
    world.set_targets("left", target)
    world.step(500)  # 1 s at 500 Hz, torque-limited most of the way
    _, dq = world.arm_state("left")
    p_err = np.linalg.norm(world.ee_pose("left")[:3, 3] - fk.fk(target[:6])[:3, 3])
    assert p_err < 1e-3, f"settled end-effector error {p_err * 1e3:.2f} mm"
    assert np.abs(dq[:6]).max() < 1e-2  # at rest, not ringing


def test_small_steps_are_well_damped(world: SimWorld) -> None:
    """A follower moves in small increments: those must not overshoot or ring."""
    world.reset(1)
    step = np.array([0.05, -0.05, 0.05, 0.05, -0.05, 0.05])
    target = np.asarray(HOME_Q, dtype=float).copy()
    target[:6] += step
    world.set_targets("left", target)
    err = []
    for _ in range(250):
        world.step()
        err.append((target[:6] - world.arm_state("left")[0][:6]) / step)
    e = np.asarray(err)  # per joint, 1 at the start, 0 on target, < 0 past it
    assert e.min() > -0.10, f"overshoot {-e.min():.0%}"
    assert np.abs(e[-50:]).max() < 0.01  # settled within 0.4 s


def test_gripper_is_normalised_both_ways(world: SimWorld) -> None:
    world.reset(2)
    arm = "right"
    # ABC's convention: 0 = closed, 1 = open (the finger opening over its travel).
    assert world.arm_state(arm)[0][6] == pytest.approx(1.0, abs=1e-6)  # ready pose: open
    finger_open = world.data.qpos[world.model.joint(f"{arm}_finger_left").qposadr[0]]
    assert finger_open == pytest.approx(FINGER_TRAVEL_M, abs=1e-9)
    world.set_targets(arm, np.append(np.asarray(HOME_Q[:6]), 0.0))
    world.step(400)
    g = world.arm_state(arm)[0][6]
    assert g < 0.03  # closed on nothing
    finger = world.data.qpos[world.model.joint(f"{arm}_finger_left").qposadr[0]]
    assert finger == pytest.approx(FINGER_TRAVEL_M * g, abs=1e-9)
    # Mimic finger follows the actuated one.
    other = world.data.qpos[world.model.joint(f"{arm}_finger_right").qposadr[0]]
    assert other == pytest.approx(finger, abs=1e-3)


def test_targets_are_clamped_to_joint_limits(world: SimWorld) -> None:
    world.reset(0)
    sent = world.set_targets("left", np.array([10.0, -5.0, 0.5, 0.0, 0.0, 0.0, 2.0]))
    assert sent[0] == pytest.approx(3.14159) and sent[1] == 0.0 and sent[6] == 1.0
    with pytest.raises(ConfigError, match="7 values"):
        world.set_targets("left", np.zeros(6))
    with pytest.raises(ConfigError, match="finite"):
        world.set_targets("left", np.array([0.0, 1.0, 1.0, 0.0, np.nan, 0.0, 0.0]))
    with pytest.raises(ConfigError, match="arms"):
        world.arm_state("middle")


def test_cameras_render_non_black_images_of_the_configured_size(world: SimWorld) -> None:
    world.reset(0)
    for cam in ("top", "left", "right"):
        img = world.render(cam)
        assert img.shape == (64, 96, 3) and img.dtype == np.uint8
        assert img.mean() > 20 and img.std() > 5, cam  # lit and not a flat colour
    with pytest.raises(ConfigError, match="cameras"):
        world.render("front")


def test_set_qpos_reproduces_the_rendered_image_of_another_world(world: SimWorld) -> None:
    world.reset(3)
    world.set_targets("left", np.array([0.4, 1.5, 1.0, -1.0, 0.2, 0.3, 0.5]))
    world.step(200)
    ref = world.render("top")
    other = SimWorld(SimConfig(task="lift_cube", image_width=96, image_height=64))
    try:
        other.reset(7)  # a different start: set_qpos must overwrite all of it
        other.set_qpos(world.qpos())
        np.testing.assert_array_equal(other.render("top"), ref)
        with pytest.raises(ConfigError, match="qpos"):
            other.set_qpos(np.zeros(3))
    finally:
        other.close()


def test_cheap_and_full_quality_differ_in_shadows() -> None:
    imgs = {}
    for q in ("cheap", "full"):
        w = SimWorld(SimConfig(render_quality=q, image_width=96, image_height=64))
        try:
            assert bool(w.model.light_castshadow[0]) == (q == "full")
            imgs[q] = w.render("top").astype(np.int16)
        finally:
            w.close()
    assert np.abs(imgs["cheap"] - imgs["full"]).mean() > 1.0


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="render_quality"):
        SimConfig(render_quality="ultra")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timestep_s"):
        SimConfig(timestep_s=0.1)
    with pytest.raises(ConfigError, match="tasks"):
        SimWorld(SimConfig(task="juggle"))
