"""``abc-bench recording``: encoding speed and random access to episode frames.

Rows:
- ``encode/realtime_factor`` [x]: seconds of 30 fps video (three 224×224 views
  stacked, 672×224) encoded per second of one core, by the recorder's own video
  writer at its default settings (``NOTE`` states preset and crf); the process is
  pinned to one core while measured. ``encode/ms_per_frame``, ``encode/psnr`` [dB]
  (quality of the decoded frames against the source) and ``encode/kbps`` qualify it.
- ``writer/realtime_factor`` [x]: the whole :class:`EpisodeWriter.append` (three
  640×480 camera images letterboxed, stacked, encoded; row and step record written).
- ``ours/random_access`` [ms]: median time for one frame at a random index of a
  2-minute episode through :class:`EpisodeReader` (keyframe found from the index).
- ``from_start/random_access`` [ms]: the same frames decoded from the start of the
  file (``vs`` ours).
- ``pyav_seek/random_access`` [ms]: PyAV's plain seek to the frame's time and decode
  forward, on an open container (``vs`` ours).
- ``mcap/realtime_factor`` [x]: seconds of episode written per second of one core by
  :class:`~abc_robot.recording.mcap_writer.McapEpisodeWriter` (the release layout):
  three 640×480 cameras at 30 fps each H.264-encoded as it arrives (its default crf
  23, ``veryfast``), both arms' state and action at 250 Hz and the EE poses, as the
  recorder streams them. ``mcap/mb_per_min`` [MB/min]: the file it leaves.

Frames are synthetic but camera-like: smooth textures that drift, a moving object and
sensor noise (flat or pure-noise images would flatter or ruin any encoder).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from abc_robot.bench.common import Row

__all__ = ["run", "NOTE"]

NOTE = "x264 preset and crf: the recorder's defaults (abc_robot.recording.video.VideoConfig), 1 thread, one core."


class _Scene:
    """Camera-like views: drifting smooth texture, a moving object, sensor noise."""

    def __init__(self, h: int, w: int, seed: int = 0) -> None:
        import cv2

        rng = np.random.default_rng(seed)
        self.h, self.w = h, w
        self.bg = [
            cv2.resize(
                rng.integers(0, 255, (h // 16 + 2, w // 16 + 2, 3), dtype=np.uint8),
                (w + 64, h + 64),
                interpolation=cv2.INTER_CUBIC,
            )
            for _ in range(3)
        ]
        self.noise = [rng.normal(0, 2.0, (h, w, 3)).astype(np.int16) for _ in range(7)]

    def view(self, cam: int, k: int) -> np.ndarray:
        import cv2

        dx = int(16 + 14 * np.sin(0.05 * k + cam))  # the view drifts as an arm would move it
        dy = int(16 + 10 * np.cos(0.04 * k + 2 * cam))
        img = self.bg[cam][dy : dy + self.h, dx : dx + self.w].astype(np.int16)
        img += self.noise[(k + cam) % len(self.noise)]
        out = np.clip(img, 0, 255).astype(np.uint8)
        cx = int((0.5 + 0.4 * np.sin(0.07 * k + cam)) * self.w)
        cy = int((0.5 + 0.3 * np.cos(0.05 * k)) * self.h)
        cv2.circle(out, (cx, cy), max(4, self.h // 10), (200, 60, 40), -1)
        return out


@contextlib.contextmanager
def _one_core() -> Iterator[None]:
    """Pin this process to one core for the measurement."""
    try:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {max(before)})
    except (AttributeError, OSError):
        yield
        return
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _encode_rows(tmp: Path, n: int) -> list[Row]:
    from abc_robot.recording.layout import FPS, VIEW_SIZE
    from abc_robot.recording.video import StackedVideoWriter, VideoReader

    scene = _Scene(VIEW_SIZE, VIEW_SIZE)
    path = tmp / "encode.mp4"
    frames = [np.concatenate([scene.view(c, k) for c in range(3)]) for k in range(min(n, 90))]
    spent = 0
    with _one_core():
        w = StackedVideoWriter(path, VIEW_SIZE, 3 * VIEW_SIZE)
        for k in range(n):
            f = frames[k % len(frames)] if k < len(frames) else np.concatenate([scene.view(c, k) for c in range(3)])
            t = time.perf_counter_ns()
            w.write(f)
            spent += time.perf_counter_ns() - t
        t = time.perf_counter_ns()
        w.close()
        spent += time.perf_counter_ns() - t
    with VideoReader(path, n) as r:
        psnr = float(np.mean([_psnr(r.frame(i), frames[i]) for i in range(0, len(frames), 9)]))
    seconds = n / FPS
    return [
        Row("encode/realtime_factor", seconds / (spent / 1e9), "x"),
        Row("encode/ms_per_frame", spent / n / 1e6, "ms"),
        Row("encode/psnr", psnr, "dB"),
        Row("encode/kbps", path.stat().st_size * 8 / 1e3 / seconds, "kbps"),
    ]


def _write_episode(tmp: Path, n: int) -> tuple[Path, float]:
    from abc_robot.recording.layout import FPS
    from abc_robot.recording.writer import EpisodeWriter

    scene = _Scene(480, 640, seed=1)
    pool = [{c: scene.view(i, k) for i, c in enumerate(("top", "left", "right"))} for k in range(60)]
    state = np.zeros(14)
    spent = 0
    with _one_core():
        w = EpisodeWriter(tmp / "episodes", "bench")
        for k in range(n):
            views = pool[k % len(pool)]
            state[:] = np.sin(0.01 * k + np.arange(14))
            t = time.perf_counter_ns()
            w.append(state, state, views, {"control_source": "operator"})
            spent += time.perf_counter_ns() - t
        t = time.perf_counter_ns()
        path = w.finish(outcome="success")
        spent += time.perf_counter_ns() - t
    assert path is not None
    return path, (n / FPS) / (spent / 1e9)


def _median_ms(samples_ns: list[int]) -> float:
    return float(np.median(samples_ns)) / 1e6


def _access_rows(episode: Path, n: int, n_random: int, n_from_start: int) -> list[Row]:
    import av

    from abc_robot.recording.layout import PTS_PER_FRAME
    from abc_robot.recording.reader import EpisodeReader

    rng = np.random.default_rng(7)
    idx = [int(i) for i in rng.integers(0, n, n_random)]

    ours = []
    with EpisodeReader(episode) as ep:
        ep.frame(0)  # open the file outside the timing
        for i in idx:
            t = time.perf_counter_ns()
            ep.frame(i)
            ours.append(time.perf_counter_ns() - t)

    plain = []
    with av.open(str(episode / "combined_camera-images-rgb.mp4")) as c:
        s = c.streams.video[0]
        for i in idx:
            t = time.perf_counter_ns()
            c.seek(i * PTS_PER_FRAME, stream=s)  # PyAV's default: the keyframe at or before
            for f in c.decode(s):
                if f.pts is not None and f.pts >= i * PTS_PER_FRAME:
                    f.to_ndarray(format="rgb24")
                    break
            plain.append(time.perf_counter_ns() - t)

    # From the start: frames spread over the episode so the median is a typical one.
    spread = [int((k + 0.5) * n / n_from_start) for k in range(n_from_start)]
    start = []
    for i in spread:
        t = time.perf_counter_ns()
        with av.open(str(episode / "combined_camera-images-rgb.mp4")) as c:
            for k, f in enumerate(c.decode(video=0)):
                if k == i:
                    f.to_ndarray(format="rgb24")
                    break
        start.append(time.perf_counter_ns() - t)

    return [
        Row("ours/random_access", _median_ms(ours), "ms"),
        Row("from_start/random_access", _median_ms(start), "ms", vs="ours/random_access"),
        Row("pyav_seek/random_access", _median_ms(plain), "ms", vs="ours/random_access"),
    ]


def _mcap_rows(tmp: Path, seconds: float) -> list[Row]:
    from abc_robot.recording.layout import TICK_NS
    from abc_robot.recording.mcap_writer import McapEpisodeWriter

    scene = _Scene(480, 640, seed=2)
    pool = [[scene.view(c, k) for c in range(3)] for k in range(60)]
    cams = ("top", "left", "right")
    n = int(seconds * 30)
    spent = 0
    with _one_core():
        t = time.perf_counter_ns()
        w = McapEpisodeWriter(tmp / "mcap", "bench", cameras=cams, offset_ns=0)
        spent += time.perf_counter_ns() - t
        t0 = 10**18
        for k in range(n):
            stamp = t0 + k * TICK_NS
            t = time.perf_counter_ns()
            for c, cam in enumerate(cams):
                if k == 0:
                    w.calibration(cam, stamp, None, 640, 480)
                w.frame(cam, stamp + c * 1000, pool[k % len(pool)][c], k)
            for sub in range(8):  # 250 Hz per arm: 8 samples a camera period (about 8.3)
                ts = stamp + sub * 4_000_000
                for arm in ("left", "right"):
                    q = np.sin(1e-9 * ts + np.arange(7))
                    w.joints(arm, "state", ts, q)
                    w.joints(arm, "action", ts, q)
                    w.ee_pose(arm, ts, np.eye(4))
            spent += time.perf_counter_ns() - t
        t = time.perf_counter_ns()
        path = w.finish()
        spent += time.perf_counter_ns() - t
    assert path is not None
    size = (path / "episode.mcap").stat().st_size
    return [
        Row("mcap/realtime_factor", seconds / (spent / 1e9), "x"),
        Row("mcap/mb_per_min", size / 1e6 / (seconds / 60), "MB/min"),
    ]


def run(quick: bool = False) -> list[Row]:
    from abc_robot.recording.layout import FPS

    tmp = Path(tempfile.mkdtemp(prefix="abc-bench-rec-"))
    try:
        rows = _encode_rows(tmp, 90 if quick else 900)
        n = 10 * FPS if quick else 120 * FPS  # a 2-minute episode
        episode, writer_rt = _write_episode(tmp, n)
        rows.append(Row("writer/realtime_factor", writer_rt, "x"))
        rows += _access_rows(episode, n, n_random=20 if quick else 200, n_from_start=2 if quick else 7)
        rows += _mcap_rows(tmp, 2.0 if quick else 60.0)
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":  # python -m abc_robot.bench.recording [--quick] [--json]
    import sys

    from abc_robot.bench.common import report

    report("recording", run(quick="--quick" in sys.argv), as_json="--json" in sys.argv, note=NOTE)
