"""Finish an MCAP episode whose writer died: keep every complete chunk.

A cut-off episode sits in ``<mcap_root>/_recording/episode_<uuid>/`` as
``episode.mcap.part`` (no summary, no footer) beside ``episode_start.json``.
:func:`recover_mcap` reads its records in order up to the first incomplete one (the
chunk being written when the process died), writes them into a new file with a
summary and an ``episode-metadata`` record (``abc-episode`` says ``recovered`` and
what was kept), and publishes it as ``<mcap_root>/<task>/episode_<uuid>/episode.mcap``.
A file with no complete chunk moves to ``<mcap_root>/_unrecoverable/`` with a
``recovery.json`` saying why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from abc_robot.recording.layout import LOCK, RECORDING_DIR, UNRECOVERABLE_DIR
from abc_robot.recording.mcap_writer import MCAP_FILE, MCAP_PART, MCAP_START, PROFILE, safe_task
from abc_robot.recording.recovery import RecoveryResult, find_incomplete

__all__ = ["recover_mcap", "recover_mcap_all", "read_complete_records"]


def read_complete_records(path: str | Path) -> tuple[list[Any], str]:
    """Every record of an MCAP up to the first incomplete one, and why reading stopped ('' at the end)."""
    from mcap.stream_reader import StreamReader

    out: list[Any] = []
    with open(path, "rb") as f:
        try:
            for rec in StreamReader(f, skip_magic=False).records:
                out.append(rec)
        except Exception as exc:  # a truncated record ends what can be kept
            return out, f"{type(exc).__name__}: {exc}"
    return out, ""


def _rewrite(records: list[Any], dst: Path, episode_md: dict[str, str] | None, ours: dict[str, Any]) -> int:
    from mcap.records import Channel, Message, Metadata, Schema
    from mcap.writer import CompressionType, Writer

    n = 0
    first = last = None
    with open(dst, "wb") as f:
        w = Writer(f, compression=CompressionType.ZSTD)
        w.start(profile=PROFILE, library="abc_robot (recovered)")
        schemas: dict[int, int] = {}
        channels: dict[int, int] = {}
        have_episode_md = False
        for r in records:
            if isinstance(r, Schema) and r.id not in schemas:
                schemas[r.id] = w.register_schema(r.name, r.encoding, r.data)
            elif isinstance(r, Channel) and r.id not in channels:
                channels[r.id] = w.register_channel(
                    r.topic, r.message_encoding, schemas.get(r.schema_id, 0), dict(r.metadata)
                )
            elif isinstance(r, Message) and r.channel_id in channels:
                w.add_message(channels[r.channel_id], r.log_time, r.data, r.publish_time, r.sequence)
                n += 1
                first = r.log_time if first is None else min(first, r.log_time)
                last = r.log_time if last is None else max(last, r.log_time)
            elif isinstance(r, Metadata):
                have_episode_md |= r.name == "episode-metadata"
                w.add_metadata(r.name, dict(r.metadata))
        if not have_episode_md and episode_md is not None:
            dur = 0.0 if first is None or last is None else (last - first) / 1e9
            w.add_metadata("episode-metadata", {**episode_md, "duration": f"{dur:.3f}"})
        w.add_metadata("abc-episode", {"json": json.dumps({**ours, "messages": n}, default=str)})
        w.finish()
        f.flush()
        os.fsync(f.fileno())
    return n


def recover_mcap(path: str | Path) -> RecoveryResult:
    """Recover one cut-off MCAP episode directory (``<mcap_root>/_recording/episode_<uuid>``)."""
    src = Path(path)
    root = src.parent.parent
    part = src / MCAP_PART
    try:
        start = json.loads((src / MCAP_START).read_text())
    except (OSError, ValueError):
        start = {}
    task = str(start.get("task_name") or "unknown")
    episode_id = str(start.get("episode_id") or src.name.removeprefix("episode_"))
    records, why = read_complete_records(part) if part.is_file() else ([], "no episode.mcap.part")
    n_msgs = sum(1 for r in records if type(r).__name__ == "Message")
    if n_msgs == 0:
        dst = root / UNRECOVERABLE_DIR / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        reason = f"no complete chunk ({why or 'empty'})"
        (src / "recovery.json").write_text(json.dumps({"status": "unrecoverable", "reason": reason}))
        os.rename(src, dst)
        return RecoveryResult("unrecoverable", dst, 0, 0, reason)
    episode_md = {"session_id": episode_id, "operator_id": str(start.get("operator_id", "")), "task_name": task}
    ours = {
        "episode_id": episode_id,
        "unix_minus_monotonic_ns": start.get("offset_ns"),
        "outcome": {"success": None, "progress": None, "ended_by": "recovered"},
        "recovery": {"stopped_at": why or "end of file", "records_kept": len(records)},
        **dict(start.get("metadata") or {}),
    }
    tmp = src / (MCAP_FILE + ".tmp")
    n = _rewrite(records, tmp, episode_md, ours)
    os.replace(tmp, src / MCAP_FILE)
    part.unlink(missing_ok=True)
    (src / MCAP_START).unlink(missing_ok=True)
    (src / LOCK).unlink(missing_ok=True)
    final_dir = root / safe_task(task)
    final_dir.mkdir(parents=True, exist_ok=True)
    final = final_dir / src.name
    os.rename(src, final)
    return RecoveryResult("recovered", final, n, 0, why)


def recover_mcap_all(root: str | Path) -> list[RecoveryResult]:
    """Recover every cut-off MCAP episode under ``root`` that no live process is writing."""
    out = [recover_mcap(p) for p in find_incomplete(root)]
    staging = Path(root) / RECORDING_DIR
    if staging.is_dir():
        try:
            staging.rmdir()
        except OSError:
            pass
    return out
