"""Time-indexed execution of action chunks on the robot side (numpy + scipy only).

A chunk is a trajectory: action i is the target for time ``t_ns[i]`` (the observation
stamp plus i control periods of the policy). The follower samples it at its *own*
rate with a cubic spline between action times, so a 30 Hz policy drives a 200 Hz
follower smoothly and a late chunk simply starts part-way in.

Between chunks (:class:`ExecutorConfig.method`):

- ``replace``: the newest chunk takes over at arrival. This is also how chunks made
  consistent by the worker are executed: real-time chunking (soft-mask guidance or
  hard prefix) and correlated-noise inpainting change the chunk's contents so that its
  first d actions already equal what was executing (:mod:`abc_robot.policy.rtc`).
- ``ensemble``: ACT temporal ensembling; at each instant the actions of every chunk
  that covers it are averaged with weights ``w_i = exp(-m i)``, i = 0 the oldest.

The inference delay (arrival minus observation stamp) is measured here, where the
clocks agree, and summarised as a high percentile (:class:`DelayEstimator`).

The *switch jump* is measured here too: when a new chunk takes over from an executing
one (``replace``), the largest joint difference between the two at the arrival instant
[rad] (gripper columns excluded). Without any tie between chunks it is the step a
follower would see at every chunk boundary (only its velocity/acceleration limits
smooth it); with real-time chunking it should be a small fraction of that. Reported
as median / p90 / max over recent switches.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.interpolate import CubicSpline

from abc_robot.policy.compression import compress_chunk, gripper_changing, resample
from abc_robot.policy.rtc import (
    covariance_correct,
    ensemble_weights,
    gaussian_gain,
    guidance_weight,
    hard_mask,
    soft_mask,
)
from abc_robot.runtime.stats import percentiles

__all__ = [
    "ExecutorConfig",
    "ChunkExecutor",
    "Trajectory",
    "DelayEstimator",
    "executing_prefix",
    # re-exported between-chunk math
    "soft_mask",
    "hard_mask",
    "guidance_weight",
    "gaussian_gain",
    "covariance_correct",
    "ensemble_weights",
    "resample",
    "compress_chunk",
    "gripper_changing",
]


class Trajectory:
    """One chunk as a function of time: cubic spline through (t_ns[i], actions[i]).

    Outside ``[t_ns[0], t_ns[-1]]`` the end actions are held (no extrapolation).
    """

    def __init__(self, actions: np.ndarray, t_ns: np.ndarray) -> None:
        a = np.asarray(actions, dtype=np.float64)
        t = np.asarray(t_ns, dtype=np.int64)
        if a.ndim != 2 or t.shape != (a.shape[0],) or a.shape[0] == 0:
            raise ValueError(f"need actions (H, D) and t_ns (H,), got {a.shape} and {t.shape}")
        if a.shape[0] > 1 and np.any(np.diff(t) <= 0):
            raise ValueError("t_ns must increase strictly")
        self.actions = a
        self.t_ns = t
        self.t0_ns = int(t[0])
        self.end_ns = int(t[-1])
        x = (t - t[0]).astype(np.float64) * 1e-9
        self._spline = CubicSpline(x, a, axis=0) if a.shape[0] >= 2 else None

    def __call__(self, now_ns: int) -> np.ndarray:
        if self._spline is None or now_ns <= self.t0_ns:
            return self.actions[0].copy()
        if now_ns >= self.end_ns:
            return self.actions[-1].copy()
        return np.asarray(self._spline((now_ns - self.t0_ns) * 1e-9))

    def covers(self, now_ns: int) -> bool:
        return self.t0_ns <= now_ns <= self.end_ns


def executing_prefix(traj: Trajectory, t_obs_ns: int, period_ns: int, horizon: int) -> tuple[np.ndarray, int]:
    """The executing trajectory at a new chunk's target times ``t_obs + i·period``.

    Returns:
        (prefix, n_covered): (H, D) actions (held past the trajectory's end) and how many
        of the new chunk's times the executing trajectory still covers (``H - s`` in the
        RTC paper's terms).
    """
    times = t_obs_ns + period_ns * np.arange(horizon, dtype=np.int64)
    prefix = np.stack([traj(int(t)) for t in times])
    return prefix, int(np.count_nonzero(times <= traj.end_ns))


class DelayEstimator:
    """A high percentile of recent inference delays (observation stamp → chunk arrival).

    Args:
        window: number of recent delays kept.
        percentile: which percentile summarises them (RTC must not under-estimate d).
    """

    def __init__(self, window: int = 50, percentile: float = 90.0) -> None:
        self._delays: deque[int] = deque(maxlen=window)
        self.percentile = percentile

    def add(self, delay_ns: int) -> None:
        self._delays.append(int(delay_ns))

    def __len__(self) -> int:
        return len(self._delays)

    def delay_ns(self) -> int | None:
        """The percentile delay [ns], or None before the first chunk."""
        if not self._delays:
            return None
        return int(np.percentile(np.fromiter(self._delays, dtype=np.int64), self.percentile))

    def steps(self, period_ns: int) -> int:
        """The delay in whole action periods (rounded up), 0 before the first chunk."""
        d = self.delay_ns()
        return 0 if d is None else int(math.ceil(d / period_ns))

    def reset(self) -> None:
        self._delays.clear()


@dataclass(frozen=True)
class ExecutorConfig:
    method: Literal["replace", "ensemble"] = "replace"  # between-chunk method (see module docstring)
    ensemble_m: float = 0.01  # ACT ensemble decay m; w_i = exp(-m i), i = 0 oldest
    ensemble_max_chunks: int = 8  # chunks kept for ensembling
    crossfade_s: float = 0.0  # replace: blend into a new chunk over this long [s]; 0 = switch at arrival
    delay_window: int = 50  # delays kept for the percentile
    delay_percentile: float = 90.0  # percentile used as the delay d
    clip_dims: tuple[int, ...] = ()  # columns clipped to [0, 1] after interpolation (grippers)
    jump_window: int = 500  # chunk switches kept for the switch-jump statistics
    start_blend_s: float = 0.0  # after reset: blend from the caller's command into the first chunk over this long [s]

    def __post_init__(self) -> None:
        if self.method not in ("replace", "ensemble"):
            raise ValueError(f"method must be 'replace' or 'ensemble', got {self.method!r}")
        if self.ensemble_max_chunks < 1 or self.crossfade_s < 0 or self.start_blend_s < 0:
            raise ValueError("ensemble_max_chunks must be >= 1, crossfade_s and start_blend_s >= 0")
        if not 0 < self.delay_percentile <= 100:
            raise ValueError(f"delay_percentile must be in (0, 100], got {self.delay_percentile}")


class ChunkExecutor:
    """Turns a stream of time-indexed chunks into one action per follower tick.

    Usage::

        ex = ChunkExecutor(ExecutorConfig(method="replace"))
        ex.add(msg.actions[:, 0:7], msg.t_ns, msg.obs_stamp_ns)   # on arrival
        q_target = ex.sample(now_ns)                               # every tick; None before the first chunk
        ex.reset()                                                 # on intervention / new episode
    """

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        self.config = config or ExecutorConfig()
        self.delays = DelayEstimator(self.config.delay_window, self.config.delay_percentile)
        self._chunks: deque[Trajectory] = deque(maxlen=self.config.ensemble_max_chunks)
        self._fade_from: Trajectory | None = None
        self._fade_start_ns = 0
        self.chunks_received = 0
        self.starved_ticks = 0  # ticks past the end of every chunk (holding the last action)
        self.switch_jumps: deque[float] = deque(maxlen=max(1, self.config.jump_window))  # [rad]
        self._anchor: np.ndarray | None = None  # the start blend's origin (a command) ...
        self._anchor_ns = 0  # ... and when it began [ns]
        self._anchor_pending = True

    def reset(self) -> None:
        """Drop every chunk (the next ``sample`` returns None until a chunk arrives);
        the first action sampled afterwards starts the start blend anew."""
        self._chunks.clear()
        self._fade_from = None
        self._anchor, self._anchor_pending = None, True

    @property
    def current(self) -> Trajectory | None:
        """The newest chunk's trajectory (the executing one under ``replace``)."""
        return self._chunks[-1] if self._chunks else None

    def add(self, actions: np.ndarray, t_ns: np.ndarray, obs_stamp_ns: int, arrival_ns: int | None = None) -> None:
        """Take a chunk that arrived at ``arrival_ns`` (default: now), computed from ``obs_stamp_ns``."""
        arrival = time.monotonic_ns() if arrival_ns is None else int(arrival_ns)
        traj = Trajectory(actions, t_ns)
        self.delays.add(arrival - int(obs_stamp_ns))
        if self.config.method == "replace" and self._chunks:
            joints = [i for i in range(traj.actions.shape[1]) if i not in self.config.clip_dims]
            jump = np.abs(traj(arrival)[joints] - self._chunks[-1](arrival)[joints])
            self.switch_jumps.append(float(jump.max()) if jump.size else 0.0)
        if self.config.method == "replace" and self.config.crossfade_s > 0 and self._chunks:
            self._fade_from = self._chunks[-1]
            self._fade_start_ns = arrival
        self._chunks.append(traj)
        self.chunks_received += 1

    def sample(self, now_ns: int, start_from: np.ndarray | None = None) -> np.ndarray | None:
        """The action for ``now_ns`` (cubic between action times), or None with no chunk yet.

        Args:
            now_ns: the tick's time [ns, monotonic].
            start_from: the command the arm holds now. With ``start_blend_s`` > 0, the
                first action after a reset blends from it into the chunk's trajectory
                (smoothstep over ``start_blend_s``), so the first policy command is
                continuous with the last operator command.
        """
        out = self._sample(now_ns)
        if out is None or self.config.start_blend_s <= 0:
            return out
        if self._anchor_pending and start_from is not None:
            self._anchor, self._anchor_ns, self._anchor_pending = np.array(start_from, dtype=float), now_ns, False
        if self._anchor is not None:
            a = (now_ns - self._anchor_ns) / (self.config.start_blend_s * 1e9)
            if a >= 1.0:
                self._anchor = None
            else:
                a = min(max(a, 0.0), 1.0)
                a = a * a * (3.0 - 2.0 * a)
                out = (1.0 - a) * self._anchor + a * out
        return out

    def _sample(self, now_ns: int) -> np.ndarray | None:
        if not self._chunks:
            return None
        newest = self._chunks[-1]
        if now_ns > newest.end_ns:
            self.starved_ticks += 1
        if self.config.method == "ensemble":
            out = self._ensemble(now_ns)
        else:
            out = newest(now_ns)
            if self._fade_from is not None:
                alpha = (now_ns - self._fade_start_ns) / (self.config.crossfade_s * 1e9)
                if alpha >= 1.0:
                    self._fade_from = None
                else:
                    a = max(alpha, 0.0)
                    a = a * a * (3.0 - 2.0 * a)  # smoothstep: no velocity step at either end
                    out = (1.0 - a) * self._fade_from(now_ns) + a * out
        if self.config.clip_dims:
            idx = list(self.config.clip_dims)
            out[idx] = np.clip(out[idx], 0.0, 1.0)
        return out

    def _ensemble(self, now_ns: int) -> np.ndarray:
        covering: Sequence[Trajectory] = [c for c in self._chunks if c.covers(now_ns)]
        if not covering:
            return self._chunks[-1](now_ns)
        w = ensemble_weights(len(covering), self.config.ensemble_m)
        return np.einsum("i,ij->j", w, np.stack([c(now_ns) for c in covering]))

    def status(self, period_ns: int | None = None) -> dict[str, float | int | None]:
        """Figures for a heartbeat: chunks, delay percentile [ms] (and in periods), starvation."""
        d = self.delays.delay_ns()
        out: dict[str, float | int | None] = {
            "chunks": self.chunks_received,
            "delay_ms": None if d is None else d / 1e6,
            "starved_ticks": self.starved_ticks,
        }
        if period_ns:
            out["delay_steps"] = self.delays.steps(period_ns)
        if self.switch_jumps:
            j = np.asarray(self.switch_jumps)
            out["switches"] = len(j)
            out["switch_jump_p50_rad"], out["switch_jump_p90_rad"] = percentiles(j, (50, 90))
            out["switch_jump_max_rad"] = float(j.max())
        return out
