/* A minimal test harness for the host-run firmware tests (no dependencies). */
#ifndef MINITEST_H
#define MINITEST_H

#include <stdio.h>

static int mt_failures;
static int mt_checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        mt_checks++;                                                                 \
        if (!(cond)) {                                                               \
            mt_failures++;                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                                                    \
    do {                                                                                                  \
        long long mt_a = (long long)(a), mt_b = (long long)(b);                                           \
        mt_checks++;                                                                                      \
        if (mt_a != mt_b) {                                                                               \
            mt_failures++;                                                                                \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, \
                    #b, mt_a, mt_b);                                                                      \
        }                                                                                                 \
    } while (0)

/* Print the summary line the pytest wrapper looks for; return the exit status. */
static int mt_report(const char *suite)
{
    printf("%s: %d checks, %d failures\n", suite, mt_checks, mt_failures);
    return mt_failures ? 1 : 0;
}

#endif /* MINITEST_H */
