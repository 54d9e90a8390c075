/*
 * Board layer for a host build: the real firmware, serving its UART on a
 * pseudo-terminal, so the Python reader can be tested against the actual C code.
 *
 * Usage: [CONSOLE_POSIX_LINK=LINK] console_posix
 *   Prints the pty path on stdout (first line) and, if CONSOLE_POSIX_LINK is set,
 *   points a symlink LINK at it. Reads raw input masks from stdin, one per line (decimal or
 *   0x-hex, bit i = proto input i pressed); EOF or "q" on stdin exits.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include "board.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int g_master = -1, g_slave = -1;
static uint8_t g_inputs;
static int g_quit;
static char g_line[64];
static size_t g_line_len;
static struct timespec g_t0;
static const char *g_link;

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void board_init(void)
{
    struct termios tio;
    const char *name;
    clock_gettime(CLOCK_MONOTONIC, &g_t0);
    g_master = posix_openpt(O_RDWR | O_NOCTTY);
    if (g_master < 0 || grantpt(g_master) || unlockpt(g_master) || !(name = ptsname(g_master))) {
        perror("pty");
        exit(1);
    }
    /* Keep our own slave fd open and raw: no echo of host bytes back to us, no CR/LF
     * translation, and the master never sees EIO while the reader is unplugged. */
    g_slave = open(name, O_RDWR | O_NOCTTY);
    if (g_slave < 0 || tcgetattr(g_slave, &tio)) {
        perror("pty slave");
        exit(1);
    }
    cfmakeraw(&tio);
    tcsetattr(g_slave, TCSANOW, &tio);
    set_nonblock(g_master);
    set_nonblock(STDIN_FILENO);
    g_link = getenv("CONSOLE_POSIX_LINK");
    if (g_link && *g_link) {
        unlink(g_link);
        if (symlink(name, g_link)) {
            perror("symlink");
            exit(1);
        }
    }
    printf("%s\n", name);
    fflush(stdout);
}

uint32_t board_millis(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)((t.tv_sec - g_t0.tv_sec) * 1000L + (t.tv_nsec - g_t0.tv_nsec) / 1000000L);
}

static void poll_stdin(void)
{
    char c;
    ssize_t n;
    while ((n = read(STDIN_FILENO, &c, 1)) == 1) {
        if (c == '\n') {
            g_line[g_line_len] = '\0';
            if (g_line[0] == 'q') {
                g_quit = 1;
            } else if (g_line_len) {
                g_inputs = (uint8_t)strtoul(g_line, NULL, 0);
            }
            g_line_len = 0;
        } else if (g_line_len + 1 < sizeof g_line) {
            g_line[g_line_len++] = c;
        }
    }
    if (n == 0) {
        g_quit = 1; /* EOF: the controlling test went away */
    }
}

uint8_t board_read_inputs(void)
{
    poll_stdin();
    return g_inputs;
}

int board_uart_getc(void)
{
    uint8_t c;
    return read(g_master, &c, 1) == 1 ? c : -1;
}

void board_uart_write(const uint8_t *data, size_t len)
{
    /* A full pty buffer (nobody reading) drops the frame, as a real UART would. */
    ssize_t n = write(g_master, data, len);
    (void)n;
}

void board_set_led(int on)
{
    (void)on;
}

int board_idle(void)
{
    usleep(1000);
    if (g_quit) {
        if (g_link && *g_link) {
            unlink(g_link);
        }
        close(g_slave);
        close(g_master);
    }
    return g_quit;
}
