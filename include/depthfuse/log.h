/* Output conventions: stdout is rank 0's alone (tables, progress); warnings and errors go to
 * stderr. df_now() is a wall clock in seconds. */
#ifndef DEPTHFUSE_LOG_H
#define DEPTHFUSE_LOG_H

int df_rank(void);     /* rank in MPI_COMM_WORLD (0 before MPI_Init) */
int df_nranks(void);
void df_print0(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* rank 0, stdout */
void df_info0(const char *fmt, ...) __attribute__((format(printf, 1, 2)));    /* the same, silent under --quiet */
void df_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));     /* any rank, stderr */
double df_now(void);

/* The display options every command takes (docs/report.md), parsed once by main before the command:
 *   --progress=auto  tty when stdout is a terminal (under mpirun: when mpirun's stdout is one), else log
 *   --progress=tty   one line per phase redrawn in place, finished with a newline
 *   --progress=log   a line every 10% or every 5 minutes, whichever comes first, never more than one
 *                    per 30 s, plus the final one (Slurm logs, CI)
 *   --progress=none  no progress lines
 *   --quiet          no progress and no informational lines (df_info0); results and errors stay
 * DF_PROGRESS_INTERVALS="TTY,MIN,MAX" overrides the seconds between redraws on a terminal (0.2) and
 * the least (30) and most (300) between log lines. */
typedef enum { PROGRESS_AUTO, PROGRESS_TTY, PROGRESS_LOG, PROGRESS_NONE } ProgressMode;
/* removes --quiet and --progress[=]M from argv (argc updated); -1 + df_fail on a bad mode */
int df_display_options(int *argc, char **argv);
/* the help lines of those options */
#define DF_DISPLAY_OPTIONS_HELP                                                                                   \
    "  --log-json FILE            append a JSON line per event to FILE (docs/formats.md, \"Event log\")\n"          \
    "  --progress MODE            auto (default), tty (redrawn in place), log (every 10% or 5 min), none\n"       \
    "  --quiet                    no progress and no informational lines (results and errors stay)\n"
/* finishes a progress line drawn in place (rank 0) so that what is written next starts a line */
void df_end_line(void);

/* A heartbeat for long loops on rank 0: "LABEL done/total (pct) rate, elapsed, ETA", drawn as the
 * display options say; the final line when done == total. Other ranks print nothing. */
typedef struct {
    const char *label;
    double t0, last;  /* start, and the last line drawn */
    long long total;
    int decile;       /* log mode: the tenth of the work reached at the last line */
    int event_decile; /* the event log's: the same for its progress events (11: ended) */
} Progress;
void progress_start(Progress *p, const char *label, long long total);
void progress_update(Progress *p, long long done);

/* The event log (--log-json FILE, docs/formats.md "Event log"): rank 0 appends one JSON object per
 * line, flushed at once, never truncating the file: {"event": TYPE, "time": ISO-8601 UTC, "elapsed":
 * seconds since the start, ...fields}. Without --log-json these do nothing. Progress lines bring
 * phase_begin, progress (each tenth) and phase_end; df_warn brings warning. */
struct cJSON;
int df_event_open(void);                           /* rank 0 opens the file (main, after the options) */
void df_event(const char *type, struct cJSON *fields); /* takes fields (NULL: none) */
void df_event_checkpoint(const char *path, const char *unit, long long done);
/* an output the run wrote (a model, a report): listed by the done event and the summary line */
void df_event_output(const char *path);
/* the end: {"event": "done"|"stopped"|"error", "status", "outputs", "message"}, and the one-line
 * summary on stderr when summary is set */
void df_event_end(int status, const char *message, int summary);

#endif
