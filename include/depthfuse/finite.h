/* Non-finite values (NaN, +-Inf) in weights, activations and losses: found early and named, never
 * carried into a printed "nan" (docs/reliability.md).
 *   --check-tensors (every command that loads a model; main removes it from argv): each rank scans
 *   the weights it loaded and the load fails naming the first non-finite tensor.
 *   Evaluation: a non-finite loss stops the run naming the window and the first block whose output
 *   went non-finite.
 *   Training: call df_fail_nonfinite for a non-finite loss, agree on it (df_agree) and stop as a
 *   failed step does; the state written at the last safe point stays for --resume. */
#ifndef DEPTHFUSE_FINITE_H
#define DEPTHFUSE_FINITE_H
#include <stddef.h>

/* index of the first NaN or Inf in x[n], -1 when every value is finite */
long long df_first_nonfinite(const float *x, size_t n);
/* "nan", "inf" or "-inf" */
const char *df_nonfinite_name(double v);

/* removes --check-tensors from argv (argc updated) and remembers it */
void df_check_tensors_option(int *argc, char **argv);
int df_check_tensors(void);
#define DF_CHECK_TENSORS_HELP "  --check-tensors            scan every weight at load; name the first NaN or Inf\n"

/* The one line for a non-finite loss, as df_fail does (returns -1):
 *   "WHAT: non-finite loss (nan) at block 5, step 120, window 7; stopped"
 * block: the model's block index, DF_AT_HEAD for the final norm + lm_head, -1 to leave it out;
 * step and window likewise -1 to leave out (evaluation has no step). */
enum { DF_AT_HEAD = -2 };
int df_fail_nonfinite(const char *what, double loss, int block, long long step, long long window);

#endif
