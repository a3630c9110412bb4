#include "depthfuse/stop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/log.h"

static volatile sig_atomic_t g_signal = 0;
static int g_stopped = 0, g_agreed = 0; /* g_agreed: the signal the ranks agreed on (SIGTERM over SIGUSR1) */

static void on_signal(int sig) { g_signal = sig; }

void df_stop_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int df_stop_requested(void) { return g_signal != 0; }
int df_stop_signal(void) { return g_signal; }

/* DF_TEST_STOP_AT=POINT:N[:TERM]: the N-th time this process reaches POINT, the last rank raises
 * SIGUSR1 (or SIGTERM) on itself, so that tests stop a run at a chosen place without timing races */
void df_stop_test_point(const char *point) {
    static int reached = 0;
    const char *e = getenv("DF_TEST_STOP_AT");
    if (!e || df_rank() != df_nranks() - 1) return;
    const size_t n = strlen(point);
    if (strncmp(e, point, n) != 0 || e[n] != ':') return;
    char *end;
    const long want = strtol(e + n + 1, &end, 10);
    if (++reached == want) raise(!strcmp(end, ":TERM") ? SIGTERM : SIGUSR1);
}

int df_stop_agreed(MPI_Comm comm, const char *point) {
    df_stop_test_point(point);
    int mine = g_signal;
    MPI_Allreduce(&mine, &g_agreed, 1, MPI_INT, MPI_MAX, comm);
    return g_agreed != 0;
}

int df_stop_fail(const char *resume_hint) {
    g_stopped = 1;
    const int sig = g_agreed ? g_agreed : g_signal;
    return df_fail("stopped on request (%s) at a safe point; %s", sig == SIGTERM ? "SIGTERM" : "SIGUSR1",
                   resume_hint ? resume_hint : "run the same command again to continue");
}

int df_stopped(void) { return g_stopped; }
