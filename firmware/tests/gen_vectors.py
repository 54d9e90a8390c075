"""Regenerate firmware/tests/vectors.txt (run from the repository root).

The frames are produced by the Python encoder; the C tests then decode them with the
firmware's own, independent implementation, which is what makes them a cross-check.
The crc and cobs lines are textbook values, not generated.
"""

from __future__ import annotations

import struct
from pathlib import Path

from abc_robot.devices.console_board.protocol import (
    AckMsg,
    HeartbeatMsg,
    InputEventMsg,
    LedSetMsg,
    VersionQueryMsg,
    VersionReplyMsg,
    cobs_encode,
    crc16,
    encode_frame,
    encode_message,
)

HEADER = """\
# Console-board protocol test vectors, shared by firmware/tests/test_protocol.c and
# tests/test_console_board_protocol.py. Hex strings have no spaces; "-" is empty.
#   crc    DATA CRC16                  CRC-16/CCITT-FALSE (textbook values)
#   cobs   RAW ENCODED                 COBS without delimiter (textbook values)
#   frame  NAME WIRE key=value...      a valid frame (WIRE ends with 00): type, seq,
#                                      payload, then decoded fields of the typed message
#   reject NAME WIRE err=REASON        a frame both decoders must reject for REASON
#                                      (cobs short crc version overflow payload)
#   stream NAME BYTES frames=N errors=M types=T,T  a byte stream with garbage: N good
#                                      frames of these types, M rejected ones
# Regenerate with: .venv/bin/python firmware/tests/gen_vectors.py
"""


def frame_line(label: str, msg, seq: int, **fields) -> str:
    wire = encode_message(msg, seq)
    kv = " ".join(f"{k}={v}" for k, v in fields.items())
    payload = msg.pack().hex() or "-"
    return f"frame {label} {wire.hex()} type=0x{msg.TYPE:02x} seq={seq} payload={payload} {kv}".rstrip()


def raw_body_frame(body: bytes) -> bytes:
    return cobs_encode(body + struct.pack("<H", crc16(body))) + b"\x00"


def main() -> None:
    lines = [HEADER]
    lines += [
        "crc 313233343536373839 29b1",
        "crc - ffff",
        "crc 00 e1f0",
        "cobs - 01",
        "cobs 00 0101",
        "cobs 0000 010101",
        "cobs 11220033 0311220233",
        "cobs 11223344 0511223344",
        "cobs 11000000 0211010101",
        "",
    ]
    hb = HeartbeatMsg(uptime_ms=123456, inputs=0b0101, led_mode=2, rx_errors=3, flags=1)
    lines.append(frame_line("heartbeat", hb, 7, uptime_ms=123456, inputs=5, led_mode=2, rx_errors=3, flags=1))
    hb0 = HeartbeatMsg(uptime_ms=0, inputs=0, led_mode=0, rx_errors=0, flags=0)
    lines.append(frame_line("heartbeat_zeros", hb0, 0, uptime_ms=0, inputs=0, led_mode=0, rx_errors=0, flags=0))
    hbmax = HeartbeatMsg(uptime_ms=0xFFFFFFFF, inputs=15, led_mode=3, rx_errors=65535, flags=1)
    lines.append(
        frame_line("heartbeat_max", hbmax, 255, uptime_ms=4294967295, inputs=15, led_mode=3, rx_errors=65535, flags=1)
    )
    ev = InputEventMsg(input=0, edge=1, t_ms=1000, inputs=1)
    lines.append(frame_line("pedal_a_press", ev, 8, input=0, edge=1, t_ms=1000, inputs=1))
    ev2 = InputEventMsg(input=3, edge=0, t_ms=0x01020304, inputs=0)
    lines.append(frame_line("button_b_release", ev2, 9, input=3, edge=0, t_ms=16909060, inputs=0))
    vr = VersionReplyMsg(protocol=1, fw_major=1, fw_minor=0, fw_patch=0, n_inputs=4, name="abc-console")
    lines.append(
        frame_line(
            "version_reply", vr, 1, protocol=1, fw_major=1, fw_minor=0, fw_patch=0, n_inputs=4, name="abc-console"
        )
    )
    lines.append(frame_line("ack", AckMsg(0x41, 12, 0), 2, acked_type=65, acked_seq=12, status=0))
    lines.append(frame_line("led_set_blink_fast", LedSetMsg(3), 12, mode=3))
    lines.append(frame_line("version_query", VersionQueryMsg(), 13))
    lines.append("")

    good = bytearray(encode_message(hb, 7))
    bad_crc = bytearray(good)
    bad_crc[3] ^= 0x01  # flip a payload bit inside the COBS data (stays non-zero)
    lines.append(f"reject bad_crc {bytes(bad_crc).hex()} err=crc")
    bad_ver = raw_body_frame(bytes((2, 0x01, 0)) + hb.pack())
    lines.append(f"reject bad_version {bad_ver.hex()} err=version")
    lines.append(f"reject short {raw_body_frame(b'').hex()} err=short")
    lines.append("reject short_one_byte 020500 err=short")
    lines.append("reject cobs_code_past_end 05112200 err=cobs")
    lines.append(f"reject overflow {'11' * 40}00 err=overflow")
    short_hb = encode_frame(0x01, 3, hb.pack()[:-1])
    lines.append(f"reject heartbeat_short_payload {short_hb.hex()} err=payload")
    bad_input = encode_frame(0x02, 4, bytes((9, 1, 0, 0, 0, 0, 0)))
    lines.append(f"reject event_bad_input {bad_input.hex()} err=payload")
    bad_led = encode_frame(0x41, 5, bytes((7,)))
    lines.append(f"reject led_bad_mode {bad_led.hex()} err=payload")
    lines.append("")

    f1 = encode_message(ev, 8)
    f2 = encode_message(hb, 9)
    # Garbage then a delimiter: one rejected frame, then both frames decode.
    s1 = bytes.fromhex("deadbeef00") + f1 + f2
    lines.append(f"stream garbage_delimited {s1.hex()} frames=2 errors=1 types=02,01")
    # Garbage glued to the front of a frame costs that frame only.
    s2 = bytes.fromhex("deadbeef") + f1 + f2
    lines.append(f"stream garbage_glued {s2.hex()} frames=1 errors=1 types=01")
    # A frame cut short by an unplug, then the board's next frames.
    s3 = f1[:5] + b"\x00" + f1 + f2
    lines.append(f"stream truncated_then_good {s3.hex()} frames=2 errors=1 types=02,01")
    # Bare delimiters between frames are flushes, not errors.
    s4 = b"\x00\x00" + f1 + b"\x00" + f2 + b"\x00"
    lines.append(f"stream extra_delimiters {s4.hex()} frames=2 errors=0 types=02,01")
    # A long run of non-zero noise overflows once, then the stream recovers.
    s5 = bytes([0x55] * 100) + b"\x00" + f2
    lines.append(f"stream long_noise {s5.hex()} frames=1 errors=1 types=01")
    s6 = bytes(bad_crc) + f1
    lines.append(f"stream bad_crc_then_good {s6.hex()} frames=1 errors=1 types=02")

    out = Path(__file__).with_name("vectors.txt")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
