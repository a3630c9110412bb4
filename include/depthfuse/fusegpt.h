/* FuseGPT (notes/fusegpt.md §2.8), src/methods/fusegpt.c: until K blocks are gone, Macro Influence
 * on the current fused model picks the block of lowest MI, its group (before + it + after, clamped
 * at the ends) is formed, the teacher output cached (the dense model's hidden state after the
 * group's last original block, or the current pre-fusion group's output), the block is injected into
 * every other block of the group (fused.h: frozen, shared W_p gated by learnable low-rank factors)
 * and the group fine-tuned (train.h); then every fused block is folded in fp32 into a plain block.
 * The state after every fusion can be written to a file and a killed run continued from it with
 * the same result. */
#ifndef DEPTHFUSE_FUSEGPT_H
#define DEPTHFUSE_FUSEGPT_H
#include <cjson/cJSON.h>

#include "depthfuse/calib.h"
#include "depthfuse/fused.h"
#include "depthfuse/model.h"
#include "depthfuse/topology.h"
#include "depthfuse/train.h"

typedef enum { TEACHER_DENSE, TEACHER_CURRENT } TeacherKind;

typedef struct {
    int K;                 /* blocks to remove */
    int before, after;     /* group: blocks before and after the pruned one (4, 3) */
    FuseOptions fuse;      /* ranks, init seed */
    TrainOpts train;
    TeacherKind teacher;
    int tokens_per_mb;     /* forward micro-batches (MI sweep, caching) */
    int parallel;          /* --parallel-fusions: per round, up to this many non-overlapping groups at once */
    const char *state;     /* resume file (NULL: none) */
    const char *options;   /* what the result depends on besides model and data, as text (state key) */
} FuseGptOpts;

typedef struct {
    int n_removed;
    int *removed;          /* [K] original indices in removal order */
    cJSON *iterations;     /* [{block, mi, group: [first, last] original indices, positions, loss_init,
                            *   loss: [per epoch], seconds}] */
    Model out;             /* the folded model (this rank's blocks) */
} FuseGptResult;

int teacher_parse(const char *s, TeacherKind *t);
const char *teacher_name(TeacherKind t);
/* group [*g0, *g1) of the block at position f among n: f-before .. f+after, shifted inside [0, n) */
void fusegpt_group(int f, int n, int before, int after, int *g0, int *g1);
/* Collective. ft: the fine-tuning windows, mi: the Macro Influence windows. */
int fusegpt_run(FuseGptResult *r, const Topology *t, const Model *m, const CalibSet *ft, const CalibSet *mi,
                const FuseGptOpts *o);
void fusegpt_free(FuseGptResult *r);

#endif
