"""Our per-step data beside the ABC files: ``step_data.jsonl``, one JSON object a row.

Line ``k`` describes row ``k`` of ``states_actions.bin``. What the recorder writes::

    {"i": 12, "t_ns": ..., "stamps": {"follower/left/state": ns, ..., "camera/top": ns},
     "frame_index": {"top": 57, ...}, "ee": {"left": [x, y, z, qw, qx, qy, qz], ...},
     "mode": {"left": "TELEOP", ...}, "control_sources": {"left": "operator", ...},
     "control_source": "operator", "late": ["camera/left"]}

JSON lines because each line stands alone: the file is append-only, a torn last line
after a crash is simply dropped, and any tool can read it. Stamps are monotonic ns
where the data was sampled; EE poses are in each arm's base frame [m], quaternions
``w, x, y, z``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["StepLog", "read_steps", "count_lines", "truncate_lines", "pose7"]


def pose7(T_base_ee: np.ndarray) -> list[float]:
    """``[x, y, z, qw, qx, qy, qz]`` of a 4×4 pose [m], quaternion with ``w >= 0``."""
    T = np.asarray(T_base_ee, dtype=np.float64).reshape(4, 4)
    R = T[:3, :3]
    tr = R[0, 0] + R[1, 1] + R[2, 2]
    # Shepperd's method: branch on the largest diagonal term for numerical stability.
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s]
    qa = np.asarray(q)
    qa /= np.linalg.norm(qa)
    if qa[0] < 0:
        qa = -qa
    return [round(float(v), 6) for v in T[:3, 3]] + [round(float(v), 7) for v in qa]


class StepLog:
    """Append-only JSON-lines file; every line reaches the OS when written.

    Args:
        path: the file (created, or appended to).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f: BinaryIO | None = open(self.path, "ab")
        self.lines = 0

    def append(self, record: dict[str, Any]) -> None:
        assert self._f is not None, "step log closed"
        self._f.write(json.dumps(record, separators=(",", ":"), default=_jsonable).encode() + b"\n")
        self._f.flush()
        self.lines += 1

    def fileno(self) -> int:
        assert self._f is not None, "step log closed"
        return self._f.fileno()

    def sync(self) -> None:
        """Make what was written survive a power cut (``fsync``)."""
        if self._f is not None:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"{type(x).__name__} is not JSON serializable")


def read_steps(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Every complete line of a step file as a dict (a torn last line is dropped)."""
    out: list[dict[str, Any]] = []
    p = Path(path)
    if not p.exists():
        return out
    with open(p, "rb") as f:
        for line in f:
            if limit is not None and len(out) >= limit:
                break
            if not line.endswith(b"\n"):
                break
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def count_lines(path: str | Path) -> int:
    """Number of complete, parseable lines (what :func:`read_steps` would return)."""
    return len(read_steps(path))


def truncate_lines(path: str | Path, n: int) -> None:
    """Keep only the first ``n`` complete lines of a step file."""
    p = Path(path)
    if not p.exists():
        return
    end = 0
    with open(p, "rb") as f:
        for k, line in enumerate(f):
            if k >= n or not line.endswith(b"\n"):
                break
            end += len(line)
    os.truncate(p, end)
