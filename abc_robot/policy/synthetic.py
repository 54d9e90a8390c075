"""Synthetic episodes whose actions depend on what the cameras see (tests, benchmarks).

Each episode has a goal drawn at random and drawn into the ``top`` camera as a bright
square at a goal-dependent place; the joint targets move from the start state towards
joint values that are a smooth function of that place, and the grippers (ABC's
convention: 1 open, 0 closed) close near the end. A state-only policy cannot know where to go, so a policy that reaches the goal has
learned to look.
"""

from __future__ import annotations

import numpy as np

from abc_robot.policy.dataset import EpisodeArrays

__all__ = ["goal_joints", "render_goal", "synthetic_episode", "synthetic_episodes"]


def goal_joints(uv: np.ndarray, dim: int = 14, gripper_dims: tuple[int, ...] = (6, 13)) -> np.ndarray:
    """Joint goal [rad] for a goal position ``uv`` in [0, 1]²."""
    j = np.arange(dim, dtype=np.float64)
    q = 0.8 * np.sin((j + 1) * 0.7 * uv[0] + 0.3 * j) + 0.8 * np.cos((j + 1) * 0.5 * uv[1])
    q[list(gripper_dims)] = 0.0  # closed
    return q


def render_goal(uv: np.ndarray, size: int, n_cams: int = 3, rng: np.random.Generator | None = None) -> np.ndarray:
    """(n_cams, size, size, 3) uint8: a bright square at ``uv`` in camera 0, plain views elsewhere."""
    imgs = np.full((n_cams, size, size, 3), 30, np.uint8)
    if rng is not None:
        imgs += rng.integers(0, 10, imgs.shape, dtype=np.uint8)
    half = max(1, size // 10)
    cx, cy = (np.clip(uv, 0.0, 1.0) * (size - 2 * half) + half).astype(int)
    imgs[0, cy - half : cy + half, cx - half : cx + half] = (250, 200, 40)
    for c in range(1, n_cams):
        imgs[c, :, :, c % 3] += np.linspace(0, 60, size, dtype=np.uint8)[None, :]
    return imgs


def synthetic_episode(
    rng: np.random.Generator,
    steps: int = 90,
    image_size: int = 64,
    dim: int = 14,
    gripper_dims: tuple[int, ...] = (6, 13),
) -> tuple[EpisodeArrays, np.ndarray]:
    """One episode and its goal ``uv``."""
    uv = rng.uniform(0.15, 0.85, 2)
    goal = goal_joints(uv, dim, gripper_dims)
    q0 = rng.normal(0.0, 0.3, dim)
    q0[list(gripper_dims)] = 1.0  # open
    s = np.clip(np.arange(1, steps + 1) / (0.7 * steps), 0.0, 1.0)
    ease = s * s * (3.0 - 2.0 * s)
    actions = q0[None] + ease[:, None] * (goal - q0)[None]
    close = (np.arange(steps) > 0.8 * steps).astype(np.float64)
    actions[:, list(gripper_dims)] = 1.0 - close[:, None]
    states = np.vstack([q0[None], actions[:-1]])  # perfect tracking: the state is the last target
    img = render_goal(uv, image_size, rng=rng)
    images = np.repeat(img[None], steps, axis=0)
    return EpisodeArrays(states, actions, images, None, name=f"synthetic uv={uv.round(2)}"), uv


def synthetic_episodes(n: int, seed: int = 0, steps: int = 90, image_size: int = 64) -> list[EpisodeArrays]:
    """``n`` episodes from ``seed``."""
    rng = np.random.default_rng(seed)
    return [synthetic_episode(rng, steps, image_size)[0] for _ in range(n)]
