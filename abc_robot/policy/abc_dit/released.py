"""Released ABC-DiT checkpoints: a bare ``.pt`` made into a checkpoint directory of ours.

A released checkpoint (ABC's ``bottles_75k.pt``, or ABC's training ``last.pt``) is a
torch file holding ``model`` (the state dict, keys possibly prefixed ``_orig_mod.``)
and ``norm_stats`` (``{"state": {"mean", "std"}, "actions": {"mean", "std"}}``, the
ABC ``norm_stats.json`` shape, optionally under ``"norm_stats"`` or a dataset key).
It says nothing about cameras, rates or the task, so :func:`prepare_released` writes,
beside it, a checkpoint directory ``<name>.abc_robot/`` in the contract of
:mod:`abc_robot.policy.checkpoint`:

- ``config.json``: architecture ``abc_dit_released``, the sizes read from the tensor
  shapes, the released camera order, 224×224 views, 14-D joint-absolute actions at 30 Hz
  in chunks of 30, 10 flow steps, prefix conditioning up to 4 actions; ``weights``
  points at the ``.pt`` (not copied);
- ``norm_stats.json``: the checkpoint's statistics;
- ``task_<hash>.npy``: the CLIP text embedding of the prompt, computed once (the
  directory is the cache: the same prompt is never encoded twice).

Everything the worker needs is then in the directory; the ``.pt`` is read again by the
worker (memory-mapped) when it builds the model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import CheckpointError
from abc_robot.policy.abc_dit.config import ABC_CAMERAS
from abc_robot.policy.abc_dit.keys import config_from_state_dict, strip_compiled_prefix
from abc_robot.policy.checkpoint import (
    ActionSpec,
    CheckpointConfig,
    ModelSpec,
    NormStats,
    ObservationSpec,
    SamplerSpec,
    save_checkpoint_files,
)

__all__ = ["ARCHITECTURE", "read_released", "parse_abc_norm_stats", "prepare_released", "released_dir", "task_file"]

ARCHITECTURE = "abc_dit_released"
SUFFIX = ".abc_robot"
ABC_PREFIX_MAX = 4  # the released models were trained with action prefixes of up to 4


def read_released(path: str | Path) -> tuple[dict[str, Any], NormStats]:
    """The state dict (prefix stripped) and the norm stats of a released ``.pt``.

    Raises:
        CheckpointError: not a torch file, or ``model`` / ``norm_stats`` missing or malformed.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: released checkpoint file does not exist")
    try:
        try:
            raw = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # noqa: BLE001  ABC saves norm stats as numpy arrays, which need the full unpickler
            raw = torch.load(p, map_location="cpu", weights_only=False, mmap=True)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(
            f"{p}: not a torch checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        ) from exc
    if not isinstance(raw, dict) or "model" not in raw:
        keys = sorted(raw)[:8] if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{p}: a released ABC-DiT checkpoint holds 'model' and 'norm_stats'; found {keys}")
    if "norm_stats" not in raw or raw["norm_stats"] is None:
        raise CheckpointError(f"{p}: no 'norm_stats' in the checkpoint (ABC's norm_stats.json shape expected)")
    return strip_compiled_prefix(raw["model"]), parse_abc_norm_stats(raw["norm_stats"], str(p))


def parse_abc_norm_stats(raw: Any, file: str) -> NormStats:
    """ABC's norm stats in any of its nestings → :class:`NormStats`."""
    stats = raw.get("norm_stats", raw) if isinstance(raw, dict) else raw
    if isinstance(stats, dict) and "state" not in stats and "actions" not in stats and stats:
        stats = stats["xdof"] if "xdof" in stats else next(iter(stats.values()))  # keyed by dataset
    try:
        as_list = {
            k: {m: np.asarray(stats[k][m], dtype=np.float64).tolist() for m in ("mean", "std")}
            for k in ("state", "actions")
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{file}: norm_stats must hold state and actions mean/std ({exc!r})") from exc
    return NormStats.from_dict({"norm_stats": as_list}, f"{file} (norm_stats)")


def released_dir(pt: str | Path) -> Path:
    """The checkpoint directory written beside ``pt``."""
    p = Path(pt).resolve()
    return p.with_name(p.stem + SUFFIX)


def task_file(prompt: str) -> str:
    """File name of the cached embedding of ``prompt`` (exact text)."""
    return f"task_{hashlib.sha1(prompt.encode('utf-8')).hexdigest()[:12]}.npy"


def checkpoint_config(pt: Path | None, params: dict[str, Any], prompt: str, embedding: str) -> CheckpointConfig:
    """Our checkpoint spec for ABC-DiT of sizes ``params`` whose weights are the released file ``pt``."""
    state_dim, action_dim = int(params["state_dim"]), int(params["action_dim"])
    state = {"left": state_dim // 2, "right": state_dim // 2} if state_dim % 2 == 0 else {"state": state_dim}
    return CheckpointConfig(
        model=ModelSpec(
            architecture=ARCHITECTURE,
            params={"config": params, "task_embedding": embedding, "prompt": prompt},
            weights=str(pt) if pt is not None else None,
        ),
        observation=ObservationSpec(cameras=tuple(params["camera_keys"]), image_size=(224, 224), state=state),
        action=ActionSpec(
            dim=action_dim,
            chunk=int(params["chunk_length"]),
            rate_hz=30.0,
            representation="joint_abs",
            gripper_dims=(action_dim // 2 - 1, action_dim - 1) if action_dim % 2 == 0 else (),
        ),
        sampler=SamplerSpec(flow_steps=10, prefix_steps=min(ABC_PREFIX_MAX, int(params["chunk_length"]) - 1)),
        info={"source": str(pt), "format": "released ABC-DiT .pt (model + norm_stats)"},
    )


def prepare_released(
    pt: str | Path,
    *,
    prompt: str | None = None,
    clip: str | Path | None = None,
    task_embedding: str | Path | None = None,
    out: str | Path | None = None,
    params: dict[str, Any] | None = None,
) -> Path:
    """Write (or refresh) the checkpoint directory of a released ``.pt``; return its path.

    Args:
        pt: the released file.
        prompt: the task prompt (exact text; see :func:`~abc_robot.policy.abc_dit.text.task_prompt`
            for a task name). None reuses the directory's prompt when it has one.
        clip: ``ViT-B-32.pt`` or its directory; None searches the usual cache.
        task_embedding: a precomputed (task_embed_dim,) ``.npy`` to use instead of CLIP.
        out: the directory (default ``<pt stem>.abc_robot`` beside ``pt``).
        params: :class:`~abc_robot.policy.abc_dit.config.AbcDitConfig` fields overriding
            those read from the shapes (head counts of non-released sizes).

    Raises:
        CheckpointError: unreadable checkpoint, keys that do not fit the architecture,
            no prompt, or CLIP files missing (named, with where they come from).
    """
    from abc_robot.policy.abc_dit.config import AbcDitConfig

    src = Path(pt).resolve()
    sd, stats = read_released(src)
    try:
        fields = {**config_from_state_dict(sd, ABC_CAMERAS), **(params or {})}
        cfg = AbcDitConfig(**{**fields, "camera_keys": tuple(fields["camera_keys"])})
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{src}: state dict is not ABC-DiT's ({type(exc).__name__}: {exc})") from exc
    d = Path(out) if out is not None else released_dir(src)
    old = _old_params(d)
    if prompt is None and task_embedding is None:
        prompt = old.get("prompt")
        if prompt is None:
            raise CheckpointError(
                f"{src}: a released checkpoint needs the task: give --task NAME or --prompt TEXT "
                "(or --task-embedding FILE.npy)"
            )
    prompt = prompt if prompt is not None else f"<embedding {Path(str(task_embedding)).name}>"
    name = task_file(prompt)
    d.mkdir(parents=True, exist_ok=True)
    if task_embedding is not None:
        vec = np.asarray(np.load(task_embedding), dtype=np.float32).reshape(-1)
        np.save(d / name, vec)
    elif not (d / name).exists():
        from abc_robot.policy.abc_dit.text import ClipTextEncoder, find_clip_files

        vec = ClipTextEncoder(*find_clip_files(clip)).encode(prompt).numpy()
        np.save(d / name, vec)
    vec = np.load(d / name)
    if vec.shape != (cfg.task_embed_dim,):
        raise CheckpointError(
            f"{d / name}: task embedding has shape {vec.shape}, the model takes ({cfg.task_embed_dim},)"
        )
    save_checkpoint_files(d, checkpoint_config(src, cfg.to_dict(), prompt, name), stats)
    return d


def _old_params(d: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((d / "config.json").read_text())["model"]["params"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
