"""Reference policies of known quality, for testing evaluations (not for robots).

Served through the checkpoint contract's ``entry_point``
(``abc_robot.eval.reference_policies:reference_policy``), chosen by
``model.params.kind``:

- ``still``: holds the current state (the chunk repeats the observed state): a policy
  that never does the task.
- ``oracle``: a *test oracle* that cheats: it asks the sim node for the world
  (``sim/task`` and ``sim/snapshot`` on ``ipc://${run}/sim_ctl``, ``$ABC_RUN_DIR``
  giving ``${run}``) and plays the task's scripted demonstration
  (:class:`~abc_robot.sim.demonstrator.JointDemonstrator`) from the last reset, timed
  by the sim clock. It does the task about as often as the scripted demonstrator.
  With ``freeze_at_s`` it stops the script at that time: e.g. ``lift_cube`` frozen at
  2 s reaches over the cube and never grasps (partial progress, no success).

A real policy sees only observations; these exist so that an evaluation pipeline can
be checked against a ground truth ranking (``oracle`` > ``oracle`` frozen > ``still``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.policy.checkpoint import (
    ActionSpec,
    Checkpoint,
    CheckpointConfig,
    ModelSpec,
    NormStats,
    ObservationSpec,
    save_checkpoint_files,
)
from abc_robot.policy.interface import Policy, PolicyInput

__all__ = [
    "ENTRY_POINT",
    "HoldStillPolicy",
    "ScriptedOraclePolicy",
    "reference_policy",
    "write_reference_checkpoint",
    "REFERENCE_KINDS",
]

ENTRY_POINT = "abc_robot.eval.reference_policies:reference_policy"


class HoldStillPolicy(Policy):
    """Every action is the observed state: the arms stay where they are."""

    def __init__(self, horizon: int = 30, action_dim: int = 14) -> None:
        self.horizon, self.action_dim = horizon, action_dim

    def infer(self, obs: PolicyInput) -> np.ndarray:
        return np.repeat(np.asarray(obs.state, np.float64)[None, : self.action_dim], self.horizon, axis=0)


class ScriptedOraclePolicy(Policy):
    """Test oracle: the task's scripted demonstration, with the world read from the sim.

    Args:
        horizon, action_dim, rate_hz: the chunk (from the checkpoint's action spec).
        arms: arm names in state order (7 values each).
        sim_control: the sim node's request endpoint.
        freeze_at_s: stop the script at this time since the reset [s] (None: play it all).
        timeout_s: per sim request [s]; on no answer the chunk holds the state.
    """

    def __init__(
        self,
        horizon: int = 30,
        action_dim: int = 14,
        rate_hz: float = 30.0,
        arms: tuple[str, ...] = ("left", "right"),
        sim_control: str = "ipc://${run}/sim_ctl",
        freeze_at_s: float | None = None,
        timeout_s: float = 0.3,
    ) -> None:
        self.horizon, self.action_dim, self.rate_hz = horizon, action_dim, rate_hz
        self.arms = arms
        self.sim_control = sim_control
        self.freeze_at_s = freeze_at_s
        self.timeout_s = timeout_s
        self._req: Any = None
        self._demo: Any = None
        self._episode: tuple[int, float] | None = None  # (seed, sim time) last seen
        self._hold = HoldStillPolicy(horizon, action_dim)
        self.sim_errors = 0

    def _ask(self, topic: str) -> dict[str, Any] | None:
        from abc_robot.errors import TransportError
        from abc_robot.transport.bus import Requester
        from abc_robot.transport.messages import Event

        if self._req is None:
            self._req = Requester(self.sim_control, "reference_oracle")
        try:
            rep = self._req.request(topic, Event(kind=topic), timeout_s=self.timeout_s)
        except TransportError:
            self.sim_errors += 1
            return None
        return rep.data if rep.ok else None

    def _episode_demo(self) -> tuple[Any, float] | None:
        """The demonstrator of the current episode and the sim time since its reset [s]."""
        from abc_robot.sim.demonstrator import Demonstrator, JointDemonstrator
        from abc_robot.sim.snapshot import WorldSnapshot

        st = self._ask("sim/task")
        if st is None:
            return None
        seed, t_s = int(st["seed"]), float(st["time_s"])
        # A reset restarts the sim clock; paired trials repeat the seed, so the clock tells.
        new = self._episode is None or seed != self._episode[0] or t_s < self._episode[1]
        self._episode = (seed, t_s)
        if new or self._demo is None:
            snap = self._ask("sim/snapshot")
            if snap is None:
                self._demo = None
                return None
            ws = WorldSnapshot.from_dict(snap["snapshot"])
            self._demo = JointDemonstrator(Demonstrator(st.get("task", ws.task), ws))
        return self._demo, t_s

    def infer(self, obs: PolicyInput) -> np.ndarray:
        state = np.asarray(obs.state, np.float64)
        got = self._episode_demo()
        if got is None:
            return self._hold.infer(obs)
        demo, t_s = got
        q_now = {arm: state[7 * i : 7 * i + 7] for i, arm in enumerate(self.arms)}
        out = np.empty((self.horizon, self.action_dim))
        for k in range(self.horizon):
            t = t_s + k / self.rate_hz
            if self.freeze_at_s is not None:
                t = min(t, self.freeze_at_s)
            q = demo.joint_targets(t, q_now)
            out[k] = np.concatenate([q[arm] for arm in self.arms])[: self.action_dim]
        return out


#: Reference kinds → builder(checkpoint, params).
REFERENCE_KINDS: dict[str, Any] = {
    "still": lambda ck, p: HoldStillPolicy(ck.config.action.chunk, ck.config.action.dim),
    "oracle": lambda ck, p: ScriptedOraclePolicy(
        ck.config.action.chunk,
        ck.config.action.dim,
        ck.config.action.rate_hz,
        tuple(ck.config.observation.state),
        str(p.get("sim_control", "ipc://${run}/sim_ctl")),
        None if p.get("freeze_at_s") is None else float(p["freeze_at_s"]),
    ),
}


def reference_policy(checkpoint: Checkpoint, device: str = "cpu") -> Policy:
    """Entry-point factory: the reference policy named by ``model.params.kind``.

    Raises:
        CheckpointError: unknown kind (the message lists the valid ones).
    """
    from abc_robot.errors import CheckpointError

    params = checkpoint.config.model.params
    kind = params.get("kind")
    build = REFERENCE_KINDS.get(str(kind))
    if build is None:
        raise CheckpointError(f"{checkpoint.path}: reference policy kind {kind!r}; valid: {sorted(REFERENCE_KINDS)}")
    return build(checkpoint, params)


def write_reference_checkpoint(path: str | Path, kind: str, **params: Any) -> Path:
    """Write a checkpoint directory serving reference policy ``kind`` (see the module docstring).

    The checkpoint declares no cameras (these policies look at no image), 14-D joint
    absolute actions, 30-step chunks at 30 Hz, and identity normalization.
    """
    if kind not in REFERENCE_KINDS:
        raise ValueError(f"unknown reference kind {kind!r}; valid: {sorted(REFERENCE_KINDS)}")
    cfg = CheckpointConfig(
        model=ModelSpec(architecture=None, entry_point=ENTRY_POINT, params={"kind": kind, **params}, weights=None),
        observation=ObservationSpec(cameras=()),
        action=ActionSpec(),
        info={"reference_policy": kind, "note": "test reference, see abc_robot.eval.reference_policies"},
    )
    stats = NormStats(np.zeros(14), np.ones(14), np.zeros(14), np.ones(14))
    return save_checkpoint_files(path, cfg, stats)
