/* Host tests of debounce.c: bounces are filtered, edges are stamped at their start. */
#include "../debounce.h"
#include "minitest.h"

static void test_clean_press_after_debounce_time(void)
{
    debounce_t d;
    uint32_t t;
    debounce_init(&d, 4, 20, 0x00, 1000);
    CHECK_EQ(debounce_update(&d, 0x01, 1000), 0);
    for (t = 1001; t < 1020; t++) {
        CHECK_EQ(debounce_update(&d, 0x01, t), 0);
    }
    CHECK_EQ(debounce_update(&d, 0x01, 1020), 0x01);
    CHECK_EQ(d.stable, 0x01);
    CHECK_EQ(d.since_ms[0], 1000); /* stamped when the press began */
    CHECK_EQ(debounce_update(&d, 0x01, 1021), 0);
}

static void test_bounces_restart_the_wait(void)
{
    debounce_t d;
    uint32_t t;
    int edges = 0;
    /* Contact bounce: 1 ms toggles for 10 ms, then steady pressed. */
    debounce_init(&d, 4, 20, 0x00, 0);
    for (t = 100; t < 110; t++) {
        edges += debounce_update(&d, (t % 2) ? 0x04 : 0x00, t) != 0;
    }
    CHECK_EQ(edges, 0);
    for (t = 110; t < 129; t++) {
        edges += debounce_update(&d, 0x04, t) != 0;
    }
    CHECK_EQ(edges, 0);
    CHECK_EQ(debounce_update(&d, 0x04, 130), 0x04);
    CHECK_EQ(d.since_ms[2], 109); /* the last bounce to "pressed" */
}

static void test_short_glitch_is_ignored(void)
{
    debounce_t d;
    debounce_init(&d, 4, 20, 0x00, 0);
    CHECK_EQ(debounce_update(&d, 0x08, 10), 0);
    CHECK_EQ(debounce_update(&d, 0x00, 25), 0); /* 15 ms spike */
    CHECK_EQ(debounce_update(&d, 0x00, 100), 0);
    CHECK_EQ(d.stable, 0);
}

static void test_independent_inputs_and_release(void)
{
    debounce_t d;
    debounce_init(&d, 4, 20, 0x00, 0);
    debounce_update(&d, 0x03, 0);
    CHECK_EQ(debounce_update(&d, 0x03, 20), 0x03);
    debounce_update(&d, 0x01, 30); /* input 1 released */
    CHECK_EQ(debounce_update(&d, 0x01, 49), 0);
    CHECK_EQ(debounce_update(&d, 0x01, 50), 0x02);
    CHECK_EQ(d.stable, 0x01);
}

static void test_inputs_beyond_n_are_ignored(void)
{
    debounce_t d;
    debounce_init(&d, 2, 5, 0x00, 0);
    debounce_update(&d, 0xFC, 0);
    CHECK_EQ(debounce_update(&d, 0xFC, 100), 0);
}

static void test_millis_wraparound(void)
{
    debounce_t d;
    debounce_init(&d, 4, 20, 0x00, 0xFFFFFFF0u);
    debounce_update(&d, 0x01, 0xFFFFFFF5u);
    CHECK_EQ(debounce_update(&d, 0x01, 0x00000008u), 0);
    CHECK_EQ(debounce_update(&d, 0x01, 0x00000009u), 0x01); /* 20 ms across the wrap */
}

int main(void)
{
    test_clean_press_after_debounce_time();
    test_bounces_restart_the_wait();
    test_short_glitch_is_ignored();
    test_independent_inputs_and_release();
    test_inputs_beyond_n_are_ignored();
    test_millis_wraparound();
    return mt_report("test_debounce");
}
