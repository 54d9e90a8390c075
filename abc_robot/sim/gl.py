"""Offscreen rendering backend of the sim: EGL, which on a machine without a GPU is
Mesa's software EGL (llvmpipe).

MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` *when ``mujoco`` is first
imported*, so every process that renders calls :func:`ensure_gl_backend` before that
import (the sim node and camera entry points do). ``MUJOCO_GL=osmesa`` did not work on
the development machines; ``egl`` works with or without a GPU (with an NVIDIA driver
it uses the GPU). An explicitly set ``MUJOCO_GL`` (e.g. ``glfw`` on a desktop) is kept.

Cost on a 2-core CPU (llvmpipe), one 224×224 view: about 2 ms with shadows and
reflections off (``render_quality: cheap``), about 20 ms with them on (``full``).
"""

from __future__ import annotations

import os

__all__ = ["ensure_gl_backend", "DEFAULT_GL"]

DEFAULT_GL = "egl"


def ensure_gl_backend() -> str:
    """Set ``MUJOCO_GL`` (and PyOpenGL's platform) to EGL unless already chosen.

    Returns:
        the backend in effect (it only takes effect if ``mujoco`` is not imported yet).
    """
    backend = os.environ.setdefault("MUJOCO_GL", DEFAULT_GL)
    if backend in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend
