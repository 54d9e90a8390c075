"""The MuJoCo world of the bimanual rig: physics, arm I/O, object poses, cameras.

Rendering backend: EGL (Mesa's software EGL, llvmpipe, on machines without a GPU).
A process that renders must set ``MUJOCO_GL=egl`` before its first ``import mujoco``;
call :func:`abc_robot.sim.gl.ensure_gl_backend` at the top of the process entry (the
sim and sim-camera nodes do). With ``render_quality="cheap"`` a 224×224 view costs
about 2 ms on one CPU core; ``full`` (shadows, reflections) about ten times more.

Arm vectors are the stack's 7-vectors: joints 1-6 [rad], then the gripper in [0, 1]
(0 closed, 1 open: ABC's and the YAM vendor's convention). Poses are 4×4 transforms; ``ee_pose`` is in the arm's base frame
(``T_base_ee``) like the kinematics' FK, so the two can be compared directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mujoco
import numpy as np

from abc_robot.errors import ConfigError
from abc_robot.sim.arms import ARM_JOINTS, FINGER_JOINT, FINGER_TRAVEL_M, ArmDrive
from abc_robot.sim.config import SimConfig
from abc_robot.sim.layout import ARMS, BimanualLayout
from abc_robot.sim.render import CameraRenderer
from abc_robot.sim.scene import build_spec
from abc_robot.sim.snapshot import WorldSnapshot
from abc_robot.sim.tasks import Task, make_task

__all__ = ["SimWorld", "HOME_Q"]

#: Ready pose of each arm at reset: gripper open and pointing down about 0.15 m above
#: the table, 0.2 m in front of the base [rad, gripper last].
HOME_Q: tuple[float, ...] = (0.0, 1.30, 1.20, -1.47, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class _ArmIndex:
    qpos: np.ndarray  # qpos addresses of joints 1-6 and the actuated finger
    dof: np.ndarray  # qvel addresses, same order
    act: np.ndarray  # actuator ids: joints 1-6, gripper
    ee_body: int
    finger_geoms: frozenset[int]  # collision geoms of both fingers
    T_world_base: np.ndarray
    T_base_world: np.ndarray


class SimWorld:
    """Two follower arms, a table and a task's objects, stepped by MuJoCo.

    Args:
        cfg: physics rate, render quality, image size, task, seed.
        drive: servo gains (defaults tuned for 500 Hz).

    Attributes:
        model / data: the MuJoCo model and state (read freely; write through the API).
        layout: the bimanual layout the scene was built from.
        task: the task whose objects are in the scene.
    """

    def __init__(self, cfg: SimConfig | None = None, drive: ArmDrive | None = None) -> None:
        self.cfg = cfg or SimConfig()
        self.layout = BimanualLayout.load(self.cfg.layout)
        self.task: Task = make_task(self.cfg.task)
        self.spec = build_spec(self.cfg, self.layout, self.task.objects(), drive)
        self.model = self.spec.compile()
        self.data = mujoco.MjData(self.model)
        self._arms = {arm: self._index(arm) for arm in ARMS}
        self._body_ids: dict[str, int] = {}
        self._ctrl_bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # arm -> servo target bounds
        self._finger_mask: dict[str, np.ndarray] = {}  # per arm: geom id -> is one of its fingers
        for arm, a in self._arms.items():
            self._finger_mask[arm] = np.zeros(self.model.ngeom, dtype=bool)
            self._finger_mask[arm][list(a.finger_geoms)] = True
        self._renderer = CameraRenderer(
            self.model, self.cfg.image_width, self.cfg.image_height, self.cfg.render_quality
        )
        self.seed = self.cfg.seed
        self.reset(self.cfg.seed)

    # ---- construction -----------------------------------------------------------
    def _index(self, arm: str) -> _ArmIndex:
        m = self.model
        names = [f"{arm}_{j}" for j in (*ARM_JOINTS, FINGER_JOINT)]
        jids = [m.joint(n).id for n in names]
        acts = [m.actuator(f"{arm}_{j}").id for j in (*ARM_JOINTS, "gripper")]
        fingers = set()
        for g in range(m.ngeom):
            body = m.body(m.geom_bodyid[g]).name
            if body.startswith(f"{arm}_finger") and m.geom_contype[g]:
                fingers.add(g)
        T = self.layout.T_world_base(arm)
        Tinv = np.eye(4)
        Tinv[:3, :3] = T[:3, :3].T
        Tinv[:3, 3] = -T[:3, :3].T @ T[:3, 3]
        return _ArmIndex(
            qpos=m.jnt_qposadr[jids].copy(),
            dof=m.jnt_dofadr[jids].copy(),
            act=np.array(acts),
            ee_body=m.body(f"{arm}_ee").id,
            finger_geoms=frozenset(fingers),
            T_world_base=T,
            T_base_world=Tinv,
        )

    def _arm(self, arm: str) -> _ArmIndex:
        try:
            return self._arms[arm]
        except KeyError:
            raise ConfigError(f"unknown arm {arm!r}; arms: {list(ARMS)}", field="arm") from None

    # ---- episode and stepping -----------------------------------------------------
    def reset(self, seed: int | None = None, arm_q: Mapping[str, np.ndarray] | None = None) -> WorldSnapshot:
        """Arms to :data:`HOME_Q` (or ``arm_q``), objects placed by the task from ``seed``.

        Args:
            seed: seed of the task's randomisation (default: ``cfg.seed``).
            arm_q: start configuration (7 values) per arm instead of :data:`HOME_Q`;
                the servo targets are set to it too, so nothing moves at the start.

        Returns:
            the initial snapshot (what a scripted demonstrator plans from).
        """
        self.seed = self.cfg.seed if seed is None else int(seed)
        start = {arm: np.asarray(HOME_Q, dtype=np.float64) for arm in ARMS}
        for arm, q in (arm_q or {}).items():
            self._arm(arm)
            start[arm] = np.asarray(q, dtype=np.float64)
        mujoco.mj_resetData(self.model, self.data)
        for arm in ARMS:
            self.set_arm_q(arm, start[arm])
            self.set_targets(arm, start[arm])
        self.task.reset(self, np.random.default_rng(self.seed))
        mujoco.mj_forward(self.model, self.data)
        return self.snapshot()

    def set_arm_q(self, arm: str, q7: np.ndarray) -> None:
        """Teleport ``arm`` to ``q7`` at rest (no physics; servo targets unchanged).

        Call ``mujoco.mj_kinematics`` (or step) before reading poses.
        """
        a = self._arm(arm)
        q = np.asarray(q7, dtype=np.float64)
        self.data.qpos[a.qpos[:6]] = q[:6]
        finger = FINGER_TRAVEL_M * float(np.clip(q[6], 0.0, 1.0))
        self.data.qpos[a.qpos[6]] = finger
        mimic = self.model.joint(f"{arm}_finger_right").qposadr[0]
        self.data.qpos[mimic] = finger
        self.data.qvel[a.dof] = 0.0

    def step(self, n: int = 1) -> None:
        """Advance physics by ``n`` steps of ``cfg.timestep_s``."""
        mujoco.mj_step(self.model, self.data, nstep=n)

    @property
    def time_s(self) -> float:
        """Simulated time since reset [s]."""
        return float(self.data.time)

    # ---- arms -------------------------------------------------------------------
    def set_targets(self, arm: str, q7: np.ndarray) -> np.ndarray:
        """Set the servo targets of ``arm``: joints [rad] then gripper in [0, 1].

        Targets are clamped into the joint limits and [0, 1] (what the servo gets).

        Returns:
            the clamped targets actually set.
        """
        a = self._arm(arm)
        q = np.asarray(q7, dtype=np.float64)
        if q.shape != (7,):
            raise ConfigError(f"arm targets need 7 values (6 joints + gripper), got shape {q.shape}", field="q")
        if not np.isfinite(q).all():
            raise ConfigError(f"arm targets must be finite, got {q.tolist()}", field="q")
        # The world loop sets both arms' targets at 500 Hz: bounds read once per arm,
        # and minimum/maximum (np.clip's Python wrapper costs more than the clamp).
        lo_hi = self._ctrl_bounds.get(arm)
        if lo_hi is None:
            rng = self.model.actuator_ctrlrange[a.act]
            lo_hi = self._ctrl_bounds[arm] = (rng[:, 0].copy(), rng[:, 1].copy())
        sent = np.minimum(np.maximum(q, lo_hi[0]), lo_hi[1])
        self.data.ctrl[a.act] = sent
        return sent

    def targets(self, arm: str) -> np.ndarray:
        """The current servo targets of ``arm`` (7 values)."""
        return self.data.ctrl[self._arm(arm).act].copy()

    def arm_state(self, arm: str) -> tuple[np.ndarray, np.ndarray]:
        """Measured ``(q7, dq7)``: joints [rad], [rad/s], then gripper in [0, 1] and its rate [1/s]."""
        a = self._arm(arm)
        q = self.data.qpos[a.qpos].copy()
        dq = self.data.qvel[a.dof].copy()
        q[6] = q[6] / FINGER_TRAVEL_M
        dq[6] = dq[6] / FINGER_TRAVEL_M
        return q, dq

    def ee_pose(self, arm: str, frame: str = "base") -> np.ndarray:
        """End-effector pose from MuJoCo: ``T_base_ee`` (``frame="base"``) or ``T_world_ee``."""
        a = self._arm(arm)
        T = np.eye(4)
        T[:3, :3] = self.data.xmat[a.ee_body].reshape(3, 3)
        T[:3, 3] = self.data.xpos[a.ee_body]
        if frame == "world":
            return T
        if frame != "base":
            raise ConfigError(f"frame must be 'base' or 'world', got {frame!r}", field="frame")
        return a.T_base_world @ T

    def T_world_base(self, arm: str) -> np.ndarray:
        """Base pose of ``arm`` in the world (4×4 copy)."""
        return self._arm(arm).T_world_base.copy()

    # ---- objects ------------------------------------------------------------------
    def object_pose(self, name: str) -> np.ndarray:
        """``T_world_object`` of a task object (4×4)."""
        b = self._body(name)
        T = np.eye(4)
        T[:3, :3] = self.data.xmat[b].reshape(3, 3)
        T[:3, 3] = self.data.xpos[b]
        return T

    def set_object_pose(
        self, name: str, pos: np.ndarray, quat_wxyz: np.ndarray | tuple[float, ...] = (1.0, 0.0, 0.0, 0.0)
    ) -> None:
        """Place a task object (world frame, [m]) at rest; call before stepping."""
        j = self.model.joint(f"{name}_free")
        self.data.qpos[j.qposadr[0] : j.qposadr[0] + 7] = [*pos, *quat_wxyz]
        self.data.qvel[j.dofadr[0] : j.dofadr[0] + 6] = 0.0
        mujoco.mj_kinematics(self.model, self.data)

    def _body(self, name: str) -> int:
        # Cached: the task checks ask for the same few objects many times a second.
        got = self._body_ids.get(name)
        if got is not None:
            return got
        try:
            got = self._body_ids[name] = int(self.model.body(name).id)
        except KeyError:
            objs = [o.name for o in self.task.objects()]
            raise ConfigError(
                f"no object {name!r} in task {self.task.name!r}; objects: {objs}", field="object"
            ) from None
        return got

    def fingers_touching(self, arm: str, name: str) -> int:
        """How many of ``arm``'s two fingers touch object ``name`` now (0, 1 or 2)."""
        self._arm(arm)  # an unknown arm is a clear error, not a KeyError
        body = self._body(name)
        d = self.data
        if d.ncon == 0:
            return 0
        # Whole-array reads of the contact list: a Python loop over ``d.contact[i]``
        # builds a wrapper per contact (and ``np.isin`` on a handful of ids costs ~50 µs).
        geom = d.contact.geom[: d.ncon]
        bodies = self.model.geom_bodyid[geom]
        is_finger = self._finger_mask[arm]
        touching = set(bodies[is_finger[geom[:, 0]] & (bodies[:, 1] == body), 0].tolist())
        touching |= set(bodies[is_finger[geom[:, 1]] & (bodies[:, 0] == body), 1].tolist())
        return len(touching)

    @property
    def table_top_z(self) -> float:
        """Height of the table top in the world [m]."""
        return self.layout.table_top_height_m

    def snapshot(self) -> WorldSnapshot:
        """Arm bases, current EE poses and grippers, object poses: what a planner needs."""
        return WorldSnapshot(
            task=self.task.name,
            seed=self.seed,
            table_top_z=self.table_top_z,
            T_world_base={arm: self.T_world_base(arm) for arm in ARMS},
            T_base_ee={arm: self.ee_pose(arm) for arm in ARMS},
            gripper={arm: float(self.arm_state(arm)[0][6]) for arm in ARMS},
            objects={o.name: self.object_pose(o.name) for o in self.task.objects()},
        )

    # ---- camera processes -------------------------------------------------------------
    def qpos(self) -> np.ndarray:
        """A copy of the full MuJoCo ``qpos`` (what ``sim/qpos`` carries)."""
        return self.data.qpos.copy()

    def set_qpos(self, qpos: np.ndarray) -> None:
        """Pose the whole scene from a ``qpos`` (camera processes; no physics)."""
        q = np.asarray(qpos, dtype=np.float64)
        if q.shape != (self.model.nq,):
            raise ConfigError(f"qpos needs {self.model.nq} values for this scene, got shape {q.shape}", field="qpos")
        self.data.qpos[:] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)

    @property
    def cameras(self) -> tuple[str, ...]:
        """Camera names: ``top``, ``left``, ``right``."""
        return self._renderer.cameras

    def render(self, camera: str) -> np.ndarray:
        """H×W×3 uint8 RGB image of ``camera`` at the current poses."""
        return self._renderer.render(self.data, camera)

    def close(self) -> None:
        """Release the renderer's GL context (idempotent)."""
        self._renderer.close()
