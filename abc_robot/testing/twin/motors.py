"""YAM arms of the twin: Damiao motor chains whose joints are the twin world's joints.

:class:`TwinDamiaoChain` is the Damiao chain emulator (same frames, same firmware
states, same fault injection) with its 1-DoF toy physics replaced by the twin's
MuJoCo arm: every physics step it applies each enabled motor's MIT law
``tau = kp (p* - q) + kd (v* - dq) + t*`` (clipped to the motor's ±T_MAX) to its
joint, from the state of that step, and answers its host with the simulated position,
velocity and torque. A motor latched in LOST_COMM damps, a disabled one is limp: an
arm without commands falls under gravity exactly as far as the motors let it.

Motor frames and joints: ``joint = direction · (motor − offset)`` (the YAM driver's
convention) and the gripper motor moves the finger linearly from shut (at
``gripper_closed_rad``) to fully open (at ``gripper_open_rad``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from abc_robot.devices.damiao.chain import MotorSpec
from abc_robot.devices.damiao.protocol import MotorState
from abc_robot.sim.arms import FINGER_TRAVEL_M
from abc_robot.sim.world import SimWorld
from abc_robot.testing.damiao_emulator import DamiaoChainEmulator, MotorPhysics
from abc_robot.testing.twin.plant import Plant, arm_addresses

__all__ = ["MotorMap", "TwinDamiaoChain"]


@dataclass(frozen=True)
class MotorMap:
    """How the seven motors of a YAM arm sit on the twin's joints.

    Attributes:
        directions: ±1 per joint (6).
        offsets_rad: motor position at joint zero [rad] (6).
        gripper_open_rad: gripper motor position with the fingers fully open [rad].
        gripper_closed_rad: gripper motor position with the fingers shut [rad].
    """

    directions: tuple[float, ...] = (1.0,) * 6
    offsets_rad: tuple[float, ...] = (0.0,) * 6
    gripper_open_rad: float = 0.0
    gripper_closed_rad: float = 2.0

    def __post_init__(self) -> None:
        if len(self.directions) != 6 or len(self.offsets_rad) != 6:
            raise ValueError("directions and offsets_rad need 6 values each")
        if self.gripper_open_rad == self.gripper_closed_rad:
            raise ValueError("gripper_open_rad and gripper_closed_rad must differ")

    @classmethod
    def from_yam(cls, cfg: Any) -> MotorMap:
        """The map a :class:`~abc_robot.devices.damiao.YamConfig` (or rig follower entry) describes."""
        return cls(
            directions=tuple(float(d) for d in cfg.directions),
            offsets_rad=tuple(float(o) for o in cfg.offsets_rad),
            gripper_open_rad=float(cfg.gripper_open_rad),
            gripper_closed_rad=float(cfg.gripper_closed_rad),
        )

    @property
    def gripper_ratio(self) -> float:
        """d(motor)/d(finger) [rad/m]."""
        return (self.gripper_open_rad - self.gripper_closed_rad) / FINGER_TRAVEL_M

    def motor_from_world(self, q: np.ndarray, dq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Motor positions [rad] and velocities [rad/s] (7) from joints + finger [m]."""
        d, o = np.asarray(self.directions), np.asarray(self.offsets_rad)
        p = np.empty(7)
        v = np.empty(7)
        p[:6] = o + d * q[:6]
        v[:6] = d * dq[:6]
        p[6] = self.gripper_closed_rad + self.gripper_ratio * q[6]
        v[6] = self.gripper_ratio * dq[6]
        return p, v

    def world_effort(self, tau: np.ndarray) -> np.ndarray:
        """Joint torques [N·m] (6) and finger force [N] from motor torques [N·m] (7)."""
        out = np.empty(7)
        out[:6] = np.asarray(self.directions) * tau[:6]
        out[6] = self.gripper_ratio * tau[6]  # virtual work: F dx = tau dp
        return out

    def motor_from_joints(self, q7: Sequence[float], finger_m: float) -> list[float]:
        """Motor positions [rad] for joints ``q7[:6]`` and a finger opening [m]."""
        p, _ = self.motor_from_world(np.array([*q7[:6], finger_m]), np.zeros(7))
        return p.tolist()


class TwinDamiaoChain(DamiaoChainEmulator, Plant):
    """A YAM arm's Damiao chain on a python-can bus, coupled to ``arm`` of a twin world.

    Args:
        world: the twin world's :class:`SimWorld` (attach the chain to its
            :class:`~abc_robot.testing.twin.plant.TwinWorld` too).
        arm: ``left`` or ``right``.
        channel / motors / interface / bus_options: as :class:`DamiaoChainEmulator`.
        motor_map: how motors sit on joints (offsets, directions, gripper range).
        timeout_s: [s] without frames before a motor latches LOST_COMM (0.4 s on the rig;
            tests sharing a busy machine give more).
        timeout_kd: [N·m·s/rad] motor damping in LOST_COMM.
    """

    def __init__(
        self,
        world: SimWorld,
        arm: str,
        channel: str,
        motors: Sequence[MotorSpec],
        *,
        interface: str = "virtual",
        bus_options: dict[str, Any] | None = None,
        motor_map: MotorMap | None = None,
        timeout_s: float = 0.4,
        timeout_kd: float = 1.0,
    ) -> None:
        if len(motors) != 7:
            raise ValueError(f"a YAM arm has 7 motors, got {len(motors)}")
        super().__init__(
            channel,
            motors,
            interface=interface,
            physics=MotorPhysics(timeout_s=timeout_s, timeout_kd=timeout_kd),
            bus_options=bus_options,
        )
        self.arm = arm
        self.map = motor_map or MotorMap()
        self._addr = arm_addresses(world, arm)
        self._sense(world)

    # ---- Plant ------------------------------------------------------------------------
    def apply(self, world: SimWorld, now_s: float) -> None:
        with self.lock:
            tau = np.empty(7)
            for i, m in enumerate(self.motors):
                if m.state == MotorState.ENABLED and now_s - m.last_rx_s > m.physics.timeout_s:
                    m.state = MotorState.LOST_COMM
                m.tau = m.torque()
                tau[i] = m.tau + m.external_nm
            world.data.ctrl[self._addr.act] = self.map.world_effort(tau)

    def sensed(self, world: SimWorld) -> None:
        self._sense(world)

    def release(self, world: SimWorld) -> None:
        world.data.ctrl[self._addr.act] = 0.0

    def _sense(self, world: SimWorld) -> None:
        d = world.data
        p, v = self.map.motor_from_world(d.qpos[self._addr.qpos], d.qvel[self._addr.dof])
        with self.lock:
            for i, m in enumerate(self.motors):
                m.p, m.v = float(p[i]), float(v[i])

    # ---- the emulator's own physics is the world's now --------------------------------
    def _advance(self, now: float) -> None:
        """Nothing to integrate: the world's thread moves the joints."""

    def start(self) -> TwinDamiaoChain:
        super().start()
        now = time.monotonic()
        with self.lock:
            for m in self.motors:
                m.last_rx_s = now
        return self
