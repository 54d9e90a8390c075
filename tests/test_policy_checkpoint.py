"""The checkpoint contract: validation, rig mismatches, entry points, exported programs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from abc_robot.errors import CheckpointError
from abc_robot.policy.checkpoint import (
    ActionSpec,
    CheckpointConfig,
    ModelSpec,
    NormStats,
    ObservationSpec,
    RigSpec,
    load_checkpoint,
    save_checkpoint_files,
)
from abc_robot.policy.interface import Policy, PolicyInput


def _stats(ds: int = 14, d: int = 14, per_step: int = 0) -> NormStats:
    shape = (per_step, d) if per_step else (d,)
    return NormStats(np.zeros(ds), np.ones(ds), np.full(shape, 0.1), np.full(shape, 2.0))


def _write(path: Path, config: CheckpointConfig | None = None, stats: NormStats | None = None) -> Path:
    config = config or CheckpointConfig()
    save_checkpoint_files(path, config, stats or _stats())
    if config.model.weights:
        (path / config.model.weights).write_bytes(b"weights")
    return path


def test_defaults_follow_abc_dit(tmp_path):
    ck = load_checkpoint(_write(tmp_path), RigSpec())
    cfg = ck.config
    assert cfg.observation.cameras == ("top", "left", "right")
    assert cfg.observation.image_size == (224, 224) and cfg.observation.state_dim == 14
    assert (cfg.action.dim, cfg.action.chunk, cfg.action.rate_hz, cfg.action.representation) == (
        14,
        30,
        30.0,
        "joint_abs",
    )
    assert cfg.sampler.flow_steps == 10 and cfg.sampler.noise.kind == "iid"
    assert cfg.model.architecture == "abc_dit"
    assert ck.norm_stats.action_std.shape == (14,)
    stored = json.loads((tmp_path / "norm_stats.json").read_text())
    assert set(stored["norm_stats"]) == {"state", "actions"}  # the ABC shape
    assert set(stored["norm_stats"]["actions"]) == {"mean", "std"}


def test_norm_stats_roundtrip_and_per_timestep(tmp_path):
    ck = load_checkpoint(_write(tmp_path, stats=_stats(per_step=30)))
    a = np.random.default_rng(0).normal(size=(30, 14))
    np.testing.assert_allclose(ck.norm_stats.unnormalize_actions(ck.norm_stats.normalize_actions(a)), a)
    with pytest.raises(CheckpointError, match=r"actions mean/std must have shape \(30, 14\)"):
        load_checkpoint(_write(tmp_path / "b", stats=_stats(per_step=29)))


def test_rig_mismatch_names_cameras_and_dims(tmp_path):
    path = _write(tmp_path)
    with pytest.raises(CheckpointError, match=r"cameras \['right'\] are not on the rig"):
        load_checkpoint(path, RigSpec(cameras=("top", "left")))
    with pytest.raises(CheckpointError, match="state dim 14 != rig state dim 7"):
        load_checkpoint(path, RigSpec(state_dim=7, action_dim=7))
    with pytest.raises(CheckpointError, match="action dim 14 != rig action dim 7"):
        load_checkpoint(path, RigSpec(action_dim=7))


def test_malformed_checkpoints_say_what_is_wrong(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(tmp_path / "empty")
    p = _write(tmp_path / "noweights")
    (p / "model.pt").unlink()
    with pytest.raises(CheckpointError, match="model.pt: model file named in"):
        load_checkpoint(p)
    p = _write(tmp_path / "arch")
    cfg = json.loads((p / "config.json").read_text())
    cfg["model"]["architecture"] = "gpt9"
    (p / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"unknown architecture 'gpt9'; registered: \['abc_dit', 'abc_dit_released'\]"):
        load_checkpoint(p)
    cfg["model"]["architecture"] = "abc_dit"
    cfg["action"]["representation"] = "quaternion_soup"
    (p / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="action.representation"):
        load_checkpoint(p)
    p = _write(tmp_path / "ns")
    (p / "norm_stats.json").write_text(json.dumps({"state": {"mean": [0]}}))
    with pytest.raises(CheckpointError, match="norm_stats.json: expected"):
        load_checkpoint(p)


def test_yaml_config_and_correlated_noise(tmp_path):
    import yaml

    p = _write(tmp_path)
    cfg = json.loads((p / "config.json").read_text())
    cfg["sampler"]["noise"] = {"kind": "correlated", "cov_file": "noise_cov.npy"}
    (p / "config.json").unlink()
    (p / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(CheckpointError, match="noise covariance file named in config.json is missing"):
        load_checkpoint(p)
    np.save(p / "noise_cov.npy", np.eye(29))
    with pytest.raises(CheckpointError, match="must be 30×30"):
        load_checkpoint(p)
    np.save(p / "noise_cov.npy", np.eye(30) * 2)
    assert load_checkpoint(p).noise_cov is not None


class EchoPolicy(Policy):
    """A policy from "another codebase": returns the state, repeated."""

    guidance_modes = frozenset()

    def __init__(self, checkpoint, device):
        self.horizon = checkpoint.config.action.chunk
        self.device = device

    def infer(self, obs: PolicyInput) -> np.ndarray:
        return np.repeat(np.asarray(obs.state)[None], self.horizon, axis=0)


def echo_factory(checkpoint, device):
    return EchoPolicy(checkpoint, device)


def test_entry_point_plugs_in_a_foreign_policy(tmp_path):
    from abc_robot.policy.load import load_policy

    cfg = CheckpointConfig(model=ModelSpec(architecture=None, entry_point=f"{__name__}:echo_factory", weights=None))
    pol = load_policy(_write(tmp_path, cfg), RigSpec(), device="cpu")
    assert isinstance(pol, EchoPolicy)
    out = pol.infer(PolicyInput(state=np.arange(14.0)))
    assert out.shape == (30, 14) and out[5, 3] == 3.0
    bad = CheckpointConfig(model=ModelSpec(architecture=None, entry_point=f"{__name__}:nothing_here", weights=None))
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        load_policy(_write(tmp_path / "bad", bad))


def test_exported_program_runs_without_the_model_code(tmp_path):
    import torch

    from abc_robot.policy.load import ExportedPolicy, export_program, load_policy
    from abc_robot.policy.model import DiTConfig
    from abc_robot.policy.training import write_untrained_checkpoint

    torch.set_num_threads(1)
    tiny = DiTConfig(
        image_size=16, enc_channels=(8,), keypoints=4, width=32, depth=1, heads=2, horizon=8, action_dim=14
    )
    src = write_untrained_checkpoint(tmp_path / "src", tiny, cameras=("top",), image_size=(32, 32))
    pol = load_policy(src)
    out_dir = tmp_path / "exported"
    out_dir.mkdir()
    export_program(pol, out_dir / "model.pt2")
    cfg = json.loads((src / "config.json").read_text())
    cfg["model"].update(weights=None, program="model.pt2")
    (out_dir / "config.json").write_text(json.dumps(cfg))
    (out_dir / "norm_stats.json").write_text((src / "norm_stats.json").read_text())
    exported = load_policy(out_dir, RigSpec(cameras=("top",)))
    assert isinstance(exported, ExportedPolicy)
    obs = PolicyInput(state=np.zeros(14), images={"top": np.zeros((32, 32, 3), np.uint8)})
    assert exported.infer(obs).shape == (8, 14)


def test_specs_validate():
    with pytest.raises(ValueError, match="exactly one of"):
        ModelSpec(architecture="abc_dit", entry_point="a.b:c")
    with pytest.raises(ValueError, match="gripper_dims"):
        ActionSpec(dim=7, gripper_dims=(6, 13))
    with pytest.raises(ValueError, match="repeat"):
        ObservationSpec(cameras=("top", "top"))
