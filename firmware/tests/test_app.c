/*
 * Host tests of app.c: the board's behaviour seen from the wire, with a fake clock
 * and fake inputs, exactly as main.c drives it on the microcontroller.
 */
#include <string.h>

#include "../app.h"
#include "minitest.h"

#define MAX_FRAMES 256

static proto_frame_t g_frames[MAX_FRAMES];
static int g_n;
static proto_decoder_t g_dec;
static int g_errors;

static void capture(const uint8_t *data, size_t len, void *ctx)
{
    size_t i;
    (void)ctx;
    for (i = 0; i < len; i++) {
        proto_frame_t f;
        int rc = proto_decoder_push(&g_dec, data[i], &f);
        if (rc == 1 && g_n < MAX_FRAMES) {
            g_frames[g_n++] = f;
        } else if (rc < 0) {
            g_errors++;
        }
    }
}

static void reset_capture(void)
{
    g_n = 0;
    g_errors = 0;
    proto_decoder_init(&g_dec);
}

static int count_type(uint8_t type)
{
    int i, n = 0;
    for (i = 0; i < g_n; i++) {
        n += g_frames[i].type == type;
    }
    return n;
}

static const proto_frame_t *last_of(uint8_t type)
{
    int i;
    for (i = g_n - 1; i >= 0; i--) {
        if (g_frames[i].type == type) {
            return &g_frames[i];
        }
    }
    return NULL;
}

static void host_send(app_t *app, uint8_t type, uint8_t seq, const uint8_t *payload, size_t len, uint32_t now)
{
    uint8_t wire[PROTO_MAX_ENCODED];
    size_t n = proto_encode(type, seq, payload, len, wire, sizeof wire), i;
    for (i = 0; i < n; i++) {
        app_rx_byte(app, wire[i], now);
    }
}

static void run(app_t *app, uint32_t from, uint32_t to, uint8_t raw)
{
    uint32_t t;
    for (t = from; t < to; t++) {
        app_poll(app, t, raw);
    }
}

static void test_heartbeat_period_and_content(void)
{
    app_t app;
    proto_heartbeat_t hb;
    reset_capture();
    app_init(&app, 0, 0x00, capture, NULL);
    run(&app, 0, 1000, 0x00);
    CHECK_EQ(count_type(PROTO_T_HEARTBEAT), 10); /* t = 0, 100, ..., 900 */
    CHECK_EQ(g_errors, 0);
    CHECK_EQ(proto_parse_heartbeat(last_of(PROTO_T_HEARTBEAT), &hb), PROTO_OK);
    CHECK_EQ(hb.uptime_ms, 900);
    CHECK_EQ(hb.flags & PROTO_HB_HOST_LINK, 0);
    /* Sequence numbers count every frame sent. */
    CHECK_EQ(g_frames[9].seq, 9);
}

static void test_bouncy_press_gives_one_event_each_way(void)
{
    app_t app;
    proto_input_event_t ev;
    uint32_t t;
    int i, n_events = 0;
    reset_capture();
    app_init(&app, 0, 0x00, capture, NULL);
    run(&app, 0, 200, 0x00);
    for (t = 200; t < 208; t++) {
        app_poll(&app, t, (t % 2) ? 0x01 : 0x00); /* pedal bounce */
    }
    run(&app, 208, 600, 0x01);
    for (t = 600; t < 606; t++) {
        app_poll(&app, t, (t % 2) ? 0x00 : 0x01);
    }
    run(&app, 606, 1000, 0x00);
    for (i = 0; i < g_n; i++) {
        if (g_frames[i].type != PROTO_T_INPUT_EVENT) {
            continue;
        }
        CHECK_EQ(proto_parse_input_event(&g_frames[i], &ev), PROTO_OK);
        CHECK_EQ(ev.input, PROTO_IN_PEDAL_A);
        if (n_events == 0) {
            CHECK_EQ(ev.edge, PROTO_EDGE_PRESS);
            CHECK_EQ(ev.t_ms, 207); /* the last bounce to "pressed" */
            CHECK_EQ(ev.inputs, 0x01);
        } else {
            CHECK_EQ(ev.edge, PROTO_EDGE_RELEASE);
            CHECK_EQ(ev.t_ms, 605);
            CHECK_EQ(ev.inputs, 0x00);
        }
        n_events++;
    }
    CHECK_EQ(n_events, 2);
}

static void test_heartbeat_reports_debounced_inputs(void)
{
    app_t app;
    proto_heartbeat_t hb;
    reset_capture();
    app_init(&app, 0, 0x00, capture, NULL);
    run(&app, 0, 500, 0x0C); /* both buttons held */
    CHECK_EQ(proto_parse_heartbeat(last_of(PROTO_T_HEARTBEAT), &hb), PROTO_OK);
    CHECK_EQ(hb.inputs, 0x0C);
    CHECK_EQ(count_type(PROTO_T_INPUT_EVENT), 2);
}

