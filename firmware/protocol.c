/* Console-board wire protocol; see protocol.h for the format. */
#include "protocol.h"

#include <string.h>

uint16_t proto_crc16(uint16_t crc, const uint8_t *data, size_t len)
{
    /* Bitwise rather than a 512-byte table: frames are tiny and flash on an
     * ATmega328P is better spent elsewhere. */
    size_t i;
    for (i = 0; i < len; i++) {
        int bit;
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

size_t proto_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    size_t code_pos = 0, o = 1, i;
    uint8_t code = 1;
    if (out_cap < len + len / 254u + 1u) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_pos] = code;
            code_pos = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            code++;
            if (code == 0xFF) {
                out[code_pos] = code;
                code_pos = o++;
                code = 1;
            }
        }
    }
    out[code_pos] = code;
    return o;
}

int proto_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t code = in[i++];
        uint8_t k;
        if (code == 0 || i + (size_t)code - 1u > len) {
            return -1;
        }
        for (k = 1; k < code; k++) {
            if (o >= out_cap || in[i] == 0) {
                return -1;
            }
            out[o++] = in[i++];
        }
        /* A code below 0xFF implies a zero, except at the very end of the block. */
        if (code != 0xFF && i < len) {
            if (o >= out_cap) {
                return -1;
            }
            out[o++] = 0;
        }
    }
    return (int)o;
}

size_t proto_encode(uint8_t type, uint8_t seq, const uint8_t *payload, size_t payload_len, uint8_t *out,
                    size_t out_cap)
{
    uint8_t body[PROTO_MAX_BODY];
    size_t n, enc;
    uint16_t crc;
    if (payload_len > PROTO_MAX_PAYLOAD) {
        return 0;
    }
    body[0] = PROTO_VERSION;
    body[1] = type;
    body[2] = seq;
    if (payload_len) {
        memcpy(&body[PROTO_HEADER_LEN], payload, payload_len);
    }
    n = PROTO_HEADER_LEN + payload_len;
    crc = proto_crc16(0xFFFFu, body, n);
    body[n++] = (uint8_t)(crc & 0xFFu);
    body[n++] = (uint8_t)(crc >> 8);
    if (out_cap < 1u) {
        return 0;
    }
    enc = proto_cobs_encode(body, n, out, out_cap - 1u);
    if (enc == 0) {
        return 0;
    }
    out[enc] = 0x00;
    return enc + 1u;
}

int proto_decode_frame(const uint8_t *encoded, size_t len, proto_frame_t *frame)
{
    uint8_t body[PROTO_MAX_BODY];
    int n = proto_cobs_decode(encoded, len, body, sizeof body);
    uint16_t crc, got;
    if (n < 0) {
        return PROTO_ERR_COBS;
    }
    if ((size_t)n < PROTO_HEADER_LEN + PROTO_CRC_LEN) {
        return PROTO_ERR_SHORT;
    }
    crc = proto_crc16(0xFFFFu, body, (size_t)n - PROTO_CRC_LEN);
    got = (uint16_t)(body[n - 2] | (uint16_t)(body[n - 1] << 8));
    if (crc != got) {
        return PROTO_ERR_CRC;
    }
    if (body[0] != PROTO_VERSION) {
        return PROTO_ERR_VERSION;
    }
    frame->version = body[0];
    frame->type = body[1];
    frame->seq = body[2];
    frame->payload_len = (uint8_t)((size_t)n - PROTO_HEADER_LEN - PROTO_CRC_LEN);
    memcpy(frame->payload, &body[PROTO_HEADER_LEN], frame->payload_len);
    return PROTO_OK;
}

void proto_decoder_init(proto_decoder_t *d)
{
    d->len = 0;
    d->overflow = 0;
}

int proto_decoder_push(proto_decoder_t *d, uint8_t byte, proto_frame_t *frame)
{
    int rc;
    if (byte != 0x00) {
        if (d->overflow) {
            return 0;
        }
        if (d->len >= sizeof d->buf) {
            /* Report once, then drop everything up to the next delimiter. */
            d->overflow = 1;
            d->len = 0;
            return PROTO_ERR_OVERFLOW;
        }
        d->buf[d->len++] = byte;
        return 0;
    }
    if (d->overflow) {
        d->overflow = 0;
        return 0;
    }
    if (d->len == 0) {
        return 0; /* empty frame: a bare delimiter is a harmless flush */
    }
    rc = proto_decode_frame(d->buf, d->len, frame);
    d->len = 0;
    return rc == PROTO_OK ? 1 : rc;
}

