"""Launch templates → launch graphs: every hardware graph built from one rig directory.

A template (``launch/templates/<graph>.yaml``) names the device *groups* the graph
uses (``leaders``, ``followers``, ``cameras``, ``console``, ``recorder``), params merged
into every node of a group (``group_params``), and fixed nodes (the policy worker).
The groups are expanded from ``rig.yaml``: one node per device, with the endpoints of
the process-graph contract (``leader/<arm>``, ``follower/<arm>/...``, ``camera/<name>``,
``console/event``), the driver params of the rig and the rig's rates. The result is a
plain launch dict (what a launch file holds), so ``--set`` overrides, ``abc-launch``
and the supervisor treat it like any launch file; :func:`rig_launch_graph` checks it.

Nothing here opens a device: building a graph is cheap and safe.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from abc_robot.errors import ConfigError
from abc_robot.rig.load import follower_params
from abc_robot.rig.schema import ARMS, RigConfig
from abc_robot.runtime.config import load_yaml

__all__ = [
    "TEMPLATE_DIR",
    "GRAPHS",
    "build_graph",
    "rig_launch_graph",
    "write_layout",
    "write_calibration_dir",
    "write_graph",
]

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "launch" / "templates"
#: Graphs with a template.
GRAPHS = ("teleop", "rollout", "eval", "replay")

_Node = dict[str, Any]


def _ep(name: str) -> str:
    return f"ipc://${{run}}/{name}"


def _plain(obj: Any) -> Any:
    """A dataclass or tuple-holding value as plain YAML-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    return json.loads(json.dumps(obj))


def _consoles(rig: RigConfig) -> list[str]:
    """Console endpoints: the keys (always) and the board (if the rig has one)."""
    return [_ep("console")] + ([_ep("console_board")] if rig.console is not None else [])


def _leaders(rig: RigConfig, ctx: dict[str, Any]) -> list[_Node]:
    nodes = []
    for arm, spec in rig.leaders.items():
        nodes.append({
            "name": f"leader_{arm}",
            "kind": "gello_leader",
            "role": "source",
            "nice": -10,  # not SCHED_FIFO: dynamixel-sdk busy-waits on silent servos at connect
            "params": {
                "arm": arm,
                "bind": _ep(f"leader_{arm}"),
                "calibration": rig.path(spec.calibration),
                "port": spec.port,
                "motor_ids": list(spec.motor_ids),
                "rate_hz": rig.rates.leader_hz,
                "timeout_ms": spec.timeout_ms,
            },
        })  # fmt: skip
    return nodes


def _followers(rig: RigConfig, ctx: dict[str, Any]) -> list[_Node]:
    nodes = []
    for arm in ARMS:
        spec = rig.followers[arm]
        other = "right" if arm == "left" else "left"
        params: dict[str, Any] = {
            "arm": arm,
            "bind": _ep(f"follower_{arm}"),
            "leader": _ep(f"leader_{arm}") if arm in rig.leaders else "",
            "policy": _ep("policy"),
            "console": _consoles(rig),
            "other_arm": _ep(f"follower_{other}"),
            "rate_hz": rig.rates.follower_hz,
            "leader_to_follower_xyz_m": list(spec.leader_to_follower_xyz_m),
            "leader_to_follower_rpy_rad": list(spec.leader_to_follower_rpy_rad),
            "backend": {"kind": spec.kind, "params": _plain(follower_params(rig, arm, file=ctx["file"]))},
        }
        if ctx.get("layout"):
            params["layout"] = ctx["layout"]
        node: _Node = {"name": f"follower_{arm}", "kind": "follower", "role": "follower", "params": params}
        if spec.kind == "dynamixel":
            node["nice"] = -10  # not SCHED_FIFO: dynamixel-sdk busy-waits on silent servos at connect
        else:
            node["rt_priority"] = 20
        nodes.append(node)
    return nodes


def _cameras(rig: RigConfig, ctx: dict[str, Any]) -> list[_Node]:
    nodes = []
    for name in rig.camera_names:
        spec = rig.cameras[name]
        node: _Node = {"name": f"camera_{name}", "role": "source", "on_failure": "restart", "nice": 0}
        if spec.kind == "sim":  # a hardware twin's rendered view
            node["kind"] = "sim_camera"
            node["params"] = {**_plain(spec.params), "bind": _ep(f"camera_{name}"), "cameras": [name]}
        else:
            node["kind"] = "camera"
            node["params"] = {
                "bind": _ep(f"camera_{name}"),
                "camera": name,
                "kind": spec.kind,
                "params": _plain(spec.params),
                "rate_hz": spec.rate_hz,
            }
        nodes.append(node)
    return nodes


def _console(rig: RigConfig, ctx: dict[str, Any]) -> list[_Node]:
    if rig.console is None:
        return []
    return [{
        "name": "console_board",
        "kind": "console_board",
        "role": "source",
        "on_failure": "restart",
        "params": {
            "bind": _ep("console_board"),
            # The other console sources: its start/stop button follows their episodes too.
            "console": [c for c in _consoles(rig) if c != _ep("console_board")],
            "rate_hz": rig.rates.console_hz,
            "board": _plain(rig.console.board),
        },
    }]  # fmt: skip


def _recorder(rig: RigConfig, ctx: dict[str, Any]) -> list[_Node]:
    return [{
        "name": "recorder",
        "kind": "recorder",
        "role": "sink",
        "on_failure": "restart",
        "nice": 0,
        "heartbeat_timeout_s": 10.0,
        "params": {
            "root": rig.recording.root,
            "followers": [_ep(f"follower_{arm}") for arm in ARMS],
            "cameras": {name: _ep(f"camera_{name}") for name in rig.camera_names},
            "stack": rig.camera_names,
            "console": _consoles(rig),
            "rig": rig.name,
            "calibration": ctx.get("calibration_dir") or rig.root,
            "rate_hz": rig.rates.recorder_hz,
        },
    }]  # fmt: skip


