/* Console-board application logic; see app.h. */
#include "app.h"

#include <string.h>

static void send(app_t *app, uint8_t type, const uint8_t *payload, size_t len)
{
    uint8_t out[PROTO_MAX_ENCODED];
    size_t n = proto_encode(type, app->tx_seq, payload, len, out, sizeof out);
    if (n) {
        app->tx_seq++;
        app->write(out, n, app->write_ctx);
    }
}

static void send_heartbeat(app_t *app, uint32_t now_ms)
{
    proto_heartbeat_t hb;
    uint8_t buf[PROTO_MAX_PAYLOAD];
    hb.uptime_ms = now_ms;
    hb.inputs = app->deb.stable;
    hb.led_mode = app->led_mode;
    hb.rx_errors = app->rx_errors;
    hb.flags = app_host_link(app, now_ms) ? PROTO_HB_HOST_LINK : 0u;
    send(app, PROTO_T_HEARTBEAT, buf, proto_pack_heartbeat(&hb, buf));
}

static void send_ack(app_t *app, const proto_frame_t *f, uint8_t status)
{
    proto_ack_t ack;
    uint8_t buf[PROTO_MAX_PAYLOAD];
    ack.acked_type = f->type;
    ack.acked_seq = f->seq;
    ack.status = status;
    send(app, PROTO_T_ACK, buf, proto_pack_ack(&ack, buf));
}

static void send_version(app_t *app)
{
    proto_version_reply_t v;
    uint8_t buf[PROTO_MAX_PAYLOAD];
    v.protocol = PROTO_VERSION;
    v.fw_major = APP_FW_MAJOR;
    v.fw_minor = APP_FW_MINOR;
    v.fw_patch = APP_FW_PATCH;
    v.n_inputs = PROTO_N_INPUTS;
    v.name_len = (uint8_t)(sizeof APP_BOARD_NAME - 1u);
    memcpy(v.name, APP_BOARD_NAME, v.name_len);
    send(app, PROTO_T_VERSION_REPLY, buf, proto_pack_version_reply(&v, buf));
}

static void count_rx_error(app_t *app)
{
    if (app->rx_errors < 0xFFFFu) {
        app->rx_errors++;
    }
}

void app_init(app_t *app, uint32_t now_ms, uint8_t raw_inputs, app_write_fn write, void *write_ctx)
{
    memset(app, 0, sizeof *app);
    debounce_init(&app->deb, PROTO_N_INPUTS, APP_DEBOUNCE_MS, raw_inputs, now_ms);
    proto_decoder_init(&app->rx);
    app->write = write;
    app->write_ctx = write_ctx;
    app->led_mode = PROTO_LED_OFF;
    app->next_heartbeat_ms = now_ms; /* announce ourselves at once */
}

void app_rx_byte(app_t *app, uint8_t byte, uint32_t now_ms)
{
    proto_frame_t f;
    int rc = proto_decoder_push(&app->rx, byte, &f);
    uint8_t mode;
    if (rc == 0) {
        return;
    }
    if (rc < 0) {
        count_rx_error(app);
        return;
    }
    app->host_seen = 1;
    app->last_host_ms = now_ms;
    switch (f.type) {
    case PROTO_T_LED_SET:
        if (proto_parse_led_set(&f, &mode) == PROTO_OK) {
            app->led_mode = mode;
            send_ack(app, &f, PROTO_ACK_OK);
        } else {
            count_rx_error(app);
            send_ack(app, &f, PROTO_ACK_BAD_PAYLOAD);
        }
        break;
    case PROTO_T_VERSION_QUERY:
        send_version(app);
        break;
    default:
        send_ack(app, &f, PROTO_ACK_UNKNOWN_TYPE);
        break;
    }
}

void app_poll(app_t *app, uint32_t now_ms, uint8_t raw_inputs)
{
    uint8_t changed = debounce_update(&app->deb, raw_inputs, now_ms);
    uint8_t i;
    for (i = 0; changed && i < PROTO_N_INPUTS; i++) {
        uint8_t bit = (uint8_t)(1u << i);
        if (changed & bit) {
            proto_input_event_t ev;
            uint8_t buf[PROTO_MAX_PAYLOAD];
            ev.input = i;
            ev.edge = (app->deb.stable & bit) ? PROTO_EDGE_PRESS : PROTO_EDGE_RELEASE;
            ev.t_ms = app->deb.since_ms[i];
            ev.inputs = app->deb.stable;
            send(app, PROTO_T_INPUT_EVENT, buf, proto_pack_input_event(&ev, buf));
        }
    }
    if ((int32_t)(now_ms - app->next_heartbeat_ms) >= 0) {
        send_heartbeat(app, now_ms);
        app->next_heartbeat_ms = now_ms + APP_HEARTBEAT_MS;
    }
}

int app_host_link(const app_t *app, uint32_t now_ms)
{
    return app->host_seen && (uint32_t)(now_ms - app->last_host_ms) < APP_HOST_TIMEOUT_MS;
}

int app_led_level(const app_t *app, uint32_t now_ms)
{
    if (!app_host_link(app, now_ms)) {
        return (now_ms % 1000u) < 50u; /* blip: powered, no host */
    }
    switch (app->led_mode) {
    case PROTO_LED_ON:
        return 1;
    case PROTO_LED_BLINK_SLOW:
        return (now_ms % 1000u) < 500u;
    case PROTO_LED_BLINK_FAST:
        return (now_ms % 250u) < 125u;
    default:
        return 0;
    }
}
