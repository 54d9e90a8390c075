"""Launch files: which nodes form a graph, with what params and failure policy.

A launch file (``launch/*.yaml``)::

    graph: teleop_sim
    heartbeat_timeout_s: 1.0      # a node silent this long is killed and its policy applied
    startup_timeout_s: 60.0       # grace before the first heartbeat (imports, model loading)
    nodes:
      - name: follower_left
        kind: follower            # see abc_robot.nodes.registry
        role: follower            # source | sink | follower | world: the stop order
        on_failure: stop          # restart | stop | ignore
        max_restarts: 3
        nice: 0                   # -20..19: followers/leaders negative, cameras/recorder/policy positive
        rt_priority: 0            # SCHED_FIFO priority (expert option; 0: normal scheduling)
        heartbeat_timeout_s: 10   # optional: a longer silence limit for a node off the control path
        params: {...}             # the node's Config fields

Nodes start in file order. On an ordered stop every node is first told HOLD, then
nodes are stopped by role: sources (leaders, policy, cameras, console) first, so
nothing new is commanded; then sinks (recorder), so the episode is finalized while the
arms still hold; then followers (torque off); then the world (sim) last.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from abc_robot.errors import ConfigError
from abc_robot.runtime.config import from_dict, load_yaml

__all__ = ["NodeSpec", "LaunchGraph", "load_launch", "STOP_ORDER", "apply_overrides", "with_node"]

#: Roles in the order they are stopped.
STOP_ORDER = ("source", "sink", "follower", "world")


@dataclass(frozen=True)
class NodeSpec:
    """One node of a graph (see the module docstring)."""

    name: str
    kind: str
    role: Literal["source", "sink", "follower", "world"] = "source"
    on_failure: Literal["restart", "stop", "ignore"] = "stop"
    max_restarts: int = 3  # restarts allowed before the policy becomes 'stop'
    nice: int = 0  # scheduling niceness -20..19: negative for control-path nodes, positive for heavy ones
    rt_priority: int = 0  # SCHED_FIFO priority 1-99 (expert option, see README); 0 = normal scheduling
    heartbeat_timeout_s: float | None = None  # [s] this node's silence limit; None = the graph's
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or " " in self.name:
            raise ValueError(f"node name {self.name!r} must be non-empty without '/' or spaces")
        if self.max_restarts < 0:
            raise ValueError("max_restarts must be >= 0")
        if not -20 <= self.nice <= 19:
            raise ValueError(f"nice must be in -20..19, got {self.nice}")
        if not 0 <= self.rt_priority <= 99:
            raise ValueError(f"rt_priority must be in 0..99, got {self.rt_priority}")


@dataclass(frozen=True)
class LaunchGraph:
    """A whole graph as read from a launch file."""

    graph: str
    nodes: list[NodeSpec]
    heartbeat_timeout_s: float = 1.0  # [s]
    startup_timeout_s: float = 60.0  # [s] before the first heartbeat is expected
    stop_timeout_s: float = 5.0  # [s] per role group before SIGKILL
    hold_grace_s: float = 0.2  # [s] between the HOLD broadcast and the first SIGTERM
    keys: str = ""  # CURVE key ring for every tcp:// socket of the graph (abc_robot.transport.keyring); "" = none
    source_file: str = ""

    def __post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"node names must be unique; repeated: {dup}")
        if self.heartbeat_timeout_s <= 0:
            raise ValueError("heartbeat_timeout_s must be positive")

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ConfigError(f"no node {name!r} in graph {self.graph!r}; nodes: {[n.name for n in self.nodes]}")


def load_launch(
    path: str | Path, overrides: dict[str, dict[str, Any]] | None = None, kinds: Collection[str] | None = None
) -> LaunchGraph:
    """Read and validate a launch file.

    Args:
        path: the YAML file.
        overrides: ``{node_name: {param: value}}`` merged into the nodes' params
            (the command-line tools use this for --duration, --headless, ...).
        kinds: the node kinds there are (the node table, handed in:
            :func:`abc_robot.nodes.registry.load_graph` passes its own); None checks
            no kind here (a node process refuses an unknown kind, naming the valid ones).

    Raises:
        ConfigError: naming the file, the node and the field.
    """
    data = load_yaml(path)
    if overrides:
        data = apply_overrides(data, overrides, str(path))
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        raise ConfigError("expected a list of nodes", file=str(path), field="nodes")
    for i, n in enumerate(nodes):
        if isinstance(n, dict):
            kind = n.get("kind")
            if kinds is not None and kind not in kinds and not (isinstance(kind, str) and ":" in kind):
                label = n.get("name", i)
                raise ConfigError(
                    f"unknown node kind {kind!r}; valid kinds: {sorted(kinds)}",
                    file=str(path),
                    field=f"nodes.{label}.kind",
                )
    data = dict(data, source_file=str(path))
    return from_dict(LaunchGraph, data, file=str(path))


def apply_overrides(data: dict[str, Any], overrides: dict[str, dict[str, Any]], file: str = "") -> dict[str, Any]:
    """Merge ``{node: {param: value}}`` into a launch dict (returns a copy)."""
    data = copy.deepcopy(data)
    by_name = {n.get("name"): n for n in data.get("nodes", []) if isinstance(n, dict)}
    for node, params in overrides.items():
        if node not in by_name:
            raise ConfigError(f"override for unknown node {node!r}; nodes: {sorted(str(n) for n in by_name)}", file=file or None)
        by_name[node].setdefault("params", {}).update(params)
    return data


def with_node(graph: LaunchGraph, spec: NodeSpec) -> LaunchGraph:
    """``graph`` with ``spec`` appended (a viewer, a page: nodes a command-line flag adds).

    Raises:
        ConfigError: the graph already has a node of that name.
    """
    if any(n.name == spec.name for n in graph.nodes):
        raise ConfigError(f"graph {graph.graph!r} already has a node named {spec.name!r}", field="nodes")
    return dataclasses.replace(graph, nodes=[*graph.nodes, spec])
