"""Top-level boxes of a fragmented MP4, to find where a cut-off file stops being whole.

A fragmented MP4 written by the episode writer is ``ftyp``, an empty ``moov``, then one
``moof`` + ``mdat`` pair per group of frames (and, if it was closed properly, an
``mfra`` index). A file cut off mid-write ends inside some box; everything up to the
last complete ``moof`` + ``mdat`` pair is a valid file. Only box headers and the
``trun`` sample counts are read (a few hundred bytes per fragment).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["Fragment", "FragmentScan", "scan_fragments"]


@dataclass(frozen=True)
class Fragment:
    """One complete ``moof`` + ``mdat`` pair: byte range and number of frames."""

    start: int
    end: int
    frames: int


@dataclass(frozen=True)
class FragmentScan:
    """What a fragmented MP4 holds.

    Attributes:
        header_end: end of ``ftyp`` + ``moov`` (0 when they are not both complete).
        fragments: complete fragments in file order.
        size: the file's size [bytes].
    """

    header_end: int
    fragments: tuple[Fragment, ...]
    size: int

    @property
    def frames(self) -> int:
        return sum(f.frames for f in self.fragments)

    @property
    def complete_end(self) -> int:
        """End of the last complete fragment (or of the header)."""
        return self.fragments[-1].end if self.fragments else self.header_end


def _boxes(f: BinaryIO, start: int, end: int) -> list[tuple[str, int, int, int]]:
    """``(type, box_start, payload_start, box_end)`` of the boxes in [start, end)."""
    out = []
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        size, typ = struct.unpack(">I4s", f.read(8))
        head = 8
        if size == 1:
            raw = f.read(8)
            if len(raw) < 8:
                break
            size = struct.unpack(">Q", raw)[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head:
            break
        out.append((typ.decode("latin-1"), pos, pos + head, pos + size))
        pos += size
    return out


def _moof_frames(f: BinaryIO, payload: int, end: int) -> int:
    frames = 0
    for typ, _, p, e in _boxes(f, payload, end):
        if typ != "traf" or e > end:
            continue
        for t2, _, p2, e2 in _boxes(f, p, e):
            if t2 == "trun" and e2 <= e and p2 + 8 <= e2:
                f.seek(p2 + 4)  # version + flags
                frames += struct.unpack(">I", f.read(4))[0]
    return frames


def scan_fragments(path: str | Path) -> FragmentScan:
    """Scan a (possibly cut-off) fragmented MP4's top-level boxes."""
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as f:
        boxes = _boxes(f, 0, size)
        header_end = 0
        have = set()
        frags: list[Fragment] = []
        pending: tuple[int, int] | None = None  # (moof start, frames) awaiting its mdat
        for typ, start, payload, end in boxes:
            if end > size:
                break  # cut off inside this box
            if typ in ("ftyp", "moov"):
                have.add(typ)
                if have == {"ftyp", "moov"}:
                    header_end = end
            elif typ == "moof":
                pending = (start, _moof_frames(f, payload, end))
            elif typ == "mdat" and pending is not None:
                frags.append(Fragment(pending[0], end, pending[1]))
                pending = None
    if not header_end:
        return FragmentScan(0, (), size)
    return FragmentScan(header_end, tuple(frags), size)
