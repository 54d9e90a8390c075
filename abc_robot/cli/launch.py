"""``abc-launch launch/FILE.yaml``: start a graph and supervise it until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from abc_robot.errors import ConfigError
from abc_robot.nodes.registry import load_graph

__all__ = ["main", "parse_sets"]


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["node.param=value", ...]`` → ``{node: {param: value}}`` (values parsed as YAML)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, param = key.partition(".")
        if not sep or not dot or not param:
            raise ConfigError(f"--set {item!r}: expected NODE.PARAM=VALUE")
        out.setdefault(node, {})[param] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="abc-launch", description="Start a process graph from a launch file.")
    ap.add_argument("launch_file")
    ap.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    ap.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE", help="override a node param")
    ap.add_argument("--check", action="store_true", help="validate the file and every node's params, start nothing")
    ap.add_argument("--json", action="store_true", help="print node statuses as one JSON object at exit")
    args = ap.parse_args(argv)
    try:
        graph = load_graph(args.launch_file, parse_sets(args.set))
        if args.check:
            from abc_robot.nodes.registry import resolve
            from abc_robot.runtime.config import from_dict

            for spec in graph.nodes:

                cfg_cls = getattr(resolve(spec.kind), "Config", None)
                if cfg_cls is not None:
                    from_dict(cfg_cls, spec.params, file=args.launch_file, prefix=f"nodes.{spec.name}.params")
            print(f"{args.launch_file}: {len(graph.nodes)} nodes OK")
            return 0
    except ConfigError as exc:
        print(f"abc-launch: config error: {exc}", file=sys.stderr)
        return 2
    from abc_robot.runtime.supervisor import Supervisor

    sup = Supervisor(graph)
    code = sup.run(args.duration)
    if args.json:
        print(json.dumps({"graph": graph.graph, "exit": code, "nodes": sup.statuses()}, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
