"""Arm models: FK against MuJoCo's own kinematics, Jacobians, the URDFs themselves."""

from __future__ import annotations

import mujoco
import numpy as np
import pinocchio as pin
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.errors import KinematicsError
from abc_robot.kinematics import ARM_JOINTS, URDF_DIR, ArmModel, log3

FOLLOWER = URDF_DIR / "yam_follower.urdf"
LEADER = URDF_DIR / "yam_leader.urdf"
ARM = ArmModel.from_urdf(FOLLOWER)


def _fractions() -> st.SearchStrategy[np.ndarray]:
    return st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6).map(np.array)


@pytest.mark.parametrize(
    ("urdf", "frames"), [(FOLLOWER, ("ee", "wrist_camera", "gripper")), (LEADER, ("ee", "handle"))]
)
def test_fk_matches_mujoco_loading_the_same_urdf(urdf, frames) -> None:
    arm = ArmModel.from_urdf(urdf)
    mj = mujoco.MjModel.from_xml_path(str(urdf))
    data = mujoco.MjData(mj)
    adr = [mj.jnt_qposadr[mj.joint(name).id] for name in ARM_JOINTS]
    rng = np.random.default_rng(7)
    for _ in range(50):
        q = arm.random_q(rng)
        data.qpos[:] = 0.0
        data.qpos[adr] = q
        mujoco.mj_kinematics(mj, data)
        for frame in frames:
            body = mj.body(frame).id  # fusestatic="false" keeps fixed frames as bodies
            T = arm.frame_pose(q, frame)
            np.testing.assert_allclose(T[:3, 3], data.xpos[body], atol=1e-6)
            np.testing.assert_allclose(T[:3, :3], data.xmat[body].reshape(3, 3), atol=1e-6)


def test_follower_urdf_structure() -> None:
    full = pin.buildModelFromUrdf(str(FOLLOWER))
    assert list(full.names[1:]) == [*ARM_JOINTS, "finger_left", "finger_right"]
    for name in ("finger_left", "finger_right"):
        j = full.getJointId(name)
        assert full.joints[j].shortname().startswith("JointModelP")  # prismatic
        assert full.lowerPositionLimit[full.idx_qs[j]] == 0.0
        assert full.upperPositionLimit[full.idx_qs[j]] == pytest.approx(0.0475)
    for frame in ("base_link", "ee", "wrist_camera"):
        assert full.existFrame(frame)
    assert ARM.nq == 6 and ARM.joint_names == ARM_JOINTS
    assert np.all(ARM.q_lower < ARM.q_upper)
    assert np.all(ARM.velocity_limit > 0) and np.all(ARM.effort_limit > 0)


def test_tcp_lies_between_the_fingers_and_camera_looks_along_the_gripper() -> None:
    full = pin.buildModelFromUrdf(str(FOLLOWER))
    data = full.createData()
    q = pin.neutral(full)
    q[-2:] = 0.02  # half-open fingers
    pin.framesForwardKinematics(full, data, q)
    ee = data.oMf[full.getFrameId("ee")]
    left = data.oMf[full.getFrameId("finger_left_link")].translation
    right = data.oMf[full.getFrameId("finger_right_link")].translation
    # The TCP sits on the fingers' symmetry plane, ahead of the finger roots.
    np.testing.assert_allclose(ee.translation[1], 0.5 * (left[1] + right[1]), atol=1e-9)
    approach = ee.rotation[:, 2]
    assert approach @ (ee.translation - 0.5 * (left + right)) > 0.05
    cam = data.oMf[full.getFrameId("wrist_camera")]
    view = cam.rotation[:, 2]
    to_tcp = ee.translation - cam.translation
    angle = np.arccos(view @ to_tcp / np.linalg.norm(to_tcp))
    assert angle < np.deg2rad(10)  # the TCP is near the image centre


@pytest.mark.parametrize("urdf", [FOLLOWER, LEADER])
def test_inertias_are_physical(urdf) -> None:
    full = pin.buildModelFromUrdf(str(urdf))
    for i in range(1, full.njoints):
        inertia = full.inertias[i]
        assert inertia.mass > 0
        ev = np.linalg.eigvalsh(inertia.inertia)
        assert np.all(ev > 0)
        a, b, c = ev
        assert a + b >= c - 1e-12 and a + c >= b - 1e-12 and b + c >= a - 1e-12


def test_leader_is_not_kinematically_identical() -> None:
    leader = ArmModel.from_urdf(LEADER)
    assert leader.joint_names == ARM.joint_names
    rng = np.random.default_rng(3)
    diffs = [np.linalg.norm(leader.fk(q)[:3, 3] - ARM.fk(q)[:3, 3]) for q in (ARM.random_q(rng) for _ in range(50))]
    assert min(diffs) > 0.005 and np.median(diffs) > 0.02


@settings(max_examples=60, deadline=None)
@given(_fractions())
def test_jacobian_matches_finite_differences(frac: np.ndarray) -> None:
    q = ARM.q_lower + frac * (ARM.q_upper - ARM.q_lower)
    J = ARM.jacobian(q)
    h = 1e-6
    J_fd = np.zeros((6, 6))
    for i in range(6):
        dq = np.zeros(6)
        dq[i] = h
        Tp, Tm = ARM.fk(q + dq), ARM.fk(q - dq)
        J_fd[:3, i] = (Tp[:3, 3] - Tm[:3, 3]) / (2 * h)
        J_fd[3:, i] = log3(Tp[:3, :3] @ Tm[:3, :3].T) / (2 * h)  # world-aligned angular velocity
    np.testing.assert_allclose(J, J_fd, atol=1e-7)


def test_frame_jacobian_of_another_frame_and_errors() -> None:
    q = np.full(6, 0.4)
    assert ARM.jacobian(q, "wrist_camera").shape == (6, 6)
    with pytest.raises(KinematicsError, match="no frame 'nope'.*ee"):
        ARM.frame_pose(q, "nope")
    with pytest.raises(KinematicsError, match="6 joint angles"):
        ARM.fk(np.zeros(7))
    with pytest.raises(KinematicsError, match="not found"):
        ArmModel.from_urdf("missing.urdf")
    with pytest.raises(KinematicsError, match="no frame"):
        ArmModel.from_urdf(FOLLOWER, ee_frame="tool0")


def test_clamp_and_limits() -> None:
    q = ARM.q_upper + 1.0
    assert not ARM.within_limits(q)
    qc = ARM.clamp(q, margin_rad=0.01)
    assert ARM.within_limits(qc)
    np.testing.assert_allclose(qc, ARM.q_upper - 0.01)
