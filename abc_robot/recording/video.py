"""The combined camera video: a crash-tolerant H.264 writer and an index-addressed reader.

Writer (:class:`StackedVideoWriter`): libx264 through PyAV, yuv420p, constant 30 fps,
frame ``k`` at pts ``512·k`` in a 1/15360 time base, no B-frames, a keyframe exactly
every 30 frames and no others (``keyint=min-keyint=30``, ``scenecut=0``), no encoder
look-ahead so a frame leaves the encoder as soon as it is given. The MP4 is fragmented
(``frag_keyframe+empty_moov+default_base_moof``), one fragment per group of 30
frames, and the muxer hands every write to the OS (``flush_packets``): a process killed
mid-episode leaves a file whose complete fragments all decode.

Reader (:class:`VideoReader`): frame ``i`` is found from its index alone: seek to the
pts of keyframe ``i // 30 * 30`` and decode forward to pts ``512·i``; nothing is read
to build an index. An access that lies ahead in the group being decoded (sequential
reads) continues decoding without a seek.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.errors import EpisodeError
from abc_robot.recording.images import resize_with_pad
from abc_robot.recording.layout import FPS, GOP, PTS_PER_FRAME, TIME_BASE, VIEW_SIZE

__all__ = ["VideoConfig", "StackedVideoWriter", "VideoReader", "letterbox", "stack_views"]

# Fragmented MP4: an empty moov up front, then one moof+mdat per group of frames.
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


@dataclass(frozen=True)
class VideoConfig:
    """Encoder settings of the combined video.

    Attributes:
        preset: x264 preset (speed/size trade-off); ``veryfast`` encodes three
            224×224 views far above real time on one core.
        crf: x264 constant rate factor (lower is better quality, 18 ≈ visually
            lossless, 23 the x264 default).
        threads: encoder threads (1: one core, frames leave the encoder at once).
    """

    preset: str = "veryfast"
    crf: int = 20
    threads: int = 1

    def __post_init__(self) -> None:
        presets = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
        if self.preset not in presets:
            raise ValueError(f"preset must be one of {list(presets)}, got {self.preset!r}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {self.crf}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")

    def x264_params(self) -> str:
        # Keyframes only where the index says (no scene cuts), no B-frames (pts ==
        # dts, decode order == index order), no look-ahead (no frames held back, so
        # a crash loses at most the group being written).
        return f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:rc-lookahead=0:sync-lookahead=0"


def letterbox(image: np.ndarray, size: int = VIEW_SIZE) -> np.ndarray:
    """Resize ``image`` (H×W×3 uint8) to fit ``size``×``size``, padding with black.

    The aspect ratio is kept and the picture centred (the same transform the policy
    sees, :func:`abc_robot.recording.images.resize_with_pad`); a ``size``×``size`` image
    is returned as is (no copy).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 image, got {img.shape} {img.dtype}")
    return resize_with_pad(img, size, size)


def stack_views(
    views: Mapping[str, np.ndarray | None], cameras: Sequence[str], out: np.ndarray | None = None, size: int = VIEW_SIZE
) -> np.ndarray:
    """Letterbox each camera's view and stack them vertically in ``cameras`` order.

    A camera missing from ``views`` (or None) is a black view.
    """
    if out is None:
        out = np.zeros((size * len(cameras), size, 3), np.uint8)
    for k, cam in enumerate(cameras):
        img = views.get(cam)
        if img is None:
            out[k * size : (k + 1) * size] = 0
        else:
            out[k * size : (k + 1) * size] = letterbox(img, size)
    return out


