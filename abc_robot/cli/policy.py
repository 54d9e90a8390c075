"""``abc-policy serve``: a policy worker on a GPU host, serving a rig over tcp + CURVE.

    abc-policy serve --policy CKPT --rig-host HOST [--rig-port 5600] [--port 5601]
                     [--bind-host 0.0.0.0] [--keys DIR] [--compile MODE] [--device cuda]

The worker loads, compiles and warms up the checkpoint, and only then binds
``tcp://BIND_HOST:PORT`` and announces itself (``policy/status``), so the rig never
sees a cold worker. It subscribes to the rig's policy link (``tcp://HOST:RIG_PORT``:
follower states and camera frames) and publishes time-indexed chunks that echo the
rig's observation stamps: the rig measures the delay on its own clock, and no clock is
shared. Every tcp socket uses this host's key ring (``abc-keys``); the rig's key must
be authorized here and this host's key there.

On the rig: ``abc-rollout --policy-host tcp://THIS_HOST:PORT --rig R`` (or ``--sim``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from abc_robot.errors import ConfigError

__all__ = ["main", "server_graph", "with_remote_policy"]


def server_graph(
    policy: str,
    rig_host: str,
    *,
    rig_port: int = 5600,
    port: int = 5601,
    bind_host: str = "0.0.0.0",
    keys: str = "",
    compile: str = "eager",
    device: str = "cpu",
    threads: int = 1,
    params: dict | None = None,
):  # -> LaunchGraph
    """The one-node graph of a policy server (see the module docstring)."""
    from abc_robot.runtime.launch import LaunchGraph, NodeSpec

    uplink = f"tcp://{rig_host}:{rig_port}"
    worker = {
        "checkpoint": str(Path(policy).resolve()),
        "bind": f"tcp://{bind_host}:{port}",
        "followers": [uplink],
        "cameras": [uplink],
        "shared_clock": False,
        "compile": compile,
        "device": device,
        "threads": threads,
        **(params or {}),
    }
    node = NodeSpec(name="policy", kind="policy_worker", role="source", on_failure="restart", params=worker)
    # Compiling a large model on a cold GPU takes minutes: the first heartbeat may be late.
    return LaunchGraph(graph="policy_server", nodes=[node], keys=keys, startup_timeout_s=900.0, heartbeat_timeout_s=10.0)


def with_remote_policy(graph, policy_host: str, *, keys: str, uplink: str = "tcp://0.0.0.0:5600", images: dict[str, str] | None = None):  # noqa: ANN001, ANN201
    """``graph`` with its local policy worker replaced by a link to a remote one.

    The ``policy`` node keeps its name, role and endpoint (``ipc://${run}/policy``), so
    followers, recorder and console are unchanged; it becomes a
    :class:`~abc_robot.nodes.policy_link.PolicyLinkNode` forwarding the worker's
    follower and camera subscriptions to ``uplink`` and the chunks of ``policy_host``
    back. The graph takes the key ring ``keys``.

    Raises:
        ConfigError: no ``policy`` node, or ``policy_host`` is not tcp://.
    """
    import dataclasses

    from abc_robot.runtime.launch import NodeSpec

    if not policy_host.startswith("tcp://"):
        raise ConfigError(f"--policy-host must be tcp://HOST:PORT, got {policy_host!r}")
    local = graph.node("policy")
    params = {
        "remote": policy_host,
        "uplink": uplink,
        "bind": local.params.get("bind", "ipc://${run}/policy"),
        "followers": list(local.params.get("followers", [])),
        "cameras": list(local.params.get("cameras", [])),
        "images": dict(images or {}),
    }
    link = NodeSpec(name="policy", kind="policy_link", role="source", on_failure="restart", rt_priority=0, nice=0, params=params)
    nodes = [link if n.name == "policy" else n for n in graph.nodes]
    return dataclasses.replace(graph, nodes=nodes, keys=keys)


def link_images(spec: str, graph: object = None) -> dict[str, str]:
    """``--link-images``: ``jpeg`` or ``raw`` for every camera, or ``top=raw,left=jpeg``.

    Raises:
        ConfigError: an encoding other than raw or jpeg.
    """
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        cam, _, enc = part.rpartition("=")
        if enc not in ("raw", "jpeg"):
            raise ConfigError(f"--link-images: encoding must be raw or jpeg, got {part!r}")
        out[cam or "*"] = enc
    return out


def main(argv: list[str] | None = None) -> int:
    from abc_robot.cli.keyring import default_keys_dir

    ap = argparse.ArgumentParser(prog="abc-policy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve a checkpoint to a rig")
    s.add_argument("--policy", required=True, help="checkpoint (directory or released .pt)")
    s.add_argument("--rig-host", required=True, help="the rig's host name or address (its policy link)")
    s.add_argument("--rig-port", type=int, default=5600, help="the rig's uplink port")
    s.add_argument("--port", type=int, default=5601, help="port this worker binds for chunks")
    s.add_argument("--bind-host", default="0.0.0.0", help="address to bind (default: every interface; CURVE protects it)")
    s.add_argument("--keys", default=None, help="key ring (default: $ABC_KEYS or ~/.config/abc_robot/keys)")
    s.add_argument("--compile", default="best", help="eager | compile | fullgraph | cudagraphs | tensorrt | best")
    s.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    s.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    s.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    args = ap.parse_args(argv)

    from abc_robot.runtime.supervisor import Supervisor
    from abc_robot.transport.keyring import KeyRing

    keys = args.keys or default_keys_dir()
    try:
        ring = KeyRing(keys)
        ring.check()
        ring.client(f"tcp://{args.rig_host}:{args.rig_port}")  # the rig's key is authorized here
        device = args.device or _default_device()
        graph = server_graph(
            args.policy,
            args.rig_host,
            rig_port=args.rig_port,
            port=args.port,
            bind_host=args.bind_host,
            keys=keys,
            compile=args.compile,
            device=device,
            threads=args.threads,
        )
    except ConfigError as exc:
        print(f"abc-policy: {exc}", file=sys.stderr)
        return 2
    print(f"abc-policy: serving {args.policy} on tcp://{args.bind_host}:{args.port} ({device}), observations from tcp://{args.rig_host}:{args.rig_port}")
    return Supervisor(graph, echo_logs=True).run(args.duration)


def _default_device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


if __name__ == "__main__":
    sys.exit(main())
