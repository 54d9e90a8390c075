"""State-dict key handling for released ABC-DiT checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["COMPILED_PREFIX", "strip_compiled_prefix", "config_from_state_dict"]

#: ``torch.compile`` wraps a module as ``_orig_mod``; checkpoints saved from one carry it.
COMPILED_PREFIX = "_orig_mod."


def strip_compiled_prefix(sd: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict with a leading ``_orig_mod.`` removed from every key that has one."""
    n = len(COMPILED_PREFIX)
    return {k[n:] if k.startswith(COMPILED_PREFIX) else k: v for k, v in sd.items()}


def config_from_state_dict(sd: Mapping[str, Any], camera_order: tuple[str, ...]) -> dict[str, Any]:
    """The :class:`~abc_robot.policy.abc_dit.config.AbcDitConfig` fields that the tensor shapes determine.

    Head counts and ratios are not visible in shapes: the released values are assumed
    for head counts (width / 64 for the DiT and ViT, 8 for pooling), the MLP ratio is
    read from the first block. ``camera_order`` orders the cameras found (the released
    order for the released names; others follow, sorted).

    Raises:
        KeyError: a key the architecture needs is absent (the caller names the file).
    """
    hidden = sd["x_embedder.weight"].shape[0]
    vit = sd["img_backbone.dinov3_model.cls_token"].shape[-1]
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    vit_depth = len({k.split(".")[3] for k in sd if k.startswith("img_backbone.dinov3_model.blocks.")})
    cams = {k.split(".", 1)[1] for k in sd if k.startswith("apool_queries.")}
    ordered = [c for c in camera_order if c in cams] + sorted(cams - set(camera_order))
    patch = sd["img_backbone.dinov3_model.patch_embed.proj.weight"].shape[-1]
    pool_mlp = sd[f"apool.{ordered[0]}.mlp.fc1.weight"].shape[0] // vit if ordered else 4
    return {
        "hidden_size": int(hidden),
        "depth": depth,
        "num_heads": max(1, hidden // 64),
        "mlp_ratio": sd["blocks.0.mlp.fc1.weight"].shape[0] / hidden,
        "state_dim": int(sd["x_embedder.weight"].shape[1]),
        "action_dim": int(sd["y_embedder.weight"].shape[1]),
        "chunk_length": int(sd["pos_embed"].shape[1]),
        "camera_keys": ordered,
        "task_embed_dim": int(sd["task_to_hidden.weight"].shape[1]),
        "vit_embed_dim": int(vit),
        "vit_depth": vit_depth,
        "vit_num_heads": max(1, vit // 64),
        "vision_pool_num_queries": int(sd[f"apool_queries.{ordered[0]}"].shape[1]) if ordered else 12,
        "vision_pool_num_heads": 8 if vit % 8 == 0 else 1,
        "vision_pool_mlp_ratio": int(pool_mlp),
        "patch_size": int(patch),
    }
