"""Endpoint strings: ``ipc://`` on one host, ``tcp://`` across hosts.

Launch files write ``ipc://${run}/follower_left``; ``${run}`` expands to the graph's run
directory (``$ABC_RUN_DIR``, made by the launcher), so two graphs on one machine never
share sockets. ``tcp://`` endpoints are used as written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from abc_robot.errors import ConfigError

__all__ = ["expand", "run_dir", "IPC_PATH_MAX"]

#: Linux limits a unix socket path to 107 bytes.
IPC_PATH_MAX = 107


def run_dir() -> Path:
    """The graph's run directory (``$ABC_RUN_DIR``), created on first use."""
    d = os.environ.get("ABC_RUN_DIR")
    if not d:
        d = tempfile.mkdtemp(prefix="abc-run-")
        os.environ["ABC_RUN_DIR"] = d
    p = Path(d)
    p.mkdir(parents=True, exist_ok=True)
    return p


def expand(endpoint: str) -> str:
    """Expand ``${run}`` and check the scheme and ipc path length.

    Raises:
        ConfigError: unknown scheme or an ipc path too long for a unix socket.
    """
    if "${run}" in endpoint:
        endpoint = endpoint.replace("${run}", str(run_dir()))
    scheme = endpoint.split("://", 1)[0]
    if scheme not in ("ipc", "tcp", "inproc"):
        raise ConfigError(f"endpoint {endpoint!r}: scheme must be ipc://, tcp:// or inproc://")
    if scheme == "ipc":
        path = endpoint[len("ipc://") :]
        if len(path.encode()) > IPC_PATH_MAX:
            raise ConfigError(f"endpoint {endpoint!r}: ipc path longer than {IPC_PATH_MAX} bytes; use a shorter run dir")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return endpoint
