/*
 * Host tests of protocol.c: the shared vectors (argv[1], default tests/vectors.txt)
 * plus round trips and decoder edge cases.
 */
#include <stdlib.h>
#include <string.h>

#include "../protocol.h"
#include "minitest.h"

#define MAX_HEX 2048

static int unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s), i;
    if (strcmp(s, "-") == 0) {
        return 0;
    }
    if (n % 2 || n / 2 > cap) {
        return -1;
    }
    for (i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return (int)(n / 2);
}

static const char *err_name(int rc)
{
    switch (rc) {
    case PROTO_ERR_COBS: return "cobs";
    case PROTO_ERR_SHORT: return "short";
    case PROTO_ERR_CRC: return "crc";
    case PROTO_ERR_VERSION: return "version";
    case PROTO_ERR_OVERFLOW: return "overflow";
    case PROTO_ERR_PAYLOAD: return "payload";
    default: return "ok";
    }
}

/* Check a typed message: parse by type, then typed re-validation of payload. */
static int parse_typed(const proto_frame_t *f)
{
    proto_heartbeat_t hb;
    proto_input_event_t ev;
    proto_version_reply_t vr;
    proto_ack_t ack;
    uint8_t mode;
    switch (f->type) {
    case PROTO_T_HEARTBEAT: return proto_parse_heartbeat(f, &hb);
    case PROTO_T_INPUT_EVENT: return proto_parse_input_event(f, &ev);
    case PROTO_T_VERSION_REPLY: return proto_parse_version_reply(f, &vr);
    case PROTO_T_ACK: return proto_parse_ack(f, &ack);
    case PROTO_T_LED_SET: return proto_parse_led_set(f, &mode);
    case PROTO_T_VERSION_QUERY: return f->payload_len == 0 ? PROTO_OK : PROTO_ERR_PAYLOAD;
    default: return PROTO_ERR_PAYLOAD;
    }
}

/* Value of a decoded field as text, for comparison with a vector's key=value. */
static int field_text(const proto_frame_t *f, const char *key, char *out, size_t cap)
{
    proto_heartbeat_t hb;
    proto_input_event_t ev;
    proto_version_reply_t vr;
    proto_ack_t ack;
    uint8_t mode;
    long long v;
#define FIELD(name, expr) \
    if (strcmp(key, name) == 0) { v = (long long)(expr); goto number; }
    if (f->type == PROTO_T_HEARTBEAT && proto_parse_heartbeat(f, &hb) == PROTO_OK) {
        FIELD("uptime_ms", hb.uptime_ms) FIELD("inputs", hb.inputs) FIELD("led_mode", hb.led_mode)
        FIELD("rx_errors", hb.rx_errors) FIELD("flags", hb.flags)
    }
    if (f->type == PROTO_T_INPUT_EVENT && proto_parse_input_event(f, &ev) == PROTO_OK) {
        FIELD("input", ev.input) FIELD("edge", ev.edge) FIELD("t_ms", ev.t_ms) FIELD("inputs", ev.inputs)
    }
    if (f->type == PROTO_T_VERSION_REPLY && proto_parse_version_reply(f, &vr) == PROTO_OK) {
        FIELD("protocol", vr.protocol) FIELD("fw_major", vr.fw_major) FIELD("fw_minor", vr.fw_minor)
        FIELD("fw_patch", vr.fw_patch) FIELD("n_inputs", vr.n_inputs)
        if (strcmp(key, "name") == 0) {
            snprintf(out, cap, "%.*s", (int)vr.name_len, vr.name);
            return 1;
        }
    }
    if (f->type == PROTO_T_ACK && proto_parse_ack(f, &ack) == PROTO_OK) {
        FIELD("acked_type", ack.acked_type) FIELD("acked_seq", ack.acked_seq) FIELD("status", ack.status)
    }
    if (f->type == PROTO_T_LED_SET && proto_parse_led_set(f, &mode) == PROTO_OK) {
        FIELD("mode", mode)
    }
#undef FIELD
    return 0;
number:
    snprintf(out, cap, "%lld", v);
    return 1;
}

/* Feed `wire` through a streaming decoder; return the last push result that was not 0. */
static int decode_stream(const uint8_t *wire, int n, proto_frame_t *frames, int max_frames, int *n_frames,
                         int *n_errors)
{
    proto_decoder_t d;
    proto_frame_t f;
    int i, last = 0;
    proto_decoder_init(&d);
    *n_frames = *n_errors = 0;
    for (i = 0; i < n; i++) {
        int rc = proto_decoder_push(&d, wire[i], &f);
        if (rc == 1) {
            if (*n_frames < max_frames) {
                frames[*n_frames] = f;
            }
            (*n_frames)++;
        } else if (rc < 0) {
            (*n_errors)++;
        }
        if (rc) {
            last = rc;
        }
    }
    return last;
}

