"""ABC-DiT: released keys and shapes, equality with the reference sampler, prefix conditioning, loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from abc_robot.errors import CheckpointError
from abc_robot.policy.abc_dit import AbcDiT, AbcDitConfig, AbcDitSampler, prepare_released
from abc_robot.policy.abc_dit.config import ABC_CAMERAS
from abc_robot.policy.abc_dit.keys import config_from_state_dict
from abc_robot.policy.abc_dit.released import released_dir
from abc_robot.policy.checkpoint import RigSpec, load_checkpoint
from abc_robot.policy.interface import Guidance, PolicyInput
from abc_robot.policy.load import load_policy
from abc_robot.policy.rtc import hard_mask

FIX = Path(__file__).parent / "fixtures"
# Head counts as the released shapes imply them (width / 64, pool 8), so a bare .pt round-trips.
TINY = AbcDitConfig(
    hidden_size=64, depth=2, num_heads=1, vit_embed_dim=64, vit_depth=1, vit_num_heads=1,
    vision_pool_num_queries=2, vision_pool_num_heads=8, task_embed_dim=16,
)  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models on a shared 2-core machine: a second intra-op thread only adds contention.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _randomize(model: torch.nn.Module, seed: int = 0, scale: float = 0.2) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def test_xl_state_dict_has_the_released_keys_and_shapes():
    ref = json.loads((FIX / "abc_dit_xl_keys.json").read_text())
    with torch.device("meta"):
        model = AbcDiT(AbcDitConfig())
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ref["count"] == 703 == len(ref["shapes"])
    assert sorted(set(ref["shapes"]) - set(ours)) == []  # missing
    assert sorted(set(ours) - set(ref["shapes"])) == []  # unexpected
    assert {k: v for k, v in ours.items() if ref["shapes"][k] != v} == {}
    n = sum(p.numel() for p in model.parameters())
    assert 2.0e9 < n < 2.03e9  # 2.0 B, as documented
    assert config_from_state_dict(model.state_dict(), ABC_CAMERAS) == {**AbcDitConfig().to_dict()}


def _golden() -> tuple[dict, AbcDitSampler]:
    z = np.load(FIX / "abc_dit_golden.npz")
    cfg = json.loads(str(z["config"]))
    model = AbcDiT(AbcDitConfig(**{**cfg, "camera_keys": tuple(cfg["camera_keys"])})).eval()
    model.load_state_dict({k[2:]: torch.from_numpy(z[k]) for k in z.files if k.startswith("w/")}, strict=True)
    model.set_task(torch.from_numpy(z["task_vec"]))
    return {k: z[k] for k in z.files if not k.startswith("w/")}, AbcDitSampler(model, 10)


def _args(z: dict, d: int) -> tuple[torch.Tensor, ...]:
    h = z["noise"].shape[1]
    w = torch.as_tensor(hard_mask(d, h), dtype=torch.float32)[None]
    return (
        torch.from_numpy(z["images"]), torch.from_numpy(z["state_n"]), torch.from_numpy(z["noise"]),
        torch.from_numpy(z["prefix"]), w, torch.zeros(h, h),
    )  # fmt: skip


def test_plain_and_prefix_sampling_equal_the_reference_outputs():
    z, sampler = _golden()
    assert "amazon-far/abc" in str(z["reference"])
    d = int(z["prefix_length"])
    with torch.no_grad():
        plain = sampler(*_args(z, d), mode="plain").numpy()
        pre = sampler(*_args(z, d), mode="hard").numpy()
    assert np.abs(z["plain"]).max() > 0.5  # a chunk worth comparing
    np.testing.assert_allclose(plain, z["plain"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(pre, z["prefix_out"], atol=1e-4, rtol=0)
    assert np.abs(pre - plain).max() > 1e-2  # the prefix changes the chunk


@pytest.mark.parametrize("d", [1, 2, 4])
def test_prefix_positions_stay_exactly_at_the_prefix(d):
    z, sampler = _golden()
    with torch.no_grad():
        out = sampler(*_args(z, d), mode="hard").numpy()
    assert np.array_equal(out[0, :d], z["prefix"][0, :d])
    assert not np.allclose(out[0, d:], z["prefix"][0, d:], atol=1e-3)


def test_explicit_noise_decides_the_chunk():
    z, sampler = _golden()
    a = _args(z, 0)
    with torch.no_grad():
        same = [sampler(*a, mode="plain") for _ in range(2)]
        other = sampler(a[0], a[1], a[2] + 1.0, *a[3:], mode="plain")
    assert torch.equal(same[0], same[1])
    assert (same[0] - other).abs().max() > 1e-3


def _released_pt(tmp_path: Path, prefixed: bool = True, drop: str | None = None) -> Path:
    model = AbcDiT(TINY)
    _randomize(model)
    sd = {("_orig_mod." if prefixed else "") + k: v for k, v in model.state_dict().items() if k != drop}
    rng = np.random.default_rng(0)
    stats = {
        "state": {"mean": rng.normal(size=14).astype(np.float32), "std": rng.uniform(0.5, 1.5, 14).astype(np.float32)},
        "actions": {
            "mean": rng.normal(size=14).astype(np.float32),
            "std": rng.uniform(0.5, 1.5, 14).astype(np.float32),
        },
    }  # as ABC's training saves them: numpy arrays
    pt = tmp_path / "tiny_released.pt"
    torch.save({"model": sd, "norm_stats": stats}, pt)
    return pt


@pytest.fixture
def released(tmp_path):
    pt = _released_pt(tmp_path)
    emb = tmp_path / "task.npy"
    np.save(emb, np.random.default_rng(1).normal(size=16).astype(np.float32))
    return pt, emb


def _obs(policy, guidance=None):
    rng = np.random.default_rng(3)
    images = {c: rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for c in ("top", "left", "right")}
    return PolicyInput(state=rng.normal(size=14), images=images, guidance=guidance)


def test_a_bare_released_pt_loads_with_no_missing_or_unexpected_key(released):
    pt, emb = released
    d = prepare_released(pt, task_embedding=emb)
    assert d == released_dir(pt) and d.is_dir()
    ckpt = load_checkpoint(pt)  # the .pt resolves to its directory
    assert ckpt.path == d
    assert ckpt.config.model.architecture == "abc_dit_released"
    assert ckpt.config.observation.cameras == ("top", "left", "right")
    assert ckpt.config.sampler.prefix_steps == 4
    policy = load_policy(pt)
    noise = np.random.default_rng(5).normal(size=(30, 14))
    a = policy.infer_with_noise(_obs(policy), noise)  # type: ignore[attr-defined]
    b = policy.infer_with_noise(_obs(policy), noise)  # type: ignore[attr-defined]
    assert a.shape == (30, 14) and np.isfinite(a).all() and np.array_equal(a, b)
    # The prompt's embedding is part of the conditioning.
    vec = policy.sampler.model.task_vec.clone()  # type: ignore[attr-defined]
    policy.sampler.model.set_task(-vec)  # type: ignore[attr-defined]
    assert np.abs(policy.infer_with_noise(_obs(policy), noise) - a).max() > 1e-3  # type: ignore[attr-defined]


def test_prefix_guidance_through_the_policy_holds_the_executing_actions(released):
    pt, emb = released
    prepare_released(pt, task_embedding=emb)
    policy = load_policy(pt)
    prefix = np.random.default_rng(7).normal(size=(30, 14))
    out = policy.infer(_obs(policy, Guidance("hard", prefix, hard_mask(3, 30))))
    np.testing.assert_allclose(out[:3], prefix[:3], atol=1e-6)  # exact in the sampler; fp32 z-scoring round trip here
    soft = policy.infer(_obs(policy, Guidance("soft", prefix, np.linspace(1, 0, 30))))
    assert soft.shape == (30, 14) and np.isfinite(soft).all()


def test_unfit_files_are_refused_naming_the_problem(tmp_path, released):
    pt, emb = released
    with pytest.raises(CheckpointError, match="--task NAME or --prompt TEXT"):
        prepare_released(pt)
    prepare_released(pt, task_embedding=emb)
    with pytest.raises(CheckpointError, match=r"cameras \['top'\] are not on the rig"):
        load_checkpoint(pt, RigSpec(cameras=("left", "right")))
    bad = tmp_path / "bad"
    bad.mkdir()
    broken = _released_pt(bad, drop="blocks.1.mlp.fc2.bias")
    prepare_released(broken, task_embedding=emb)
    with pytest.raises(CheckpointError, match=r"1 missing \['blocks.1.mlp.fc2.bias'\]"):
        load_policy(broken)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros(7, np.float32))
    with pytest.raises(CheckpointError, match=r"task embedding has shape \(7,\)"):
        prepare_released(pt, task_embedding=wrong)
    notpt = tmp_path / "x.pt"
    notpt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="x.pt: not a torch checkpoint"):
        prepare_released(notpt, prompt="p")
