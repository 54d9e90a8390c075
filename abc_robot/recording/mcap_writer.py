"""McapEpisodeWriter: one episode as ``episode.mcap`` in the ABC-130k release layout.

::

    <mcap_root>/
      <task>/episode_<uuid>/episode.mcap        a finished (or recovered) episode
      _recording/episode_<uuid>/episode.mcap.part   being written (or cut off)

The public ``export_mcap.py`` globs ``*/episode_*/episode.mcap``: a file being
written is named ``.part`` so no reader takes it for an episode, and finishing
renames it in place then moves its directory under the task's, one atomic rename each.

Streaming: every message is written as it arrives, at its own stamp (``log_time``,
Unix clock [ns]); camera frames are H.264-encoded as they come (see
:mod:`abc_robot.recording.annexb`). Chunks close about once a second
(``flush_every_ns`` of message time) and are handed to the OS; an ``fsync`` follows
in a background thread. A killed writer leaves a file whose every complete chunk
reads; :func:`~abc_robot.recording.mcap_recovery.recover_mcap` rewrites it with a
summary at the next start. The writing process holds an ``flock`` like
:class:`~abc_robot.recording.writer.EpisodeWriter`.

Metadata records: ``session-metadata`` (``session-uuid`` = the episode's uuid, the
key the export script names the episode by) at the start, and ``episode-metadata``
(``session_id``, ``operator_id``, ``task_name``, ``duration``) at the end; ours in
``abc-episode`` (``json``: our fields, with ``unix_minus_monotonic_ns``: the offset
that turns a ``log_time`` back into the graph's monotonic stamp) beside them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import EpisodeError
from abc_robot.recording import mcap_schema as S
from abc_robot.recording.annexb import AnnexBEncoder
from abc_robot.recording.layout import EPISODE_PREFIX, LOCK, RECORDING_DIR

__all__ = ["McapEpisodeWriter", "MCAP_FILE", "MCAP_PART", "MCAP_START", "PROFILE", "unix_offset_ns"]

MCAP_FILE = "episode.mcap"
MCAP_PART = "episode.mcap.part"
#: What recovery needs (task, uuid, clock offset), written at the start.
MCAP_START = "episode_start.json"
PROFILE = "abc_robot"


def unix_offset_ns() -> int:
    """Unix time minus monotonic time now [ns]: ``log_time = stamp_ns + offset``."""
    return time.time_ns() - time.monotonic_ns()


def safe_task(task: str) -> str:
    """The task as a directory name (no separators, never empty)."""
    t = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in task.strip())
    return t.strip(".") or "unknown"


class McapEpisodeWriter:
    """Writes one episode's MCAP as its messages arrive.

    Args:
        root: the MCAP root (``<root>/<task>/episode_<uuid>/episode.mcap``).
        task_name: the task (the directory under ``root``; ``/instruction`` text unless
            ``instruction`` is given).
        episode_id: the uuid (default: a new uuid4 hex).
        arms: arm names (``left``, ``right``).
        cameras: our camera names, each written to :func:`~.mcap_schema.camera_topic`.
        offset_ns: Unix minus monotonic clock [ns] (stamps are monotonic).
        video_format: ``h264`` or ``h265``.
        crf, preset, gop: encoder settings (a keyframe every ``gop`` frames).
        metadata: our fields for the ``abc-episode`` record (rig, calibration...).
        operator_id: for ``episode-metadata``.
        instruction: the ``/instruction`` text (default: the task with spaces).
        flush_every_ns: close a chunk at least this often (message time) [ns].
    """

    def __init__(
        self,
        root: str | Path,
        task_name: str,
        *,
        episode_id: str | None = None,
        arms: Sequence[str] = ("left", "right"),
        cameras: Sequence[str] = ("top", "left", "right"),
        offset_ns: int | None = None,
        video_format: str = "h264",
        crf: int = 23,
        preset: str = "veryfast",
        gop: int = 30,
        metadata: Mapping[str, Any] | None = None,
        operator_id: str = "",
        instruction: str | None = None,
        flush_every_ns: int = 1_000_000_000,
    ) -> None:
        from mcap.writer import CompressionType, Writer

        self.root = Path(root)
        self.task_name = task_name
        self.episode_id = episode_id or uuid.uuid4().hex
        self.name = f"{EPISODE_PREFIX}{self.episode_id}"
        self.path = self.root / RECORDING_DIR / self.name
        self.arms, self.cameras = tuple(arms), tuple(cameras)
        self.offset_ns = unix_offset_ns() if offset_ns is None else int(offset_ns)
        self.video_format, self.crf, self.preset, self.gop = video_format, crf, preset, gop
        self.flush_every_ns = int(flush_every_ns)
        self.operator_id = operator_id
        self.path.mkdir(parents=True, exist_ok=False)
        self._lock = open(self.path / LOCK, "w")
        fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        start = {
            "episode_id": self.episode_id,
            "task_name": task_name,
            "offset_ns": self.offset_ns,
            "operator_id": operator_id,
            "created_unix_ns": time.time_ns(),
            "metadata": dict(metadata or {}),
        }
        (self.path / MCAP_START).write_text(json.dumps(start, default=str))
        self._file = open(self.path / MCAP_PART, "wb")
        self._w = Writer(self._file, chunk_size=4 * 1024 * 1024, compression=CompressionType.ZSTD)
        self._w.start(profile=PROFILE, library="abc_robot")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._seq: dict[str, int] = {}
        self._encoders: dict[str, AnnexBEncoder] = {}
        self._J, self._T, self._C = S.joint_class(), S.text_class(), S.stamps_class()
        self.counts: dict[str, int] = {}
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self._last_flush_ns: int | None = None
        self.bytes_video = 0
        self.encode_ns = 0
        self.closed = False
        self.final_path: Path | None = None
        self.sync_error: str | None = None
        self._sync = threading.Event()
        self._stop = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name=f"mcap-fsync-{self.episode_id[:8]}", daemon=True)
        self._syncer.start()
        self._w.add_metadata(
            "session-metadata",
            {
                "session-uuid": self.episode_id,
                "start-time-unix": f"{time.time():.6f}",
                "collector-name": "abc_robot",
            },
        )
        self.text("/instruction", instruction if instruction is not None else task_name.replace("_", " "), None)
        self._w.flush()

    # ---- channels -----------------------------------------------------------------
    def _channel(self, topic: str, schema: str) -> int:
        cid = self._channels.get(topic)
        if cid is not None:
            return cid
        sid = self._schemas.get(schema)
        if sid is None:
            if schema.startswith("foxglove."):
                name, data = S.foxglove_schema(schema.split(".", 1)[1])
            else:
                name, data = schema, S.file_descriptor_set()
            sid = self._schemas[schema] = self._w.register_schema(name, "protobuf", data)
        cid = self._channels[topic] = self._w.register_channel(topic, "protobuf", sid)
        return cid

    def _add(self, topic: str, schema: str, stamp_ns: int, data: bytes) -> None:
        if self.closed:
            raise EpisodeError(f"{self.path}: episode already finished or discarded")
        cid = self._channel(topic, schema)
        t = int(stamp_ns) + self.offset_ns
        seq = self._seq.get(topic, 0)
        self._seq[topic] = seq + 1
        self._w.add_message(cid, log_time=t, data=data, publish_time=t, sequence=seq)
        self.counts[topic] = seq + 1
        self.first_ns = t if self.first_ns is None else min(self.first_ns, t)
        self.last_ns = t if self.last_ns is None else max(self.last_ns, t)
        if self._last_flush_ns is None:
            self._last_flush_ns = t
        elif t - self._last_flush_ns >= self.flush_every_ns:
            self.flush()

    def flush(self) -> None:
        """Close the chunk being built and hand the file to the OS (fsync follows in the background)."""
        self._w.flush()
        self._last_flush_ns = self.last_ns
        self._sync.set()

    def _sync_loop(self) -> None:
        while not self._stop.is_set():
            self._sync.wait()
            self._sync.clear()
            if self._stop.is_set():
                return
            try:
                os.fsync(self._file.fileno())
            except (OSError, ValueError) as exc:  # reported, never fatal
                self.sync_error = f"{type(exc).__name__}: {exc}"

    # ---- messages -----------------------------------------------------------------
    def joints(self, arm: str, kind: str, stamp_ns: int, q7: np.ndarray | Sequence[float], **extra: Any) -> None:
        """One arm's sample: ``kind`` ``state`` (measured) or ``action`` (commanded).

        Writes the 6 joints [rad] to ``/<arm>-arm-<kind>`` and the gripper [0, 1] to
        ``/<arm>-ee-<kind>``; ``extra`` may hold ``velocity`` / ``torque`` (7 values).
        """
        q = np.asarray(q7, dtype=np.float64).reshape(-1)
        t_unix = int(stamp_ns) + self.offset_ns
        arm_kw: dict[str, Any] = {"position": q[:6].tolist(), "timestamp_ns": t_unix}
        ee_kw: dict[str, Any] = {"position": q[6:7].tolist(), "timestamp_ns": t_unix}
        for name in ("velocity", "acceleration", "torque"):
            v = extra.get(name)
            if v is not None:
                v = np.asarray(v, dtype=np.float64).reshape(-1)
                if v.size == q.size:
                    arm_kw[name], ee_kw[name] = v[:6].tolist(), v[6:7].tolist()
        self._add(f"/{arm}-arm-{kind}", S.JOINT_SCHEMA, stamp_ns, self._J(**arm_kw).SerializeToString())
        self._add(f"/{arm}-ee-{kind}", S.JOINT_SCHEMA, stamp_ns, self._J(**ee_kw).SerializeToString())

    def frame(self, camera: str, stamp_ns: int, image: np.ndarray, frame_index: int = 0, seq: int = 0) -> None:
        """Encode one camera frame (H×W×3 uint8 RGB) and write it as it comes out."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import foxglove.messages as fm
        img = np.asarray(image)
        h, w = img.shape[:2]
        if h % 2 or w % 2:  # yuv420p wants even sizes: drop the odd last row/column
            img = img[: h - h % 2, : w - w % 2]
        enc = self._encoders.get(camera)
        if enc is None or (enc.height, enc.width) != img.shape[:2]:
            # A new size (a camera restarted with another mode) starts a new stream at a keyframe.
            enc = self._encoders[camera] = AnnexBEncoder(
                img.shape[1], img.shape[0], self.video_format, self.gop, self.crf, self.preset
            )
        t = time.perf_counter_ns()
        units = enc.encode(img)
        self.encode_ns += time.perf_counter_ns() - t
        topic = S.camera_topic(camera)
        ts = fm.Timestamp(
            sec=(stamp_ns + self.offset_ns) // 1_000_000_000, nsec=(stamp_ns + self.offset_ns) % 1_000_000_000
        )
        for au in units:
            self.bytes_video += len(au)
            msg = fm.CompressedVideo(timestamp=ts, frame_id=camera, data=au, format=self.video_format)
            self._add(topic, "foxglove.CompressedVideo", stamp_ns, bytes(msg.encode()))
        stamps = self._C(source=f"camera/{camera}", stamp_ns=int(stamp_ns), seq=int(seq), frame_index=int(frame_index))
        self._add(f"/abc/capture/{camera}", S.STAMPS_SCHEMA, stamp_ns, stamps.SerializeToString())

    def calibration(
        self, camera: str, stamp_ns: int, intrinsics: Mapping[str, Any] | None, width: int, height: int
    ) -> None:
        """``<camera topic>-info`` (``foxglove.CameraCalibration``), once per camera.

        ``intrinsics``: ``fx, fy, ppx, ppy`` [px], ``model``, ``coeffs`` where known;
        without them a pinhole with a 60° horizontal field of view is written and
        ``distortion_model`` says ``unknown``.
        """
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import foxglove.messages as fm
        i = dict(intrinsics or {})
        fx = float(i.get("fx", width / (2 * np.tan(np.deg2rad(30)))))
        fy = float(i.get("fy", fx))
        cx, cy = float(i.get("ppx", width / 2)), float(i.get("ppy", height / 2))
        coeffs = [float(c) for c in i.get("coeffs", [])]
        model = str(i.get("model", "plumb_bob" if intrinsics else "unknown"))
        ts = fm.Timestamp(
            sec=(stamp_ns + self.offset_ns) // 1_000_000_000, nsec=(stamp_ns + self.offset_ns) % 1_000_000_000
        )
        msg = fm.CameraCalibration(
            timestamp=ts,
            frame_id=camera,
            width=int(i.get("width", width)),
            height=int(i.get("height", height)),
            distortion_model=model,
            D=coeffs,
            K=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
            R=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            P=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
        )
        self._add(S.info_topic(camera), "foxglove.CameraCalibration", stamp_ns, bytes(msg.encode()))

    def ee_pose(self, arm: str, stamp_ns: int, T_base_ee: np.ndarray) -> None:
        """Ours: the end-effector pose in the arm's base frame (``/abc/<arm>/ee``, PoseInFrame)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import foxglove.messages as fm
        from abc_robot.kinematics.se3 import quat_wxyz_from_R

        T = np.asarray(T_base_ee, dtype=np.float64)
        w, x, y, z = (float(v) for v in quat_wxyz_from_R(T[:3, :3]))
        t = int(stamp_ns) + self.offset_ns
        msg = fm.PoseInFrame(
            timestamp=fm.Timestamp(sec=t // 1_000_000_000, nsec=t % 1_000_000_000),
            frame_id=f"{arm}_base",
            pose=fm.Pose(
                position=fm.Vector3(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
                orientation=fm.Quaternion(x=x, y=y, z=z, w=w),
            ),
        )
        self._add(f"/abc/{arm}/ee", "foxglove.PoseInFrame", stamp_ns, bytes(msg.encode()))

    def log(self, topic: str, stamp_ns: int, text: str, name: str = "abc_robot", level: str = "Info") -> None:
        """Ours: a ``foxglove.Log`` line (modes, control source, interventions, events)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import foxglove.messages as fm
        t = int(stamp_ns) + self.offset_ns
        msg = fm.Log(
            timestamp=fm.Timestamp(sec=t // 1_000_000_000, nsec=t % 1_000_000_000),
            level=getattr(fm.LogLevel, level),
            message=text,
            name=name,
        )
        self._add(topic, "foxglove.Log", stamp_ns, bytes(msg.encode()))

    def text(self, topic: str, text: str, stamp_ns: int | None) -> None:
        """A text message (``/instruction``); at the start when ``stamp_ns`` is None."""
        stamp = time.monotonic_ns() if stamp_ns is None else int(stamp_ns)
        self._add(topic, S.TEXT_SCHEMA, stamp, self._T(text=text).SerializeToString())

    # ---- ending -------------------------------------------------------------------
    def _episode_metadata(self, extra: Mapping[str, Any] | None) -> None:
        dur = 0.0 if self.first_ns is None or self.last_ns is None else (self.last_ns - self.first_ns) / 1e9
        self._w.add_metadata(
            "episode-metadata",
            {
                "session_id": self.episode_id,
                "operator_id": self.operator_id,
                "task_name": self.task_name,
                "duration": f"{dur:.3f}",
            },
        )
        ours = {
            "episode_id": self.episode_id,
            "unix_minus_monotonic_ns": self.offset_ns,
            "counts": dict(self.counts),
            **dict(extra or {}),
        }
        self._w.add_metadata("abc-episode", {"json": json.dumps(ours, default=str)})

    def finish(self, metadata: Mapping[str, Any] | None = None) -> Path | None:
        """Close the file and publish it as ``<root>/<task>/episode_<uuid>/episode.mcap``.

        Returns:
            the episode directory; None when nothing was recorded (it is discarded).
        """
        if self.closed:
            return self.final_path
        for cam, enc in self._encoders.items():
            for au in enc.flush():  # nothing with no look-ahead; kept for other settings
                self.bytes_video += len(au)
        self._episode_metadata(metadata)
        self._w.finish()
        self._stop_syncer()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.path / MCAP_PART, self.path / MCAP_FILE)
        (self.path / MCAP_START).unlink(missing_ok=True)
        self._release_lock()
        final_dir = self.root / safe_task(self.task_name)
        final_dir.mkdir(parents=True, exist_ok=True)
        final = final_dir / self.name
        os.rename(self.path, final)
        _drop_empty(self.path.parent)
        self.closed = True
        self.final_path = final
        return final

    def discard(self) -> None:
        """Drop the episode: nothing of it stays on disk."""
        if self.closed:
            return
        self._stop_syncer()
        self._file.close()
        self._release_lock()
        shutil.rmtree(self.path, ignore_errors=True)
        _drop_empty(self.path.parent)
        self.closed = True

    def _stop_syncer(self) -> None:
        self._stop.set()
        self._sync.set()
        self._syncer.join()

    def _release_lock(self) -> None:
        try:
            (self.path / LOCK).unlink(missing_ok=True)
        finally:
            self._lock.close()


def _drop_empty(d: Path) -> None:
    try:
        d.rmdir()
    except OSError:
        pass