class StackedVideoWriter:
    """Appends frames (``height``×``width``×3 RGB uint8) to a fragmented MP4.

    Args:
        path: the ``.mp4`` to create.
        width, height: frame size [px] (even numbers).
        config: encoder settings.
    """

    def __init__(self, path: str | Path, width: int, height: int, config: VideoConfig | None = None) -> None:
        import av

        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs even frame sizes, got {width}×{height}")
        self.path = Path(path)
        self.width, self.height = width, height
        self.config = config or VideoConfig()
        self.frames = 0
        self._av = av
        self._container: Any = av.open(
            str(self.path), "w", format="mp4", options={"movflags": MOVFLAGS, "flush_packets": "1"}
        )
        stream = self._container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = TIME_BASE
        cc = stream.codec_context
        cc.time_base = TIME_BASE
        cc.thread_count = self.config.threads
        cc.options = {
            "preset": self.config.preset,
            "crf": str(self.config.crf),
            "x264-params": self.config.x264_params(),
        }
        self._stream = stream
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        """Encode the next frame; its pts is ``512 · index``."""
        if self._closed:
            raise EpisodeError(f"{self.path}: video already closed")
        if frame.shape != (self.height, self.width, 3):
            raise ValueError(f"expected a {self.height}×{self.width}×3 frame, got {frame.shape}")
        vf = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.frames * PTS_PER_FRAME
        vf.time_base = TIME_BASE
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and write the last fragment (and the file's trailer)."""
        if self._closed:
            return
        self._closed = True
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()

    def abandon(self) -> None:
        """Close without flushing the encoder (the frames it holds are lost)."""
        if not self._closed:
            self._closed = True
            try:
                self._container.close()
            except Exception:  # an abandoned file is discarded or recovered anyway
                pass


def _rgb(frame: Any) -> np.ndarray:
    """A decoded frame as RGB: yuv420p through OpenCV (BT.601 limited range, as the
    encoder's conversion; several times faster than swscale's rgb24 at this size)."""
    if frame.format.name == "yuv420p":
        import cv2

        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="rgb24")


class VideoReader:
    """Random access to the frames of a combined video by index.

    Args:
        path: the ``.mp4``.
        num_frames: frames the episode claims (frames past it are refused); None
            trusts the file.
        threads: decoder threads (1 decodes a single frame with the least latency).
    """

    def __init__(self, path: str | Path, num_frames: int | None = None, threads: int = 1) -> None:
        import av

        self.path = Path(path)
        try:
            self._container: Any = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as exc:
            raise EpisodeError(f"{self.path}: cannot open the video ({exc})") from exc
        if not self._container.streams.video:
            raise EpisodeError(f"{self.path}: no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.codec_context.thread_count = threads
        self.num_frames = num_frames
        self.width = self._stream.codec_context.width
        self.height = self._stream.codec_context.height
        self._frames: Iterator[Any] | None = None
        self._next = -1  # index of the frame the decoder yields next (-1: none)
        self.seeks = 0

    @property
    def time_base(self) -> Any:
        return self._stream.time_base

    def _check(self, i: int) -> int:
        i = int(i)
        if i < 0 or (self.num_frames is not None and i >= self.num_frames):
            raise IndexError(f"frame {i} out of range (0..{(self.num_frames or 0) - 1})")
        return i

    def _av_frame(self, i: int) -> Any:
        i = self._check(i)
        key = i // GOP * GOP
        if self._frames is None or not (self._next <= i and self._next // GOP * GOP == key):
            # The keyframe's position follows from the index: pts = 512 · key.
            self._container.seek(key * PTS_PER_FRAME, stream=self._stream, backward=True, any_frame=False)
            self._frames = self._container.decode(self._stream)
            self._next = -1
            self.seeks += 1
        target = i * PTS_PER_FRAME
        for frame in self._frames:
            pts = frame.pts
            if pts is None:
                continue
            self._next = pts // PTS_PER_FRAME + 1
            if pts == target:
                return frame
            if pts > target:
                break
        self._frames, self._next = None, -1
        raise EpisodeError(f"{self.path}: frame {i} (pts {target}) is not in the file")

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as height×width×3 RGB uint8."""
        return _rgb(self._av_frame(i))

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every frame in order (from the start, one pass)."""
        self._container.seek(0, stream=self._stream, backward=True, any_frame=False)
        self._frames, self._next = None, -1
        n = 0
        for frame in self._container.decode(self._stream):
            if self.num_frames is not None and n >= self.num_frames:
                break
            yield _rgb(frame)
            n += 1

    def packets(self) -> list[tuple[int, bool]]:
        """``(pts, is_keyframe)`` of every packet, in file order (tests, checks)."""
        import av

        with av.open(str(self.path)) as c:
            return [(int(p.pts), bool(p.is_keyframe)) for p in c.demux(c.streams.video[0]) if p.pts is not None]

    def close(self) -> None:
        self._frames = None
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
