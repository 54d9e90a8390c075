"""``--view``: the robot live in Foxglove, as a node of a CLI's graph (abc-teleop,
abc-rollout, abc-replay). See :mod:`abc_robot.nodes.foxglove_node`.

    abc-teleop --sim --view                        # ws://127.0.0.1:8765: Foxglove, "Open connection"
    abc-teleop --sim --view --view-host 0.0.0.0    # every interface: anyone who reaches this machine sees it

From another machine without opening a port: ``ssh -L 8765:127.0.0.1:8765 robot-host``,
then connect Foxglove to ws://127.0.0.1:8765.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_view_args", "with_view"]


def add_view_args(ap: argparse.ArgumentParser) -> None:
    """The ``--view``, ``--view-host`` and ``--view-port`` options."""
    ap.add_argument("--view", action="store_true", help="serve the robot to Foxglove (WebSocket) from the graph")
    ap.add_argument(
        "--view-host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address the Foxglove server listens on (default loopback; another address is explicit)",
    )
    ap.add_argument("--view-port", type=int, default=8765, metavar="PORT", help="Foxglove server port (default 8765)")


def with_view(graph: Any, args: argparse.Namespace) -> Any:
    """``graph`` with a ``foxglove`` node when ``--view`` was given (else unchanged)."""
    if not getattr(args, "view", False):
        return graph
    from abc_robot.nodes.foxglove_node import add_view_node

    return add_view_node(graph, host=args.view_host, port=args.view_port)
