"""ABC-DiT on the compile ladder: every CPU rung reproduces eager; the GPU rungs (``-m gpu``) likewise."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from abc_robot.policy.abc_dit.config import AbcDitConfig
from abc_robot.policy.abc_dit.policy import AbcDitPolicy, random_policy
from abc_robot.policy.abc_dit.sampling import BF16_TOLERANCE
from abc_robot.policy.compile import unavailable_reason
from abc_robot.policy.interface import Guidance, PolicyInput
from abc_robot.policy.rtc import hard_mask, soft_mask

TINY = AbcDitConfig(
    hidden_size=64, depth=2, num_heads=2, vit_embed_dim=32, vit_depth=1, vit_num_heads=2,
    vision_pool_num_queries=2, vision_pool_num_heads=2, task_embed_dim=16,
)  # fmt: skip
SHALLOW = AbcDitConfig(**{**TINY.to_dict(), "camera_keys": TINY.camera_keys, "depth": 1})  # fewer graphs to build
H, D = 30, 14


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _inputs(guides: tuple[str, ...]) -> list[PolicyInput]:
    rng = np.random.default_rng(3)
    images = {c: rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for c in ("top", "left", "right")}
    prefix = rng.normal(size=(H, D))
    make = {
        "plain": None,
        "hard": Guidance("hard", prefix, hard_mask(4, H)),
        "soft": Guidance("soft", prefix, soft_mask(4, 6, H), beta=5.0),
    }
    return [PolicyInput(state=rng.normal(size=14), images=images, guidance=make[g]) for g in guides]


def _check_rung(
    rung: str, device: str, guides: tuple[str, ...], cfg: AbcDitConfig = TINY, steps: int = 10
) -> AbcDitPolicy:
    reason = unavailable_reason(rung, device)
    if reason is not None:
        pytest.fail(f"{rung} cannot run here: {reason}")
    eager = random_policy(cfg, device, flow_steps=steps)
    pol = random_policy(cfg, device, compile=rung, flow_steps=steps)
    obs = _inputs(guides)
    reports = pol.warmup(guidances=[o.guidance for o in obs], iters=1, log=print)
    assert pol.rung == rung, reports
    noise = np.random.default_rng(4).normal(size=(H, D))
    for o in obs:
        want = eager.infer_with_noise(o, noise)
        got = pol.infer_with_noise(o, noise)
        assert np.abs(want).max() > 0.1
        tol = BF16_TOLERANCE * max(1.0, np.abs(want).max()) if rung == "cudagraphs" else 1e-4
        # Raw units: the unit norm stats of random_policy keep them equal to normalized ones.
        assert np.abs(got - want).max() <= tol, (rung, o.guidance and o.guidance.mode)
        if o.guidance is not None and o.guidance.mode == "hard":
            np.testing.assert_allclose(got[:4], o.guidance.prefix[:4], atol=1e-6)
    return pol


@pytest.mark.timeout(900)  # inductor's C++ builds take minutes on a loaded 2-core machine
@pytest.mark.parametrize(("rung", "guides"), [("compile", ("plain", "hard")), ("fullgraph", ("plain",))])
def test_cpu_rungs_reproduce_eager(rung, guides):
    # Two flow steps: the same graphs as ten (the loop is unrolled), a fifth of the build.
    _check_rung(rung, "cpu", guides, SHALLOW, steps=2)


def test_eager_serves_every_guidance_mode():
    pol = _check_rung("eager", "cpu", ("plain", "hard", "soft"))
    assert pol.guidance_modes >= {"soft", "hard", "cov"}


needs_cuda = pytest.mark.skipif(
    os.environ.get("ABC_GPU_TEST_DEVICE", "cuda") == "cuda" and not torch.cuda.is_available(),
    reason="no CUDA device (the gpu marker deselects these by default)",
)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("rung", ["compile", "fullgraph", "cudagraphs"])
def test_gpu_rungs_reproduce_eager(rung):
    _check_rung(rung, "cuda", ("plain", "hard", "soft") if rung != "cudagraphs" else ("plain", "hard"))


@pytest.mark.gpu
@needs_cuda
def test_xl_shape_runs_on_cuda_graphs_in_bf16():
    pol = random_policy(AbcDitConfig(), "cuda", compile="cudagraphs")
    obs = _inputs(("plain", "hard"))
    reports = pol.warmup(guidances=[o.guidance for o in obs], iters=3, log=print)
    assert pol.rung == "cudagraphs" and reports["cudagraphs"].skipped is None
    out = pol.infer(obs[1])
    np.testing.assert_allclose(out[:4], obs[1].guidance.prefix[:4], atol=1e-6)  # type: ignore[union-attr]
