"""Sim camera node: renders MuJoCo cameras from the sim's ``sim/qpos``, in its own process.

Like a real camera process it publishes ``camera/<name>`` (:class:`CameraFrame`, raw
H×W×3 uint8 RGB) at its own rate, stamped with the capture instant: here the stamp of
the physics state it rendered. It builds the same scene as the sim node (``world``
must match the sim node's ``sim`` config: same task, hence same ``qpos`` layout) and
only poses it (``mj_kinematics``), so rendering never slows the physics: a slow camera
drops frames (``frame_index`` gaps), the sim never waits.

When no new ``qpos`` arrived since the last frame it publishes nothing: a stale
frame with a fresh stamp would lie to the recorder and the policy.

Rendering backend: EGL (Mesa's software EGL on CPUs), chosen before MuJoCo loads;
``world.render_quality: cheap`` for CPUs (~2-4 ms per 224×224 view), ``full`` on GPUs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from abc_robot.runtime.node import Node
from abc_robot.runtime.stats import percentiles
from abc_robot.sim.config import CAMERAS, SimConfig
from abc_robot.sim.gl import ensure_gl_backend
from abc_robot.transport.messages import CameraFrame, JointState

__all__ = ["SimCameraNode", "SimCameraConfig"]


@dataclass(frozen=True)
class SimCameraConfig:
    """Attributes:
    bind: publisher endpoint (``camera/<name>``).
    sim: the sim node's endpoint (``sim/qpos``).
    cameras: which cameras this process renders (one per process, as on the rig).
    rate_hz: frame rate [Hz].
    world: the scene (must match the sim node's ``sim``); image size and quality here.
    """

    bind: str
    sim: str
    cameras: list[str] = field(default_factory=lambda: ["top"])
    rate_hz: float = 30.0  # [Hz]
    world: SimConfig = field(default_factory=SimConfig)

    def __post_init__(self) -> None:
        bad = sorted(set(self.cameras) - set(CAMERAS))
        if bad or not self.cameras:
            raise ValueError(f"cameras must be a non-empty subset of {list(CAMERAS)}, got {self.cameras}")
        if not 0 < self.rate_hz <= 240:
            raise ValueError(f"rate_hz must be in (0, 240] Hz, got {self.rate_hz}")


def pinhole_intrinsics(world: Any, camera: str) -> dict[str, Any]:
    """The rendered view's intrinsics [px], laid out as a RealSense driver reports them.

    MuJoCo renders an ideal pinhole with square pixels whose vertical field of view is
    the camera's ``fovy``, centred on the image.
    """
    w, h = world.cfg.image_width, world.cfg.image_height
    fovy_rad = np.deg2rad(float(world.model.cam_fovy[world.model.camera(camera).id]))
    f = (h / 2.0) / np.tan(fovy_rad / 2.0)
    return {
        "width": int(w),
        "height": int(h),
        "fx": float(f),
        "fy": float(f),
        "ppx": w / 2.0,
        "ppy": h / 2.0,
        "model": "none",
        "coeffs": [0.0] * 5,
    }


class SimCameraNode(Node):
    """Renders ``cameras`` at ``rate_hz`` from the latest ``sim/qpos``."""

    Config = SimCameraConfig

    def setup(self) -> None:
        ensure_gl_backend()
        from abc_robot.sim.world import SimWorld

        cfg: SimCameraConfig = self.config
        self.world = SimWorld(cfg.world)
        # Few frames queued per subscriber: a slow reader gets the newest, not a backlog.
        self.pub = self.publisher(cfg.bind, sndhwm=4)
        self.sub = self.latest(cfg.sim, ["sim/qpos"])
        self.frames = 0
        self.skipped = 0  # ticks with no new qpos
        self.bad_qpos = 0
        self.last_stamp = 0
        self.render_ns = {cam: np.zeros(512, dtype=np.int64) for cam in cfg.cameras}
        self.intrinsics = {cam: pinhole_intrinsics(self.world, cam) for cam in cfg.cameras}

    def teardown(self) -> None:
        world = getattr(self, "world", None)
        if world is not None:
            world.close()

    def step(self, now_ns: int) -> None:
        cfg: SimCameraConfig = self.config
        self.sub.poll()
        msg = self.sub.get("sim/qpos")
        if not isinstance(msg, JointState) or msg.stamp_ns == self.last_stamp:
            self.skipped += 1
            return
        self.last_stamp = msg.stamp_ns
        if len(msg.q) != self.world.model.nq:
            if self.bad_qpos == 0:
                self.log(
                    f"sim/qpos has {len(msg.q)} values, this scene ({cfg.world.task}) needs "
                    f"{self.world.model.nq}: the camera's world config must match the sim's"
                )
            self.bad_qpos += 1
            return
        self.world.set_qpos(np.asarray(msg.q, dtype=np.float64))
        for cam in cfg.cameras:
            t = time.perf_counter_ns()
            img = self.world.render(cam)
            self.render_ns[cam][self.frames % 512] = time.perf_counter_ns() - t
            frame = CameraFrame(
                camera=cam, image=img, frame_index=self.frames, stamp_ns=msg.stamp_ns, intrinsics=self.intrinsics[cam]
            )
            self.pub.publish(f"camera/{cam}", frame)
        self.frames += 1

    def status(self) -> dict[str, Any]:
        if not hasattr(self, "world"):
            return {}
        out: dict[str, Any] = {"frames": self.frames, "skipped": self.skipped, "bad_qpos": self.bad_qpos}
        n = min(self.frames, 512)
        for cam, ring in self.render_ns.items():
            if n:
                out[f"render_ms_p50/{cam}"] = round(percentiles(ring[:n], (50,))[0] / 1e6, 2)
        if self.last_stamp:
            out["frame_age_ms"] = round((time.monotonic_ns() - self.last_stamp) / 1e6, 1)
        return out
