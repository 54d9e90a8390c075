"""Assemble the MuJoCo scene with MjSpec: floor, table, two arms, task objects, cameras.

The arms come from the same ``urdf/`` files the kinematics load, placed by
``urdf/bimanual.yaml`` (one source of truth). Render quality is decided here for the
lights (``castshadow``) and in :mod:`abc_robot.sim.render` for the scene flags.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from abc_robot.sim.arms import CONTACT_WORLD, ArmDrive, attach_arm
from abc_robot.sim.config import SimConfig
from abc_robot.sim.layout import ARMS, BimanualLayout
from abc_robot.sim.objects import SceneObject

__all__ = ["build_spec", "lookat_quat", "TOP_CAMERA_POS", "TOP_CAMERA_TARGET", "WRIST_FOVY_DEG", "TOP_FOVY_DEG"]

#: Top camera: above and behind the arm bases, looking at the work area [m, world].
TOP_CAMERA_POS = (-0.15, 0.0, 1.75)
TOP_CAMERA_TARGET = (0.45, 0.0, 0.72)
TOP_FOVY_DEG = 68.0
#: Wrist cameras: a wide lens, as on the rig's wrist-mounted RealSense D405.
WRIST_FOVY_DEG = 75.0

_GEOM_TYPES = {
    "box": mujoco.mjtGeom.mjGEOM_BOX,
    "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
    "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
    "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
}


def lookat_quat(pos: Sequence[float], target: Sequence[float], up: Sequence[float] = (0, 0, 1)) -> np.ndarray:
    """Quaternion (w, x, y, z) of a MuJoCo camera at ``pos`` looking at ``target``.

    MuJoCo cameras look along their −z axis with +y up in the image.
    """
    f = np.asarray(target, float) - np.asarray(pos, float)
    f /= np.linalg.norm(f)
    x = np.cross(f, np.asarray(up, float))
    x /= np.linalg.norm(x)
    y = np.cross(x, f)
    R = np.column_stack([x, y, -f])
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, R.ravel())
    return q


def build_spec(
    cfg: SimConfig,
    layout: BimanualLayout,
    objects: Sequence[SceneObject],
    drive: ArmDrive | None = None,
) -> mujoco.MjSpec:
    """The whole scene as an MjSpec (call ``.compile()`` for the model).

    Names in the compiled model: arms ``left_*`` / ``right_*`` (URDF names prefixed),
    actuators ``<arm>_joint1..6`` and ``<arm>_gripper``, cameras ``top``, ``left``,
    ``right``, bodies ``table`` and one per task object (with a free joint
    ``<object>_free``).
    """
    drive = drive or ArmDrive(gravity_compensation=cfg.gravity_compensation)
    spec = mujoco.MjSpec()
    spec.modelname = f"abc_bimanual_{cfg.task}"
    spec.option.timestep = cfg.timestep_s
    # Implicit in the servo damping: stiff position servos stay stable at 500 Hz.
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC  # grasps slip less than with pyramids
    spec.visual.global_.offwidth = max(640, cfg.image_width)
    spec.visual.global_.offheight = max(480, cfg.image_height)
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.3, 0.3, 0.3]
    spec.visual.quality.shadowsize = 2048
    shadows = cfg.render_quality == "full"
    # Multisampling (4 samples by default) is the other costly pass of a software
    # renderer: with it off a 224x224 view costs half as much on Mesa's llvmpipe.
    spec.visual.quality.offsamples = 4 if shadows else 0

    wb = spec.worldbody
    wb.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[3, 3, 0.1],
        rgba=[0.55, 0.57, 0.6, 1],
        contype=CONTACT_WORLD,
        conaffinity=CONTACT_WORLD,
    )
    sx, sy, sz = layout.table_size_m
    cx, cy = layout.table_center_xy_m
    top = layout.table_top_height_m
    table = wb.add_body(name="table", pos=[cx, cy, top - sz / 2])
    table.add_geom(
        name="table_top",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[sx / 2, sy / 2, sz / 2],
        rgba=[0.78, 0.68, 0.52, 1],
        contype=CONTACT_WORLD,
        conaffinity=CONTACT_WORLD,
    )
    leg_h = (top - sz) / 2
    for i, (lx, ly) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
        table.add_geom(
            name=f"table_leg{i}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[0.025, 0.025, leg_h],
            pos=[lx * (sx / 2 - 0.04), ly * (sy / 2 - 0.04), -sz / 2 - leg_h],
            rgba=[0.4, 0.35, 0.3, 1],
            contype=0,
            conaffinity=0,
        )
    wb.add_light(name="key", pos=[0.3, 0.4, 2.6], dir=[0, -0.15, -1], diffuse=[0.6, 0.6, 0.6], castshadow=shadows)
    wb.add_light(name="fill", pos=[1.5, -1.0, 2.0], dir=[-0.6, 0.4, -0.7], diffuse=[0.25, 0.25, 0.25], castshadow=False)

    for index, arm in enumerate(ARMS):
        attach_arm(spec, layout.arms[arm], index, drive)
        cam_body = spec.body(f"{arm}_wrist_camera")
        # URDF optical frame (z forward, y down) -> MuJoCo camera (−z forward, y up): Rx(π).
        cam_body.add_camera(name=arm, quat=[0, 1, 0, 0], fovy=WRIST_FOVY_DEG)

    wb.add_camera(
        name="top",
        pos=list(TOP_CAMERA_POS),
        quat=lookat_quat(TOP_CAMERA_POS, TOP_CAMERA_TARGET).tolist(),
        fovy=TOP_FOVY_DEG,
    )

    for obj in objects:
        body = wb.add_body(name=obj.name, pos=[0.4, 0.0, top + obj.bottom_z + 0.001])
        body.add_freejoint(name=f"{obj.name}_free")
        volumes = [_volume(g.kind, g.size) for g in obj.geoms]
        density = obj.mass / sum(volumes)
        for k, g in enumerate(obj.geoms):
            body.add_geom(
                name=f"{obj.name}_g{k}",
                type=_GEOM_TYPES[g.kind],
                size=list(g.size) + [0] * (3 - len(g.size)),
                pos=list(g.pos),
                rgba=list(g.rgba),
                density=density,
                condim=4,
                friction=[obj.friction, 0.01, 0.001],
                contype=CONTACT_WORLD,
                conaffinity=CONTACT_WORLD,
            )
    return spec


def _volume(kind: str, size: Sequence[float]) -> float:
    if kind == "box":
        return 8.0 * size[0] * size[1] * size[2]
    if kind == "cylinder":
        return np.pi * size[0] ** 2 * 2.0 * size[1]
    if kind == "sphere":
        return 4.0 / 3.0 * np.pi * size[0] ** 3
    if kind == "capsule":
        return np.pi * size[0] ** 2 * (2.0 * size[1] + 4.0 / 3.0 * size[0])
    raise ValueError(f"unknown geom kind {kind!r}; valid: {sorted(_GEOM_TYPES)}")
