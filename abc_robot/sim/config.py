"""Configuration of the MuJoCo world: physics rate, render quality, cameras, task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["SimConfig", "RenderQuality", "CAMERAS"]

#: Render quality: ``cheap`` (no shadows, no reflections: CPU rendering, CI) or ``full``.
RenderQuality = Literal["cheap", "full"]

#: The world's cameras: ``top`` (fixed over the table) and the two wrist cameras.
CAMERAS: tuple[str, ...] = ("top", "left", "right")


@dataclass(frozen=True)
class SimConfig:
    """What a :class:`~abc_robot.sim.world.SimWorld` is built from.

    Attributes:
        timestep_s: physics step [s]; 0.002 is 500 Hz, the rate of the real arms' loop.
        render_quality: ``cheap`` turns shadows, reflections and multisampling off
            (about 8× faster on a CPU with Mesa's software EGL); ``full`` keeps them
            (GPU rigs, figures).
        image_width: camera image width [px], every camera.
        image_height: camera image height [px], every camera.
        task: task name (see :func:`abc_robot.sim.tasks.task_names`); its objects are
            part of the scene.
        seed: seed of the first ``reset()`` (later resets take their own seed).
        layout: bimanual layout file (arm base poses, table); relative paths are
            looked up in the project's ``urdf/`` directory.
        gravity_compensation: compensate the arms' own weight in the joints, as the
            real YAM controller does; without it the position loop sags by a few mm.
    """

    timestep_s: float = 0.002  # [s] physics step (500 Hz)
    render_quality: RenderQuality = "cheap"
    image_width: int = 224  # [px]
    image_height: int = 224  # [px]
    task: str = "lift_cube"
    seed: int = 0
    layout: str = "bimanual.yaml"
    gravity_compensation: bool = True

    def __post_init__(self) -> None:
        if not 1e-4 <= self.timestep_s <= 0.01:
            raise ValueError(f"timestep_s must be in [0.0001, 0.01] s, got {self.timestep_s}")
        if self.render_quality not in ("cheap", "full"):
            raise ValueError(f"render_quality must be 'cheap' or 'full', got {self.render_quality!r}")
        for name in ("image_width", "image_height"):
            v = getattr(self, name)
            if not 16 <= v <= 4096:
                raise ValueError(f"{name} must be in [16, 4096] px, got {v}")

    @property
    def rate_hz(self) -> float:
        """Physics rate [Hz]."""
        return 1.0 / self.timestep_s
