"""Wire codec: msgpack header + raw numpy frames.

A message on the wire is a ZeroMQ multipart message::

    [topic, header, array_0, array_1, ...]

``header`` is a msgpack map ``{"t": type, "v": version, "q": seq, "s": stamp_ns,
"o": source, "f": {scalar fields}, "a": [[name, dtype, shape], ...]}``. Arrays are sent
as their own frames straight from the array's memory (no copy on the send side for
frames over pyzmq's copy threshold) and decoded as ``np.frombuffer`` views of the
received frames (no copy on the receive side either).

Small messages (all arrays together at most :data:`INLINE_MAX_BYTES`, e.g. a joint
state) carry their arrays' bytes back to back in the header instead, under ``"b"``,
and travel as ``[topic, header]``: pyzmq copies frames that small anyway, and every
frame costs a send and a receive call, which on the control path cost more than
the bytes.

Why not pickle: a pickle from the network can run arbitrary code, ties the wire to
Python class layout, and copies every array twice. msgpack is small, fast, typed and
readable from any language.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import msgpack
import numpy as np

from abc_robot.errors import CodecError
from abc_robot.transport.messages import _REGISTRY, CameraFrame, Message

__all__ = ["encode", "decode", "encode_jpeg", "decode_jpeg", "INLINE_MAX_BYTES"]

#: Messages whose arrays total at most this many bytes travel in two frames [bytes].
INLINE_MAX_BYTES = 2048

_DTYPES: dict[str, np.dtype] = {}
#: dtype -> its wire name, for dtypes already checked (not object).
_DTYPE_STR: dict[np.dtype, str] = {}
#: (type, array layout) -> checked decode plan; see :func:`_plan`.
_PLANS: dict[tuple[Any, ...], tuple[tuple[Any, ...], int, frozenset[str]]] = {}
_MAX_PLANS = 1024
_SCALAR_SETS: dict[type, frozenset[str]] = {}
_unpackb = msgpack.unpackb
_frombuffer = np.frombuffer
_local = threading.local()


def _packer() -> msgpack.Packer:
    """This thread's msgpack packer (``msgpack.packb`` builds, and allocates a
    buffer for, a new one on every call: a few µs per message)."""
    try:
        return _local.packer
    except AttributeError:
        p = _local.packer = msgpack.Packer(use_bin_type=True, default=_plain)
        return p


def _dtype_str(dt: np.dtype, cls_name: str, field_name: str) -> str:
    if dt.hasobject:
        raise CodecError(f"{cls_name}.{field_name}: object arrays cannot be sent")
    s = _DTYPE_STR[dt] = dt.str
    return s


def _dtype(s: str) -> np.dtype:
    dt = _DTYPES.get(s)
    if dt is None:
        dt = np.dtype(s)
        if dt.hasobject:
            raise CodecError(f"object dtype {s!r} refused")
        _DTYPES[s] = dt
    return dt


def encode(topic: bytes, msg: Message) -> list[Any]:
    """Encode ``msg`` into the frames to send after nothing else (topic first).

    Returns:
        ``[topic, header_bytes, *buffers]``; buffers are the arrays themselves
        (made C-contiguous first if they were not).
    """
    cls = type(msg)
    arrays_meta = []
    buffers: list[Any] = [topic, b""]
    nbytes = 0
    for name in cls._ARRAYS:
        a = getattr(msg, name)
        if a is None:
            continue
        if not isinstance(a, np.ndarray):
            a = np.asarray(a)
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        dt = a.dtype
        ds = _DTYPE_STR.get(dt)
        if ds is None:
            ds = _dtype_str(dt, cls.__name__, name)
        arrays_meta.append((name, ds, a.shape))
        if a.size:  # empty arrays travel in the header alone
            buffers.append(a)
            nbytes += a.nbytes
    header = {
        "t": cls.TYPE,
        "v": cls.VERSION,
        "q": msg.seq,
        "s": msg.stamp_ns,
        "o": msg.source,
        "f": {name: getattr(msg, name) for name in cls._SCALARS},
        "a": arrays_meta,
    }
    if nbytes <= INLINE_MAX_BYTES and len(buffers) > 2:
        header["b"] = buffers[2].tobytes() if len(buffers) == 3 else b"".join([a.tobytes() for a in buffers[2:]])
        del buffers[2:]
    try:
        buffers[1] = _packer().pack(header)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"{cls.__name__}: header not encodable: {exc}") from exc
    return buffers


def decode(frames: Sequence[Any]) -> tuple[bytes, Message]:
    """Decode ``[topic, header, *arrays]`` frames into ``(topic, message)``.

    Frames may be ``bytes`` or ``zmq.Frame``; arrays become read-only views of the
    frame buffers.

    Raises:
        CodecError: too few frames, a header that is not a valid msgpack map, an
            unknown type or version, or an array frame whose size does not match.
    """
    if len(frames) < 2:
        raise CodecError(f"expected at least 2 frames (topic, header), got {len(frames)}")
    f0 = frames[0]
    topic = f0 if type(f0) is bytes else _as_bytes(f0)
    f1 = frames[1]
    try:
        header = _unpackb(f1 if type(f1) is bytes else _as_buffer(f1), raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise CodecError(f"header is not valid msgpack: {exc}") from exc
    msg = _decode_fast(header, frames)
    if msg is None:  # anything unusual: the checked path says exactly what is wrong
        msg = _decode_checked(header, frames)
    if msg.__class__ is CameraFrame and msg.encoding == "jpeg":  # type: ignore[attr-defined]
        msg.image = decode_jpeg(msg.image)  # type: ignore[attr-defined]
        msg.encoding = "raw"  # type: ignore[attr-defined]
    return topic, msg


def _decode_fast(header: Any, frames: Sequence[Any]) -> Message | None:
    """The common case, with the array layout checked once per (type, layout).

    Returns None (the caller then runs :func:`_decode_checked`, which raises the
    precise error) for anything the checked path would not accept as it is; for
    the rest it builds exactly what the checked path builds.
    """
    if type(header) is not dict:
        return None
    tname = header.get("t")
    cls = _REGISTRY.get(tname) if type(tname) is str else None
    if cls is None or header.get("v") != cls.VERSION:
        return None
    fields = header.get("f")
    meta = header.get("a")
    if type(fields) is not dict or type(meta) is not list:
        return None
    try:
        seq, stamp, source = header["q"], header["s"], header["o"]
        key = (cls, *[(m[0], m[1], *m[2]) for m in meta])
        plan = _PLANS.get(key)
    except (KeyError, TypeError, IndexError):
        return None
    if plan is None:
        plan = _plan(cls, meta)
        if plan is None:
            return None
        if len(_PLANS) >= _MAX_PLANS:  # garbage layouts must not grow the cache forever
            _PLANS.clear()
        _PLANS[key] = plan
    layout, total, scalars = plan
    if not fields.keys() <= scalars:
        return None
    kwargs = fields.copy()  # the checked path may still need the header as received
    inline = header.get("b")
    nframes = len(frames)
    if inline is not None:
        if type(inline) is not bytes or len(inline) != total or nframes != 2:
            return None
        for name, dt, shape, n, count, off, flat in layout:
            if n == 0:
                kwargs[name] = np.empty(shape, dtype=dt)
            elif flat:
                kwargs[name] = _frombuffer(inline, dt, count, off)
            else:
                kwargs[name] = _frombuffer(inline, dt, count, off).reshape(shape)
    else:
        i = 2
        for name, dt, shape, n, _count, _off, flat in layout:
            if n == 0:
                kwargs[name] = np.empty(shape, dtype=dt)
                continue
            if i >= nframes:
                return None
            f = frames[i]
            buf = f if type(f) is bytes else _as_buffer(f)
            i += 1
            if len(buf) != n:
                return None
            kwargs[name] = _frombuffer(buf, dt) if flat else _frombuffer(buf, dt).reshape(shape)
        if i != nframes:
            return None
    try:
        return cls(seq=int(seq), stamp_ns=int(stamp), source=str(source), **kwargs)
    except (TypeError, ValueError, OverflowError):
        return None


def _plan(cls: type[Message], meta: list[Any]) -> tuple[tuple[Any, ...], int, frozenset[str]] | None:
    """The checked array layout of ``meta`` for ``cls``: per array (name, dtype,
    shape, bytes, count, offset in the inline bytes, 1-D), the inline total, and the
    type's scalar field names."""
    out = []
    at = 0
    names = set()
    try:
        for name, dtype, shape in meta:
            if name not in cls._ARRAYS or name in names:
                return None
            names.add(name)
            dt = _dtype(dtype)
            shp = tuple(int(x) for x in shape)
            n = dt.itemsize
            for x in shp:
                if x < 0:
                    return None
                n *= x
            out.append((name, dt, shp, n, n // dt.itemsize if dt.itemsize else 0, at, len(shp) == 1))
            at += n
    except (CodecError, TypeError, ValueError, OverflowError):
        return None
    return tuple(out), at, _scalar_set(cls)


def _scalar_set(cls: type[Message]) -> frozenset[str]:
    s = _SCALAR_SETS.get(cls)
    if s is None:
        s = _SCALAR_SETS[cls] = frozenset(cls._SCALARS)
    return s


def _decode_checked(header: Any, frames: Sequence[Any]) -> Message:
    """Decode with every check spelled out; raises :class:`CodecError` naming the fault."""
    if not isinstance(header, dict):
        raise CodecError(f"header must be a map, got {type(header).__name__}")
    try:
        tname = header["t"]
        cls = _REGISTRY.get(tname) if isinstance(tname, str) else None
        if cls is None:
            raise CodecError(f"unknown message type {tname!r}; known: {sorted(_REGISTRY)}")
        if header["v"] != cls.VERSION:
            raise CodecError(f"{tname}: version {header['v']!r} not supported (expected {cls.VERSION})")
        fields = header["f"]
        arrays_meta = header["a"]
        if not isinstance(fields, dict) or not isinstance(arrays_meta, list):
            raise CodecError("header fields 'f' must be a map and 'a' a list")
        kwargs: dict[str, Any] = {}
        scalars = cls._SCALARS
        for key, value in fields.items():
            if key not in scalars:
                raise CodecError(f"{tname}: unknown field {key!r}")
            kwargs[key] = value
        i = 2
        nframes = len(frames)
        inline = header.get("b")
        if inline is not None and not isinstance(inline, bytes):
            raise CodecError(f"{tname}: inline array bytes 'b' must be binary")
        at = 0  # offset into the inline bytes
        for name, dtype, shape in arrays_meta:
            if name not in cls._ARRAYS:
                raise CodecError(f"{tname}: unknown array field {name!r}")
            dt = _dtype(dtype)
            shape = tuple(int(x) for x in shape)
            n = dt.itemsize
            for x in shape:
                if x < 0:
                    raise CodecError(f"{tname}.{name}: negative dimension in {shape}")
                n *= x
            if n == 0:
                kwargs[name] = np.empty(shape, dtype=dt)
                continue
            if inline is not None:
                if at + n > len(inline):
                    raise CodecError(f"{tname}.{name}: inline bytes end at {len(inline)}, shape {shape} {dt} needs {at + n}")
                kwargs[name] = np.frombuffer(inline, dtype=dt, count=n // dt.itemsize, offset=at).reshape(shape)
                at += n
                continue
            if i >= nframes:
                raise CodecError(f"{tname}: header announces more arrays than the {nframes - 2} frames received")
            buf = _as_buffer(frames[i])
            i += 1
            if len(buf) != n:
                raise CodecError(f"{tname}.{name}: frame has {len(buf)} bytes, shape {shape} {dt} needs {n}")
            kwargs[name] = np.frombuffer(buf, dtype=dt).reshape(shape)
        if i != nframes:
            raise CodecError(f"{tname}: header announces {i - 2} array frames, got {nframes - 2}")
        if inline is not None and at != len(inline):
            raise CodecError(f"{tname}: {len(inline) - at} inline bytes left over")
        return cls(seq=int(header["q"]), stamp_ns=int(header["s"]), source=str(header["o"]), **kwargs)
    except CodecError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        raise CodecError(f"malformed header: {type(exc).__name__}: {exc}") from exc


def encode_jpeg(frame: CameraFrame, quality: int = 90) -> CameraFrame:
    """Return a copy of ``frame`` whose image is JPEG-compressed (for remote links)."""
    import cv2  # only remote links pay for OpenCV

    if frame.encoding == "jpeg":
        return frame
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(frame.image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise CodecError(f"camera {frame.camera!r}: JPEG encoding failed")
    return CameraFrame(
        seq=frame.seq,
        stamp_ns=frame.stamp_ns,
        source=frame.source,
        camera=frame.camera,
        image=buf.reshape(-1),
        encoding="jpeg",
        frame_index=frame.frame_index,
        depth=frame.depth,
        intrinsics=frame.intrinsics,
    )


def decode_jpeg(data: np.ndarray) -> np.ndarray:
    """JPEG bytes (1-D uint8) → H×W×3 uint8 RGB."""
    import cv2

    img = cv2.imdecode(np.asarray(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise CodecError("camera frame: JPEG data could not be decoded")
    return img[..., ::-1].copy()


def _plain(obj: Any) -> Any:
    """msgpack fallback for numpy scalars and small arrays in header fields."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot serialize {type(obj).__name__}")


def _as_buffer(frame: Any) -> Any:
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return frame
    buf = getattr(frame, "buffer", None)
    if buf is not None:
        return buf
    raise CodecError(f"frame of unsupported type {type(frame).__name__}")


def _as_bytes(frame: Any) -> bytes:
    if isinstance(frame, bytes):
        return frame
    b = getattr(frame, "bytes", None)
    if b is not None:
        return b
    return bytes(_as_buffer(frame))
