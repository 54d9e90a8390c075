"""Emulated devices as backend and node kinds of their own (demos, launch tests).

Each one is the production driver unchanged, with the device's emulator started in
the same process before the driver opens its port and stopped after it closed. A
launch file picks one by kind (``backend.kind: dynamixel_emulated`` /
``yam_emulated``; node kind ``gello_leader_emulated``); the registries name these
classes as ``module:Class`` strings, so no production module imports an emulator.

Emulated servos share their driver's process (and its GIL): the drivers get at
least :data:`EMULATED_TIMEOUT_MS` to wait for a reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from abc_robot.devices.damiao.arm import YamArm
from abc_robot.devices.damiao.config import YamConfig
from abc_robot.devices.dynamixel.arm import DynamixelArm
from abc_robot.devices.dynamixel.config import DynamixelArmConfig
from abc_robot.nodes.leader_node import LeaderNode, LeaderNodeConfig

__all__ = [
    "EMULATED_TIMEOUT_MS",
    "EmulatedDynamixelArm",
    "EmulatedYamArm",
    "EmulatedLeaderNode",
    "EmulatedLeaderConfig",
    "LeaderEmulation",
]

#: Shortest reply timeout a driver gets against an in-process emulator [ms].
EMULATED_TIMEOUT_MS = 50.0


class EmulatedDynamixelArm(DynamixelArm):
    """A :class:`DynamixelArm` whose servo chain is emulated at ``port`` in-process
    (backend kind ``dynamixel_emulated``; ``${run}`` in the port puts the pty in the
    graph's run directory)."""

    Config = DynamixelArmConfig

    def __init__(self, config: DynamixelArmConfig, *, arm: str = "", **kw: Any) -> None:
        super().__init__(replace(config, timeout_ms=max(config.timeout_ms, EMULATED_TIMEOUT_MS)), arm=arm, **kw)
        self.emulator: Any = None

    def connect(self) -> None:
        if self.emulator is None:
            from abc_robot.testing.dynamixel_emulator import DynamixelChainEmulator

            c = self.config
            # The chain powers up with the arm at q = 0 (clamped into the limits).
            q0 = np.clip(0.0, np.asarray(c.joint_lower_rad), np.asarray(c.joint_upper_rad))
            shafts = [*(np.asarray(c.offsets_rad) + np.asarray(c.signs) * q0).tolist(), float(c.gripper_open_rad)]
            self.emulator = DynamixelChainEmulator(self.bus.port, c.motor_ids, initial_rad=shafts, return_delay=0).start()
        super().connect()

    def close(self) -> None:
        super().close()
        if getattr(self, "emulator", None) is not None:
            self.emulator.stop()
            self.emulator = None


class EmulatedYamArm(YamArm):
    """A :class:`YamArm` whose Damiao motor chain is emulated on its (virtual) CAN
    channel in-process (backend kind ``yam_emulated``; needs ``interface: virtual``).

    The joints behind the motors are the follower model under gravity
    (:class:`~abc_robot.testing.yam_plant.YamGravityPlant`), lying folded at the rest
    pose when the process starts, as a powered-down YAM does."""

    Config = YamConfig

    def __init__(self, config: YamConfig, **kw: Any) -> None:
        super().__init__(config, **kw)
        self.emulator: Any = None

    def connect(self) -> None:
        if self.emulator is None:
            from abc_robot.testing.damiao_emulator import DamiaoChainEmulator
            from abc_robot.testing.yam_plant import YamGravityPlant

            c = self.config
            lo, hi = sorted((c.gripper_closed_rad, c.gripper_open_rad))
            plant = YamGravityPlant(
                [*c.rest_q_rad, c.gripper_open_rad], directions=c.directions, offsets_rad=c.offsets_rad,
                gripper_stops_rad=(lo, hi), urdf=c.urdf,
            )  # fmt: skip
            self.emulator = DamiaoChainEmulator(
                c.channel, c.motor_specs(), bus_options=c.bus_options, plant=plant, physics_dt=0.002
            ).start()
        super().connect()

    def close(self) -> None:
        super().close()
        if getattr(self, "emulator", None) is not None:
            self.emulator.stop()
            self.emulator = None


@dataclass(frozen=True)
class LeaderEmulation:
    """An emulated leader arm moved by a scripted hand (see :mod:`abc_robot.testing.dynamixel_leader`).

    Attributes:
        center_q_rad: [rad] pose the arm swings around (6).
        amplitude_rad: [rad] swing of every joint.
        period_s: [s] swing period.
        gripper_period_s: [s] trigger open-close period (0: released).
        wraps: extra turns in each servo's Present Position at power-up (7).
    """

    center_q_rad: tuple[float, ...] = (0.0, 1.3, 1.2, -1.2, 0.0, 0.0)
    amplitude_rad: float = 0.15
    period_s: float = 4.0
    gripper_period_s: float = 5.0
    wraps: tuple[int, ...] = (0, 0, 0, 0, 0, 0, 0)

    def __post_init__(self) -> None:
        if len(self.center_q_rad) != 6 or len(self.wraps) != 7:
            raise ValueError("center_q_rad needs 6 values and wraps 7")


@dataclass(frozen=True)
class EmulatedLeaderConfig(LeaderNodeConfig):
    """:class:`LeaderNodeConfig` plus the emulated arm's motion.

    Attributes:
        emulation: how the scripted hand moves the emulated leader.
    """

    emulation: LeaderEmulation = field(default_factory=LeaderEmulation)


class EmulatedLeaderNode(LeaderNode):
    """A GELLO leader node serving an emulated leader at its port in-process (node kind
    ``gello_leader_emulated``): the calibration file's offsets and signs as the arm's
    build, the arm swinging around ``emulation.center_q_rad``, so the hardware launch
    graph runs without hardware."""

    Config = EmulatedLeaderConfig

    def setup(self) -> None:
        from abc_robot.devices.dynamixel.bus import expand_port
        from abc_robot.testing.dynamixel_leader import EmulatedLeader, sine_motion

        cfg: EmulatedLeaderConfig = self.config
        self.config = replace(cfg, timeout_ms=max(cfg.timeout_ms, EMULATED_TIMEOUT_MS))
        self.emulator: Any = None
        super().setup()
        cal, emu = self.cal, cfg.emulation
        self.emulator = EmulatedLeader(
            expand_port(cfg.port or cal.port),
            offsets_rad=cal.offsets_rad,
            signs=cal.signs,
            gripper_open_rad=cal.gripper_open_rad,
            gripper_closed_rad=cal.gripper_closed_rad,
            ids=cal.motor_ids,
            motion=sine_motion(emu.center_q_rad, emu.amplitude_rad, emu.period_s, emu.gripper_period_s),
            wraps=emu.wraps,
        ).start()

    def teardown(self) -> None:
        super().teardown()
        if getattr(self, "emulator", None) is not None:
            self.emulator.stop()
            self.emulator = None