_GROUPS: dict[str, Callable[[RigConfig, dict[str, Any]], list[_Node]]] = {
    "leaders": _leaders,
    "followers": _followers,
    "cameras": _cameras,
    "console": _console,
    "recorder": _recorder,
}


def _substitute(value: Any, rig: RigConfig) -> Any:
    """``${cameras}`` in a template → the rig's camera endpoints (lists, in ABC order)."""
    if value == "${cameras}":
        return [_ep(f"camera_{name}") for name in rig.camera_names]
    if isinstance(value, dict):
        return {k: _substitute(v, rig) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, rig) for v in value]
    return value


def build_graph(
    rig: RigConfig,
    graph: str,
    *,
    template: str | Path | None = None,
    layout: str | None = None,
    calibration_dir: str | None = None,
) -> dict[str, Any]:
    """The launch dict of ``graph`` on ``rig``.

    Args:
        rig: a loaded rig (:func:`~abc_robot.rig.load.load_rig`).
        graph: ``teleop``, ``rollout``, ``eval`` or ``replay``.
        template: another template file (default ``launch/templates/<graph>.yaml``).
        layout: the followers' bimanual layout file (from :func:`write_layout`); None
            keeps the followers' default (``urdf/bimanual.yaml``).
        calibration_dir: what the recorder hashes into each episode's metadata (from
            :func:`write_calibration_dir`: every calibration file the overlaid rig uses);
            None: the rig directory.

    Raises:
        ConfigError: unknown graph or group, or a follower calibration file that the
            rig names but that is missing or refused (naming the file and field).
    """
    if template is None:
        if graph not in GRAPHS:
            raise ConfigError(f"unknown graph {graph!r}; valid: {list(GRAPHS)}")
        template = TEMPLATE_DIR / f"{graph}.yaml"
    tpl = load_yaml(template)
    ctx = {"file": str(Path(rig.root) / "rig.yaml"), "layout": layout, "calibration_dir": calibration_dir}
    nodes: list[_Node] = []
    group_params = tpl.get("group_params") or {}
    for group in tpl.get("groups") or []:
        build = _GROUPS.get(group)
        if build is None:
            raise ConfigError(f"unknown group {group!r}; valid: {sorted(_GROUPS)}", file=str(template), field="groups")
        for node in build(rig, ctx):
            node["params"].update(copy.deepcopy(group_params.get(group, {})))
            nodes.append(node)
    for node in tpl.get("nodes") or []:
        node = _substitute(copy.deepcopy(node), rig)
        if node.get("kind") == "policy_worker":
            node["params"].setdefault("rig_cameras", rig.camera_names)
        nodes.append(node)
    out = {k: v for k, v in tpl.items() if k not in ("groups", "group_params", "nodes")}
    out["graph"] = f"{tpl.get('graph', graph)}:{rig.name}"
    out["nodes"] = nodes
    return out


def write_layout(rig: RigConfig, path: str | Path) -> Path:
    """Write the rig's bimanual layout (``urdf/bimanual.yaml`` with the rig's base poses)."""
    from abc_robot.kinematics.model import URDF_DIR

    data = load_yaml(URDF_DIR / "bimanual.yaml")
    for arm in ARMS:
        spec = rig.followers[arm]
        arm_data = data.setdefault("arms", {}).setdefault(arm, {})
        arm_data["base_xyz_m"] = list(spec.base_xyz_m)
        arm_data["base_rpy_rad"] = list(spec.base_rpy_rad)
        for key in ("urdf", "leader_urdf"):  # the URDFs stay where the shipped layout finds them
            if key in arm_data and not Path(arm_data[key]).is_absolute():
                arm_data[key] = str(URDF_DIR / arm_data[key])
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"# Layout of rig {rig.name}: written from its rig.yaml\n" + yaml.safe_dump(data, sort_keys=False))
    return p


def write_calibration_dir(rig: RigConfig, path: str | Path) -> Path:
    """A directory of links to ``rig.yaml`` and every calibration file the rig uses (an
    overlay may name files outside the rig directory); the recorder hashes what they
    point at into each episode's metadata."""
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    files = {"rig.yaml": Path(rig.root) / "rig.yaml"}
    for arm, spec in rig.leaders.items():
        files[f"leader_{arm}.yaml" if Path(spec.calibration).is_absolute() else spec.calibration] = Path(
            rig.path(spec.calibration)
        )
    for arm, f in rig.followers.items():
        if f.calibration:
            files[f"follower_{arm}.yaml" if Path(f.calibration).is_absolute() else f.calibration] = Path(
                rig.path(f.calibration)
            )
    for name, target in files.items():
        link = d / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        if target.is_file():
            link.symlink_to(target.resolve())
    return d


def write_graph(data: dict[str, Any], path: str | Path) -> Path:
    """Write a built graph as a launch file (``abc-launch FILE`` runs it)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def rig_launch_graph(data: dict[str, Any], overrides: dict[str, dict[str, Any]] | None = None, source: str = "") -> Any:
    """Check a built graph (with ``--set`` overrides) into a :class:`LaunchGraph`."""
    from abc_robot.runtime.config import from_dict
    from abc_robot.runtime.launch import LaunchGraph, apply_overrides

    if overrides:
        data = apply_overrides(data, overrides, source)
    return from_dict(LaunchGraph, dict(data, source_file=source), file=source or None)
