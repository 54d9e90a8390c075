"""ZeroMQ CURVE security for links that leave the host (remote policy worker).

The default graphs bind only ``ipc://`` or loopback. A ``tcp://`` endpoint reachable
from other machines must use CURVE: the server (the binding side) has a key pair and,
with ``authorized_dir``, accepts only clients whose public keys are in that directory
(checked by a ZAP authenticator thread). A client needs the server's public key and its
own key pair. A client without an authorized key never completes the handshake, so it
receives nothing and its messages are never delivered.

Keys are files written by :func:`generate_keys` (``zmq.auth`` certificate format).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

from abc_robot.errors import ConfigError

__all__ = ["CurveServer", "CurveClient", "generate_keys", "stop_authenticator"]

_auth_lock = threading.Lock()
_authenticators: dict[int, object] = {}


def generate_keys(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Write ``name.key`` (public) and ``name.key_secret`` into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    pub, sec = zmq.auth.create_certificates(str(d), name)
    return Path(pub), Path(sec)


def _load_secret(path: str | Path) -> tuple[bytes, bytes]:
    try:
        pub, sec = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load CURVE key pair: {exc}", file=str(path)) from exc
    if sec is None:
        raise ConfigError("file holds no secret key (use the .key_secret file)", file=str(path))
    return pub, sec


@dataclass(frozen=True)
class CurveServer:
    """Keys for a binding socket.

    Attributes:
        secret_key_file: the server's ``.key_secret`` file.
        authorized_dir: directory of client public ``.key`` files allowed in; None
            accepts any client that knows the server's public key.
    """

    secret_key_file: str
    authorized_dir: str | None = None

    def apply(self, sock: zmq.Socket) -> None:
        pub, sec = _load_secret(self.secret_key_file)
        if self.authorized_dir is not None:
            _start_authenticator(sock.context, self.authorized_dir)
        sock.curve_secretkey = sec
        sock.curve_publickey = pub
        sock.curve_server = True


@dataclass(frozen=True)
class CurveClient:
    """Keys for a connecting socket.

    Attributes:
        server_public_key_file: the server's public ``.key`` file.
        secret_key_file: this client's ``.key_secret`` file.
    """

    server_public_key_file: str
    secret_key_file: str

    def apply(self, sock: zmq.Socket) -> None:
        pub, sec = _load_secret(self.secret_key_file)
        try:
            server_pub, _ = zmq.auth.load_certificate(self.server_public_key_file)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load server public key: {exc}", file=self.server_public_key_file) from exc
        sock.curve_secretkey = sec
        sock.curve_publickey = pub
        sock.curve_serverkey = server_pub


def _start_authenticator(ctx: zmq.Context, authorized_dir: str) -> None:
    from zmq.auth.thread import ThreadAuthenticator

    with _auth_lock:
        auth = _authenticators.get(id(ctx))
        if auth is None:
            auth = ThreadAuthenticator(ctx)
            auth.start()
            _authenticators[id(ctx)] = auth
        auth.configure_curve(domain="*", location=str(authorized_dir))  # type: ignore[attr-defined]


def stop_authenticator(ctx: zmq.Context) -> None:
    """Stop the ZAP authenticator thread of ``ctx`` (before ``ctx.term()``)."""
    with _auth_lock:
        auth = _authenticators.pop(id(ctx), None)
    if auth is not None:
        auth.stop()  # type: ignore[attr-defined]
