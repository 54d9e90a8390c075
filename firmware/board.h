/*
 * The thin board layer: everything the firmware needs from a microcontroller.
 *
 * One implementation per board (board_avr.c: Arduino Uno/Nano, ATmega328P;
 * board_posix.c: a host build that speaks on a pseudo-terminal). Porting to
 * another board (RP2040, STM32...) means writing these seven functions only.
 */
#ifndef CONSOLE_BOARD_H
#define CONSOLE_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Clocks, UART (115200 8N1), input pins with pull-ups, LED, watchdog. */
void board_init(void);

/* Milliseconds since boot; wraps after ~49 days (callers use unsigned differences). */
uint32_t board_millis(void);

/* Raw input levels, bit i = enum proto_input i, 1 = pressed (active-low pins inverted). */
uint8_t board_read_inputs(void);

/* Next byte received from the host, or -1 if none is waiting. Never blocks. */
int board_uart_getc(void);

/* Send bytes to the host (may block for the few hundred microseconds a frame takes). */
void board_uart_write(const uint8_t *data, size_t len);

/* Status LED on (non-zero) or off. */
void board_set_led(int on);

/* End of one main-loop pass: feed the watchdog, optionally sleep until the next tick.
 * Returns 0 to keep running (the posix build returns non-zero to exit). */
int board_idle(void);

#endif /* CONSOLE_BOARD_H */
