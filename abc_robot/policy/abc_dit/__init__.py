"""ABC-DiT, the released ABC policy, native in the policy package (imports torch).

- :mod:`.config` sizes (XL default, small shapes), :mod:`.model` the network under the
  released key names, :mod:`.vision` its DINOv3 ViT-B/16, :mod:`.text` the CLIP
  ViT-B/32 task embedding, :mod:`.sampling` the flow sampler (plain, ABC's prefix
  conditioning, RTC guidance), :mod:`.released` a bare released ``.pt`` made into a
  checkpoint directory, :mod:`.policy` the architecture ``abc_dit_released``.
"""

from __future__ import annotations

from abc_robot.policy.abc_dit.config import SMALL, XL, AbcDitConfig
from abc_robot.policy.abc_dit.model import AbcDiT
from abc_robot.policy.abc_dit.released import prepare_released, read_released
from abc_robot.policy.abc_dit.sampling import AbcDitSampler

__all__ = ["AbcDitConfig", "XL", "SMALL", "AbcDiT", "AbcDitSampler", "prepare_released", "read_released"]
