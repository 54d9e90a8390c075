"""Console-board protocol, Python side: the shared vectors and codec properties."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.devices.console_board.protocol import (
    MAX_ENCODED,
    MAX_PAYLOAD,
    AckMsg,
    FrameError,
    HeartbeatMsg,
    InputEventMsg,
    LedSetMsg,
    StreamDecoder,
    VersionQueryMsg,
    VersionReplyMsg,
    cobs_decode,
    cobs_encode,
    crc16,
    decode_frame,
    encode_frame,
    encode_message,
    parse_message,
)
from abc_robot.errors import CodecError

VECTORS = Path(__file__).resolve().parents[1] / "firmware" / "tests" / "vectors.txt"


def _unhex(s: str) -> bytes:
    return b"" if s == "-" else bytes.fromhex(s)


def _vectors() -> list[tuple[str, list[str], dict[str, str]]]:
    out = []
    for line in VECTORS.read_text().splitlines():
        tok = line.split()
        if not tok or tok[0].startswith("#"):
            continue
        kv = dict(t.split("=", 1) for t in tok if "=" in t)
        pos = [t for t in tok[1:] if "=" not in t]
        out.append((tok[0], pos, kv))
    return out


def _of(kind: str) -> list[tuple[list[str], dict[str, str]]]:
    return [(pos, kv) for k, pos, kv in _vectors() if k == kind]


def _decode_one(wire: bytes):
    """Decode a single wire frame through the stream decoder, as the reader does."""
    dec = StreamDecoder()
    frames = dec.feed(wire)
    return dec, frames


def test_vector_file_covers_every_kind():
    kinds = {k for k, _, _ in _vectors()}
    assert kinds == {"crc", "cobs", "frame", "reject", "stream"}
    assert len(_of("frame")) >= 8 and len(_of("reject")) >= 6 and len(_of("stream")) >= 4


@pytest.mark.parametrize("pos,kv", _of("crc"))
def test_crc_vectors(pos, kv):
    assert crc16(_unhex(pos[0])) == int(pos[1], 16)


@pytest.mark.parametrize("pos,kv", _of("cobs"))
def test_cobs_vectors(pos, kv):
    raw, enc = _unhex(pos[0]), _unhex(pos[1])
    assert cobs_encode(raw) == enc
    assert cobs_decode(enc) == raw


@pytest.mark.parametrize("pos,kv", _of("frame"), ids=lambda v: v[0] if isinstance(v, list) else "")
def test_frame_vectors_decode_to_the_expected_fields(pos, kv):
    wire = _unhex(pos[1])
    dec, frames = _decode_one(wire)
    assert dec.error_count == 0 and len(frames) == 1
    f = frames[0]
    assert f.type == int(kv.pop("type"), 0)
    assert f.seq == int(kv.pop("seq"))
    assert f.payload == _unhex(kv.pop("payload"))
    msg = parse_message(f)
    for key, want in kv.items():
        got = getattr(msg, key)
        assert str(got) == want, f"{pos[0]}.{key}"
    # Typed re-encoding gives the very same bytes (what the firmware sends).
    assert encode_message(msg, f.seq) == wire


@pytest.mark.parametrize("pos,kv", _of("reject"), ids=lambda v: v[0] if isinstance(v, list) else "")
def test_reject_vectors_fail_for_the_stated_reason(pos, kv):
    dec, frames = _decode_one(_unhex(pos[1]))
    if frames:  # framing was fine: the typed payload must be what is wrong
        with pytest.raises(FrameError) as info:
            parse_message(frames[0])
        assert info.value.reason == kv["err"]
    else:
        assert dec.errors == {kv["err"]: 1}


@pytest.mark.parametrize("pos,kv", _of("stream"), ids=lambda v: v[0] if isinstance(v, list) else "")
def test_stream_vectors_resynchronise(pos, kv):
    data = _unhex(pos[1])
    dec = StreamDecoder()
    frames = dec.feed(data)
    assert len(frames) == int(kv["frames"])
    assert dec.error_count == int(kv["errors"])
    assert [f"{f.type:02x}" for f in frames] == kv["types"].split(",")
    # Byte-at-a-time feeding (a slow serial port) gives the same result.
    dec2 = StreamDecoder()
    frames2 = [f for b in data for f in dec2.feed(bytes([b]))]
    assert frames2 == frames and dec2.errors == dec.errors


def test_decode_errors_are_codec_errors():
    with pytest.raises(CodecError):
        decode_frame(b"\x03\xff\xff")
    with pytest.raises(CodecError):
        encode_frame(0x01, 0, bytes(MAX_PAYLOAD + 1))


@given(st.binary(max_size=600))
def test_cobs_roundtrip_and_no_zeros(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert cobs_decode(enc) == data


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=MAX_PAYLOAD))
def test_frame_roundtrip(type_, seq, payload):
    wire = encode_frame(type_, seq, payload)
    assert wire[-1] == 0 and 0 not in wire[:-1]
    f = decode_frame(wire[:-1])
    assert (f.type, f.seq, f.payload) == (type_, seq, payload)


messages = st.one_of(
    st.builds(
        HeartbeatMsg,
        st.integers(0, 2**32 - 1),
        st.integers(0, 15),
        st.integers(0, 3),
        st.integers(0, 65535),
        st.integers(0, 1),
    ),
    st.builds(InputEventMsg, st.integers(0, 3), st.integers(0, 1), st.integers(0, 2**32 - 1), st.integers(0, 15)),
    st.builds(
        VersionReplyMsg, *[st.integers(0, 255)] * 5, st.text("abcdefghijklmnopqrstuvwxyz-0123456789", max_size=16)
    ),
    st.builds(AckMsg, st.integers(0, 255), st.integers(0, 255), st.integers(0, 2)),
    st.builds(LedSetMsg, st.integers(0, 3)),
    st.just(VersionQueryMsg()),
)


@given(messages, st.integers(0, 255))
def test_typed_message_roundtrip(msg, seq):
    wire = encode_message(msg, seq)
    assert parse_message(decode_frame(wire[:-1])) == msg


@settings(max_examples=200)
@given(st.lists(st.tuples(messages, st.binary(max_size=40)), max_size=8))
def test_garbage_between_frames_costs_at_most_the_next_frame(items):
    """Noise ending in a delimiter loses nothing; noise glued to a frame loses only it."""
    stream = bytearray()
    expected = []
    for msg, noise in items:
        stream += noise + b"\x00"  # noise, then the line goes idle
        wire = encode_message(msg, len(expected))
        stream += wire
        expected.append(wire)
    dec = StreamDecoder()
    frames = dec.feed(bytes(stream))
    assert [encode_frame(f.type, f.seq, f.payload) for f in frames] == expected


@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data):
    dec = StreamDecoder()
    dec.feed(data)
    # Every delimiter ends at most one frame or one error; an over-long run is counted
    # once when it passes MAX_ENCODED, before (or without) its delimiter.
    overflows = dec.errors.get("overflow", 0)
    assert dec.frames + dec.error_count - overflows <= data.count(0)
    assert overflows <= data.count(0) + 1


def test_an_over_long_run_is_one_overflow_and_the_next_frame_decodes():
    wire = encode_message(HeartbeatMsg(uptime_ms=1234, inputs=1, led_mode=0, rx_errors=0, flags=1), 7)
    dec = StreamDecoder()
    frames = dec.feed(b"\x01" * (MAX_ENCODED + 1))
    assert frames == [] and dec.errors == {"overflow": 1}
    frames = dec.feed(b"\x01" * 500 + b"\x00" + wire)  # the same run goes on, then ends
    assert dec.errors == {"overflow": 1}
    assert [encode_frame(f.type, f.seq, f.payload) for f in frames] == [wire]


@given(messages, st.data())
def test_single_bit_flips_are_rejected(msg, data):
    wire = bytearray(encode_message(msg, 5))
    i = data.draw(st.integers(0, len(wire) - 2))
    bit = data.draw(st.integers(0, 7))
    wire[i] ^= 1 << bit
    dec = StreamDecoder()
    frames = dec.feed(bytes(wire))
    # A flip that creates a 0x00 splits the frame in two bad ones; any other flip
    # fails COBS or the CRC. Either way nothing is accepted.
    assert frames == []
    assert dec.error_count >= 1
