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


def perturbed_checkpoint(out_dir: Path, model_cfg: object, scale: float = 0.1, **kw: object) -> Path:
    """An untrained reference-policy checkpoint whose weights are nudged off their init.

    The DiT's adaLN-Zero init makes an untrained network output zero velocity; tests that
    compare compile rungs, guidance or serving need one that says something.
    ``kw`` goes to :func:`~abc_robot.policy.training.write_untrained_checkpoint`.
    """
    import torch

    from abc_robot.policy.training import write_untrained_checkpoint

    path = write_untrained_checkpoint(out_dir, model_cfg, **kw)  # type: ignore[arg-type]
    state = torch.load(path / "model.pt")
    gen = torch.Generator().manual_seed(0)
    for k, v in state.items():
        if v.is_floating_point():
            state[k] = v + scale * torch.randn(v.shape, generator=gen)
    torch.save(state, path / "model.pt")
    return path
