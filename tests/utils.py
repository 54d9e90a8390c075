"""Helpers for tests that need real child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def spawn_python(code: str, **env: str) -> subprocess.Popen:
    """Run ``code`` in a fresh Python process (the repo importable), output captured."""
    e = dict(os.environ)
    e.update(env)
    e["PYTHONPATH"] = f"{REPO}{os.pathsep}{e.get('PYTHONPATH', '')}"
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(pred, timeout_s: float = 5.0, period_s: float = 0.01) -> bool:
    """Poll ``pred()`` until true or ``timeout_s``; return its last value."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(period_s)
    return bool(pred())
