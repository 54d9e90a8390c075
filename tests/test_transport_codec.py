"""Codec round trips (property tests) and malformed-input handling."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from abc_robot.errors import CodecError
from abc_robot.transport.codec import decode, encode, encode_jpeg
from abc_robot.transport.messages import ActionChunk, CameraFrame, Event, Heartbeat, JointState, message_types

DTYPES = st.sampled_from(["<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "u1", "i1", "<u2", "<u4", "?", "<c8", ">f8", ">i4"])


def _roundtrip(msg):
    frames = encode(b"topic/x", msg)
    # Simulate the wire: every frame becomes bytes.
    wire = [bytes(f) if not isinstance(f, np.ndarray) else f.tobytes() for f in frames]
    return decode(wire)


@settings(max_examples=150, deadline=None)
@given(arr=hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)))
def test_arbitrary_dtype_and_shape_roundtrip(arr):
    topic, out = _roundtrip(JointState(q=arr, seq=3, stamp_ns=42, source="n"))
    assert topic == b"topic/x"
    assert out.q.dtype == arr.dtype and out.q.shape == arr.shape
    np.testing.assert_array_equal(out.q, arr)
    assert (out.seq, out.stamp_ns, out.source) == (3, 42, "n")


@settings(max_examples=50, deadline=None)
@given(
    data=st.dictionaries(st.text(max_size=8), st.one_of(st.integers(-(2**60), 2**60), st.floats(allow_nan=False), st.text(max_size=20), st.booleans()), max_size=6),
    kind=st.text(max_size=20),
)
def test_scalar_fields_roundtrip(data, kind):
    _, out = _roundtrip(Event(kind=kind, data=data))
    assert out.kind == kind and out.data == data


def test_non_contiguous_array_is_sent_correctly():
    a = np.arange(60.0).reshape(6, 10)[:, ::3]
    _, out = _roundtrip(ActionChunk(actions=a, t_ns=np.arange(6, dtype=np.int64)))
    np.testing.assert_array_equal(out.actions, a)


def test_optional_array_absent_and_present():
    _, out = _roundtrip(CameraFrame(camera="top", image=np.zeros((4, 5, 3), np.uint8)))
    assert out.depth is None
    d = np.arange(20, dtype=np.uint16).reshape(4, 5)
    _, out = _roundtrip(CameraFrame(camera="top", image=np.zeros((4, 5, 3), np.uint8), depth=d))
    np.testing.assert_array_equal(out.depth, d)


def test_numpy_scalars_in_dict_fields_are_plain_on_the_wire():
    _, out = _roundtrip(Heartbeat(node="a", status={"x": np.int64(3), "y": np.float32(1.5), "v": np.arange(3)}))
    assert out.status == {"x": 3, "y": 1.5, "v": [0, 1, 2]}


def test_decoded_arrays_are_views_of_the_frames():
    a = np.arange(100_000, dtype=np.float64)
    frames = encode(b"t", JointState(q=a))
    wire = [bytes(frames[0]), bytes(frames[1]), bytearray(a.tobytes())] + [f.tobytes() for f in frames[3:]]
    _, out = decode(wire)
    wire[2][:8] = np.float64(7.0).tobytes()
    assert out.q[0] == 7.0  # a view, not a copy


def test_jpeg_option_roundtrip_is_close():
    yy, xx = np.mgrid[0:48, 0:64]
    img = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).astype(np.uint8)
    f = encode_jpeg(CameraFrame(camera="top", image=img), quality=95)
    assert f.encoding == "jpeg" and f.image.ndim == 1 and f.image.nbytes < img.nbytes
    _, out = _roundtrip(f)
    assert out.encoding == "raw" and out.image.shape == img.shape
    assert np.abs(out.image.astype(int) - img.astype(int)).mean() < 6


@pytest.mark.parametrize(
    "frames, needle",
    [
        ([b"t"], "at least 2 frames"),
        ([b"t", b"\xc1\xc1"], "msgpack"),
        ([b"t", msgpack.packb([1, 2])], "must be a map"),
        ([b"t", msgpack.packb({"t": "nope", "v": 1})], "unknown message type"),
        ([b"t", msgpack.packb({"t": "joint_state", "v": 99, "q": 0, "s": 0, "o": "", "f": {}, "a": []})], "version"),
        ([b"t", msgpack.packb({"t": "joint_state", "v": 1, "q": 0, "s": 0, "o": "", "f": {}, "a": [["q", "<f8", [2]]]})], "more arrays"),
        ([b"t", msgpack.packb({"t": "joint_state", "v": 1, "q": 0, "s": 0, "o": "", "f": {}, "a": [["q", "<f8", [2]]]}), b"123"], "bytes"),
        ([b"t", msgpack.packb({"t": "joint_state", "v": 1, "q": 0, "s": 0, "o": "", "f": {"zzz": 1}, "a": []})], "unknown field"),
        ([b"t", msgpack.packb({"t": "joint_state", "v": 1, "q": 0, "s": 0, "o": "", "f": {}, "a": [["q", "|O", [1]]]}), b"12345678"], "object"),
        ([b"t", msgpack.packb({"t": "joint_state", "v": 1, "q": 0, "s": 0, "o": "", "f": {}, "a": []}), b"extra"], "announces 0"),
        ([b"t", msgpack.packb({"t": "joint_state", "v": 1})], "malformed"),
    ],
)
def test_malformed_frames_raise_codec_error(frames, needle):
    with pytest.raises(CodecError, match=needle):
        decode(frames)


def test_every_registered_type_roundtrips_with_defaults():
    for name, cls in message_types().items():
        _, out = _roundtrip(cls(seq=1, stamp_ns=2, source="s"))
        assert type(out) is cls, name


def test_small_messages_travel_in_two_frames_large_ones_with_array_frames():
    from abc_robot.transport.codec import INLINE_MAX_BYTES

    small = JointState(q=np.arange(7.0), dq=np.ones(7))
    assert len(encode(b"t", small)) == 2
    big = JointState(q=np.zeros(INLINE_MAX_BYTES // 8 + 1))
    assert len(encode(b"t", big)) == 3
    _, out = _roundtrip(small)
    np.testing.assert_array_equal(out.q, np.arange(7.0))
    np.testing.assert_array_equal(out.dq, np.ones(7))


@pytest.mark.parametrize(
    "inline, needle",
    [(b"\x00" * 8, "needs 16"), (b"\x00" * 24, "8 inline bytes left over"), ("text", "binary")],
)
def test_malformed_inline_arrays_raise_codec_error(inline, needle):
    header = {"t": "joint_state", "v": 1, "q": 0, "s": 0, "o": "", "f": {}, "a": [["q", "<f8", [2]]], "b": inline}
    with pytest.raises(CodecError, match=needle):
        decode([b"t", msgpack.packb(header, use_bin_type=True)])


def _outcome(fn, frames):
    try:
        topic, m = fn(frames)
    except CodecError as exc:
        return ("error", str(exc))
    return ("ok", type(m), {k: (v.tobytes(), v.dtype.str, v.shape) if isinstance(v, np.ndarray) else v for k, v in vars(m).items()})


def test_fast_decode_path_agrees_with_the_checked_path_on_mutated_headers():
    """decode()'s cached-layout path must accept exactly what the fully checked path
    accepts, build the same message, and leave every error to it."""
    import copy
    import random

    from abc_robot.transport.codec import _decode_checked

    def checked(frames):
        return frames[0], _decode_checked(msgpack.unpackb(frames[1], raw=False, strict_map_key=False), frames)

    msgs = [
        JointState(q=np.arange(7.0), dq=np.zeros(7), seq=3, stamp_ns=5, source="s"),
        JointState(q=np.zeros(300)),
        CameraFrame(camera="top", image=np.zeros((4, 5, 3), np.uint8), depth=np.ones((4, 5), np.uint16)),
        ActionChunk(actions=np.ones((3, 14)), t_ns=np.arange(3, dtype=np.int64)),
        Event(kind="x", data={"a": [1, 2]}),
    ]
    base = [[bytes(f) if not isinstance(f, np.ndarray) else f.tobytes() for f in encode(b"t", m)] for m in msgs]
    values = [None, 0, -1, 7, 7.0, 2.5, True, "x", "<f8", "|O", b"ab", [], [1], [-1], [7], [2, 3], {}, {"a": 1},
              [["q", "<f8", [7]]], [["q", "<f8", [2]], ["q", "<f8", [2]]], b"\x00" * 56, b"\x00" * 16]
    rng = random.Random(0)
    for _ in range(3000):
        frames = list(rng.choice(base))
        h = msgpack.unpackb(frames[1], raw=False, strict_map_key=False)
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(["t", "v", "q", "s", "o", "f", "a", "b", "zz"])
            r = rng.random()
            if r < 0.2:
                h.pop(key, None)
            elif r < 0.45 and isinstance(h.get("a"), list) and h["a"]:
                i = rng.randrange(len(h["a"]))
                entry = list(h["a"][i]) if isinstance(h["a"][i], list) else [0, 0, 0]
                entry[rng.randrange(3)] = copy.deepcopy(rng.choice(values))
                h["a"][i] = entry
            elif r < 0.55 and isinstance(h.get("f"), dict):
                h["f"][rng.choice(["names", "zz", "kind", "has_gripper"])] = copy.deepcopy(rng.choice(values))
            else:
                h[key] = copy.deepcopy(rng.choice(values))
        frames[1] = msgpack.packb(h, use_bin_type=True)
        if rng.random() < 0.2:
            frames.append(b"\x00" * rng.choice([0, 8, 56]))
        if rng.random() < 0.1:
            frames = frames[:2]
        assert _outcome(decode, frames) == _outcome(checked, frames), h
