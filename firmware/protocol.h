/*
 * Console-board wire protocol (hardware independent, host-testable).
 *
 * Wire format, both directions:
 *
 *   COBS( VER | TYPE | SEQ | PAYLOAD[0..PROTO_MAX_PAYLOAD] | CRC16_lo | CRC16_hi ) 0x00
 *
 * - COBS framing: every frame ends with a 0x00 byte and contains no other 0x00,
 *   so a reader that joins mid-stream or meets garbage resynchronises at the next
 *   0x00 without any length guessing.
 * - CRC: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final
 *   xor) over VER..PAYLOAD, sent little-endian.
 * - VER is PROTO_VERSION; a frame with another version is rejected (counted).
 * - SEQ: per-sender counter (wraps at 256) so the receiver can count lost frames.
 * - Multi-byte payload fields are little-endian.
 *
 * The Python reader (abc_robot/devices/console_board/protocol.py) implements the
 * same format; firmware/tests/vectors.txt holds byte vectors both sides must decode.
 */
#ifndef CONSOLE_PROTOCOL_H
#define CONSOLE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1u
#define PROTO_MAX_PAYLOAD 32u
#define PROTO_HEADER_LEN 3u /* VER TYPE SEQ */
#define PROTO_CRC_LEN 2u
#define PROTO_MAX_BODY (PROTO_HEADER_LEN + PROTO_MAX_PAYLOAD + PROTO_CRC_LEN)
/* COBS adds one byte per 254 plus one; the delimiter adds one more. */
#define PROTO_MAX_ENCODED (PROTO_MAX_BODY + 1u + 1u)

/* Message types. Board -> host have the high bit clear, host -> board 0x40.. */
enum proto_type {
    PROTO_T_HEARTBEAT = 0x01,     /* board: periodic state */
    PROTO_T_INPUT_EVENT = 0x02,   /* board: debounced edge of a pedal or button */
    PROTO_T_VERSION_REPLY = 0x03, /* board: answer to VERSION_QUERY */
    PROTO_T_ACK = 0x04,           /* board: answer to a host command */
    PROTO_T_LED_SET = 0x41,       /* host: status LED mode */
    PROTO_T_VERSION_QUERY = 0x42  /* host: ask for firmware/protocol version */
};

/* Input bit numbers in every `inputs` bitmask. */
enum proto_input {
    PROTO_IN_PEDAL_A = 0,
    PROTO_IN_PEDAL_B = 1,
    PROTO_IN_BUTTON_A = 2,
    PROTO_IN_BUTTON_B = 3,
    PROTO_N_INPUTS = 4
};

enum proto_edge { PROTO_EDGE_RELEASE = 0, PROTO_EDGE_PRESS = 1 };

enum proto_led_mode {
    PROTO_LED_OFF = 0,
    PROTO_LED_ON = 1,
    PROTO_LED_BLINK_SLOW = 2, /* 1 Hz */
    PROTO_LED_BLINK_FAST = 3, /* 4 Hz */
    PROTO_LED_N_MODES = 4
};

enum proto_ack_status { PROTO_ACK_OK = 0, PROTO_ACK_BAD_PAYLOAD = 1, PROTO_ACK_UNKNOWN_TYPE = 2 };

/* Heartbeat flag bits. */
#define PROTO_HB_HOST_LINK 0x01u /* a valid host frame arrived recently */

/* Results of decoding one frame (negative = rejected). */
enum proto_status {
    PROTO_OK = 0,
    PROTO_ERR_COBS = -1,     /* malformed COBS (a code byte points past the end) */
    PROTO_ERR_SHORT = -2,    /* fewer bytes than header + CRC */
    PROTO_ERR_CRC = -3,      /* checksum mismatch */
    PROTO_ERR_VERSION = -4,  /* VER is not PROTO_VERSION */
    PROTO_ERR_OVERFLOW = -5, /* no delimiter within PROTO_MAX_ENCODED bytes */
    PROTO_ERR_PAYLOAD = -6   /* payload length wrong for its type */
};

typedef struct {
    uint8_t version;
    uint8_t type;
    uint8_t seq;
    uint8_t payload_len;
    uint8_t payload[PROTO_MAX_PAYLOAD];
} proto_frame_t;

