"""Process entry of one node: ``python -m abc_robot.nodes --kind K --name N``.

The node table is handed in (:func:`main`'s ``resolve``; ``abc_robot.nodes.__main__``
hands in :func:`abc_robot.nodes.registry.resolve`): the runtime knows no node kind.
Run as ``python -m abc_robot.runtime.node_main`` it takes ``module:Class`` kinds only.

The launcher passes the node's params as JSON and says where they came from
(``--where "launch/x.yaml: nodes.follower_left"``) so a config error names the file,
the node and the field. A refused config exits with status 78 (EX_CONFIG), which the
supervisor treats as final (no restart).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable

from abc_robot.errors import ConfigError
from abc_robot.runtime.node import EXIT_CONFIG

__all__ = ["main", "build_node", "resolve_path", "set_realtime", "set_nice", "set_autogroup_nice"]


def resolve_path(kind: str) -> type:
    """The class a ``module:Class`` kind names (no node table needed).

    Raises:
        ConfigError: a bare kind name, or a class that cannot be loaded.
    """
    module, sep, cls = kind.partition(":")
    if not sep:
        raise ConfigError(f"node kind {kind!r}: a named kind needs the node table (python -m abc_robot.nodes)", field="kind")
    try:
        return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"node kind {kind!r} cannot be loaded: {exc}", field="kind") from exc


def set_nice(nice: int) -> bool:
    """Set this process's niceness; a negative value needs root or CAP_SYS_NICE.

    Unlike SCHED_FIFO it can never starve the rest of the machine: control-path
    nodes get the CPU first when they wake, heavy nodes (rendering, encoding,
    inference) yield to them.
    """
    import os

    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except (PermissionError, OSError) as exc:
        print(f"warning: niceness {nice} refused ({exc}); running at the default", file=sys.stderr, flush=True)
        return False
    set_autogroup_nice(nice)
    return True


def set_autogroup_nice(nice: int, path: str = "/proc/self/autogroup") -> bool:
    """Give this node's scheduler autogroup the same niceness; True if it was set.

    On kernels with ``sched_autogroup_enabled`` (most desktop distributions) every
    session is its own scheduling group, and a process's niceness only ranks it inside
    its group. The supervisor starts every node in its own session, so without this a
    camera at nice 10 still took a full share beside the policy worker: on a 2-core
    machine the worker got a sixth of the spare CPU and its chunks came late. Only a
    session leader touches its group (a node started by hand from a shell shares the
    shell's group and leaves it alone).
    """
    import os

    if not os.path.exists(path) or os.getsid(0) != os.getpid():
        return False
    try:
        with open(path, "w") as f:
            f.write(str(int(nice)))
        return True
    except OSError as exc:
        print(f"warning: autogroup niceness {nice} refused ({exc}); nice ranks this node only in its session", file=sys.stderr, flush=True)
        return False


def set_realtime(priority: int) -> bool:
    """Run this process under SCHED_FIFO at ``priority``; warn and go on if refused.

    The shipped graphs run the followers and the leader readers at a low SCHED_FIFO
    priority: they sleep most of each period, and the moment a leader sample arrives
    they preempt rendering, encoding and inference (figures in the CHANGELOG). A
    SCHED_FIFO process that spins
    would starve the rest of the machine, so the rate loop caps wake-ups per period
    and the kernel's RT throttling keeps 5% for everyone else. It needs root or
    ``CAP_SYS_NICE`` (or an ``rtprio`` limit in /etc/security/limits.conf); refused, the
    node runs with normal scheduling and says so.
    """
    import os

    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except (PermissionError, OSError, AttributeError) as exc:
        print(
            f"warning: real-time priority {priority} refused ({exc}); running with normal scheduling. "
            "Allow it with: echo '@robot - rtprio 95' | sudo tee -a /etc/security/limits.conf (then log in again)",
            file=sys.stderr,
            flush=True,
        )
        return False


def build_node(kind: str, name: str, params: dict, where: str = "", resolve: Callable[[str], type] | None = None) -> object:
    """Resolve ``kind`` (with ``resolve``, the node table; default: ``module:Class``
    kinds only), fill its Config from ``params`` and construct the node."""
    from abc_robot.runtime.config import from_dict

    file, _, prefix = where.partition(": ")
    cls = (resolve or resolve_path)(kind)
    cfg_cls = getattr(cls, "Config", None)
    config = from_dict(cfg_cls, params, file=file or None, prefix=f"{prefix}.params" if prefix else "params") if cfg_cls else params
    return cls(name, config)


def main(argv: list[str] | None = None, resolve: Callable[[str], type] | None = None) -> int:
    """Run one node process; ``resolve`` maps a kind to its class (the node table)."""
    ap = argparse.ArgumentParser(prog="abc-node", description=__doc__)
    ap.add_argument("--kind", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--params", default="{}", help="node params as JSON")
    ap.add_argument("--where", default="", help="'FILE: nodes.NAME' for error messages")
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--rt-priority", type=int, default=0, help="SCHED_FIFO priority (0: normal scheduling)")
    ap.add_argument("--nice", type=int, default=0, help="niceness -20..19")
    args = ap.parse_args(argv)
    if args.nice:
        set_nice(args.nice)
    if args.rt_priority:
        set_realtime(args.rt_priority)
    try:
        node = build_node(args.kind, args.name, json.loads(args.params), args.where, resolve)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    return node.run(args.duration)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
