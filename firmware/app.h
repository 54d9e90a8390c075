/*
 * Console-board application logic, independent of the board (host-testable).
 *
 * The board's main loop calls, as often as it can:
 *   app_rx_byte() for every byte received from the host,
 *   app_poll() with the current millisecond clock and raw input levels,
 *   board_set_led(app_led_level()).
 * The application debounces inputs, sends an INPUT_EVENT per debounced edge, a
 * HEARTBEAT every APP_HEARTBEAT_MS carrying the debounced levels (from which the
 * host reconciles an edge it lost to a corrupted frame), answers LED_SET and
 * VERSION_QUERY with ACK / VERSION_REPLY, and drives the LED: the host's mode while the host link is alive,
 * a short blip every second ("powered, no host") otherwise.
 */
#ifndef CONSOLE_APP_H
#define CONSOLE_APP_H

#include <stddef.h>
#include <stdint.h>

#include "debounce.h"
#include "protocol.h"

#define APP_FW_MAJOR 1u
#define APP_FW_MINOR 0u
#define APP_FW_PATCH 0u
#define APP_BOARD_NAME "abc-console"

#define APP_HEARTBEAT_MS 100u   /* heartbeat period [ms] */
#define APP_DEBOUNCE_MS 20u     /* debounce time [ms] */
#define APP_HOST_TIMEOUT_MS 3000u /* host link considered lost after this silence [ms] */

/* Writes `len` bytes to the host link (UART). */
typedef void (*app_write_fn)(const uint8_t *data, size_t len, void *ctx);

typedef struct {
    debounce_t deb;
    proto_decoder_t rx;
    app_write_fn write;
    void *write_ctx;
    uint8_t tx_seq;
    uint8_t led_mode;
    uint8_t host_seen;
    uint32_t last_host_ms;
    uint32_t next_heartbeat_ms;
    uint16_t rx_errors;
} app_t;

void app_init(app_t *app, uint32_t now_ms, uint8_t raw_inputs, app_write_fn write, void *write_ctx);

/* One byte from the host. */
void app_rx_byte(app_t *app, uint8_t byte, uint32_t now_ms);

/* Debounce inputs, emit events and the periodic heartbeat. */
void app_poll(app_t *app, uint32_t now_ms, uint8_t raw_inputs);

/* LED level (0/1) to show at `now_ms`. */
int app_led_level(const app_t *app, uint32_t now_ms);

/* True while a valid host frame arrived within APP_HOST_TIMEOUT_MS. */
int app_host_link(const app_t *app, uint32_t now_ms);

#endif /* CONSOLE_APP_H */
