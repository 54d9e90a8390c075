"""Camera drivers by name: a camera node's ``kind`` picks one, no if/elif.

Entries are ``module:Class`` strings imported only when used, so choosing an OpenCV
camera never imports pyrealsense2. Each class has a ``Config`` dataclass and
``from_config(config, name)``. Adding a driver is one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from abc_robot.devices.cameras.base import Camera
from abc_robot.errors import ConfigError
from abc_robot.runtime.config import from_dict

__all__ = ["CAMERA_KINDS", "make_camera"]

CAMERA_KINDS: dict[str, str] = {
    "opencv": "abc_robot.devices.cameras.opencv_camera:OpenCVCamera",
    "realsense": "abc_robot.devices.cameras.realsense_camera:RealSenseCamera",
}


def make_camera(
    kind: str, params: dict[str, Any], name: str, *, file: str | None = None, prefix: str = "params"
) -> Camera:
    """Build (not open) the camera driver ``kind`` from ``params``.

    Raises:
        ConfigError: unknown kind (listing the valid ones) or bad params (naming the field).
    """
    target = CAMERA_KINDS.get(kind)
    if target is None:
        raise ConfigError(f"unknown camera kind {kind!r}; valid kinds: {sorted(CAMERA_KINDS)}", file=file, field="kind")
    module, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    return cls.from_config(from_dict(cls.Config, params, file=file, prefix=prefix), name)
