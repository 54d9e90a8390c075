/*
 * Board layer for an Arduino Uno / Nano (ATmega328P at 16 MHz), plain avr-libc.
 *
 * Wiring (switches to GND, internal pull-ups, so a pressed switch reads low):
 *   D2 (PD2) foot pedal A     D4 (PD4) button A     D13 (PB5) status LED
 *   D3 (PD3) foot pedal B     D5 (PD5) button B     USB serial 115200 8N1
 * A normally-closed pedal reads inverted; set PEDAL_NC_MASK accordingly.
 */
#include "board.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/wdt.h>
#include <util/atomic.h>

#ifndef F_CPU
#define F_CPU 16000000UL
#endif
#define BAUD 115200UL
/* Inputs wired normally-closed (bit i = proto input i) read the other way round. */
#ifndef PEDAL_NC_MASK
#define PEDAL_NC_MASK 0x00u
#endif

#define RX_BUF 64u /* power of two */

static volatile uint32_t g_millis;
static volatile uint8_t g_rx[RX_BUF];
static volatile uint8_t g_rx_head, g_rx_tail;

ISR(TIMER0_COMPA_vect)
{
    g_millis++;
}

ISR(USART_RX_vect)
{
    uint8_t c = UDR0;
    uint8_t next = (uint8_t)((g_rx_head + 1u) & (RX_BUF - 1u));
    if (next != g_rx_tail) { /* full: drop the byte; the CRC catches the gap */
        g_rx[g_rx_head] = c;
        g_rx_head = next;
    }
}

void board_init(void)
{
    wdt_enable(WDTO_250MS);
    /* Timer0, CTC, clk/64, 250 counts: 1 kHz tick. */
    TCCR0A = (uint8_t)(1u << WGM01);
    TCCR0B = (uint8_t)((1u << CS01) | (1u << CS00));
    OCR0A = (uint8_t)(F_CPU / 64UL / 1000UL - 1UL);
    TIMSK0 = (uint8_t)(1u << OCIE0A);
    /* UART, double speed: 16 MHz / (8 * (16 + 1)) = 117647 baud (2.1 % off 115200). */
    UCSR0A = (uint8_t)(1u << U2X0);
    UBRR0 = (uint16_t)((F_CPU + 4UL * BAUD) / (8UL * BAUD) - 1UL);
    UCSR0B = (uint8_t)((1u << RXEN0) | (1u << TXEN0) | (1u << RXCIE0));
    UCSR0C = (uint8_t)((1u << UCSZ01) | (1u << UCSZ00));
    /* PD2..PD5 inputs with pull-ups; PB5 output. */
    DDRD &= (uint8_t)~0x3Cu;
    PORTD |= 0x3Cu;
    DDRB |= (uint8_t)(1u << PB5);
    sei();
}

uint32_t board_millis(void)
{
    uint32_t t;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        t = g_millis;
    }
    return t;
}

uint8_t board_read_inputs(void)
{
    uint8_t pressed = (uint8_t)((~PIND >> 2) & 0x0Fu);
    return (uint8_t)(pressed ^ PEDAL_NC_MASK);
}

int board_uart_getc(void)
{
    uint8_t c;
    if (g_rx_head == g_rx_tail) {
        return -1;
    }
    c = g_rx[g_rx_tail];
    g_rx_tail = (uint8_t)((g_rx_tail + 1u) & (RX_BUF - 1u));
    return c;
}

void board_uart_write(const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        while (!(UCSR0A & (1u << UDRE0))) {
        }
        UDR0 = data[i];
    }
}

void board_set_led(int on)
{
    if (on) {
        PORTB |= (uint8_t)(1u << PB5);
    } else {
        PORTB &= (uint8_t)~(1u << PB5);
    }
}

int board_idle(void)
{
    wdt_reset();
    return 0;
}
