"""Node kinds by name: the launch file says ``kind: follower``, this table says where.

Entries are ``module:Class`` strings imported only in the node's own process, so the
launcher never imports torch or mujoco. Adding a node kind is one line here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from abc_robot.errors import ConfigError
from abc_robot.runtime.launch import LaunchGraph, load_launch

__all__ = ["NODE_KINDS", "resolve", "load_graph"]

NODE_KINDS: dict[str, str] = {
    "sim": "abc_robot.nodes.sim_node:SimNode",
    "sim_camera": "abc_robot.nodes.sim_camera:SimCameraNode",
    "follower": "abc_robot.nodes.follower:FollowerNode",
    "scripted_leader": "abc_robot.nodes.scripted_leader:ScriptedLeaderNode",
    "gello_leader": "abc_robot.nodes.leader_node:LeaderNode",
    "gello_leader_emulated": "abc_robot.testing.emulated:EmulatedLeaderNode",
    "camera": "abc_robot.nodes.camera_node:CameraNode",
    "recorder": "abc_robot.nodes.recorder_node:RecorderNode",
    "policy_worker": "abc_robot.nodes.policy_worker:PolicyWorkerNode",
    "console_board": "abc_robot.nodes.console_board_node:ConsoleBoardNode",
    "probe": "abc_robot.nodes.probe:ProbeNode",
    "policy_mux": "abc_robot.nodes.policy_mux:PolicyMuxNode",
    "policy_link": "abc_robot.nodes.policy_link:PolicyLinkNode",
    "page": "abc_robot.nodes.page_node:PageNode",
    "foxglove": "abc_robot.nodes.foxglove_node:FoxgloveNode",
}


def resolve(kind: str) -> type:
    """Import and return the node class registered as ``kind``.

    Raises:
        ConfigError: unknown kind (the message lists the valid ones).
    """
    target = NODE_KINDS.get(kind) or (kind if ":" in kind else None)
    if target is None:
        raise ConfigError(f"unknown node kind {kind!r}; valid kinds: {sorted(NODE_KINDS)}", field="kind")
    module, _, cls = target.partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"node kind {kind!r} ({target}) cannot be loaded: {exc}", field="kind") from exc


def load_graph(path: str | Path, overrides: dict[str, dict[str, Any]] | None = None) -> LaunchGraph:
    """:func:`~abc_robot.runtime.launch.load_launch` with this table's kinds checked."""
    return load_launch(path, overrides, kinds=NODE_KINDS)
