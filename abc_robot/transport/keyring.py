"""A graph's CURVE keys: one directory per host, used by every tcp:// socket of the graph.

A two-host rollout (the rig and a GPU server) secures every link that leaves a host
with ZeroMQ CURVE. Rather than keys per node, each host has one key ring::

    keys/
      host.key, host.key_secret     this host's key pair (``abc-keys init``)
      authorized/<peer>.key          peers allowed to connect to this host's sockets,
                                     and the server keys this host expects from them
      peers.json                     {"hosts": {<host or address>: <peer>}}: whose key a
                                     tcp://<host>:<port> endpoint must present

A graph names its ring once (``keys:`` in the launch file, or ``$ABC_KEYS``); the node
base then applies it to every socket on a ``tcp://`` endpoint: a binding socket is a
CURVE server that admits only authorized peers (a ZAP authenticator checks the
``authorized/`` directory), a connecting socket is a CURVE client that expects the
peer's key for that host. ``ipc://`` sockets never leave the host and stay plain.

Why one ring per host and not per node: keys are an operator's chore, and what must be
trusted is a machine, not a process. Each side authorizes the other once
(``abc-keys authorize``), and every publisher and subscriber that crosses follows.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import zmq.auth

from abc_robot.errors import ConfigError
from abc_robot.transport.curve import CurveClient, CurveServer

__all__ = ["KeyRing", "KEYS_ENV", "HOST_KEY", "graph_keyring", "endpoint_host", "is_tcp"]

#: Environment variable naming the graph's key ring (set by the supervisor).
KEYS_ENV = "ABC_KEYS"
#: File stem of this host's key pair inside the ring.
HOST_KEY = "host"


def is_tcp(endpoint: str) -> bool:
    return endpoint.startswith("tcp://")


def endpoint_host(endpoint: str) -> str:
    """``tcp://10.0.0.2:5600`` → ``10.0.0.2`` (``*`` for a wildcard bind)."""
    host = urlsplit(endpoint).hostname
    return host or "*"


@dataclass(frozen=True)
class KeyRing:
    """One host's CURVE key ring (see the module docstring).

    Attributes:
        directory: the ring's directory.
    """

    directory: str

    @property
    def path(self) -> Path:
        return Path(self.directory)

    @property
    def public_key_file(self) -> Path:
        return self.path / f"{HOST_KEY}.key"

    @property
    def secret_key_file(self) -> Path:
        return self.path / f"{HOST_KEY}.key_secret"

    @property
    def authorized_dir(self) -> Path:
        return self.path / "authorized"

    # ---- making and managing a ring --------------------------------------------
    @classmethod
    def init(cls, directory: str | Path, *, force: bool = False) -> KeyRing:
        """Create a ring with a fresh key pair (refuses to replace one unless ``force``)."""
        ring = cls(str(directory))
        if ring.secret_key_file.exists() and not force:
            raise ConfigError(f"a key pair exists already (use --force to replace it): {ring.secret_key_file}")
        ring.path.mkdir(parents=True, exist_ok=True)
        ring.authorized_dir.mkdir(exist_ok=True)
        zmq.auth.create_certificates(str(ring.path), HOST_KEY)
        os.chmod(ring.secret_key_file, 0o600)
        return ring

    def authorize(self, public_key_file: str | Path, name: str, hosts: list[str] | tuple[str, ...] = ()) -> Path:
        """Trust a peer: admit it to this host's sockets and expect its key from ``hosts``.

        Args:
            public_key_file: the peer's ``host.key`` (its public key only).
            name: the peer's name in this ring (e.g. ``gpu-server``, ``rig``).
            hosts: host names or addresses of the peer, as they appear in endpoints.

        Raises:
            ConfigError: the file is not a public key, or is a secret one.
        """
        src = Path(public_key_file)
        try:
            pub, sec = zmq.auth.load_certificate(str(src))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"not a CURVE public key file: {exc}", file=str(src)) from exc
        if sec is not None:
            raise ConfigError("this file holds a secret key: authorize with the peer's public host.key only", file=str(src))
        if not name or "/" in name:
            raise ConfigError(f"peer name {name!r} must be non-empty without '/'")
        self.authorized_dir.mkdir(parents=True, exist_ok=True)
        dst = self.authorized_dir / f"{name}.key"
        shutil.copyfile(src, dst)
        if hosts:
            table = self.hosts()
            table.update({h: name for h in hosts})
            self._write_hosts(table)
        return dst

    def revoke(self, name: str) -> None:
        """Remove a peer (its key and its hosts)."""
        (self.authorized_dir / f"{name}.key").unlink(missing_ok=True)
        self._write_hosts({h: p for h, p in self.hosts().items() if p != name})

    def public_key(self) -> str:
        """This host's public key (Z85 text)."""
        self.check()
        pub, _ = zmq.auth.load_certificate(str(self.public_key_file))
        return pub.decode()

    def peers(self) -> dict[str, str]:
        """Authorized peer name → its public key (Z85 text)."""
        out = {}
        for f in sorted(self.authorized_dir.glob("*.key")):
            pub, _ = zmq.auth.load_certificate(str(f))
            out[f.stem] = pub.decode()
        return out

    def hosts(self) -> dict[str, str]:
        """Host name or address → peer name (``peers.json``)."""
        f = self.path / "peers.json"
        if not f.exists():
            return {}
        try:
            data = json.loads(f.read_text())
        except ValueError as exc:
            raise ConfigError(f"not JSON: {exc}", file=str(f)) from exc
        hosts = data.get("hosts", {}) if isinstance(data, dict) else {}
        if not isinstance(hosts, dict):
            raise ConfigError("expected a mapping of host → peer name", file=str(f), field="hosts")
        return {str(k): str(v) for k, v in hosts.items()}

    def _write_hosts(self, table: dict[str, str]) -> None:
        (self.path / "peers.json").write_text(json.dumps({"hosts": dict(sorted(table.items()))}, indent=2) + "\n")

    # ---- what sockets use ---------------------------------------------------------
    def check(self) -> None:
        """Raise ConfigError unless this ring has a key pair (names the fix)."""
        if not self.secret_key_file.exists():
            raise ConfigError(f"no key pair in the key ring {self.directory} (create it: abc-keys init {self.directory})")

    def server(self) -> CurveServer:
        """Keys for a binding tcp:// socket: only authorized peers get in."""
        self.check()
        self.authorized_dir.mkdir(exist_ok=True)
        return CurveServer(str(self.secret_key_file), str(self.authorized_dir))

    def client(self, endpoint: str) -> CurveClient:
        """Keys for connecting to ``endpoint``: expect the key of the peer at its host.

        Raises:
            ConfigError: no authorized peer for that host (names the fix).
        """
        self.check()
        host = endpoint_host(endpoint)
        name = self.hosts().get(host)
        peers = sorted(self.authorized_dir.glob("*.key"))
        if name is None and len(peers) == 1:
            name = peers[0].stem  # one peer: it is the only one this host can talk to
        if name is None or not (self.authorized_dir / f"{name}.key").exists():
            raise ConfigError(
                f"no authorized peer key for host {host!r} ({endpoint}) in {self.directory}; "
                f"authorize it: abc-keys authorize PEER.key --name NAME --host {host} --keys {self.directory}"
            )
        return CurveClient(str(self.authorized_dir / f"{name}.key"), str(self.secret_key_file))


def graph_keyring() -> KeyRing | None:
    """The key ring this process's graph named (``$ABC_KEYS``), if any."""
    d = os.environ.get(KEYS_ENV, "")
    return KeyRing(d) if d else None
