"""Shared test helpers: a short run directory for ipc sockets, child processes."""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture()
def run_dir(monkeypatch):
    """A fresh, short ABC_RUN_DIR (ipc paths must stay under 107 bytes)."""
    d = tempfile.mkdtemp(prefix="abct-", dir="/tmp")
    monkeypatch.setenv("ABC_RUN_DIR", d)
    return d
