"""What a planner knows about the world at the start of an episode.

A :class:`WorldSnapshot` is pure data (numpy, no MuJoCo) so it can travel: the sim
node returns it in its task-reset reply (``Reply.data["snapshot"]``) and a scripted
leader process builds its demonstrator from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["WorldSnapshot"]


def _T(v: Any) -> np.ndarray:
    T = np.asarray(v, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"expected a 4x4 transform, got shape {T.shape}")
    return T


@dataclass(frozen=True)
class WorldSnapshot:
    """Poses at one instant (usually right after a reset).

    Attributes:
        task: task name.
        seed: the reset seed.
        table_top_z: table top height in the world [m].
        T_world_base: base pose per arm (4×4).
        T_base_ee: end-effector pose per arm, in its base frame (4×4).
        gripper: gripper per arm in [0, 1] (0 closed, 1 open).
        objects: ``T_world_object`` per task object (4×4).
    """

    task: str
    seed: int
    table_top_z: float
    T_world_base: dict[str, np.ndarray]
    T_base_ee: dict[str, np.ndarray]
    gripper: dict[str, float]
    objects: dict[str, np.ndarray]

    def object_in_base(self, name: str, arm: str) -> np.ndarray:
        """``T_base_object``: an object's pose in ``arm``'s base frame."""
        T_wb = self.T_world_base[arm]
        T_bw = np.eye(4)
        T_bw[:3, :3] = T_wb[:3, :3].T
        T_bw[:3, 3] = -T_wb[:3, :3].T @ T_wb[:3, 3]
        return T_bw @ self.objects[name]

    def to_dict(self) -> dict[str, Any]:
        """JSON/msgpack-able form (nested lists of floats)."""
        return {
            "task": self.task,
            "seed": self.seed,
            "table_top_z": self.table_top_z,
            "T_world_base": {k: v.tolist() for k, v in self.T_world_base.items()},
            "T_base_ee": {k: v.tolist() for k, v in self.T_base_ee.items()},
            "gripper": dict(self.gripper),
            "objects": {k: v.tolist() for k, v in self.objects.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorldSnapshot:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: a field is missing or a transform is not 4×4.
        """
        try:
            return cls(
                task=str(d["task"]),
                seed=int(d["seed"]),
                table_top_z=float(d["table_top_z"]),
                T_world_base={k: _T(v) for k, v in d["T_world_base"].items()},
                T_base_ee={k: _T(v) for k, v in d["T_base_ee"].items()},
                gripper={k: float(v) for k, v in d["gripper"].items()},
                objects={k: _T(v) for k, v in d["objects"].items()},
            )
        except KeyError as exc:
            raise ValueError(f"snapshot lacks field {exc.args[0]!r}") from exc