static const char *kv(char **tokens, int n, const char *key)
{
    int i;
    size_t k = strlen(key);
    for (i = 0; i < n; i++) {
        if (strncmp(tokens[i], key, k) == 0 && tokens[i][k] == '=') {
            return tokens[i] + k + 1;
        }
    }
    return NULL;
}

static void run_vector(char **tok, int n, int lineno)
{
    static uint8_t a[MAX_HEX], b[MAX_HEX], c[MAX_HEX];
    proto_frame_t frames[16];
    int na, nb, nf, ne, rc, i;
    if (strcmp(tok[0], "crc") == 0 && n == 3) {
        na = unhex(tok[1], a, sizeof a);
        CHECK_EQ(proto_crc16(0xFFFFu, a, (size_t)na), strtol(tok[2], NULL, 16));
    } else if (strcmp(tok[0], "cobs") == 0 && n == 3) {
        na = unhex(tok[1], a, sizeof a);
        nb = unhex(tok[2], b, sizeof b);
        CHECK_EQ(proto_cobs_encode(a, (size_t)na, c, sizeof c), nb);
        CHECK(memcmp(b, c, (size_t)nb) == 0);
        CHECK_EQ(proto_cobs_decode(b, (size_t)nb, c, sizeof c), na);
        CHECK(na == 0 || memcmp(a, c, (size_t)na) == 0);
    } else if (strcmp(tok[0], "frame") == 0 && n >= 3) {
        const char *ty = kv(tok, n, "type"), *sq = kv(tok, n, "seq"), *pl = kv(tok, n, "payload");
        na = unhex(tok[2], a, sizeof a);
        rc = decode_stream(a, na, frames, 16, &nf, &ne);
        if (nf != 1 || ne != 0) {
            fprintf(stderr, "line %d (%s): %d frames, %d errors (last %s)\n", lineno, tok[1], nf, ne, err_name(rc));
        }
        CHECK_EQ(nf, 1);
        CHECK_EQ(ne, 0);
        if (nf != 1) {
            return;
        }
        CHECK_EQ(frames[0].type, strtol(ty, NULL, 0));
        CHECK_EQ(frames[0].seq, strtol(sq, NULL, 0));
        nb = unhex(pl, b, sizeof b);
        CHECK_EQ(frames[0].payload_len, nb);
        CHECK(nb == 0 || memcmp(frames[0].payload, b, (size_t)nb) == 0);
        CHECK_EQ(parse_typed(&frames[0]), PROTO_OK);
        for (i = 3; i < n; i++) {
            char key[32], want[64], got[64];
            const char *eq = strchr(tok[i], '=');
            if (!eq || (size_t)(eq - tok[i]) >= sizeof key) {
                continue;
            }
            memcpy(key, tok[i], (size_t)(eq - tok[i]));
            key[eq - tok[i]] = '\0';
            if (!strcmp(key, "type") || !strcmp(key, "seq") || !strcmp(key, "payload")) {
                continue;
            }
            snprintf(want, sizeof want, "%s", eq + 1);
            if (!field_text(&frames[0], key, got, sizeof got)) {
                fprintf(stderr, "line %d (%s): no field %s\n", lineno, tok[1], key);
                CHECK(0);
            } else if (strcmp(got, want) != 0) {
                fprintf(stderr, "line %d (%s): %s = %s, want %s\n", lineno, tok[1], key, got, want);
                CHECK(0);
            }
        }
        /* Re-encoding the decoded frame gives the same wire bytes. */
        nb = (int)proto_encode(frames[0].type, frames[0].seq, frames[0].payload, frames[0].payload_len, b, sizeof b);
        CHECK_EQ(nb, na);
        CHECK(memcmp(a, b, (size_t)na) == 0);
    } else if (strcmp(tok[0], "reject") == 0 && n >= 4) {
        const char *want = kv(tok, n, "err");
        const char *got;
        na = unhex(tok[2], a, sizeof a);
        rc = decode_stream(a, na, frames, 16, &nf, &ne);
        if (rc == 1) {
            rc = parse_typed(&frames[0]);
        }
        got = err_name(rc);
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "line %d (%s): rejected as %s, want %s\n", lineno, tok[1], got, want);
        }
        CHECK(strcmp(got, want) == 0);
    } else if (strcmp(tok[0], "stream") == 0 && n >= 5) {
        const char *types = kv(tok, n, "types");
        na = unhex(tok[2], a, sizeof a);
        CHECK(na >= 0);
        decode_stream(a, na, frames, 16, &nf, &ne);
        if (nf != atoi(kv(tok, n, "frames")) || ne != atoi(kv(tok, n, "errors"))) {
            fprintf(stderr, "line %d (%s): %d frames %d errors\n", lineno, tok[1], nf, ne);
        }
        CHECK_EQ(nf, atoi(kv(tok, n, "frames")));
        CHECK_EQ(ne, atoi(kv(tok, n, "errors")));
        for (i = 0; types && i < nf && i < 16; i++) {
            CHECK_EQ(frames[i].type, strtol(types + 3 * i, NULL, 16));
        }
    } else {
        fprintf(stderr, "line %d: unknown vector kind %s\n", lineno, tok[0]);
        CHECK(0);
    }
}

