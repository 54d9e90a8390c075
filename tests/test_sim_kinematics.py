"""One source of truth: the kinematics' FK and MuJoCo's assembled scene agree."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from abc_robot.kinematics.model import ArmModel
from abc_robot.sim import SimConfig, SimWorld
from abc_robot.sim.layout import BimanualLayout


@pytest.fixture(scope="module")
def world() -> SimWorld:
    w = SimWorld(SimConfig(task="lift_cube"))
    yield w
    w.close()


@pytest.mark.parametrize("arm", ["left", "right"])
def test_fk_matches_mujoco_in_the_bimanual_scene(world: SimWorld, arm: str) -> None:
    model = ArmModel.from_urdf(world.layout.arms[arm].urdf)
    T_world_base = BimanualLayout.load().T_world_base(arm)
    rng = np.random.default_rng(11 if arm == "left" else 12)
    for _ in range(50):
        q = model.random_q(rng)
        world.set_arm_q(arm, np.append(q, rng.uniform(0, 1)))
        mujoco.mj_kinematics(world.model, world.data)
        T_fk = model.fk(q)
        np.testing.assert_allclose(world.ee_pose(arm), T_fk, atol=1e-6)
        np.testing.assert_allclose(world.ee_pose(arm, "world"), T_world_base @ T_fk, atol=1e-6)
        cam = world.model.body(f"{arm}_wrist_camera").id
        T_cam = np.eye(4)
        T_cam[:3, :3] = world.data.xmat[cam].reshape(3, 3)
        T_cam[:3, 3] = world.data.xpos[cam]
        np.testing.assert_allclose(T_cam, T_world_base @ model.frame_pose(q, "wrist_camera"), atol=1e-6)


def test_joint_limits_agree(world: SimWorld) -> None:
    model = ArmModel.from_urdf("yam_follower.urdf")
    for j in range(6):
        rng = world.model.jnt_range[world.model.joint(f"left_joint{j + 1}").id]
        np.testing.assert_allclose(rng, [model.q_lower[j], model.q_upper[j]], atol=1e-9)
        ctrl = world.model.actuator_ctrlrange[world.model.actuator(f"left_joint{j + 1}").id]
        np.testing.assert_allclose(ctrl, rng, atol=1e-9)
