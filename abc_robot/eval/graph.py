"""The evaluation graph: a rollout graph whose one policy worker becomes several.

From a rollout launch file (``launch/rollout_sim.yaml``), the node named ``policy``
(a ``policy_worker``) is replaced by

- one ``policy_worker`` per alias, named ``policy_<alias>`` (``policy_a``, ...),
  binding a private endpoint ``ipc://${run}/policy_<alias>``, with the original
  node's params and that alias's checkpoint; nodes appear in alias order, so the
  graph's layout says nothing about the command line's order;
- a ``policy_mux`` named ``policy`` that binds the original endpoint (the one the
  followers subscribe to) and forwards the selected alias's chunks
  (:mod:`abc_robot.nodes.policy_mux`). It publishes the selection on a gate
  endpoint (``ipc://${run}/policy_gate``) and the workers infer only while selected,
  so evaluating N checkpoints loads the machine like one rollout.

Node names, endpoints and the mux's config carry aliases only; the checkpoint path
is in the worker's params, which reach its process but are never printed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abc_robot.errors import ConfigError
from abc_robot.runtime.config import from_dict, load_yaml
from abc_robot.runtime.launch import LaunchGraph, apply_overrides

__all__ = ["build_eval_graph", "mux_policies", "worker_name", "MUX_CONTROL", "MUX_GATE"]

#: The mux's request endpoint (``mux/select``).
MUX_CONTROL = "ipc://${run}/policy_ctl"
#: The mux's gate endpoint (``mux/active``): the workers infer only while selected.
MUX_GATE = "ipc://${run}/policy_gate"


def worker_name(policy_node: str, alias: str) -> str:
    """Node name of ``alias``'s worker (e.g. ``policy_b``)."""
    return f"{policy_node}_{alias.lower()}"


def build_eval_graph(
    launch_file: str | Path,
    checkpoints: Mapping[str, str],
    overrides: dict[str, dict[str, Any]] | None = None,
    policy_node: str = "policy",
    control: str = MUX_CONTROL,
    gate: str = MUX_GATE,
) -> LaunchGraph:
    """Load ``launch_file`` and put ``checkpoints`` (alias → path) behind a mux.

    Args:
        launch_file: a rollout graph with one ``policy_worker`` node.
        checkpoints: alias → checkpoint directory.
        overrides: ``{node: {param: value}}`` applied first (``policy`` params apply
            to every worker).
        policy_node: name of the worker node to replace (keeps naming the mux).
        control: the mux's request endpoint.
        gate: the mux's gate endpoint ("" = every worker infers all the time).

    Raises:
        ConfigError: no such node, not a policy worker, or an invalid resulting graph.
    """
    file = str(launch_file)
    data = load_yaml(launch_file)
    if overrides:
        data = apply_overrides(data, overrides, file)
    out = mux_policies(data, checkpoints, policy_node, control, gate, file=file)
    return from_dict(LaunchGraph, dict(out, source_file=file), file=file)


def mux_policies(
    data: Mapping[str, Any],
    checkpoints: Mapping[str, str],
    policy_node: str = "policy",
    control: str = MUX_CONTROL,
    gate: str = MUX_GATE,
    file: str = "",
) -> dict[str, Any]:
    """A launch dict (a rollout graph, overrides applied) with ``checkpoints`` behind a mux.

    What :func:`build_eval_graph` does to a launch file, on a dict (a rig's graph is
    built from its template, not read from a file). ``file`` names it in errors.

    Raises:
        ConfigError: no such node, not a policy worker, or an unknown node kind.
    """
    from abc_robot.nodes.registry import NODE_KINDS

    file = file or str(data.get("source_file") or data.get("graph") or "graph")
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        raise ConfigError("expected a list of nodes", file=file, field="nodes")
    idx = next((i for i, n in enumerate(nodes) if isinstance(n, dict) and n.get("name") == policy_node), None)
    if idx is None:
        raise ConfigError(f"no node named {policy_node!r} to put the checkpoints behind", file=file, field="nodes")
    spec = nodes[idx]
    if spec.get("kind") != "policy_worker":
        raise ConfigError(
            f"node {policy_node!r} is a {spec.get('kind')!r}, expected a policy_worker",
            file=file,
            field=f"nodes.{policy_node}.kind",
        )
    params = spec.get("params", {})
    bind = params.get("bind")
    if not bind:
        raise ConfigError("the policy worker has no bind endpoint", file=file, field=f"nodes.{policy_node}.params.bind")
    workers: list[dict[str, Any]] = []
    endpoints: dict[str, str] = {}
    for alias in sorted(checkpoints):
        w = copy.deepcopy(spec)
        w["name"] = worker_name(policy_node, alias)
        endpoints[alias] = f"ipc://${{run}}/{w['name']}"
        w["params"] = dict(w.get("params", {}), checkpoint=str(checkpoints[alias]), bind=endpoints[alias])
        if gate:
            w["params"].update(gate=gate, gate_alias=alias)
        workers.append(w)
    mux = {
        "name": policy_node,
        "kind": "policy_mux",
        "role": spec.get("role", "source"),
        "params": {"bind": bind, "control": control, "workers": endpoints, **({"gate": gate} if gate else {})},
    }
    nodes = nodes[:idx] + workers + [mux] + nodes[idx + 1 :]
    for n in nodes:
        kind = n.get("kind") if isinstance(n, dict) else None
        if kind not in NODE_KINDS and not (isinstance(kind, str) and ":" in kind):
            raise ConfigError(f"unknown node kind {kind!r}; valid kinds: {sorted(NODE_KINDS)}", file=file)
    return dict(data, nodes=nodes, graph=f"{data.get('graph', 'graph')}_eval")
