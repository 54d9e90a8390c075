"""Offscreen camera rendering with one reusable ``mujoco.Renderer`` per world.

See :mod:`abc_robot.sim.gl` for the backend (EGL; Mesa's software EGL on CPUs).
``cheap`` quality turns off the costly passes of MuJoCo's renderer: shadows and
reflections here, and (in the scene builder) the lights' ``castshadow`` and the
offscreen buffer's multisampling.
"""

from __future__ import annotations

import mujoco
import numpy as np

from abc_robot.errors import ConfigError
from abc_robot.sim.config import RenderQuality

__all__ = ["CameraRenderer"]


class CameraRenderer:
    """Renders named cameras of one model into H×W×3 uint8 RGB arrays.

    Args:
        model: the compiled scene.
        width: image width [px].
        height: image height [px].
        quality: ``cheap`` or ``full``.

    The GL context is created on first use, in the calling thread; use a renderer
    from one thread only.
    """

    def __init__(self, model: mujoco.MjModel, width: int, height: int, quality: RenderQuality) -> None:
        self.model = model
        self.width = width
        self.height = height
        self.quality = quality
        self._renderer: mujoco.Renderer | None = None
        self._cameras = {model.camera(i).name: i for i in range(model.ncam)}

    @property
    def cameras(self) -> tuple[str, ...]:
        """Names of the cameras this renderer can draw."""
        return tuple(self._cameras)

    def _ensure(self) -> mujoco.Renderer:
        if self._renderer is None:
            r = mujoco.Renderer(self.model, self.height, self.width)
            full = self.quality == "full"
            r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = full
            r.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = full
            self._renderer = r
        return self._renderer

    def render(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """Image of ``camera`` for the poses in ``data`` (kinematics must be current).

        Returns:
            a new H×W×3 uint8 array (callers may keep it; it is not reused).

        Raises:
            ConfigError: unknown camera name (the message lists the valid ones).
        """
        cam = self._cameras.get(camera)
        if cam is None:
            raise ConfigError(f"unknown camera {camera!r}; cameras: {sorted(self._cameras)}", field="camera")
        r = self._ensure()
        r.update_scene(data, camera=cam)
        return r.render()

    def close(self) -> None:
        """Release the GL context (idempotent)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
