"""Sim camera node: renders MuJoCo cameras from the sim's ``sim/qpos``, in its own process.

Like a real camera process it publishes ``camera/<name>`` frames at its own rate,
stamped with the capture instant (here: the stamp of the physics state it rendered).
It builds the same scene as the sim node (same config) and only poses it
(``mj_kinematics``), so rendering never slows the physics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from abc_robot.runtime.node import Node
from abc_robot.sim.config import SimConfig
from abc_robot.transport.messages import CameraFrame, JointState

__all__ = ["SimCameraNode", "SimCameraConfig"]


@dataclass(frozen=True)
class SimCameraConfig:
    """Attributes:
    bind: publisher endpoint (``camera/<name>``).
    sim: the sim node's endpoint (``sim/qpos``).
    cameras: which cameras this process renders (one per process on the rig).
    rate_hz: frame rate [Hz].
    world: the scene (must match the sim node's).
    """

    bind: str
    sim: str
    cameras: list[str] = field(default_factory=lambda: ["top"])
    rate_hz: float = 30.0
    world: SimConfig = field(default_factory=SimConfig)

    def __post_init__(self) -> None:
        bad = sorted(set(self.cameras) - {"top", "left", "right"})
        if bad or not self.cameras:
            raise ValueError(f"cameras must be a non-empty subset of ['top', 'left', 'right'], got {self.cameras}")


class SimCameraNode(Node):
    Config = SimCameraConfig

    def setup(self) -> None:
        os.environ.setdefault("MUJOCO_GL", "egl")
        from abc_robot.sim.world import SimWorld

        cfg: SimCameraConfig = self.config
        self.world = SimWorld(cfg.world)
        self.pub = self.publisher(cfg.bind, sndhwm=30)
        self.sub = self.latest(cfg.sim, ["sim/qpos"])
        self.frames = 0
        self.last_stamp = 0
        self.render_ms: list[float] = []

    def teardown(self) -> None:
        world = getattr(self, "world", None)
        if world is not None:
            world.close()

    def step(self, now_ns: int) -> None:
        import time

        self.sub.poll()
        msg = self.sub.get("sim/qpos")
        if not isinstance(msg, JointState) or msg.stamp_ns == self.last_stamp:
            return  # no new state: publish nothing rather than a stale frame
        self.last_stamp = msg.stamp_ns
        t0 = time.perf_counter()
        self.world.set_qpos(np.asarray(msg.q))
        for cam in self.config.cameras:
            img = self.world.render(cam)
            self.pub.publish(f"camera/{cam}", CameraFrame(camera=cam, image=img, frame_index=self.frames, stamp_ns=msg.stamp_ns))
        self.frames += 1
        self.render_ms.append((time.perf_counter() - t0) * 1e3)
        if len(self.render_ms) > 300:
            del self.render_ms[:150]

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frames": getattr(self, "frames", 0)}
        if getattr(self, "render_ms", None):
            out["render_ms_p50"] = float(np.median(self.render_ms))
        return out
