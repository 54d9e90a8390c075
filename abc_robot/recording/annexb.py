"""One camera's frames as an H.264/H.265 Annex B stream, one access unit per frame.

What the release layout asks of a ``foxglove.CompressedVideo`` stream: Annex B (start
codes, no length prefixes), one frame per message, every keyframe carrying its
parameter sets (SPS/PPS, and VPS for H.265) so a reader can start at any keyframe, no
B-frames (decode order is display order, so frame ``i`` is message ``i``). The encoder
holds no frame back (no look-ahead): a frame given is a message out.

:class:`AnnexBEncoder` wraps libx264/libx265 through PyAV (a codec context with no
container: its packets are Annex B), :class:`AnnexBDecoder` decodes such messages.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from abc_robot.errors import CodecError

__all__ = ["AnnexBEncoder", "AnnexBDecoder", "nal_types", "CODECS"]

#: ``format`` of the CompressedVideo message → the encoder.
CODECS = {"h264": "libx264", "h265": "libx265"}


class AnnexBEncoder:
    """Encodes RGB frames of one size into Annex B access units.

    Args:
        width, height: frame size [px] (even numbers: yuv420p).
        fmt: ``h264`` or ``h265``.
        gop: a keyframe every ``gop`` frames [frames].
        crf: constant rate factor (lower: better quality).
        preset: x264/x265 preset.
    """

    def __init__(
        self, width: int, height: int, fmt: str = "h264", gop: int = 30, crf: int = 23, preset: str = "veryfast"
    ) -> None:
        if fmt not in CODECS:
            raise ValueError(f"format must be one of {sorted(CODECS)}, got {fmt!r}")
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive and even, got {width}x{height}")
        import av

        self.fmt, self.width, self.height = fmt, int(width), int(height)
        ctx: Any = av.CodecContext.create(CODECS[fmt], "w")
        ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, "yuv420p"
        ctx.time_base = Fraction(1, 30)
        ctx.framerate = Fraction(30, 1)
        ctx.thread_count = 1
        if fmt == "h264":
            params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:rc-lookahead=0:sync-lookahead=0:repeat-headers=1:annexb=1"
            ctx.options = {"preset": preset, "tune": "zerolatency", "crf": str(crf), "x264-params": params}
        else:
            params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:rc-lookahead=0:repeat-headers=1:annexb=1:log-level=error"
            ctx.options = {"preset": preset, "tune": "zerolatency", "crf": str(crf), "x265-params": params}
        self._ctx = ctx
        self._av = av
        self.frames = 0

    def encode(self, rgb: np.ndarray) -> list[bytes]:
        """Encode one H×W×3 uint8 frame; returns the access units now out (one, with no look-ahead)."""
        img = np.ascontiguousarray(rgb)
        if img.shape != (self.height, self.width, 3) or img.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width}x3 uint8 frame, got {img.shape} {img.dtype}")
        frame = self._av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        return [bytes(p) for p in self._ctx.encode(frame)]

    def flush(self) -> list[bytes]:
        """Whatever the encoder still holds (nothing, with no look-ahead)."""
        return [bytes(p) for p in self._ctx.encode(None)]


class AnnexBDecoder:
    """Decodes Annex B access units (``h264`` or ``h265``) to RGB frames."""

    def __init__(self, fmt: str = "h264") -> None:
        if fmt not in CODECS:
            raise CodecError(f"video format must be one of {sorted(CODECS)}, got {fmt!r}")
        import av

        self._av = av
        self._ctx: Any = av.CodecContext.create("h264" if fmt == "h264" else "hevc", "r")
        self._ctx.thread_count = 1

    def decode(self, data: bytes) -> list[np.ndarray]:
        """The frames completed by this access unit (H×W×3 uint8 RGB)."""
        try:
            frames = self._ctx.decode(self._av.Packet(data))
        except self._av.error.FFmpegError as exc:
            raise CodecError(f"undecodable video message: {exc}") from exc
        return [f.to_ndarray(format="rgb24") for f in frames]

    def flush(self) -> list[np.ndarray]:
        try:
            frames = self._ctx.decode(None)
        except self._av.error.FFmpegError:
            return []
        return [f.to_ndarray(format="rgb24") for f in frames]


def nal_types(data: bytes, fmt: str = "h264") -> list[int]:
    """NAL unit types in an Annex B buffer (H.264: 5 IDR, 7 SPS, 8 PPS; H.265: 32-34 VPS/SPS/PPS, 19-20 IDR)."""
    out: list[int] = []
    i, n = 0, len(data)
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0 or j + 3 >= n:
            return out
        b = data[j + 3]
        out.append(b & 0x1F if fmt == "h264" else (b >> 1) & 0x3F)
        i = j + 3
