"""Load a rig directory: ``rig.yaml`` (+ an optional overlay) into a checked :class:`RigConfig`.

An overlay is a second YAML file deep-merged onto ``rig.yaml`` before it is checked:
device addresses for a hardware twin (pseudo-terminals, a ``udp_multicast`` CAN bus,
latency-timer files), or a lab's own port names, without editing the rig directory.
Mappings merge key by key; any other value (lists included) replaces the rig's, and a
mapping whose ``kind`` the overlay changes is replaced as a whole (a twin turning a
RealSense into a rendered view must not inherit its ``serial``).

Every driver section is checked against its driver's own config class here, so a
``--rig`` command refuses a bad file before any process starts, naming the file and
the field (``followers.right.params.channel``).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib
from pathlib import Path
from typing import Any

from abc_robot.errors import ConfigError
from abc_robot.rig.follower_calibration import load_follower_calibration
from abc_robot.rig.schema import RigConfig
from abc_robot.runtime.config import from_dict, load_yaml

__all__ = [
    "load_rig",
    "rig_file",
    "deep_merge",
    "follower_params",
    "follower_config",
    "camera_config",
    "calibration_hashes",
    "FOLLOWER_CONFIGS",
]

#: Driver config class per follower kind (``module:Class``, imported when used).
FOLLOWER_CONFIGS: dict[str, str] = {
    "yam": "abc_robot.devices.damiao.config:YamConfig",
    "dynamixel": "abc_robot.devices.dynamixel.config:DynamixelArmConfig",
}


def _class(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def rig_file(path: str | Path) -> Path:
    """``rig.yaml`` of a rig directory (a path to the file itself passes through)."""
    p = Path(path)
    return p / "rig.yaml" if p.is_dir() else p


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged onto a copy of ``base``: mappings key by key, other values replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        base_value = out.get(key)
        if (
            isinstance(value, dict)
            and isinstance(base_value, dict)
            and value.get("kind", base_value.get("kind")) == base_value.get("kind")
        ):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_rig(path: str | Path, overlay: str | Path | None = None) -> RigConfig:
    """Load and check a rig.

    Args:
        path: the rig directory (``rigs/<name>``) or its ``rig.yaml``.
        overlay: a YAML file deep-merged onto ``rig.yaml`` first (device addresses).

    Returns:
        The rig, ``root`` set to its directory (absolute).

    Raises:
        ConfigError: unreadable file, unknown or bad field, a driver section its driver
            refuses, or a follower calibration file that does not load; the message
            names the file (``rig.yaml + overlay.yaml`` when an overlay is merged) and the field.
    """
    file = rig_file(path)
    data = load_yaml(file)
    label = str(file)
    if overlay is not None:
        data = deep_merge(data, load_yaml(overlay))
        label = f"{file} + overlay {overlay}"
    if "root" in data:
        raise ConfigError("'root' is set by the loader, not in the file", file=label, field="root")
    data["root"] = str(file.resolve().parent)
    rig = from_dict(RigConfig, data, file=label)
    for arm in rig.followers:  # a calibration file not written yet is the preflight's to report
        follower_config(rig, arm, file=label, missing_ok=True)
    for name in rig.cameras:
        camera_config(rig, name, file=label)
    return rig


def follower_params(rig: RigConfig, arm: str, *, file: str | None = None, missing_ok: bool = False) -> dict[str, Any]:
    """The follower's driver params: ``rig.yaml``'s, its calibration file's values, the variant.

    Args:
        missing_ok: a calibration file not written yet leaves ``params`` as they are.

    Raises:
        ConfigError: the calibration file is missing (unless ``missing_ok``) or refused.
    """
    spec = rig.followers[arm]
    params = dict(spec.params)
    cal_path = Path(rig.path(spec.calibration)) if spec.calibration else None
    if cal_path is not None and not (missing_ok and not cal_path.is_file()):
        if not cal_path.is_file():
            raise ConfigError(
                f"calibration file {cal_path} does not exist; run: abc-calibrate follower --rig {rig.root} --arm {arm}",
                file=file,
                field=f"followers.{arm}.calibration",
            )
        params.update(load_follower_calibration(cal_path, arm=arm).driver_fields())
    if spec.variant:
        cls = _class(FOLLOWER_CONFIGS[spec.kind])
        if "variant" in {f.name for f in dataclasses.fields(cls)}:
            params.setdefault("variant", spec.variant)
    return params


def follower_config(rig: RigConfig, arm: str, *, file: str | None = None, missing_ok: bool = False) -> Any:
    """The follower's typed driver config (``YamConfig`` / ``DynamixelArmConfig``).

    Raises:
        ConfigError: naming ``followers.<arm>.params.<field>``.
    """
    spec = rig.followers[arm]
    cls = _class(FOLLOWER_CONFIGS[spec.kind])
    label = file or str(rig_file(rig.root))
    params = follower_params(rig, arm, file=label, missing_ok=missing_ok)
    return from_dict(cls, params, file=label, prefix=f"followers.{arm}.params")


def camera_config(rig: RigConfig, name: str, *, file: str | None = None) -> Any:
    """The camera's typed driver config (``RealSenseConfig`` / ``OpenCVCameraConfig``, or
    ``SimCameraConfig`` for a rendered view of a twin)."""
    from abc_robot.devices.cameras.registry import CAMERA_KINDS

    spec = rig.cameras[name]
    label = file or str(rig_file(rig.root))
    if spec.kind == "sim":
        from abc_robot.nodes.sim_camera import SimCameraConfig

        params = dict(spec.params, bind="", cameras=[name])
        return from_dict(SimCameraConfig, params, file=label, prefix=f"cameras.{name}.params")
    cls = _class(CAMERA_KINDS[spec.kind])
    return from_dict(cls.Config, spec.params, file=label, prefix=f"cameras.{name}.params")


def calibration_hashes(rig: RigConfig) -> dict[str, str]:
    """SHA-256 of ``rig.yaml`` and of every calibration file it names (that exists).

    Keys are paths relative to the rig directory; the recorder puts them into each
    episode's metadata so an episode says which calibration it was recorded with.
    """
    names = ["rig.yaml"]
    names += [spec.calibration for spec in rig.leaders.values()]
    names += [spec.calibration for spec in rig.followers.values() if spec.calibration]
    out: dict[str, str] = {}
    for name in names:
        p = Path(rig.path(name))
        if p.is_file():
            out[name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
