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


#: The slowest modules, slowest first (measured): collected first, so that with
#: ``-n 2 --dist loadfile --no-loadscope-reorder`` (``make test``) the two workers start
#: on them and the many short modules fill in at the end (longest first balances best).
LONG_MODULES = (
    "test_learning_e2e.py",
    "test_chaos.py",
    "test_view_foxglove.py",
    "test_eval_sim.py",
    "test_remote_policy.py",
    "test_rig_twin_teleop.py",
    "test_rig_eval.py",
    "test_rig_twin_faults.py",
    "test_policy_abc_dit_rollout.py",
    "test_rig_twin_rollout.py",
    "test_rig_twin_bench.py",
    "test_rig_twin_world.py",
    "test_page_browser.py",
)


def pytest_collection_modifyitems(config, items):
    """Put the long modules first, slowest first (a stable sort keeps every other order)."""
    rank = {name: i for i, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_MODULES)))
