"""Attach one follower arm to the scene: the URDF as written, plus drives and contacts.

The URDF is compiled by MuJoCo's own URDF importer and attached with a name prefix
(``left_``, ``right_``) at the base pose of ``urdf/bimanual.yaml``. What the URDF cannot
say is added here: position servos, rotor inertia, gravity compensation, contact
filtering, and which geoms are only for collision.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from abc_robot.sim.layout import ArmPlacement

__all__ = [
    "ArmDrive",
    "ARM_JOINTS",
    "FINGER_JOINT",
    "FINGER_TRAVEL_M",
    "TORQUE_FINGER_ARMATURE_KG",
    "attach_arm",
    "COLLISION_GROUP",
    "CONTACT_WORLD",
    "arm_contact_bits",
]

#: The six arm joints in the order of every 7-vector (gripper last).
ARM_JOINTS: tuple[str, ...] = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6")
#: The actuated finger; the other finger mirrors it through the URDF's mimic (an equality).
FINGER_JOINT = "finger_left"
#: Finger travel [m] from closed (0) to open, as in the URDF's finger joint limit.
FINGER_TRAVEL_M = 0.0475

#: Finger armature [kg] of the torque-controlled variant (reflected gripper motor rotor).
TORQUE_FINGER_ARMATURE_KG = 2.0

#: Geom group of collision-only geoms: not drawn by the cameras (groups 0-2 are drawn),
#: so each link is rendered once, with its visual geom.
COLLISION_GROUP = 3
#: Contact bit of the world: table, floor and task objects.
CONTACT_WORLD = 1


def arm_contact_bits(index: int) -> tuple[int, int]:
    """(contype, conaffinity) of the arm with ``index`` (0 left, 1 right).

    Each arm has its own bit and is affine to the world and to the *other* arm, so
    the arms collide with objects, the table and each other, but not with themselves:
    the box-and-cylinder links overlap at the joints and folded poses.
    """
    own = 2 << index
    other = 2 << (1 - index)
    return own, CONTACT_WORLD | other


@dataclass(frozen=True)
class ArmDrive:
    """Position servos of one arm, tuned for 500 Hz physics (implicit-fast integrator).

    Gains are ``kp = I ω²``, ``kv = 2 ζ I ω`` with ω = 80 rad/s and I the largest
    joint-space inertia over the work area (armature included); ζ is 0.75 on joints
    1-3 and 0.9 on the light wrist joints, which the heavy joints shake through the
    inertial coupling. Small steps on all joints at once (0.05 rad) reach 90 % in
    40-45 ms with at most 6 % overshoot; the end effector lags a 0.17 m/s motion by
    2-3 mm (about 20 ms of lag: a position servo without velocity feed-forward).
    Large steps saturate the motors' torque limits and overshoot more: the follower's
    velocity limits keep commands out of that regime.

    Attributes:
        kp: joint stiffness per arm joint [N·m/rad].
        kv: joint damping of the servo per arm joint [N·m·s/rad].
        armature: reflected rotor inertia per arm joint [kg·m²] (geared Damiao motors:
            DM4340 40:1 on joints 1-3, DM4310 10:1 on joints 4-6).
        gripper_kp: finger servo stiffness [N/m].
        gripper_kv: finger servo damping [N·s/m].
        gripper_force_n: largest finger force [N] (what a grasp squeezes with).
        gravity_compensation: cancel the links' weight (the real controller does).
        torque_control: motors instead of position servos (the hardware twin): each
            joint's ``ctrl`` is its torque [N·m] and the gripper's its finger force [N],
            limited by the URDF's effort limits; the servo gains are then unused.
        gear_friction_nm: dry friction of each joint's geared motor [N·m], torque
            control only (without it a limp arm's falling wrist spins the base joint).
    """

    kp: tuple[float, ...] = (2500.0, 2900.0, 1600.0, 220.0, 115.0, 75.0)
    kv: tuple[float, ...] = (50.0, 55.0, 32.0, 5.0, 2.6, 1.7)
    armature: tuple[float, ...] = (0.05, 0.05, 0.05, 0.01, 0.01, 0.01)
    gripper_kp: float = 1000.0  # [N/m]
    gripper_kv: float = 30.0  # [N·s/m]
    gripper_force_n: float = 25.0  # [N]
    gravity_compensation: bool = True
    torque_control: bool = False
    gear_friction_nm: tuple[float, ...] = (0.4, 0.4, 0.4, 0.1, 0.1, 0.1)

    def __post_init__(self) -> None:
        for name in ("kp", "kv", "armature", "gear_friction_nm"):
            v = getattr(self, name)
            if len(v) != len(ARM_JOINTS) or min(v) < 0:
                raise ValueError(f"{name} needs {len(ARM_JOINTS)} non-negative values, got {v}")


def attach_arm(spec: mujoco.MjSpec, placement: ArmPlacement, index: int, drive: ArmDrive) -> str:
    """Attach the follower URDF of ``placement`` to ``spec``; return its name prefix.

    Adds ``<prefix>joint1..6`` position actuators (ctrl = joint target [rad], range =
    joint limits) and ``<prefix>gripper`` whose ctrl is the normalised gripper command
    in [0, 1] (0 closed, 1 open), mapped to the finger travel by the actuator's own
    affine gain and bias, so ``ctrl`` holds exactly the 7-vector the stack speaks.
    """
    prefix = f"{placement.name}_"
    child = mujoco.MjSpec.from_file(str(placement.urdf))
    T = placement.T_world_base
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(T[:3, :3]).ravel())
    frame = spec.worldbody.add_frame(pos=T[:3, 3].tolist(), quat=quat.tolist())
    spec.attach(child, prefix=prefix, frame=frame)

    contype, conaffinity = arm_contact_bits(index)
    root = spec.body(f"{prefix}base_link")
    for body in [root, *root.find_all(mujoco.mjtObj.mjOBJ_BODY)]:
        if drive.gravity_compensation:
            body.gravcomp = 1.0
        for geom in body.geoms:
            if geom.contype == 0 and geom.conaffinity == 0:
                continue  # a visual geom: drawn, never touched
            geom.contype, geom.conaffinity = contype, conaffinity
            geom.group = COLLISION_GROUP
            geom.condim = 4 if "finger" in body.name else 3
            geom.friction = [1.5, 0.01, 0.001] if "finger" in body.name else geom.friction

    for j, name in enumerate(ARM_JOINTS):
        joint = spec.joint(prefix + name)
        joint.armature = drive.armature[j]
        act = spec.add_actuator(name=prefix + name, target=prefix + name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        lim = joint.actfrcrange[1] if joint.actfrclimited != mujoco.mjtLimited.mjLIMITED_FALSE else 0.0
        if drive.torque_control:
            joint.frictionloss = drive.gear_friction_nm[j]
            act.set_to_motor()
            act.ctrlrange = [-lim, lim] if lim > 0 else [-1e3, 1e3]
            act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
            continue
        act.set_to_position(kp=drive.kp[j], kv=drive.kv[j])
        act.ctrlrange = list(joint.range)
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        if lim > 0:
            act.forcerange = [-lim, lim]
            act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE

    finger = spec.joint(prefix + FINGER_JOINT)
    finger.armature = 0.005
    act = spec.add_actuator(name=prefix + "gripper", target=prefix + FINGER_JOINT, trntype=mujoco.mjtTrn.mjTRN_JOINT)
    if drive.torque_control:
        # The gripper motor's rotor, reflected through its linkage onto the finger: it is
        # what keeps a stiff MIT law (computed outside, once per physics step) stable.
        finger.armature = TORQUE_FINGER_ARMATURE_KG
        act.set_to_motor()
        act.ctrlrange = [-drive.gripper_force_n, drive.gripper_force_n]
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        return prefix
    # force = kp·(travel·ctrl − x) − kv·ẋ, written as gain·ctrl + bias (x = 0: fingers shut).
    kp, kv, travel = drive.gripper_kp, drive.gripper_kv, FINGER_TRAVEL_M
    act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
    act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
    gain = np.zeros(10)
    gain[0] = kp * travel
    bias = np.zeros(10)
    bias[:3] = (0.0, -kp, -kv)
    act.gainprm = gain.tolist()
    act.biasprm = bias.tolist()
    act.ctrlrange = [0.0, 1.0]
    act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    act.forcerange = [-drive.gripper_force_n, drive.gripper_force_n]
    act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    return prefix
