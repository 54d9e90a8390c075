"""Rig directories (``rigs/<name>/rig.yaml``): schema, loader, launch templates, preflight,
discovery, udev rules and follower calibration."""

from abc_robot.rig.load import calibration_hashes, camera_config, deep_merge, follower_config, follower_params, load_rig
from abc_robot.rig.schema import (
    ARMS,
    CAMERA_NAMES,
    SCHEMA_VERSION,
    CameraSpec,
    ConsoleSpec,
    FollowerSpec,
    LeaderSpec,
    RatesSpec,
    RigConfig,
)

__all__ = [
    "ARMS",
    "CAMERA_NAMES",
    "SCHEMA_VERSION",
    "CameraSpec",
    "ConsoleSpec",
    "FollowerSpec",
    "LeaderSpec",
    "RatesSpec",
    "RigConfig",
    "calibration_hashes",
    "camera_config",
    "deep_merge",
    "follower_config",
    "follower_params",
    "load_rig",
]
