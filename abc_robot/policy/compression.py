"""Action compression: run the executed part of a chunk faster by spline resampling.

A chunk's executed segment of ``n_in`` actions (e.g. 26) is fitted with a cubic spline
over its index and resampled at ``n_out`` points (e.g. 20), so the same path is
traced in fewer control periods. The end points are kept exactly and a straight-line
segment stays a straight line (the spline reproduces linear data). Compression is
refused while a gripper changes state inside the segment: a grasp closing faster than
it was demonstrated is how objects get dropped.

Imports only numpy and scipy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import CubicSpline

__all__ = ["resample", "gripper_changing", "compress_chunk"]


def resample(actions: np.ndarray, n_out: int) -> np.ndarray:
    """Resample (n_in, D) ``actions`` to (n_out, D) along a cubic spline through them.

    Point 0 and point n_in - 1 map to point 0 and point n_out - 1 exactly. With fewer
    than 4 points the spline is linear ('not-a-knot' needs 4).
    """
    a = np.asarray(actions, dtype=np.float64)
    n_in = a.shape[0]
    if n_in < 2 or n_out < 2:
        raise ValueError(f"need at least 2 points in and out, got {n_in} -> {n_out}")
    x_in = np.linspace(0.0, 1.0, n_in)
    x_out = np.linspace(0.0, 1.0, n_out)
    if n_in < 4:
        return np.stack([np.interp(x_out, x_in, a[:, j]) for j in range(a.shape[1])], axis=1)
    out = CubicSpline(x_in, a, axis=0, bc_type="not-a-knot")(x_out)
    out[0], out[-1] = a[0], a[-1]  # exact, not merely to rounding
    return out


def gripper_changing(actions: np.ndarray, gripper_dims: Sequence[int], threshold: float = 0.05) -> bool:
    """True when any gripper column moves by more than ``threshold`` (opening in [0, 1]) in ``actions``."""
    if not len(gripper_dims):
        return False
    g = np.asarray(actions)[:, list(gripper_dims)]
    return bool(np.any(g.max(axis=0) - g.min(axis=0) > threshold))


def compress_chunk(
    actions: np.ndarray,
    start: int,
    n_in: int,
    n_out: int,
    gripper_dims: Sequence[int] = (),
    gripper_threshold: float = 0.05,
) -> tuple[np.ndarray, bool]:
    """Compress ``actions[start:start + n_in]`` to ``n_out`` actions; the tail moves up.

    The actions before ``start`` (e.g. the RTC-committed prefix) are left alone, so the
    chunk stays continuous with the one executing. The returned chunk is shorter by
    ``n_in - n_out``; its times are still one control period apart.

    Returns:
        (chunk, compressed): the new chunk and whether compression happened (False when a
        gripper changes state in the segment or the segment is too short).
    """
    a = np.asarray(actions, dtype=np.float64)
    if n_out > n_in:
        raise ValueError(f"compression must shorten: n_out={n_out} > n_in={n_in}")
    end = min(start + n_in, a.shape[0])
    seg = a[start:end]
    if seg.shape[0] < 2 or n_out >= seg.shape[0] or gripper_changing(seg, gripper_dims, gripper_threshold):
        return a.copy(), False
    n_seg_out = max(2, round(n_out * seg.shape[0] / n_in))
    return np.concatenate([a[:start], resample(seg, n_seg_out), a[end:]]), True