static int run_vectors(const char *path)
{
    static char line[8192];
    FILE *fp = fopen(path, "r");
    int lineno = 0, count = 0;
    if (!fp) {
        perror(path);
        return -1;
    }
    while (fgets(line, sizeof line, fp)) {
        char *tok[32];
        int n = 0;
        char *p = strtok(line, " \t\r\n");
        lineno++;
        while (p && n < 32) {
            tok[n++] = p;
            p = strtok(NULL, " \t\r\n");
        }
        if (n == 0 || tok[0][0] == '#') {
            continue;
        }
        run_vector(tok, n, lineno);
        count++;
    }
    fclose(fp);
    return count;
}

static void test_roundtrip_all_payload_lengths(void)
{
    uint8_t payload[PROTO_MAX_PAYLOAD], wire[PROTO_MAX_ENCODED];
    proto_decoder_t d;
    proto_frame_t f;
    size_t len, i;
    for (len = 0; len <= PROTO_MAX_PAYLOAD; len++) {
        size_t n;
        int got = 0;
        for (i = 0; i < len; i++) {
            payload[i] = (uint8_t)((i * 37u + len) % 3u == 0 ? 0 : i * 13u + 1u); /* zeros included */
        }
        n = proto_encode(0x02, (uint8_t)len, payload, len, wire, sizeof wire);
        CHECK(n > 0 && n <= PROTO_MAX_ENCODED);
        CHECK_EQ(wire[n - 1], 0);
        for (i = 0; i + 1 < n; i++) {
            CHECK(wire[i] != 0);
        }
        proto_decoder_init(&d);
        for (i = 0; i < n; i++) {
            int rc = proto_decoder_push(&d, wire[i], &f);
            if (rc == 1) {
                got = 1;
            } else {
                CHECK_EQ(rc, 0);
            }
        }
        CHECK(got);
        CHECK_EQ(f.payload_len, len);
        CHECK_EQ(f.seq, len);
        CHECK(len == 0 || memcmp(f.payload, payload, len) == 0);
    }
    /* Over-long payloads are refused, not truncated. */
    CHECK_EQ(proto_encode(0x02, 0, payload, PROTO_MAX_PAYLOAD + 1u, wire, sizeof wire), 0);
    CHECK_EQ(proto_encode(0x02, 0, payload, 4, wire, 3), 0);
}

static void test_every_single_bit_flip_is_caught(void)
{
    proto_heartbeat_t hb = {123456u, 5u, 2u, 3u, 1u};
    uint8_t payload[PROTO_MAX_PAYLOAD], wire[PROTO_MAX_ENCODED], bad[PROTO_MAX_ENCODED];
    size_t n = proto_encode(PROTO_T_HEARTBEAT, 9, payload, proto_pack_heartbeat(&hb, payload), wire, sizeof wire);
    size_t i;
    int bit, accepted = 0;
    for (i = 0; i + 1 < n; i++) {
        for (bit = 0; bit < 8; bit++) {
            proto_frame_t f;
            memcpy(bad, wire, n);
            bad[i] ^= (uint8_t)(1u << bit);
            if (bad[i] == 0) {
                continue; /* became a delimiter: a different (framing) fault */
            }
            if (proto_decode_frame(bad, n - 1, &f) == PROTO_OK) {
                accepted++;
            }
        }
    }
    CHECK_EQ(accepted, 0);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/vectors.txt";
    int n = run_vectors(path);
    CHECK(n > 20);
    printf("vectors: %d from %s\n", n, path);
    test_roundtrip_all_payload_lengths();
    test_every_single_bit_flip_is_caught();
    return mt_report("test_protocol");
}
