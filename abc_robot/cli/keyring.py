"""``abc-keys``: the CURVE key ring of this host, for a rig and a GPU server to trust each other.

    abc-keys init [--keys DIR] [--force]            a key pair for this host
    abc-keys show [--keys DIR]                      this host's public key, peers and hosts
    abc-keys authorize PEER.key --name NAME [--host HOST ...] [--keys DIR]
    abc-keys revoke NAME [--keys DIR]

Two hosts, once: each runs ``abc-keys init``, copies its ``host.key`` (the public key;
never ``host.key_secret``) to the other, and the other runs ``abc-keys authorize``
with the host names or addresses its endpoints use. Graphs then name the ring
(``keys:`` in a launch file, ``--keys`` on ``abc-rollout`` and ``abc-policy``), and
every tcp:// socket is encrypted and admits only the authorized peer. The default ring
is ``$ABC_KEYS`` or ``~/.config/abc_robot/keys``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from abc_robot.errors import ConfigError

__all__ = ["main", "default_keys_dir"]


def default_keys_dir() -> str:
    """``$ABC_KEYS``, else ``~/.config/abc_robot/keys``."""
    return os.environ.get("ABC_KEYS") or str(Path.home() / ".config" / "abc_robot" / "keys")


def main(argv: list[str] | None = None) -> int:
    from abc_robot.transport.keyring import KeyRing

    ap = argparse.ArgumentParser(prog="abc-keys", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_init = sub.add_parser("init", help="create this host's key pair")
    p_init.add_argument("--force", action="store_true", help="replace an existing key pair (peers must re-authorize)")
    sub.add_parser("show", help="this host's public key, the authorized peers and their hosts")
    p_auth = sub.add_parser("authorize", help="trust a peer's public key")
    p_auth.add_argument("key", help="the peer's host.key (public)")
    p_auth.add_argument("--name", required=True, help="the peer's name here, e.g. gpu-server or rig")
    p_auth.add_argument("--host", action="append", default=[], help="a host name or address of the peer, as endpoints name it")
    p_rev = sub.add_parser("revoke", help="stop trusting a peer")
    p_rev.add_argument("name")
    for p in (p_init, p_auth, p_rev, *[sub.choices["show"]]):
        p.add_argument("--keys", default=None, help="the key ring directory (default: $ABC_KEYS or ~/.config/abc_robot/keys)")
    args = ap.parse_args(argv)
    ring = KeyRing(args.keys or default_keys_dir())
    try:
        if args.cmd == "init":
            KeyRing.init(ring.directory, force=args.force)
            print(f"key pair written: {ring.public_key_file} (public: copy it to the peer) and {ring.secret_key_file} (stays here)")
            print("on the peer: abc-keys authorize host.key --name NAME --host <this host's address> --keys <its ring>")
        elif args.cmd == "authorize":
            dst = ring.authorize(args.key, args.name, args.host)
            hosts = ", ".join(args.host) or "any endpoint (the only peer)"
            print(f"authorized {args.name}: {dst} (expected at {hosts})")
        elif args.cmd == "revoke":
            ring.revoke(args.name)
            print(f"revoked {args.name}")
        else:
            ring.check()
            print(f"key ring {ring.directory}")
            print(f"  this host: {ring.public_key()}")
            for name, key in ring.peers().items():
                at = [h for h, p in ring.hosts().items() if p == name]
                print(f"  peer {name}: {key}  hosts {at or '(any)'}")
    except ConfigError as exc:
        print(f"abc-keys: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
