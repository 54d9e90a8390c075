"""The policy checkpoint contract: one directory the worker can load and check.

Layout::

    CKPT/
      config.json          (or config.yaml) — the spec below
      norm_stats.json      {"norm_stats": {"state":   {"mean": [...], "std": [...]},
                                           "actions": {"mean": [...], "std": [...]}}}
                           (the ABC shape; actions mean/std may be per timestep, H×D)
      model.pt             weights (a state dict) for a registered architecture, or
      model.pt2            a ``torch.export`` program (see below), or whatever an
                           entry point's factory reads from the directory
      noise_cov.npy        optional H×H time covariance of the flow noise

``config.json`` (every field has the ABC-DiT default shown)::

    {
      "format": "abc_robot.policy/1",
      "model": {
        "architecture": "abc_dit",          # a name in ARCHITECTURES, or null and:
        "entry_point": null,                # "package.module:factory"
        "params": {...},                    # handed to the architecture / factory
        "weights": "model.pt",              # state dict file, or null
        "program": null                     # torch.export file (instead of weights)
      },
      "observation": {
        "cameras": ["top", "left", "right"],
        "image_size": [224, 224],           # [h, w] after resize-with-padding
        "state": {"left": 7, "right": 7}    # state keys and dims, in order
      },
      "action": {
        "dim": 14, "chunk": 30, "rate_hz": 30.0,
        "representation": "joint_abs",      # joint_abs | joint_delta | eef_abs | eef_rel
        "gripper_dims": [6, 13]             # action columns that are grippers
      },
      "sampler": {
        "flow_steps": 10,
        "noise": {"kind": "iid", "cov_file": null},   # or "correlated" + "noise_cov.npy"
        "prefix_steps": 0                   # prefix actions the model was trained to
      }                                     # condition on (0..4; 0 = not trained for it)
    }

Representations (per arm, left then right): ``joint_abs`` 6 joints [rad] + gripper;
``joint_delta`` the same minus the state at the chunk's observation (grippers stay
absolute); ``eef_abs`` the end-effector pose in the arm's base frame as xyz [m] + the
first two columns of R (6) + gripper (10 per arm); ``eef_rel`` the same layout for
T₀⁻¹·Tτ, T₀ being the pose at the observation.

A model from another codebase plugs in with ``entry_point``: ``factory(checkpoint,
device)`` receives the :class:`Checkpoint` and a torch device string and returns an
object with the :class:`~abc_robot.policy.interface.Policy` interface. Registered
architectures are built the same way. A ``torch.export`` program must map
``(images uint8 (1, C, h, w, 3), state (1, Ds) normalized, noise (1, H, D))`` to
normalized actions (1, H, D); it runs without guidance.

:func:`load_checkpoint` reads and validates all of this without importing torch and,
given the rig, refuses a checkpoint that does not fit it (cameras, dimensions) with a
:class:`~abc_robot.errors.CheckpointError` naming the mismatch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from abc_robot.errors import CheckpointError, ConfigError
from abc_robot.runtime.config import from_dict

__all__ = [
    "FORMAT",
    "ARCHITECTURES",
    "REPRESENTATIONS",
    "ModelSpec",
    "ObservationSpec",
    "ActionSpec",
    "NoiseSpec",
    "SamplerSpec",
    "CheckpointConfig",
    "NormStats",
    "RigSpec",
    "Checkpoint",
    "load_checkpoint",
    "save_checkpoint_files",
]

FORMAT = "abc_robot.policy/1"
REPRESENTATIONS = ("joint_abs", "joint_delta", "eef_abs", "eef_rel")
#: Registered architectures: name -> ``module:factory`` (imported only when built).
ARCHITECTURES: dict[str, str] = {
    "abc_dit": "abc_robot.policy.dit_policy:from_checkpoint",
    # The released ABC-DiT (see abc_robot.policy.abc_dit.released for the directory it needs).
    "abc_dit_released": "abc_robot.policy.abc_dit.policy:from_checkpoint",
}
#: Guards z-scoring against a constant dimension (e.g. an unused gripper).
STD_EPS = 1e-6
#: A state dimension whose spread in the training data is below this [rad, or gripper
#: units] hardly moved there: less than a real arm's holding error (a YAM holds a pose
#: to 1-10 mrad through its motor gains, MuJoCo's position servos to 1e-13). The model
#: only ever saw it at its mean, so it is fed as its mean: otherwise an idle arm's
#: holding error, z-scored by the tiny spread of the demonstrations (1e-14 for the arm
#: a one-arm task never moves, 3e-4 rad for a wrist it barely turns), reaches the model
#: as inputs of tens to thousands (measured on the hardware twin: garbage chunks, 0/5
#: where the sim graph scored 4/5). Applies to this package's checkpoints (the released
#: ABC-DiT normalizes by its own code).
CONSTANT_STD = 1e-2
MAX_PREFIX_STEPS = 4


@dataclass(frozen=True)
class ModelSpec:
    architecture: str | None = "abc_dit"  # a key of ARCHITECTURES
    entry_point: str | None = None  # "package.module:factory", instead of architecture
    params: dict[str, Any] = field(default_factory=dict)  # handed to the factory
    weights: str | None = "model.pt"  # state dict file in the checkpoint directory
    program: str | None = None  # torch.export program file, instead of weights

    def __post_init__(self) -> None:
        if (self.architecture is None) == (self.entry_point is None):
            raise ValueError("exactly one of model.architecture and model.entry_point must be set")
        if self.architecture is not None and self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; registered: {sorted(ARCHITECTURES)}")
        if self.entry_point is not None and ":" not in self.entry_point:
            raise ValueError(f"entry_point must read 'package.module:factory', got {self.entry_point!r}")


@dataclass(frozen=True)
class ObservationSpec:
    cameras: tuple[str, ...] = ("top", "left", "right")  # camera names, in model order
    image_size: tuple[int, int] = (224, 224)  # [h, w] px after resize-with-padding
    state: dict[str, int] = field(default_factory=lambda: {"left": 7, "right": 7})  # key -> dims, in order

    def __post_init__(self) -> None:
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"camera names repeat: {list(self.cameras)}")
        if min(self.image_size) <= 0:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        if not self.state or min(self.state.values()) <= 0:
            raise ValueError(f"state must name at least one key with a positive dim, got {self.state}")

    @property
    def state_dim(self) -> int:
        return int(sum(self.state.values()))


@dataclass(frozen=True)
class ActionSpec:
    dim: int = 14  # D, values per action
    chunk: int = 30  # H, actions per chunk
    rate_hz: float = 30.0  # action i targets obs_stamp + i / rate_hz [Hz]
    representation: Literal["joint_abs", "joint_delta", "eef_abs", "eef_rel"] = "joint_abs"
    gripper_dims: tuple[int, ...] = (6, 13)  # columns holding gripper openings [0, 1]

    def __post_init__(self) -> None:
        if self.dim <= 0 or self.chunk <= 0 or self.rate_hz <= 0:
            raise ValueError(f"dim, chunk and rate_hz must be positive, got {self.dim}, {self.chunk}, {self.rate_hz}")
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {list(REPRESENTATIONS)}, got {self.representation!r}")
        bad = [g for g in self.gripper_dims if not 0 <= g < self.dim]
        if bad:
            raise ValueError(f"gripper_dims {bad} outside 0..{self.dim - 1}")

    @property
    def period_ns(self) -> int:
        return int(round(1e9 / self.rate_hz))


@dataclass(frozen=True)
class NoiseSpec:
    kind: Literal["iid", "correlated"] = "iid"  # flow noise across the chunk's time axis
    cov_file: str | None = None  # H×H .npy (or .json list) when correlated

    def __post_init__(self) -> None:
        if self.kind == "correlated" and not self.cov_file:
            raise ValueError("correlated noise needs cov_file (an H×H covariance)")


@dataclass(frozen=True)
class SamplerSpec:
    flow_steps: int = 10  # Euler steps from noise (τ=0) to actions (τ=1)
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    prefix_steps: int = 0  # leading actions the model was trained to take as given (≤ 4)

    def __post_init__(self) -> None:
        if self.flow_steps <= 0:
            raise ValueError(f"flow_steps must be positive, got {self.flow_steps}")
        if not 0 <= self.prefix_steps <= MAX_PREFIX_STEPS:
            raise ValueError(f"prefix_steps must be in 0..{MAX_PREFIX_STEPS}, got {self.prefix_steps}")


@dataclass(frozen=True)
class CheckpointConfig:
    format: str = FORMAT
    model: ModelSpec = field(default_factory=ModelSpec)
    observation: ObservationSpec = field(default_factory=ObservationSpec)
    action: ActionSpec = field(default_factory=ActionSpec)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    norm_stats: str = "norm_stats.json"  # file name in the checkpoint directory
    info: dict[str, Any] = field(default_factory=dict)  # free-form provenance (training run, data)

    def __post_init__(self) -> None:
        if self.format != FORMAT:
            raise ValueError(f"format must be {FORMAT!r}, got {self.format!r}")
        if self.sampler.prefix_steps >= self.action.chunk:
            raise ValueError("sampler.prefix_steps must be shorter than the chunk")

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class NormStats:
    """z-score statistics: ``x_n = (x - mean) / (std + 1e-6)`` (a state dimension that
    never varied in training reads 0, see :data:`CONSTANT_STD`).

    Attributes:
        state_mean, state_std: (Ds,).
        action_mean, action_std: (D,) or per timestep (H, D).
    """

    state_mean: np.ndarray
    state_std: np.ndarray
    action_mean: np.ndarray
    action_std: np.ndarray

    def state_varied(self) -> np.ndarray:
        """1.0 where a state dimension varied in the training data, 0.0 where it did not
        (spread under :data:`CONSTANT_STD`)."""
        return (np.asarray(self.state_std) >= CONSTANT_STD).astype(np.float64)

    def normalize_state(self, s: np.ndarray) -> np.ndarray:
        """z-scores of ``s``; a dimension that never varied in training reads 0 (its mean)."""
        return (s - self.state_mean) / (self.state_std + STD_EPS) * self.state_varied()

    def normalize_actions(self, a: np.ndarray) -> np.ndarray:
        return (a - self.action_mean) / (self.action_std + STD_EPS)

    def unnormalize_actions(self, a_n: np.ndarray) -> np.ndarray:
        return a_n * (self.action_std + STD_EPS) + self.action_mean

    def to_dict(self) -> dict[str, Any]:
        """The ABC ``norm_stats.json`` shape (:func:`abc_robot.recording.norm_stats.norm_stats_document`)."""
        from abc_robot.recording.norm_stats import norm_stats_document

        return norm_stats_document(
            {"mean": self.state_mean, "std": self.state_std}, {"mean": self.action_mean, "std": self.action_std}
        )

    @classmethod
    def from_dict(cls, data: Any, file: str = "norm_stats.json") -> NormStats:
        from abc_robot.recording.norm_stats import read_norm_stats

        try:
            ns = read_norm_stats(data)
        except ValueError as exc:
            raise CheckpointError(f"{file}: {exc}") from exc
        out = cls(ns["state"]["mean"], ns["state"]["std"], ns["actions"]["mean"], ns["actions"]["std"])
        if np.any(out.state_std < 0) or np.any(out.action_std < 0):
            raise CheckpointError(f"{file}: negative std")
        return out


@dataclass(frozen=True)
class RigSpec:
    """What the rig offers a policy.

    Attributes:
        cameras: camera names that publish on this rig.
        state_dim: robot state values (14 for two 6-DoF arms with grippers).
        action_dim: action values the followers execute.
    """

    cameras: tuple[str, ...] = ("top", "left", "right")
    state_dim: int = 14
    action_dim: int = 14


@dataclass(frozen=True)
class Checkpoint:
    """A validated checkpoint directory (no model loaded: that needs torch, see :mod:`abc_robot.policy.load`)."""

    path: Path
    config: CheckpointConfig
    norm_stats: NormStats
    noise_cov: np.ndarray | None = None  # H×H when sampler.noise.kind == "correlated"

    def file(self, name: str) -> Path:
        return self.path / name


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _read_config(path: Path) -> tuple[dict[str, Any], str]:
    for name in ("config.json", "config.yaml", "config.yml"):
        f = path / name
        if not f.exists():
            continue
        try:
            if name.endswith(".json"):
                return json.loads(f.read_text()), str(f)
            from abc_robot.runtime.config import load_yaml

            return load_yaml(f), str(f)
        except (json.JSONDecodeError, ConfigError) as exc:
            raise CheckpointError(f"{f}: cannot parse ({exc})") from exc
    raise CheckpointError(f"{path}: no config.json or config.yaml (is this a checkpoint directory?)")


def _load_cov(path: Path, horizon: int) -> np.ndarray:
    if not path.exists():
        raise CheckpointError(f"{path}: noise covariance file named in config.json is missing")
    cov = np.load(path) if path.suffix == ".npy" else np.asarray(json.loads(path.read_text()), dtype=np.float64)
    if cov.shape != (horizon, horizon):
        raise CheckpointError(f"{path}: noise covariance must be {horizon}×{horizon} (the chunk), got {cov.shape}")
    if not np.allclose(cov, cov.T, atol=1e-8):
        raise CheckpointError(f"{path}: noise covariance is not symmetric")
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as exc:
        raise CheckpointError(f"{path}: noise covariance is not positive definite") from exc
    return cov


def load_checkpoint(path: str | Path, rig: RigSpec | None = None) -> Checkpoint:
    """Read and validate a checkpoint directory; check it fits ``rig`` when given.

    Raises:
        CheckpointError: missing or malformed file, norm stats of the wrong shape, or a
            mismatch with the rig (the message names cameras or dimensions).
    """
    p = Path(path)
    if p.is_file() and p.suffix in (".pt", ".pth"):
        # A released ABC-DiT file: its directory is written beside it by
        # abc_robot.policy.abc_dit.released.prepare_released (abc-rollout does that).
        released = p.resolve().with_name(p.stem + ".abc_robot")
        if not released.is_dir():
            raise CheckpointError(
                f"{p}: a bare .pt needs its checkpoint directory {released.name} beside it; "
                "abc-rollout --policy FILE.pt --task NAME (or --prompt TEXT) writes it"
            )
        p = released
    if not p.is_dir():
        raise CheckpointError(f"{p}: checkpoint directory does not exist")
    raw, cfg_file = _read_config(p)
    try:
        config = from_dict(CheckpointConfig, raw, file=cfg_file)
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from exc
    ns_file = p / config.norm_stats
    if not ns_file.exists():
        raise CheckpointError(f"{ns_file}: normalization statistics missing")
    try:
        stats = NormStats.from_dict(json.loads(ns_file.read_text()), str(ns_file))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{ns_file}: not valid JSON ({exc})") from exc
    obs, act = config.observation, config.action
    _check_shape(stats.state_mean, stats.state_std, (obs.state_dim,), "state", ns_file)
    per_step = stats.action_mean.ndim == 2
    _check_shape(
        stats.action_mean, stats.action_std, (act.chunk, act.dim) if per_step else (act.dim,), "actions", ns_file
    )
    model = config.model
    for name in (model.weights if model.program is None else model.program,):
        if name is not None and not (p / name).exists() and model.entry_point is None:
            raise CheckpointError(f"{p / name}: model file named in {cfg_file} is missing")
    cov = (
        _load_cov(p / (config.sampler.noise.cov_file or ""), act.chunk)
        if config.sampler.noise.kind == "correlated"
        else None
    )
    ckpt = Checkpoint(p, config, stats, cov)
    if rig is not None:
        check_rig(ckpt, rig)
    return ckpt


def _check_shape(mean: np.ndarray, std: np.ndarray, shape: tuple[int, ...], what: str, file: Path) -> None:
    if mean.shape != shape or std.shape != shape:
        raise CheckpointError(
            f"{file}: {what} mean/std must have shape {shape} (from config.json), got {mean.shape}/{std.shape}"
        )


def check_rig(ckpt: Checkpoint, rig: RigSpec) -> None:
    """Refuse a checkpoint that does not fit the rig, naming every mismatch."""
    cfg = ckpt.config
    problems = []
    missing = [c for c in cfg.observation.cameras if c not in rig.cameras]
    if missing:
        problems.append(f"cameras {missing} are not on the rig (rig cameras: {list(rig.cameras)})")
    if cfg.observation.state_dim != rig.state_dim:
        problems.append(f"state dim {cfg.observation.state_dim} != rig state dim {rig.state_dim}")
    if cfg.action.representation.startswith("joint") and cfg.action.dim != rig.action_dim:
        problems.append(f"action dim {cfg.action.dim} != rig action dim {rig.action_dim}")
    if problems:
        raise CheckpointError(f"{ckpt.path}: checkpoint does not match the rig: " + "; ".join(problems))


def save_checkpoint_files(
    path: str | Path, config: CheckpointConfig, stats: NormStats, noise_cov: np.ndarray | None = None
) -> Path:
    """Write ``config.json``, ``norm_stats.json`` (and the noise covariance) into ``path``.

    The model file itself is written by whoever owns the model (e.g. ``torch.save``).
    """
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    (p / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    (p / config.norm_stats).write_text(json.dumps(stats.to_dict()))
    if noise_cov is not None:
        if not config.sampler.noise.cov_file:
            raise CheckpointError("a noise covariance was given but config.sampler.noise.cov_file is not set")
        np.save(p / config.sampler.noise.cov_file, np.asarray(noise_cov, dtype=np.float64))
    return p
