"""ABC-DiT sizes (``model.params`` of a checkpoint directory whose architecture is ``abc_dit_released``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["AbcDitConfig", "ABC_CAMERAS", "XL", "SMALL"]

#: The released checkpoints' camera order (the order of ``vision_camera_embed`` rows).
ABC_CAMERAS: tuple[str, ...] = ("top", "left", "right")


@dataclass(frozen=True)
class AbcDitConfig:
    """Architecture of :class:`~abc_robot.policy.abc_dit.model.AbcDiT`; defaults are the released XL shape."""

    hidden_size: int = 1536  # DiT token width
    depth: int = 32  # DiT blocks
    num_heads: int = 24  # DiT attention heads
    mlp_ratio: float = 4.0  # DiT MLP width / token width
    state_dim: int = 14  # robot state values (left arm then right: 6 joints [rad] + gripper)
    action_dim: int = 14  # action values per step
    chunk_length: int = 30  # H, actions per chunk (30 Hz)
    camera_keys: tuple[str, ...] = ABC_CAMERAS  # camera names, in the model's order
    task_embed_dim: int = 512  # CLIP ViT-B/32 text embedding width
    vit_embed_dim: int = 768  # DINOv3 ViT-B/16 width
    vit_depth: int = 12  # DINOv3 blocks
    vit_num_heads: int = 12  # DINOv3 heads
    vision_pool_num_queries: int = 12  # learned queries pooling each camera's tokens
    vision_pool_num_heads: int = 8
    vision_pool_mlp_ratio: int = 4
    patch_size: int = 16  # DINOv3 patch [px]

    def __post_init__(self) -> None:
        sizes = {k: v for k, v in asdict(self).items() if k != "camera_keys"}
        bad = [k for k, v in sizes.items() if not v > 0]
        if bad:
            raise ValueError(f"sizes must be positive: {bad}")
        if not self.camera_keys or len(set(self.camera_keys)) != len(self.camera_keys):
            raise ValueError(f"camera_keys must be non-empty and distinct, got {list(self.camera_keys)}")
        if self.hidden_size % self.num_heads or self.hidden_size % 2:
            raise ValueError(f"hidden_size {self.hidden_size} must be even and divisible by num_heads {self.num_heads}")
        if self.vit_embed_dim % self.vit_num_heads or (self.vit_embed_dim // self.vit_num_heads) % 4:
            raise ValueError("vit_embed_dim / vit_num_heads must be a multiple of 4 (2-D RoPE)")
        if self.vit_embed_dim % self.vision_pool_num_heads:
            raise ValueError("vit_embed_dim must be divisible by vision_pool_num_heads")

    # The names the generic flow sampler reads (``model.cfg.horizon`` / ``.action_dim``).
    @property
    def horizon(self) -> int:
        return self.chunk_length

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["camera_keys"] = list(self.camera_keys)
        return d


XL = AbcDitConfig()
#: A CPU-sized shape with the same structure (benchmarks, tests).
SMALL = AbcDitConfig(
    hidden_size=256,
    depth=4,
    num_heads=4,
    vit_embed_dim=192,
    vit_depth=4,
    vit_num_heads=3,
    vision_pool_num_heads=4,
)
