/* Time-based debouncing; see debounce.h. */
#include "debounce.h"

void debounce_init(debounce_t *d, uint8_t n_inputs, uint16_t debounce_ms, uint8_t raw, uint32_t now_ms)
{
    uint8_t i;
    d->n_inputs = n_inputs > DEBOUNCE_MAX_INPUTS ? DEBOUNCE_MAX_INPUTS : n_inputs;
    d->debounce_ms = debounce_ms;
    d->stable = raw;
    d->last_raw = raw;
    for (i = 0; i < DEBOUNCE_MAX_INPUTS; i++) {
        d->since_ms[i] = now_ms;
    }
}

uint8_t debounce_update(debounce_t *d, uint8_t raw, uint32_t now_ms)
{
    uint8_t changed = 0, i;
    for (i = 0; i < d->n_inputs; i++) {
        uint8_t bit = (uint8_t)(1u << i);
        if ((raw ^ d->last_raw) & bit) {
            d->since_ms[i] = now_ms;
        }
        /* Unsigned subtraction keeps this right across the 49-day millis() wrap. */
        if (((raw ^ d->stable) & bit) && (uint32_t)(now_ms - d->since_ms[i]) >= d->debounce_ms) {
            d->stable ^= bit;
            changed |= bit;
        }
    }
    d->last_raw = raw;
    return changed;
}