typedef struct {
    uint32_t uptime_ms;  /* board uptime [ms] */
    uint8_t inputs;      /* debounced input bitmask (enum proto_input bits) */
    uint8_t led_mode;    /* enum proto_led_mode currently shown */
    uint16_t rx_errors;  /* host frames rejected since boot (saturates) */
    uint8_t flags;       /* PROTO_HB_* */
} proto_heartbeat_t;
#define PROTO_HEARTBEAT_LEN 9u

typedef struct {
    uint8_t input;  /* enum proto_input */
    uint8_t edge;   /* enum proto_edge */
    uint32_t t_ms;  /* board uptime when the new level began [ms] */
    uint8_t inputs; /* debounced bitmask after this edge */
} proto_input_event_t;
#define PROTO_INPUT_EVENT_LEN 7u

#define PROTO_NAME_MAX 16u
typedef struct {
    uint8_t protocol;   /* PROTO_VERSION of the firmware */
    uint8_t fw_major, fw_minor, fw_patch;
    uint8_t n_inputs;
    uint8_t name_len;
    char name[PROTO_NAME_MAX]; /* ASCII, not NUL-terminated on the wire */
} proto_version_reply_t;
#define PROTO_VERSION_REPLY_MIN_LEN 5u

typedef struct {
    uint8_t acked_type;
    uint8_t acked_seq;
    uint8_t status; /* enum proto_ack_status */
} proto_ack_t;
#define PROTO_ACK_LEN 3u

#define PROTO_LED_SET_LEN 1u

/* CRC-16/CCITT-FALSE of `len` bytes, continuing from `crc` (start with 0xFFFF). */
uint16_t proto_crc16(uint16_t crc, const uint8_t *data, size_t len);

/* COBS-encode `len` bytes into `out` (no delimiter). Returns bytes written or 0
 * if `out_cap` is too small. */
size_t proto_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);

/* COBS-decode `len` bytes (no delimiter) into `out`. Returns bytes written, or -1
 * if malformed or `out_cap` too small. */
int proto_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);

/* Build a complete wire frame (COBS + trailing 0x00) into `out`.
 * Returns bytes written, or 0 if payload_len > PROTO_MAX_PAYLOAD or out_cap too small. */
size_t proto_encode(uint8_t type, uint8_t seq, const uint8_t *payload, size_t payload_len, uint8_t *out,
                    size_t out_cap);

/* Decode one COBS frame (without its 0x00 delimiter) into `frame`. Returns PROTO_OK
 * or a negative enum proto_status. */
int proto_decode_frame(const uint8_t *encoded, size_t len, proto_frame_t *frame);

/* Streaming decoder: feed bytes one at a time. */
typedef struct {
    uint8_t buf[PROTO_MAX_ENCODED - 1u]; /* one encoded frame without its delimiter */
    uint8_t len;
    uint8_t overflow; /* discarding until the next delimiter */
} proto_decoder_t;

void proto_decoder_init(proto_decoder_t *d);

/* Push one byte. Returns 1 when `frame` was filled with a valid frame, 0 when more
 * bytes are needed, or a negative enum proto_status when a frame was rejected. */
int proto_decoder_push(proto_decoder_t *d, uint8_t byte, proto_frame_t *frame);

/* Payload packers: return the payload length written into `buf` (>= the *_LEN). */
size_t proto_pack_heartbeat(const proto_heartbeat_t *m, uint8_t *buf);
size_t proto_pack_input_event(const proto_input_event_t *m, uint8_t *buf);
size_t proto_pack_version_reply(const proto_version_reply_t *m, uint8_t *buf);
size_t proto_pack_ack(const proto_ack_t *m, uint8_t *buf);

/* Payload parsers: PROTO_OK or PROTO_ERR_PAYLOAD. */
int proto_parse_heartbeat(const proto_frame_t *f, proto_heartbeat_t *m);
int proto_parse_input_event(const proto_frame_t *f, proto_input_event_t *m);
int proto_parse_version_reply(const proto_frame_t *f, proto_version_reply_t *m);
int proto_parse_ack(const proto_frame_t *f, proto_ack_t *m);
int proto_parse_led_set(const proto_frame_t *f, uint8_t *mode);

#endif /* CONSOLE_PROTOCOL_H */
