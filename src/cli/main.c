/* depthfuse: make Llama-family models shallower while keeping what they know.
 * Launched as an MPI job (mpirun -np N depthfuse CMD ...); rank 0 coordinates and prints. */
#include <cjson/cJSON.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "depthfuse/error.h"
#include "depthfuse/finite.h"
#include "depthfuse/gemm.h"
#include "depthfuse/lock.h"
#include "depthfuse/log.h"
#include "depthfuse/provenance.h"
#include "depthfuse/stop.h"
#include "depthfuse/topology.h"

static const Command COMMANDS[] = {DF_COMMANDS};
static const int NCOMMANDS = (int)(sizeof COMMANDS / sizeof COMMANDS[0]);

static void usage(void) {
    df_print0("usage: [mpirun -np N] depthfuse COMMAND [options]   (depthfuse COMMAND --help)\n\n"
              "depthfuse %s: depth compression of Llama-family models on MPI + OpenBLAS\n\ncommands:\n",
              DF_VERSION);
    for (int i = 0; i < NCOMMANDS; i++) df_print0("  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    df_print0("\noptions of every command:\n%s%s", DF_DISPLAY_OPTIONS_HELP, DF_CHECK_TENSORS_HELP);
}

/* the commands that end with a summary line (they can run for hours) */
static int long_running(const char *name) {
    return !strcmp(name, "compress") || !strcmp(name, "prune") || !strcmp(name, "importance") || !strcmp(name, "eval") ||
           !strcmp(name, "run");
}

static void start_event(const char *command) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "command", command);
    cJSON_AddStringToObject(f, "command_line", df_command_line());
    cJSON_AddNumberToObject(f, "ranks", df_nranks());
    cJSON_AddNumberToObject(f, "pid", (double)getpid());
    cJSON_AddItemToObject(f, "versions", df_versions_json());
    df_event("start", f);
}

int main(int argc, char **argv) {
    gemm_pick_kernels(argv);
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    if (df_rank() == 0) setvbuf(stdout, NULL, _IOLBF, 0);
    df_stop_install();
    signal(SIGXFSZ, SIG_IGN); /* past a file-size limit a write fails with EFBIG and says so, not a core dump */
    df_check_tensors_option(&argc, argv);
    int rc = 0, summary = 0;
    if (df_display_options(&argc, argv) < 0 || df_event_open() < 0 || df_startup_checks() < 0) {
        rc = 1;
    } else if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(); /* no command: the usage is the message, and the exit status says it failed */
        df_clear_error();
        rc = argc < 2 ? 2 : 0;
    } else if (!strcmp(argv[1], "--version")) {
        df_print0("depthfuse %s\n", DF_VERSION);
    } else {
        const Command *c = NULL;
        for (int i = 0; i < NCOMMANDS; i++)
            if (!strcmp(argv[1], COMMANDS[i].name)) c = &COMMANDS[i];
        if (!c) {
            usage();
            df_fail("unknown command '%s'", argv[1]);
            rc = 1;
        } else {
            df_set_command_line(argc, argv); /* less the display options: they change nothing else */
            start_event(c->name);
            rc = c->run(argc - 1, argv + 1) != 0;
            summary = long_running(c->name);
        }
    }
    df_end_line();
    df_unlock_all();
    if (rc && df_stopped()) {
        if (df_rank() == 0) fprintf(stderr, "depthfuse: %s\n", df_errmsg());
        rc = DF_EXIT_STOPPED;
    } else if (rc == 1 && df_rank() == 0) {
        fprintf(stderr, "depthfuse: error: %s\n", df_errmsg());
    }
    df_event_end(rc, rc ? df_errmsg() : NULL, summary);
    MPI_Finalize();
    return rc;
}
