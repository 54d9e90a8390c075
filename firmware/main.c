/* Console-board firmware entry: the main loop glues the board layer to the app. */
#include "app.h"
#include "board.h"

static void uart_write(const uint8_t *data, size_t len, void *ctx)
{
    (void)ctx;
    board_uart_write(data, len);
}

int main(void)
{
    static app_t app; /* static: keeps the 8-bit stack small */
    board_init();
    app_init(&app, board_millis(), board_read_inputs(), uart_write, 0);
    for (;;) {
        uint32_t now = board_millis();
        int c;
        while ((c = board_uart_getc()) >= 0) {
            app_rx_byte(&app, (uint8_t)c, now);
        }
        app_poll(&app, now, board_read_inputs());
        board_set_led(app_led_level(&app, now));
        if (board_idle()) {
            break;
        }
    }
    return 0;
}