static void put_u16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v & 0xFFu);
    b[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v & 0xFFu);
    b[1] = (uint8_t)((v >> 8) & 0xFFu);
    b[2] = (uint8_t)((v >> 16) & 0xFFu);
    b[3] = (uint8_t)(v >> 24);
}

static uint16_t get_u16(const uint8_t *b)
{
    return (uint16_t)(b[0] | (uint16_t)(b[1] << 8));
}

static uint32_t get_u32(const uint8_t *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

size_t proto_pack_heartbeat(const proto_heartbeat_t *m, uint8_t *buf)
{
    put_u32(&buf[0], m->uptime_ms);
    buf[4] = m->inputs;
    buf[5] = m->led_mode;
    put_u16(&buf[6], m->rx_errors);
    buf[8] = m->flags;
    return PROTO_HEARTBEAT_LEN;
}

size_t proto_pack_input_event(const proto_input_event_t *m, uint8_t *buf)
{
    buf[0] = m->input;
    buf[1] = m->edge;
    put_u32(&buf[2], m->t_ms);
    buf[6] = m->inputs;
    return PROTO_INPUT_EVENT_LEN;
}

size_t proto_pack_version_reply(const proto_version_reply_t *m, uint8_t *buf)
{
    size_t n = m->name_len > PROTO_NAME_MAX ? PROTO_NAME_MAX : m->name_len;
    buf[0] = m->protocol;
    buf[1] = m->fw_major;
    buf[2] = m->fw_minor;
    buf[3] = m->fw_patch;
    buf[4] = m->n_inputs;
    memcpy(&buf[5], m->name, n);
    return PROTO_VERSION_REPLY_MIN_LEN + n;
}

size_t proto_pack_ack(const proto_ack_t *m, uint8_t *buf)
{
    buf[0] = m->acked_type;
    buf[1] = m->acked_seq;
    buf[2] = m->status;
    return PROTO_ACK_LEN;
}

int proto_parse_heartbeat(const proto_frame_t *f, proto_heartbeat_t *m)
{
    if (f->type != PROTO_T_HEARTBEAT || f->payload_len != PROTO_HEARTBEAT_LEN) {
        return PROTO_ERR_PAYLOAD;
    }
    m->uptime_ms = get_u32(&f->payload[0]);
    m->inputs = f->payload[4];
    m->led_mode = f->payload[5];
    m->rx_errors = get_u16(&f->payload[6]);
    m->flags = f->payload[8];
    return PROTO_OK;
}

int proto_parse_input_event(const proto_frame_t *f, proto_input_event_t *m)
{
    if (f->type != PROTO_T_INPUT_EVENT || f->payload_len != PROTO_INPUT_EVENT_LEN) {
        return PROTO_ERR_PAYLOAD;
    }
    m->input = f->payload[0];
    m->edge = f->payload[1];
    m->t_ms = get_u32(&f->payload[2]);
    m->inputs = f->payload[6];
    if (m->input >= PROTO_N_INPUTS || m->edge > PROTO_EDGE_PRESS) {
        return PROTO_ERR_PAYLOAD;
    }
    return PROTO_OK;
}

int proto_parse_version_reply(const proto_frame_t *f, proto_version_reply_t *m)
{
    size_t n;
    if (f->type != PROTO_T_VERSION_REPLY || f->payload_len < PROTO_VERSION_REPLY_MIN_LEN ||
        f->payload_len > PROTO_VERSION_REPLY_MIN_LEN + PROTO_NAME_MAX) {
        return PROTO_ERR_PAYLOAD;
    }
    n = f->payload_len - PROTO_VERSION_REPLY_MIN_LEN;
    m->protocol = f->payload[0];
    m->fw_major = f->payload[1];
    m->fw_minor = f->payload[2];
    m->fw_patch = f->payload[3];
    m->n_inputs = f->payload[4];
    m->name_len = (uint8_t)n;
    memcpy(m->name, &f->payload[5], n);
    return PROTO_OK;
}

int proto_parse_ack(const proto_frame_t *f, proto_ack_t *m)
{
    if (f->type != PROTO_T_ACK || f->payload_len != PROTO_ACK_LEN) {
        return PROTO_ERR_PAYLOAD;
    }
    m->acked_type = f->payload[0];
    m->acked_seq = f->payload[1];
    m->status = f->payload[2];
    return PROTO_OK;
}

int proto_parse_led_set(const proto_frame_t *f, uint8_t *mode)
{
    if (f->type != PROTO_T_LED_SET || f->payload_len != PROTO_LED_SET_LEN || f->payload[0] >= PROTO_LED_N_MODES) {
        return PROTO_ERR_PAYLOAD;
    }
    *mode = f->payload[0];
    return PROTO_OK;
}