static void test_led_set_is_acked_and_drives_led(void)
{
    app_t app;
    proto_ack_t ack;
    proto_heartbeat_t hb;
    uint8_t mode = PROTO_LED_ON, bad = 9;
    reset_capture();
    app_init(&app, 0, 0x00, capture, NULL);
    run(&app, 0, 10, 0x00);
    CHECK_EQ(app_led_level(&app, 500), 0); /* no host: blip only */
    CHECK_EQ(app_led_level(&app, 1010), 1);
    host_send(&app, PROTO_T_LED_SET, 42, &mode, 1, 10);
    CHECK_EQ(proto_parse_ack(last_of(PROTO_T_ACK), &ack), PROTO_OK);
    CHECK_EQ(ack.acked_type, PROTO_T_LED_SET);
    CHECK_EQ(ack.acked_seq, 42);
    CHECK_EQ(ack.status, PROTO_ACK_OK);
    CHECK_EQ(app_led_level(&app, 500), 1);
    run(&app, 10, 200, 0x00);
    CHECK_EQ(proto_parse_heartbeat(last_of(PROTO_T_HEARTBEAT), &hb), PROTO_OK);
    CHECK_EQ(hb.led_mode, PROTO_LED_ON);
    CHECK_EQ(hb.flags & PROTO_HB_HOST_LINK, PROTO_HB_HOST_LINK);
    /* A bad mode is refused with status and leaves the LED alone. */
    host_send(&app, PROTO_T_LED_SET, 43, &bad, 1, 200);
    CHECK_EQ(proto_parse_ack(last_of(PROTO_T_ACK), &ack), PROTO_OK);
    CHECK_EQ(ack.status, PROTO_ACK_BAD_PAYLOAD);
    CHECK_EQ(app.led_mode, PROTO_LED_ON);
    /* Host silent for longer than the timeout: back to the no-host blip. */
    CHECK_EQ(app_host_link(&app, 200 + APP_HOST_TIMEOUT_MS - 1), 1);
    CHECK_EQ(app_host_link(&app, 200 + APP_HOST_TIMEOUT_MS), 0);
    CHECK_EQ(app_led_level(&app, 200 + APP_HOST_TIMEOUT_MS + 500), 0);
}

static void test_blink_modes(void)
{
    app_t app;
    uint8_t mode = PROTO_LED_BLINK_FAST;
    uint32_t t;
    int on = 0;
    reset_capture();
    app_init(&app, 0, 0x00, capture, NULL);
    host_send(&app, PROTO_T_LED_SET, 1, &mode, 1, 0);
    for (t = 0; t < 1000; t++) {
        on += app_led_level(&app, t);
    }
    CHECK_EQ(on, 500); /* 50 % duty */
    mode = PROTO_LED_BLINK_SLOW;
    host_send(&app, PROTO_T_LED_SET, 2, &mode, 1, 0);
    CHECK_EQ(app_led_level(&app, 100), 1);
    CHECK_EQ(app_led_level(&app, 600), 0);
}

static void test_version_query_and_unknown_type(void)
{
    app_t app;
    proto_version_reply_t v;
    proto_ack_t ack;
    reset_capture();
    app_init(&app, 0, 0x00, capture, NULL);
    host_send(&app, PROTO_T_VERSION_QUERY, 5, NULL, 0, 0);
    CHECK_EQ(proto_parse_version_reply(last_of(PROTO_T_VERSION_REPLY), &v), PROTO_OK);
    CHECK_EQ(v.protocol, PROTO_VERSION);
    CHECK_EQ(v.fw_major, APP_FW_MAJOR);
    CHECK_EQ(v.n_inputs, PROTO_N_INPUTS);
    CHECK(v.name_len == strlen(APP_BOARD_NAME) && memcmp(v.name, APP_BOARD_NAME, v.name_len) == 0);
    host_send(&app, 0x77, 6, NULL, 0, 0);
    CHECK_EQ(proto_parse_ack(last_of(PROTO_T_ACK), &ack), PROTO_OK);
    CHECK_EQ(ack.status, PROTO_ACK_UNKNOWN_TYPE);
}

static void test_garbage_from_host_is_counted_and_survived(void)
{
    app_t app;
    proto_heartbeat_t hb;
    const uint8_t garbage[] = {0x13, 0x37, 0xFF, 0x00, 0x05, 0x01, 0x00};
    uint8_t mode = PROTO_LED_BLINK_SLOW;
    size_t i;
    reset_capture();
    app_init(&app, 0, 0x00, capture, NULL);
    for (i = 0; i < sizeof garbage; i++) {
        app_rx_byte(&app, garbage[i], 0);
    }
    host_send(&app, PROTO_T_LED_SET, 1, &mode, 1, 1);
    CHECK_EQ(app.led_mode, PROTO_LED_BLINK_SLOW);
    run(&app, 1, 150, 0x00);
    CHECK_EQ(proto_parse_heartbeat(last_of(PROTO_T_HEARTBEAT), &hb), PROTO_OK);
    CHECK_EQ(hb.rx_errors, 2);
}

int main(void)
{
    test_heartbeat_period_and_content();
    test_bouncy_press_gives_one_event_each_way();
    test_heartbeat_reports_debounced_inputs();
    test_led_set_is_acked_and_drives_led();
    test_blink_modes();
    test_version_query_and_unknown_type();
    test_garbage_from_host_is_counted_and_survived();
    return mt_report("test_app");
}
