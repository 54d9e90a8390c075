"""The twin's world: one MuJoCo scene with gravity whose arm joints are driven by torques.

:class:`TwinWorld` owns a :class:`~abc_robot.sim.world.SimWorld` built with the
torque-actuated arm variant (``ArmDrive(torque_control=True)``, no gravity
compensation) and steps it in real time on a thread (``cfg.timestep_s``: 500 Hz by
default). Every physics step it asks each attached :class:`Plant` for the torques of
its joints, computed from the state of *this* step (a motor's MIT law runs in its
firmware at kHz rates, far above the host's command rate), steps, then lets the plant
read the new state. Emulated motors answer their host from that latest state.

It also publishes ``sim/qpos`` (the full ``qpos``) on ``qpos_bind`` so sim camera
processes render the twin's world exactly as they render the sim node's.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from abc_robot.sim.arms import ARM_JOINTS, FINGER_JOINT, ArmDrive
from abc_robot.sim.config import SimConfig
from abc_robot.sim.layout import ARMS
from abc_robot.sim.world import SimWorld

__all__ = ["Plant", "TwinWorld", "ArmAddresses", "arm_addresses", "REST_Q"]

#: Where a powered-off YAM arm is found: folded onto its joint stops, gripper open
#: (the world settles from here under gravity before anything connects).
REST_Q: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class ArmAddresses:
    """Where one arm lives in the compiled model: joints 1-6 then the actuated finger."""

    qpos: np.ndarray  # qpos addresses
    dof: np.ndarray  # qvel / qfrc addresses
    act: np.ndarray  # actuator ids (ctrl: torque [N·m], finger force [N])


def arm_addresses(world: SimWorld, arm: str) -> ArmAddresses:
    """The model addresses of ``arm`` (``left`` / ``right``) in a twin world."""
    m = world.model
    joints = [m.joint(f"{arm}_{j}") for j in (*ARM_JOINTS, FINGER_JOINT)]
    acts = [m.actuator(f"{arm}_{j}").id for j in (*ARM_JOINTS, "gripper")]
    return ArmAddresses(
        qpos=np.array([int(j.qposadr[0]) for j in joints]),
        dof=np.array([int(j.dofadr[0]) for j in joints]),
        act=np.array(acts),
    )


class Plant(ABC):
    """Something that applies torques to the twin's joints (an emulated motor chain)."""

    @abstractmethod
    def apply(self, world: SimWorld, now_s: float) -> None:
        """Read the state of ``world`` and write its actuators' ``ctrl`` for the next step.

        Args:
            world: the twin's world (its ``data`` holds the state of this step).
            now_s: host monotonic time [s] (what motor timeouts are judged against).
        """

    def sensed(self, world: SimWorld) -> None:  # noqa: B027 - optional hook
        """Called after each physics step with the new state (default: nothing)."""

    def release(self, world: SimWorld) -> None:  # noqa: B027 - optional hook
        """Called when detached: take the plant's torques off the joints (default: nothing)."""


class TwinWorld:
    """The one MuJoCo world every emulated device of the twin is coupled to.

    Args:
        cfg: scene and physics step (the task decides the objects and hence ``qpos``).
        qpos_bind: endpoint to publish ``sim/qpos`` on ("" = none).
        qpos_hz: rate of ``sim/qpos`` [Hz].
        max_catch_up: physics steps run at most per wake-up after a stall of the host
            (the twin then runs slower than real time rather than exploding).
        start_q: both arms' pose at the start (7 values); default :data:`REST_Q`.
        settle_s: [s] of simulated time the limp arms settle under gravity at
            construction, so the twin starts at rest (nothing moves when it starts).

    Attributes:
        world: the MuJoCo world (take :attr:`lock` to read or write it from outside).
        steps: physics steps run so far.
        late_steps: wake-ups that found the world more than one step behind real time.
    """

    def __init__(
        self,
        cfg: SimConfig | None = None,
        *,
        qpos_bind: str = "",
        qpos_hz: float = 60.0,
        max_catch_up: int = 10,
        start_q: tuple[float, ...] = REST_Q,
        settle_s: float = 1.5,
    ) -> None:
        self.cfg = cfg or SimConfig()
        self.world = SimWorld(self.cfg, ArmDrive(gravity_compensation=False, torque_control=True))
        self.lock = threading.RLock()
        self._plants: list[Plant] = []
        self._qpos_bind = qpos_bind
        self._qpos_period_s = 1.0 / qpos_hz
        self._max_catch_up = max_catch_up
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.steps = 0
        self.late_steps = 0
        q = np.asarray(start_q, dtype=np.float64)
        self.world.reset(self.cfg.seed, arm_q={arm: q for arm in ARMS})
        self.world.data.ctrl[:] = 0.0  # reset() wrote servo targets; these actuators are motors
        for _ in range(int(settle_s / self.cfg.timestep_s)):
            self.world.step()

    def attach(self, plant: Plant) -> None:
        """Couple ``plant`` to the world (before or while running)."""
        with self.lock:
            self._plants.append(plant)

    def detach(self, plant: Plant) -> None:
        """Uncouple ``plant`` (its joints then get no torque at all)."""
        with self.lock:
            if plant in self._plants:
                self._plants.remove(plant)
                plant.release(self.world)

    def step_once(self, now_s: float | None = None) -> None:
        """One physics step with every plant's torques (the thread's body; tests call it)."""
        now = time.monotonic() if now_s is None else now_s
        with self.lock:
            for p in self._plants:
                p.apply(self.world, now)
            self.world.step()
            for p in self._plants:
                p.sensed(self.world)
            self.steps += 1

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> TwinWorld:
        """Run the physics in real time on a thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="twin-world", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the physics thread (idempotent); the world stays readable."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def close(self) -> None:
        """Stop and release the renderer."""
        self.stop()
        self.world.close()

    def __enter__(self) -> TwinWorld:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        pub = None
        if self._qpos_bind:
            from abc_robot.transport import Publisher
            from abc_robot.transport.messages import JointState

            pub = Publisher(self._qpos_bind, "twin")
        dt = self.cfg.timestep_s
        t_next = time.monotonic()
        t_qpos = t_next
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now < t_next:
                    time.sleep(t_next - now)
                    continue
                behind = int((now - t_next) / dt) + 1
                if behind > 1:
                    self.late_steps += 1
                n = min(behind, self._max_catch_up)
                for _ in range(n):
                    self.step_once(now)
                # After a long stall, real time is not caught up: the world runs on from now.
                t_next = t_next + n * dt if behind <= self._max_catch_up else now + dt
                if pub is not None and now >= t_qpos:
                    with self.lock:
                        qpos = self.world.qpos()
                    pub.publish("sim/qpos", JointState(q=qpos, has_gripper=False, stamp_ns=time.monotonic_ns()))
                    t_qpos = now + self._qpos_period_s
        finally:
            if pub is not None:
                pub.close()

    # ---- what tests read ---------------------------------------------------------------
    def arm_q(self, arm: str) -> np.ndarray:
        """Measured 7-vector of ``arm`` (joints [rad], gripper opening as the world reports it)."""
        with self.lock:
            return self.world.arm_state(arm)[0]

    def gravity_torque(self, arm: str) -> np.ndarray:
        """Torque [N·m] gravity (and Coriolis) puts on joints 1-6 of ``arm`` now."""
        dof = arm_addresses(self.world, arm).dof[:6]
        with self.lock:
            return self.world.data.qfrc_bias[dof].copy()
