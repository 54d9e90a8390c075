"""``--page``: the operator's web page as a node of a CLI's graph (abc-teleop, abc-rollout,
abc-eval). See :mod:`abc_robot.nodes.page_node`.

    abc-teleop --sim --page                       # http://127.0.0.1:8080 on this machine
    abc-teleop --sim --page --page-host 0.0.0.0   # every interface: others can press ESTOP

From another machine without opening a port: ``ssh -L 8080:127.0.0.1:8080 robot-host``,
then browse http://127.0.0.1:8080.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_page_args", "with_page"]


def add_page_args(ap: argparse.ArgumentParser) -> None:
    """The ``--page``, ``--page-host`` and ``--page-port`` options."""
    ap.add_argument("--page", action="store_true", help="serve the operator's web page (viser) from the graph")
    ap.add_argument(
        "--page-host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address the page listens on (default loopback; 0.0.0.0 lets anyone who reaches this machine press ESTOP)",
    )
    ap.add_argument("--page-port", type=int, default=8080, metavar="PORT", help="page port (default 8080)")


def with_page(graph: Any, args: argparse.Namespace, *, blind: bool = False) -> Any:
    """``graph`` with a page node when ``--page`` was given (else unchanged)."""
    if not getattr(args, "page", False):
        return graph
    from abc_robot.nodes.page_node import add_page_node

    return add_page_node(graph, host=args.page_host, port=args.page_port, blind=blind)
