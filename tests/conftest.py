"""Shared test helpers: a short run directory for ipc sockets, child processes."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import settings

os.environ.setdefault("MUJOCO_GL", "egl")

# Property tests check behaviour, not speed (benchmarks measure speed): no per-example
# deadline, which a busy 2-core CI machine would otherwise trip. A failure prints the
# blob that reproduces it (@reproduce_failure).
settings.register_profile("abc", deadline=None, print_blob=True)
settings.load_profile("abc")


@pytest.fixture()
def run_dir(monkeypatch):
    """A fresh, short ABC_RUN_DIR (ipc paths must stay under 107 bytes)."""
    d = tempfile.mkdtemp(prefix="abct-", dir="/tmp")
    monkeypatch.setenv("ABC_RUN_DIR", d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


#: Modules that take minutes: collected first, so that with ``-n 2 --dist loadfile``
#: (``make test``) one worker starts them at once while the other takes everything else.
LONG_MODULES = ("test_learning_e2e.py",)


def pytest_collection_modifyitems(config, items):
    """Put the long modules first (a stable sort keeps every other test's order)."""
    items.sort(key=lambda item: item.path.name not in LONG_MODULES)
