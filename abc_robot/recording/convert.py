"""Episodes between the two layouts: MCAP (ABC-130k release) ↔ ABC training layout.

:func:`mcap_to_abc` follows the public ``export_mcap.py`` rule exactly: streams are
the top camera (on a stereo station one eye, chosen per episode as the first byte of
``sha1("episode_<uuid>")`` even → left, odd → right), the wrist cameras and the eight
robot topics; ``t0`` is the latest stream start, rows sit at ``t0 + k·tick`` for
``k ≥ 1`` up to the earliest stream end, and every stream is sampled causally there
(its latest message at or before the tick; the first one before the stream starts).
Video frames are decoded in order (one message, one frame), letterboxed to 224×224
and stacked as :class:`~abc_robot.recording.writer.EpisodeWriter` writes them. The
episode is named by ``session-metadata``'s ``session-uuid`` (older files), else by
``episode-metadata``'s ``session_id``, else by its directory; the task is
``episode-metadata``'s ``task_name``, else the directory above the episode's.

:func:`abc_to_mcap` writes each row's state and action at its tick and each view as
an H.264 (or H.265) stream, through
:class:`~abc_robot.recording.mcap_writer.McapEpisodeWriter`. A round trip keeps
rows ``1..N-1``: the public rule starts one tick after the latest stream start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import EpisodeError
from abc_robot.recording import mcap_schema as S
from abc_robot.recording.annexb import AnnexBDecoder
from abc_robot.recording.layout import ALIGNMENT, TICK_NS
from abc_robot.recording.mcap_writer import McapEpisodeWriter
from abc_robot.recording.reader import EpisodeReader
from abc_robot.recording.video import letterbox
from abc_robot.recording.writer import EpisodeWriter

__all__ = ["mcap_to_abc", "abc_to_mcap", "find_mcap_episodes", "read_mcap_episode", "causal_indices", "pick_top_topic"]

WRIST = (("left", "/left-wrist-camera"), ("right", "/right-wrist-camera"))


def causal_indices(source_ns: np.ndarray, ticks_ns: np.ndarray) -> np.ndarray:
    """Index of the latest source sample at or before each tick (the first one before any)."""
    idx = np.searchsorted(source_ns, ticks_ns, side="right") - 1
    return np.clip(idx, 0, len(source_ns) - 1)


def pick_top_topic(episode_name: str, topics: set[str] | dict[str, Any]) -> str | None:
    """The top camera topic the public rule takes for ``episode_<uuid>`` (None: no top camera)."""
    if "/top-left-camera" in topics and "/top-right-camera" in topics:
        even = hashlib.sha1(episode_name.encode()).digest()[0] % 2 == 0
        return "/top-left-camera" if even else "/top-right-camera"
    return "/top-camera" if "/top-camera" in topics else None


def find_mcap_episodes(root: str | Path) -> list[Path]:
    """``<root>/<task>/episode_*/episode.mcap`` (what the public script globs), or ``root`` itself if it is one."""
    r = Path(root)
    if r.is_file():
        return [r]
    if (r / "episode.mcap").is_file():
        return [r / "episode.mcap"]
    return sorted(r.glob("*/episode_*/episode.mcap"))


def read_mcap_episode(path: str | Path) -> dict[str, Any]:
    """Metadata records and messages of an MCAP episode (robot streams decoded).

    Returns:
        ``{"metadata": {name: {key: value}}, "cameras": {topic: [(log_time, data, format)]},
        "robot": {topic: [(log_time, position)]}, "episode": "episode_<uuid>", "task": str}``.
    """
    from mcap.exceptions import McapError
    from mcap.reader import make_reader
    from mcap_protobuf.decoder import DecoderFactory

    p = Path(path)
    robot_topics = {t for t, _ in S.ROBOT_TOPICS}
    cam_topics = {t for _, t in WRIST} | set(S.TOP_TOPICS)
    meta: dict[str, dict[str, str]] = {}
    cams: dict[str, list[tuple[int, bytes, str]]] = {}
    robot: dict[str, list[tuple[int, np.ndarray]]] = {}
    try:
        with open(p, "rb") as f:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            for m in reader.iter_metadata():
                meta.setdefault(m.name, {}).update(dict(m.metadata))
        with open(p, "rb") as f:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            for _, channel, message, decoded in reader.iter_decoded_messages(topics=sorted(robot_topics | cam_topics)):
                if channel.topic in cam_topics:
                    cams.setdefault(channel.topic, []).append((message.log_time, bytes(decoded.data), decoded.format))
                else:
                    robot.setdefault(channel.topic, []).append(
                        (message.log_time, np.asarray(decoded.position, dtype=np.float64))
                    )
    except (McapError, OSError, ValueError, AttributeError) as exc:
        raise EpisodeError(f"{p}: not a readable MCAP episode ({type(exc).__name__}: {exc})") from exc
    for cam_msgs in cams.values():
        cam_msgs.sort(key=lambda x: x[0])
    for robot_msgs in robot.values():
        robot_msgs.sort(key=lambda x: x[0])
    uuid = meta.get("session-metadata", {}).get("session-uuid") or meta.get("episode-metadata", {}).get("session_id")
    episode = f"episode_{uuid}" if uuid else p.parent.name
    task = meta.get("episode-metadata", {}).get("task_name") or p.parent.parent.name
    return {"metadata": meta, "cameras": cams, "robot": robot, "episode": episode, "task": task}


def _frames(msgs: list[tuple[int, bytes, str]], where: str) -> Iterator[np.ndarray]:
    """Decoded frames of one camera stream, in message order."""
    dec = AnnexBDecoder(msgs[0][2] or "h264")
    for _, data, _ in msgs:
        yield from dec.decode(data)
    yield from dec.flush()


def mcap_to_abc(path: str | Path, out_root: str | Path, task: str | None = None) -> Path:
    """Convert one MCAP episode into ``<out_root>/episode_<uuid>`` (training layout).

    Raises:
        EpisodeError: no top camera, no robot stream, or fewer than 10 rows (what the
            public script skips), naming the file.
    """
    p = Path(path)
    ep = read_mcap_episode(p)
    cams, robot = ep["cameras"], ep["robot"]
    top = pick_top_topic(ep["episode"], cams)
    if top is None:
        raise EpisodeError(f"{p}: no top camera ({sorted(S.TOP_TOPICS)})")
    active = [("top", top)] + [(k, t) for k, t in WRIST if t in cams]
    present = [t for t, _ in S.ROBOT_TOPICS if t in robot]
    if not present:
        raise EpisodeError(f"{p}: no robot stream ({[t for t, _ in S.ROBOT_TOPICS]})")
    streams = [cams[t] for _, t in active] + [robot[t] for t in present]
    t0 = max(s[0][0] for s in streams)
    t_end = min(s[-1][0] for s in streams)
    ticks = np.arange(t0 + TICK_NS, t_end + 1, TICK_NS, dtype=np.int64)
    if len(ticks) < 10:
        raise EpisodeError(f"{p}: too short ({len(ticks)} rows at 30 Hz; the public export skips under 10)")
    parts, picked = [], {}
    for topic, dim in S.ROBOT_TOPICS:
        msgs = robot.get(topic)
        if not msgs:
            parts.append(np.zeros((len(ticks), dim)))
            continue
        ts = np.array([t for t, _ in msgs], dtype=np.int64)
        idx = causal_indices(ts, ticks)
        parts.append(np.stack([v for _, v in msgs])[idx].reshape(len(ticks), dim))
        picked[topic] = ts[idx]
    rows = np.concatenate(parts, axis=1)
    frame_idx = {}
    for key, topic in active:
        ts = np.array([t for t, _, _ in cams[topic]], dtype=np.int64)
        frame_idx[key] = causal_indices(ts, ticks)
        picked[topic] = ts[frame_idx[key]]
    uuid = ep["episode"].removeprefix("episode_")
    ours: dict[str, Any] = {}
    if "abc-episode" in ep["metadata"]:
        try:
            ours = json.loads(ep["metadata"]["abc-episode"].get("json", "{}"))
        except ValueError:
            ours = {}
    extra = {
        "converted_from": {"format": "mcap", "path": str(p), "stream_start_ns": int(t0), "top_topic": top},
        "alignment": ALIGNMENT,
        "alignment_rule": "row k at t0_ns + k*tick_ns (t0_ns one tick after the latest stream start); "
        "each stream's latest message at or before it",
    }
    for key in ("gripper", "rig", "calibration"):
        if key in ours:
            extra[key] = ours[key]
    w = EpisodeWriter(
        out_root, task or ep["task"], [k for k, _ in active], t0_ns=int(ticks[0]), metadata=extra, episode_id=uuid
    )
    try:
        gens = {k: _frames(cams[t], f"{p}:{t}") for k, t in active}
        current: dict[str, tuple[int, np.ndarray | None]] = {k: (-1, None) for k, _ in active}
        for i in range(len(ticks)):
            views = {}
            for key, _ in active:
                want = int(frame_idx[key][i])
                n, img = current[key]
                while n < want:
                    nxt = next(gens[key], None)
                    if nxt is None:
                        break
                    n, img = n + 1, nxt
                current[key] = (n, img)
                views[key] = None if img is None else letterbox(img)
            step = {"stamps": {t: int(v[i]) for t, v in picked.items()}, "control_source": "none"}
            w.append(rows[i, :14], rows[i, 14:], views, step)
        return w.finish({"success": None, "progress": None, "ended_by": "converted"}) or w.path
    except BaseException:
        w.discard()
        raise


def abc_to_mcap(episode: str | Path, mcap_root: str | Path, video_format: str = "h264", crf: int = 18) -> Path:
    """Write a training-layout episode as ``<mcap_root>/<task>/episode_<uuid>/episode.mcap``.

    Rows go out at their ticks (``t0_ns + k·tick_ns``, moved to the Unix clock by the
    episode's ``created_unix_ns`` when ``t0_ns`` is monotonic), each view as its own stream.
    """
    ep = EpisodeReader(episode)
    meta = ep.metadata
    t0, tick = int(ep.t0_ns), int(ep.tick_ns)
    offset = 0 if t0 > 10**18 else int(meta.get("created_unix_ns", 0)) - t0
    uuid = str(meta.get("episode_id") or ep.path.name.removeprefix("episode_"))
    arms = list(meta.get("arms", ["left", "right"]))
    ours: dict[str, Any] = {k: meta[k] for k in ("gripper", "rig", "calibration", "outcome") if k in meta}
    w = McapEpisodeWriter(
        mcap_root,
        ep.task_name,
        episode_id=uuid,
        arms=arms,
        cameras=ep.cameras,
        offset_ns=offset,
        video_format=video_format,
        crf=crf,
        metadata={**ours, "converted_from": {"format": "abc", "path": str(ep.path)}},
    )
    try:
        states, actions = ep.states, ep.actions
        for k, frame in enumerate(ep.frames()):
            t = t0 + k * tick
            for c, cam in enumerate(ep.cameras):
                view = frame[c * frame.shape[1] : (c + 1) * frame.shape[1]]
                if k == 0:
                    w.calibration(cam, t, (meta.get("camera_intrinsics") or {}).get(cam), view.shape[1], view.shape[0])
                w.frame(cam, t, view, k)
            for a, arm in enumerate(arms):
                w.joints(arm, "state", t, states[k, 7 * a : 7 * a + 7])
                w.joints(arm, "action", t, actions[k, 7 * a : 7 * a + 7])
        out = w.finish({"outcome": meta.get("outcome"), "num_steps": ep.num_steps})
    except BaseException:
        w.discard()
        raise
    finally:
        ep.close()
    assert out is not None
    return out
