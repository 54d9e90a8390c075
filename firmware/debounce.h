/*
 * Time-based debouncing of up to 8 digital inputs (hardware independent).
 *
 * An input's debounced level changes only after its raw level has differed from
 * the debounced one for `debounce_ms` without interruption; every bounce restarts
 * that wait. The edge is stamped with the time the new raw level *began*, which is
 * when the operator actually pressed, not when the filter let it through.
 */
#ifndef CONSOLE_DEBOUNCE_H
#define CONSOLE_DEBOUNCE_H

#include <stdint.h>

#define DEBOUNCE_MAX_INPUTS 8u

typedef struct {
    uint8_t n_inputs;
    uint16_t debounce_ms;
    uint8_t stable;   /* debounced levels, bit i = input i */
    uint8_t last_raw; /* raw levels at the previous update */
    uint32_t since_ms[DEBOUNCE_MAX_INPUTS]; /* when each raw level last changed */
} debounce_t;

/* Start with the given raw levels taken as already stable (no edges at boot). */
void debounce_init(debounce_t *d, uint8_t n_inputs, uint16_t debounce_ms, uint8_t raw, uint32_t now_ms);

/* Feed the current raw levels; returns the mask of inputs whose debounced level
 * changed in this call (read the new level from d->stable, the edge time from
 * d->since_ms[i]). Call at least once per millisecond or so for exact timing. */
uint8_t debounce_update(debounce_t *d, uint8_t raw, uint32_t now_ms);

#endif /* CONSOLE_DEBOUNCE_H */
