"""The compile ladder's GPU rungs, on a CUDA machine (``pytest -m gpu``).

Deselected in the default run (``pyproject.toml``: ``-m "not gpu and not hardware"``);
``scripts/gpu_check.sh`` runs them with the policy benchmark on a GPU host. Each rung
must reproduce the eager sampler on the same inputs, in every sampler mode the worker
uses (plain, soft real-time-chunking guidance, hard prefix), and the chosen rung must
be the one that serves.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from abc_robot.policy.compile import unavailable_reason
from abc_robot.policy.interface import Guidance, PolicyInput
from abc_robot.policy.load import load_policy
from abc_robot.policy.model import DiTConfig
from abc_robot.policy.rtc import hard_mask, soft_mask

from .utils import perturbed_checkpoint

pytestmark = pytest.mark.gpu

# ABC_GPU_TEST_DEVICE=cpu dry-runs the rungs that also exist on a CPU.
DEVICE = os.environ.get("ABC_GPU_TEST_DEVICE", "cuda")
H, D = 16, 14
SMALL = DiTConfig(image_size=32, enc_channels=(16, 32), keypoints=8, width=64, depth=2, heads=4, horizon=H, state_dim=14, action_dim=D)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if DEVICE == "cuda" and not torch.cuda.is_available():
        pytest.fail(f"the gpu tests need a CUDA device; this torch ({torch.__version__}) sees none")
    return perturbed_checkpoint(tmp_path_factory.mktemp("gpu"), SMALL, cameras=("top", "left"), image_size=(64, 64))


def _inputs() -> list[PolicyInput]:
    rng = np.random.default_rng(3)
    images = {c: rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for c in ("top", "left")}
    prefix = rng.normal(size=(H, D))
    guides = [None, Guidance("soft", prefix, soft_mask(4, 6, H), beta=5.0), Guidance("hard", prefix, hard_mask(4, H))]
    return [PolicyInput(state=rng.normal(size=14), images=images, guidance=g) for g in guides]


def _check_rung(ckpt: Path, rung: str) -> None:
    eager = load_policy(ckpt, device=DEVICE)
    pol = load_policy(ckpt, device=DEVICE, compile=rung)
    obs = _inputs()
    reports = pol.warmup(guidances=[o.guidance for o in obs], iters=3, log=print)  # type: ignore[attr-defined]
    assert pol.rung == rung, reports  # type: ignore[attr-defined]
    assert reports[rung].max_abs_err < 1e-2
    noise = np.random.default_rng(4).normal(size=(H, D))
    for o in obs:
        want = eager.infer_with_noise(o, noise)  # type: ignore[attr-defined]
        got = pol.infer_with_noise(o, noise)  # type: ignore[attr-defined]
        mode = o.guidance.mode if o.guidance else "plain"
        np.testing.assert_allclose(got, want, atol=2e-2, err_msg=f"{rung} differs from eager in mode {mode}")
        if o.guidance is not None and o.guidance.mode == "hard":
            np.testing.assert_allclose(got[:4], o.guidance.prefix[:4], atol=2e-2)
    # Replays with new inputs give new outputs (static buffers are refilled, not stale).
    again = pol.infer_with_noise(obs[0], noise + 1.0)  # type: ignore[attr-defined]
    assert np.abs(again - pol.infer_with_noise(obs[0], noise)).max() > 1e-3  # type: ignore[attr-defined]


def test_cuda_graph_rung_reproduces_eager_in_every_sampler_mode(ckpt: Path) -> None:
    _check_rung(ckpt, "cudagraphs")


def test_fullgraph_rung_reproduces_eager_on_the_gpu(ckpt: Path) -> None:
    _check_rung(ckpt, "fullgraph")


def test_tensorrt_rung_reproduces_eager_or_says_what_is_missing(ckpt: Path) -> None:
    if importlib.util.find_spec("torch_tensorrt") is None:
        reason = unavailable_reason("tensorrt", DEVICE)
        assert reason is not None and "abc_robot[tensorrt]" in reason
        return
    _check_rung(ckpt, "tensorrt")


def test_best_keeps_a_rung_that_matches_and_reports_every_other(ckpt: Path) -> None:
    pol = load_policy(ckpt, device=DEVICE, compile="best")
    reports = pol.warmup(iters=3, log=print)  # type: ignore[attr-defined]
    assert set(reports) == {"eager", "compile", "fullgraph", "cudagraphs", "tensorrt"}
    served = reports[pol.rung]  # type: ignore[attr-defined]
    assert not served.skipped and served.median_ms == min(r.median_ms for r in reports.values() if not r.skipped)
