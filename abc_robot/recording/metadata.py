"""``episode_metadata.json``: the ABC fields first, then ours.

ABC fields: ``task_name``, ``cameras`` (stack order), ``camera_resolutions``
(``{camera: [width, height]}`` of each view in the video), ``alignment``, ``t0_ns``,
``tick_ns``, ``num_steps`` (plus ``fps``, ``state_dim``, ``action_dim``,
``image_width``, ``image_height`` that loaders commonly read).

Ours: ``format_version``, ``episode_id``, ``rig``, ``calibration`` (file → sha256),
``video`` (codec settings), ``control_source_segments`` and counts, ``outcome``
(``success``: bool or null, ``progress``: float or null, ``ended_by``), ``counts``
(missing views...), and whatever the recorder adds (dropped frames, sequence gaps,
camera health). A recovered episode also has ``recovery``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from abc_robot.recording.layout import (
    ACTION_DIM,
    ALIGNMENT,
    FORMAT_VERSION,
    FPS,
    GOP,
    PTS_PER_FRAME,
    STATE_DIM,
    TIME_BASE,
    VIEW_SIZE,
    source_segments,
)

__all__ = [
    "start_metadata",
    "final_metadata",
    "outcome_record",
    "write_json_atomic",
    "read_json",
    "file_hashes",
    "GRIPPER_CONVENTION",
    "LEGACY_GRIPPER_CONVENTION",
    "gripper_convention",
]

#: ``gripper`` in the metadata: what the gripper value (column 6 of each arm's 7) means.
#: ABC's and the YAM vendor's convention: the finger opening over its full travel, so
#: 0 = closed and 1 = open (ABC Sim: finger joint position / 0.0475 m).
GRIPPER_CONVENTION: dict[str, Any] = {"convention": "abc", "closed": 0.0, "open": 1.0}
#: What episodes without a ``gripper`` entry were recorded with (0 = open, 1 = closed);
#: ``abc-convert-gripper`` rewrites them.
LEGACY_GRIPPER_CONVENTION: dict[str, Any] = {"convention": "legacy", "closed": 1.0, "open": 0.0}


def gripper_convention(meta: Mapping[str, Any]) -> str:
    """``"abc"`` or ``"legacy"``: the gripper convention an episode's metadata declares.

    Raises:
        ValueError: a ``gripper`` entry naming neither.
    """
    g = meta.get("gripper")
    if g is None:
        return str(LEGACY_GRIPPER_CONVENTION["convention"])
    name = g.get("convention") if isinstance(g, Mapping) else None
    if name not in (GRIPPER_CONVENTION["convention"], LEGACY_GRIPPER_CONVENTION["convention"]):
        raise ValueError(f"gripper.convention is {name!r}; expected 'abc' or 'legacy'")
    return str(name)


def start_metadata(
    *,
    episode_id: str,
    task_name: str,
    cameras: Sequence[str],
    t0_ns: int,
    tick_ns: int,
    video: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything known when an episode starts (what recovery builds on)."""
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "episode_id": episode_id,
        "task_name": task_name,
        "cameras": list(cameras),
        "camera_resolutions": {c: [VIEW_SIZE, VIEW_SIZE] for c in cameras},
        "image_width": VIEW_SIZE,
        "image_height": VIEW_SIZE,
        "fps": FPS,
        "state_dim": STATE_DIM,
        "action_dim": ACTION_DIM,
        "state_layout": "per arm (left, right): 6 joints [rad] + gripper [0 closed, 1 open]; measured",
        "gripper": dict(GRIPPER_CONVENTION),
        "action_layout": "as state; the follower's commanded targets",
        "alignment": ALIGNMENT,
        "alignment_rule": "row k at t0_ns + k*tick_ns; each source's latest sample stamped at or before it",
        "t0_ns": int(t0_ns),
        "tick_ns": int(tick_ns),
        "num_steps": 0,
        "created_unix_ns": time.time_ns(),
        "video": {
            "codec": "h264",
            "pix_fmt": "yuv420p",
            "width": VIEW_SIZE,
            "height": VIEW_SIZE * len(cameras),
            "gop": GOP,
            "time_base": f"{TIME_BASE.numerator}/{TIME_BASE.denominator}",
            "pts_per_frame": PTS_PER_FRAME,
            **dict(video),
        },
    }
    if extra:
        meta.update(extra)
    return meta


def outcome_record(outcome: str | Mapping[str, Any] | None, progress: float | None = None) -> dict[str, Any]:
    """Normalize an outcome: ``success`` / ``fail`` / any other ending word, or a dict."""
    if isinstance(outcome, Mapping):
        rec = {"success": None, "progress": progress, "ended_by": "unknown", **dict(outcome)}
    elif outcome in ("success", "fail"):
        rec = {"success": outcome == "success", "progress": progress, "ended_by": outcome}
    else:
        rec = {"success": None, "progress": progress, "ended_by": outcome or "unknown"}
    if rec.get("progress") is not None:
        rec["progress"] = float(rec["progress"])
    return rec


def final_metadata(
    start: Mapping[str, Any],
    num_steps: int,
    control_sources: Sequence[str],
    outcome: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The finished episode's metadata from its start metadata and what was written."""
    meta = dict(start)
    if extra:
        meta.update(extra)
    meta["num_steps"] = int(num_steps)
    meta["duration_s"] = round(num_steps * int(meta["tick_ns"]) / 1e9, 6)
    sources = list(control_sources)[:num_steps]
    meta["control_source_segments"] = source_segments(sources)
    counts: dict[str, int] = {}
    for s in sources:
        counts[s] = counts.get(s, 0) + 1
    meta["control_source_counts"] = counts
    meta["outcome"] = dict(outcome)
    meta["finished_unix_ns"] = time.time_ns()
    return meta


def write_json_atomic(path: str | Path, data: Mapping[str, Any], fsync: bool = True) -> None:
    """Write JSON under a temporary name (``fsync`` it), then rename it over ``path``."""
    p = Path(path)
    tmp = p.with_name(p.name + f".tmp{threading.get_ident()}")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=str)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, p)


def read_json(path: str | Path) -> dict[str, Any]:
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def file_hashes(directory: str | Path | None) -> dict[str, str]:
    """sha256 of every file in a calibration directory (``{}`` when none is given)."""
    if not directory:
        return {}
    d = Path(directory)
    if d.is_file():
        return {d.name: hashlib.sha256(d.read_bytes()).hexdigest()}
    if not d.is_dir():
        return {}
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()
    }
