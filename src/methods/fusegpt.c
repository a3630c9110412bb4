/* FuseGPT's iterative loop (include/depthfuse/fusegpt.h). Layout: blocks stay on the pipeline stage
 * they were loaded on (a fused block on its own block's stage); the D data-parallel groups split each
 * fine-tuning batch's sequences and cache the student input (on the group's first stage) and the
 * teacher output (on its last) of their own sequences only; a group spanning stages is trained
 * pipelined over micro-batches (train.h); the pruned block is sent to every stage of the pipe; the
 * Macro Influence sweep deals its candidates to the groups (importance.c). The state is JSON (key,
 * removals, iteration records, the data file's name) beside one binary data file per stage (its
 * fused blocks and the injected blocks it holds), written first under new names, so that the JSON's
 * atomic rename commits them all. */
#include "depthfuse/fusegpt.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/collective.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/forward.h"
#include "depthfuse/importance.h"
#include "depthfuse/json.h"
#include "depthfuse/log.h"
#include "depthfuse/pipeline.h"
#include "depthfuse/stop.h"
#include "importance_state.h"

int teacher_parse(const char *s, TeacherKind *t) {
    if (!strcmp(s, "dense")) *t = TEACHER_DENSE;
    else if (!strcmp(s, "current")) *t = TEACHER_CURRENT;
    else return df_fail("unknown teacher '%s' (dense or current)", s);
    return 0;
}

const char *teacher_name(TeacherKind t) { return t == TEACHER_DENSE ? "dense" : "current"; }

void fusegpt_group(int f, int n, int before, int after, int *g0, int *g1) {
    int G = before + after + 1;
    if (G > n) G = n;
    int a = f - before;
    if (a < 0) a = 0;
    if (a + G > n) a = n - G;
    *g0 = a;
    *g1 = a + G;
}

/* the current stack: position i holds original block orig[i], plain (retained) or fused */
typedef struct {
    int n, L0;
    int *orig, *stage0; /* stage0[original block]: its stage */
    Block **plain;
    FusedBlock **fb;
    Block **folded; /* [L0]: the fold a pruned fused block was injected as (retained), else NULL */
} Stack;

static const Block *stack_block(const Stack *s, int i) { return s->fb[i] ? s->fb[i]->eff : s->plain[i]; }

static void stack_init(Stack *s, const Topology *t, const Model *m) {
    const int L = m->cfg.n_layers;
    s->n = s->L0 = L;
    s->orig = df_malloc(sizeof(int) * (size_t)L);
    s->stage0 = df_malloc(sizeof(int) * (size_t)L);
    model_block_stages(t, m, s->stage0);
    s->plain = df_calloc((size_t)L, sizeof(Block *));
    s->fb = df_calloc((size_t)L, sizeof(FusedBlock *));
    s->folded = df_calloc((size_t)L, sizeof(Block *));
    for (int i = 0; i < L; i++) s->orig[i] = i, s->plain[i] = block_retain(m->blocks[i]);
}

static void stack_free(Stack *s) {
    for (int i = 0; i < s->n; i++) {
        if (s->plain[i]) block_release(s->plain[i]);
        if (s->fb[i]) fused_block_free(s->fb[i]);
    }
    for (int i = 0; i < s->L0; i++)
        if (s->folded[i]) block_release(s->folded[i]);
    free(s->orig);
    free(s->stage0);
    free(s->plain);
    free(s->fb);
    free(s->folded);
}

static void stack_remove(Stack *s, int p) {
    if (s->plain[p]) block_release(s->plain[p]);
    if (s->fb[p]) fused_block_free(s->fb[p]);
    s->n--;
    memmove(s->orig + p, s->orig + p + 1, sizeof(int) * (size_t)(s->n - p));
    memmove(s->plain + p, s->plain + p + 1, sizeof(Block *) * (size_t)(s->n - p));
    memmove(s->fb + p, s->fb + p + 1, sizeof(FusedBlock *) * (size_t)(s->n - p));
}

/* position i fused over its own plain block (a block is fused the first time it is in a group) */
static FusedBlock *stack_fused(Stack *s, int i, const ModelConfig *c, const FuseOptions *fo) {
    if (!s->fb[i] && s->plain[i]) {
        s->fb[i] = fused_block_new(s->plain[i], c, s->orig[i], fo);
        block_release(s->plain[i]);
        s->plain[i] = NULL;
        fused_block_materialize(s->fb[i]);
    }
    return s->fb[i];
}

/* a model over the stack's blocks sharing m's embedding and head (not to be freed) */
static Model stack_view(const Stack *s, const Model *m, Block **buf) {
    Model v = *m;
    v.cfg.n_layers = s->n;
    for (int i = 0; i < s->n; i++) buf[i] = (Block *)stack_block(s, i);
    v.blocks = buf;
    return v;
}

/* ---- this rank's share of the fine-tuning data, moved along the pipe ---- */

typedef struct {
    const Topology *t;
    const Model *m;
    const CalibSet *ft;
    int batch, tokens_per_mb;
    int n_batches, b_off, b_loc, T;
    size_t N;
} Shard;

static size_t shard_floats(const Shard *sh) { return (size_t)sh->n_batches * sh->b_loc * sh->N; }

/* x[rows of the shard] <- blocks [a, b) of blocks[] (NULL where another stage holds them; stage_of
 * gives the stage) applied to the embeddings (from_embed) or to x as held by stage src; the result
 * ends on stage dst. Every rank of the group calls it; the shard moves whole from stage to stage. */
static void relay_forward(const Shard *sh, float *x, int from_embed, int src, Block *const *blocks, const int *stage_of,
                          int a, int b, int dst) {
    const Topology *t = sh->t;
    const int T = sh->T, rows = sh->n_batches * sh->b_loc;
    if (rows == 0) return;
    const int s0 = from_embed ? 0 : src, s1 = b > a && stage_of[b - 1] > s0 ? stage_of[b - 1] : s0;
    if (t->stage >= s0 && t->stage <= s1) {
        if (t->stage > s0) df_recv_floats(x, shard_floats(sh), t->stage - 1, t->pipe);
        int mb = sh->tokens_per_mb / T;
        mb = mb < 1 ? 1 : mb > rows ? rows : mb;
        BlockActs acts;
        block_acts_init(&acts, &sh->m->cfg, mb, T, 0);
        Rope rope;
        model_rope_init(&rope, &sh->m->cfg, T);
        for (int r0 = 0; r0 < rows; r0 += mb) {
            const int B = rows - r0 < mb ? rows - r0 : mb;
            float *xb = x + (size_t)r0 * sh->N;
            if (from_embed && t->stage == 0)
                for (int r = 0; r < B; r++) {
                    const int row = r0 + r, k = row / sh->b_loc, j = row % sh->b_loc;
                    model_embed(xb + (size_t)r * sh->N, sh->m, sh->ft->ids + ((size_t)k * sh->batch + sh->b_off + j) * T, T);
                }
            for (int i = a; i < b; i++)
                if (stage_of[i] == t->stage) block_forward(xb, &acts, blocks[i], &sh->m->cfg, &rope, B, T);
        }
        rope_free(&rope);
        block_acts_free(&acts);
        if (t->stage < s1) df_send_floats(x, shard_floats(sh), t->stage + 1, t->pipe);
    }
    if (dst != s1) {
        if (t->stage == s1) df_send_floats(x, shard_floats(sh), dst, t->pipe);
        if (t->stage == dst) df_recv_floats(x, shard_floats(sh), s1, t->pipe);
    }
}

/* ---- the state file ---- */

typedef struct {
    char model_hash[17], ft_hash[17], mi_hash[17];
} Key;

static Key state_key(const Model *m, const CalibSet *ft, const CalibSet *mi) {
    ImportanceOpts io = {METRIC_MI, 0, 0, 0, NULL};
    const StateKey a = importance_state_key(m, ft, &io), b = importance_state_key(m, mi, &io);
    Key k;
    memcpy(k.model_hash, a.model_hash, 17);
    memcpy(k.ft_hash, a.calib_hash, 17);
    memcpy(k.mi_hash, b.calib_hash, 17);
    return k;
}

typedef struct {
    char *p;
    size_t n, cap;
} Bytes;

static void put(Bytes *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = df_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_i32(Bytes *b, int32_t v) { put(b, &v, 4); }
static void put_u64(Bytes *b, uint64_t v) { put(b, &v, 8); }

static const char MAGIC[8] = "DFFUSE1";

typedef struct {
    const char *p, *end, *file;
    int bad;
} Reader;

static void get(Reader *r, void *dst, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p, n);
    r->p += n;
}

static int32_t get_i32(Reader *r) {
    int32_t v;
    get(r, &v, 4);
    return v;
}

static uint64_t get_u64(Reader *r) {
    uint64_t v;
    get(r, &v, 8);
    return v;
}

/* this stage's part of the stack: its fused blocks' parameters and the injected blocks it holds */
static void stack_serialize(Bytes *b, const Stack *s) {
    put(b, MAGIC, 8);
    int nf = 0;
    for (int i = 0; i < s->n; i++) nf += s->fb[i] != NULL;
    put_i32(b, nf);
    for (int i = 0; i < s->n; i++) {
        const FusedBlock *fb = s->fb[i];
        if (!fb) continue;
        put_i32(b, s->orig[i]);
        put_u64(b, fb->nbase);
        put_u64(b, fb->ncoef);
        put_i32(b, fb->nterms);
        for (int k = 0; k < fb->nterms; k++) put_i32(b, fb->term[k].id);
        put(b, fb->pb, sizeof(float) * fb->nbase);
        put(b, fb->pc, sizeof(float) * fb->ncoef);
    }
    int nw = 0;
    for (int i = 0; i < s->L0; i++) nw += s->folded[i] != NULL;
    put_i32(b, nw);
    for (int i = 0; i < s->L0; i++)
        if (s->folded[i]) {
            put_i32(b, i);
            put_u64(b, s->folded[i]->numel);
            put(b, s->folded[i]->dtype, sizeof s->folded[i]->dtype);
            put(b, s->folded[i]->mem, sizeof(float) * s->folded[i]->numel);
        }
}

/* s (after the removals) <- this stage's data; -1 + message naming the file */
static int stack_deserialize(Stack *s, const char *data, size_t len, const char *file, const Model *m, const FuseOptions *fo) {
    Reader r = {data, data + len, file, 0};
    char magic[8];
    get(&r, magic, 8);
    if (r.bad || memcmp(magic, MAGIC, 8)) return df_fail("%s: not a depthfuse fusegpt state data file", file);
    const int nf = get_i32(&r);
    if (nf < 0 || nf > s->n) return df_fail("%s: %d fused blocks (the stack has %d)", file, nf, s->n);
    const char *body = r.p; /* the injected blocks come last: read them first */
    for (int i = 0; i < nf && !r.bad; i++) {
        get_i32(&r);
        const uint64_t nb = get_u64(&r), nc = get_u64(&r);
        const int nt = get_i32(&r);
        if (nt < 0 || nt > FUSE_MAX_TERMS || nb > len || nc > len || (size_t)(r.end - r.p) < 4 * (size_t)nt + sizeof(float) * (nb + nc))
            r.bad = 1;
        else r.p += 4 * (size_t)nt + sizeof(float) * (nb + nc);
    }
    const int nw = get_i32(&r);
    for (int k = 0; k < nw && !r.bad; k++) {
        const int id = get_i32(&r);
        Block *b = NULL;
        if (id >= 0 && id < s->L0 && !s->folded[id]) b = block_new(&m->cfg);
        if (!b || get_u64(&r) != b->numel) {
            if (b) block_release(b);
            r.bad = 1;
            break;
        }
        get(&r, b->dtype, sizeof b->dtype);
        get(&r, b->mem, sizeof(float) * b->numel);
        s->folded[id] = b;
    }
    if (r.bad) return df_fail("%s: truncated or inconsistent fusegpt state data", file);
    r.p = body;
    for (int i = 0; i < nf; i++) {
        const int orig = get_i32(&r);
        int p = 0;
        while (p < s->n && s->orig[p] != orig) p++;
        if (p == s->n || s->fb[p] || !s->plain[p]) return df_fail("%s: block %d is not a block of this stage's stack", file, orig);
        const uint64_t nb = get_u64(&r), nc = get_u64(&r);
        const int nt = get_i32(&r);
        FusedBlock *fb = stack_fused(s, p, &m->cfg, fo);
        for (int k = 0; k < nt; k++) {
            const int id = get_i32(&r);
            Block *src = id >= 0 && id < s->L0 ? (s->folded[id] ? s->folded[id] : m->blocks[id]) : NULL;
            if (!src) return df_fail("%s: block %d absorbed block %d, which this stage does not hold", file, orig, id);
            DF_TRY(fused_block_absorb(fb, src, id));
        }
        if (fb->nbase != nb || fb->ncoef != nc)
            return df_fail("%s: block %d's parameters do not match --rank/--lora-rank of this run", file, orig);
        get(&r, fb->pb, sizeof(float) * nb);
        get(&r, fb->pc, sizeof(float) * nc);
        fused_block_materialize(fb);
    }
    return 0;
}

typedef struct {
    const FuseGptOpts *o;
    const Topology *t;
    Key key;
    int K;
    int saved; /* fusions done at the last save (or resume): its data files go at the next save */
} StateCtx;

/* STATE.<done>.s<stage>.bin beside the state; dir_too: with the state's folder */
static char *data_path(const char *state, int done, int stage, int dir_too) {
    const char *base = dir_too ? state : df_basename(state);
    char *p = df_malloc(strlen(base) + 48);
    sprintf(p, "%s.%d.s%d.bin", base, done, stage);
    return p;
}

static cJSON *state_json(const StateCtx *sc, const FuseGptResult *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "method", "fusegpt");
    cJSON_AddStringToObject(root, "model_hash", sc->key.model_hash);
    cJSON_AddStringToObject(root, "calib_hash", sc->key.ft_hash);
    cJSON_AddStringToObject(root, "mi_calib_hash", sc->key.mi_hash);
    cJSON_AddStringToObject(root, "options", sc->o->options ? sc->o->options : "");
    cJSON_AddNumberToObject(root, "pipeline", sc->t->P);
    cJSON_AddNumberToObject(root, "done", r->n_removed);
    cJSON *rem = cJSON_AddArrayToObject(root, "removed");
    for (int i = 0; i < r->n_removed; i++) cJSON_AddItemToArray(rem, cJSON_CreateNumber(r->removed[i]));
    cJSON_AddItemToObject(root, "iterations", cJSON_Duplicate(r->iterations, 1));
    char *dn = data_path(sc->o->state, r->n_removed, 0, 0);
    *strrchr(dn, '.') = 0;
    *strrchr(dn, '.') = 0;
    cJSON_AddStringToObject(root, "data", dn); /* + ".s<stage>.bin" */
    free(dn);
    return root;
}

/* collective: each stage's data file (by its group-0 rank), then rank 0's JSON (the commit), then
 * the previous data files removed */
static int state_save(StateCtx *sc, const FuseGptResult *r, const Stack *s) {
    const Topology *t = sc->t;
    int rc = 0;
    if (t->group == 0) {
        Bytes b = {0};
        stack_serialize(&b, s);
        char *dp = data_path(sc->o->state, r->n_removed, t->stage, 1);
        rc = df_write_file(dp, b.p, b.n);
        free(b.p);
        free(dp);
    }
    DF_TRY(df_agree(MPI_COMM_WORLD, rc));
    if (t->rank == 0) {
        cJSON *root = state_json(sc, r);
        rc = df_json_write(sc->o->state, root);
        cJSON_Delete(root);
        if (rc == 0) df_event_checkpoint(sc->o->state, "fusion", r->n_removed);
    }
    DF_TRY(df_agree(MPI_COMM_WORLD, rc));
    if (t->group == 0 && sc->saved > 0 && sc->saved != r->n_removed) {
        char *old = data_path(sc->o->state, sc->saved, t->stage, 1);
        remove(old);
        free(old);
    }
    sc->saved = r->n_removed;
    return 0;
}

static int check_str(const cJSON *root, const char *key, const char *want, const char *file, const char *what) {
    const char *v = NULL;
    DF_TRY(df_json_str(root, key, file, &v));
    if (strcmp(v, want))
        return df_fail("%s: recorded for another %s (%s \"%s\", this run \"%s\"); use another --state file", file, what, key,
                       v, want);
    return 0;
}

/* rank 0 reads the state and its data; every rank gets both as text/bytes */
static void bcast_text(char **p, size_t *len) {
    uint64_t n = df_rank() == 0 ? *len : 0;
    MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (df_rank() != 0) *p = df_malloc(n + 1);
    for (uint64_t o = 0; o < n; o += 1u << 30) {
        const int k = (int)(n - o < (1u << 30) ? n - o : (1u << 30));
        MPI_Bcast(*p + o, k, MPI_CHAR, 0, MPI_COMM_WORLD);
    }
    (*p)[n] = 0;
    *len = n;
}

/* Collective: restores r and s from the state file when it exists; r->n_removed = 0 otherwise */

/* rank 0 reads and checks the state's JSON */
static int state_read0(const StateCtx *sc, char **json_text) {
    const char *f = sc->o->state;
    cJSON *root = NULL;
    DF_TRY(df_json_load(f, &root));
    int64_t done = 0, P = 0;
    int rc = check_str(root, "method", "fusegpt", f, "method");
    if (rc == 0) rc = check_str(root, "model_hash", sc->key.model_hash, f, "model");
    if (rc == 0) rc = check_str(root, "calib_hash", sc->key.ft_hash, f, "set of fine-tuning windows");
    if (rc == 0) rc = check_str(root, "mi_calib_hash", sc->key.mi_hash, f, "set of Macro Influence windows");
    if (rc == 0) rc = check_str(root, "options", sc->o->options ? sc->o->options : "", f, "set of options");
    if (rc == 0) rc = df_json_int(root, "pipeline", f, &P);
    if (rc == 0 && P != sc->t->P)
        rc = df_fail("%s: written by a run of --pipeline %" PRId64 "; continue it with the same --pipeline (this run: %d)", f,
                     P, sc->t->P);
    if (rc == 0) rc = df_json_int(root, "done", f, &done);
    if (rc == 0 && (done < 0 || done > sc->K)) rc = df_fail("%s: %" PRId64 " fusions done, this run makes %d", f, done, sc->K);
    if (rc == 0) *json_text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return rc;
}

/* Collective: restores r and s from the state file when it exists; r->n_removed = 0 otherwise.
 * Every rank reads its own stage's data file (a shared file system, as the outputs need). */
static int state_resume(const StateCtx *sc, FuseGptResult *r, Stack *s, const Model *m) {
    int exists = df_rank() == 0 ? df_exists(sc->o->state) : 0;
    MPI_Bcast(&exists, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!exists) return 0;
    char *json = NULL;
    size_t jl = 0;
    int rc = df_rank() == 0 ? state_read0(sc, &json) : 0;
    if (json) jl = strlen(json);
    DF_TRY(df_agree(MPI_COMM_WORLD, rc));
    bcast_text(&json, &jl);
    cJSON *root = cJSON_Parse(json);
    const cJSON *rem = cJSON_GetObjectItem(root, "removed"), *its = cJSON_GetObjectItem(root, "iterations");
    const int done = (int)cJSON_GetObjectItem(root, "done")->valuedouble;
    if (!cJSON_IsArray(rem) || cJSON_GetArraySize(rem) != done || !cJSON_IsArray(its) || cJSON_GetArraySize(its) != done)
        rc = df_fail("%s: \"removed\" and \"iterations\" must list the %d fusions done", sc->o->state, done);
    for (int i = 0; rc == 0 && i < done; i++) {
        const int id = (int)cJSON_GetArrayItem(rem, i)->valuedouble;
        int p = 0;
        while (p < s->n && s->orig[p] != id) p++;
        if (p == s->n) rc = df_fail("%s: removed block %d is not in the model or listed twice", sc->o->state, id);
        else r->removed[i] = id, stack_remove(s, p);
    }
    if (rc == 0) {
        r->n_removed = done;
        cJSON_Delete(r->iterations);
        r->iterations = cJSON_Duplicate(its, 1);
        char *dp = data_path(sc->o->state, done, sc->t->stage, 1), *data = NULL;
        size_t dl = 0;
        rc = df_read_file(dp, &data, &dl);
        if (rc == 0) rc = stack_deserialize(s, data, dl, dp, m, &sc->o->fuse);
        free(data);
        free(dp);
    }
    cJSON_Delete(root);
    free(json);
    rc = df_agree(MPI_COMM_WORLD, rc);
    if (rc == 0 && done > 0) {
        df_print0("resuming from %s: blocks", sc->o->state);
        for (int i = 0; i < done; i++) df_print0(" %d", r->removed[i]);
        df_print0(" already fused\n");
    }
    return rc;
}

/* ---- one fusion ---- */

/* every position's Macro Influence on the current stack (collective; same on every rank) */
static int mi_scores(double *score, const Topology *t, const Model *m, const Stack *s, const CalibSet *mi, int tokens_per_mb) {
    Block **buf = df_malloc(sizeof(Block *) * (size_t)s->n);
    Model v = stack_view(s, m, buf);
    ImportanceResult ir;
    ImportanceOpts io = {METRIC_MI, 0, 0, tokens_per_mb, NULL};
    int rc = importance_run(&ir, t, &v, mi, &io);
    if (rc == 0) {
        for (int i = 0; i < ir.n; i++) score[ir.block[i]] = ir.score[i];
        importance_free(&ir);
    }
    free(buf);
    return rc;
}

static cJSON *numbers(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}


/* the injected block f on every rank of the pipe: its own (or its fold) on its stage, a copy sent
 * from there elsewhere (kept in folded[] for the state); a new reference */
static Block *pruned_source(Stack *s, int f, const Topology *t, const ModelConfig *c) {
    const int fid = s->orig[f], sf = s->stage0[fid];
    Block *src = NULL;
    if (t->stage == sf) {
        if (s->fb[f]) { /* nested: the fused block's effective weights, folded once and shared */
            src = fused_block_fold(s->fb[f]);
            s->folded[fid] = block_retain(src);
        } else {
            src = block_retain(s->plain[f]);
        }
    } else {
        src = block_new(c);
    }
    if (t->P > 1) {
        int dt[BW_COUNT];
        for (int w = 0; w < BW_COUNT; w++) dt[w] = (int)src->dtype[w];
        MPI_Bcast(dt, BW_COUNT, MPI_INT, sf, t->pipe);
        df_bcast_floats(src->mem, src->numel, sf, t->pipe);
        for (int w = 0; w < BW_COUNT; w++) src->dtype[w] = (DfDtype)dt[w];
        if (t->stage != sf) s->folded[fid] = block_retain(src);
    }
    return src;
}

/* one fusion of a round: the pruned position, its group, and what its team measured */
typedef struct {
    int f, g0, g1, fid, first, last;
    double mi, loss0, cache_s, train_s, seconds;
    double *loss; /* [epochs] */
    FusedBlock **blocks; /* the group after the removal, this stage's part */
    int n;
} Pick;

/* up to k positions in ascending MI (ties: lower position) whose groups do not overlap */
static int pick_blocks(Pick *p, int k, const double *score, int n, const FuseGptOpts *o) {
    char *used = df_calloc((size_t)n, 1), *taken = df_calloc((size_t)n, 1);
    int np = 0;
    while (np < k) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!taken[i] && (best < 0 || score[i] < score[best])) best = i;
        if (best < 0) break;
        taken[best] = 1;
        int g0, g1, free_ = 1;
        fusegpt_group(best, n, o->before, o->after, &g0, &g1);
        for (int i = g0; i < g1; i++) free_ &= !used[i];
        if (!free_) continue;
        for (int i = g0; i < g1; i++) used[i] = 1;
        p[np++] = (Pick){.f = best, .g0 = g0, .g1 = g1, .mi = score[best]};
    }
    free(used);
    free(taken);
    return np;
}

/* Cache, inject and train one round of np fusions: fusion j by the team of data-parallel groups
 * d with d % np == j (its own share of every batch), then every fused block of fusion j sent from
 * the team's first group to the others. */
static int fuse_round(FuseGptResult *r, Stack *s, const Topology *t, const Model *m, const CalibSet *ft,
                      const CalibSet *mi, const FuseGptOpts *o, int it, int maxk) {
    const double t0 = df_now();
    const ModelConfig *c = &m->cfg;
    double *score = df_malloc(sizeof(double) * (size_t)s->n);
    df_info0("fusion %d/%d: Macro Influence of %d blocks\n", it + 1, o->K, s->n);
    DF_TRY(mi_scores(score, t, m, s, mi, o->tokens_per_mb));
    Pick *pk = df_calloc((size_t)maxk, sizeof(Pick));
    const int np = pick_blocks(pk, maxk, score, s->n, o);
    free(score);
    int *stage = df_malloc(sizeof(int) * (size_t)s->n);
    for (int i = 0; i < s->n; i++) stage[i] = s->stage0[s->orig[i]];
    for (int j = 0; j < np; j++) {
        Pick *p = &pk[j];
        p->fid = s->orig[p->f], p->first = s->orig[p->g0], p->last = s->orig[p->g1 - 1];
        df_print0("fusion %d/%d: block %d (MI %.6f) into blocks %d..%d (positions %d..%d)\n", it + j + 1, o->K, p->fid,
                  p->mi, p->first, p->last, p->g0, p->g1 - 1);
    }
    /* this rank's team and its pick */
    const int team = t->group % np, D = t->D / np + (team < t->D % np), d = t->group / np;
    MPI_Comm comm = np > 1 ? df_comm_split(t->stage_comm, team) : t->stage_comm;
    Pick *p = &pk[team];
    const int rx = p->g0 == p->f ? p->g0 + 1 : p->g0, ry = p->g1 - 1 == p->f ? p->g1 - 2 : p->g1 - 1;
    const int sx = stage[rx], sy = stage[ry], sg = stage[p->g0];

    /* the team's share of every batch: the student input (on sx) and the teacher output (on sy) */
    const int B = o->train.batch;
    Shard sh = {t, m, ft, B, o->tokens_per_mb, ft->n / B, d * B / D, (d + 1) * B / D - d * B / D, ft->T,
                (size_t)ft->T * c->hidden};
    float *x = df_alloc_floats(shard_floats(&sh) + 1), *y = df_alloc_floats(shard_floats(&sh) + 1);
    double tc = df_now();
    Block **cur = df_malloc(sizeof(Block *) * (size_t)s->n);
    for (int i = 0; i < s->n; i++) cur[i] = (Block *)stack_block(s, i);
    relay_forward(&sh, x, 1, 0, cur, stage, 0, p->g0, sg);
    if (o->teacher == TEACHER_CURRENT) {
        if (t->stage == sg) memcpy(y, x, sizeof(float) * shard_floats(&sh));
        relay_forward(&sh, y, 0, sg, cur, stage, p->g0, p->g1, sy);
    } else {
        relay_forward(&sh, y, 1, 0, m->blocks, s->stage0, 0, p->last + 1, sy);
    }
    if (sg != sx) { /* the pruned block was the group's first: the student starts on the next stage */
        if (t->stage == sg) df_send_floats(x, shard_floats(&sh), sx, t->pipe);
        if (t->stage == sx) df_recv_floats(x, shard_floats(&sh), sg, t->pipe);
    }
    free(cur);
    p->cache_s = df_now() - tc;

    /* every pick's block injected into the other blocks of its group (on every rank), then dropped */
    int rc = 0;
    for (int j = 0; j < np && rc == 0; j++) {
        Pick *q = &pk[j];
        Block *src = pruned_source(s, q->f, t, c);
        q->blocks = df_malloc(sizeof(FusedBlock *) * (size_t)(q->g1 - q->g0));
        for (int i = q->g0; i < q->g1 && rc == 0; i++)
            if (i != q->f && stage[i] == t->stage) {
                FusedBlock *fb = stack_fused(s, i, c, &o->fuse);
                rc = fused_block_absorb(fb, src, q->fid);
                if (rc == 0) fused_block_materialize(fb), q->blocks[q->n++] = fb;
            }
        block_release(src);
    }
    int *drop = df_malloc(sizeof(int) * (size_t)np); /* groups are disjoint: drop from the highest position down */
    for (int j = 0; j < np; j++) {
        int k = j;
        while (k > 0 && drop[k - 1] < pk[j].f) drop[k] = drop[k - 1], k--;
        drop[k] = pk[j].f;
    }
    for (int j = 0; j < np; j++) stack_remove(s, drop[j]);
    free(drop);
    free(stage);
    rc = df_agree(MPI_COMM_WORLD, rc);

    for (int j = 0; j < np; j++) pk[j].loss = df_calloc((size_t)o->train.epochs + 1, sizeof(double));
    if (rc == 0) {
        const int active = t->stage >= sx && t->stage <= sy;
        GroupData g = {p->blocks, p->n, c, NULL, ft->T, sh.n_batches, sh.b_loc,
                       t->P > 1 ? (sh.b_loc > 0 ? sh.b_loc : 1) : 1, x, y, comm, t->P > 1 ? t->pipe : MPI_COMM_SELF,
                       active && t->stage > sx ? t->stage - 1 : -1, active && t->stage < sy ? t->stage + 1 : -1, active};
        Rope rope;
        model_rope_init(&rope, c, ft->T);
        g.rope = &rope;
        p->loss0 = group_loss(&g, &o->train);
        char label[96];
        if (np > 1) snprintf(label, sizeof label, "fusions %d-%d/%d: fine-tuning", it + 1, it + np, o->K);
        else snprintf(label, sizeof label, "fusion %d/%d: fine-tuning", it + 1, o->K);
        Progress prog;
        progress_start(&prog, label, (long long)o->train.epochs * sh.n_batches);
        const double tt = df_now();
        group_train(p->loss, &g, &o->train, &prog);
        p->train_s = df_now() - tt;
        rope_free(&rope);
    }
    free(x);
    free(y);
    if (np > 1 && rc == 0) { /* every team's parameters and figures from its first group to all */
        for (int j = 0; j < np; j++) {
            Pick *q = &pk[j];
            for (int i = 0; i < q->n; i++) {
                df_bcast_floats(q->blocks[i]->pb, q->blocks[i]->nbase, j, t->stage_comm);
                df_bcast_floats(q->blocks[i]->pc, q->blocks[i]->ncoef, j, t->stage_comm);
                fused_block_materialize(q->blocks[i]);
            }
            double fig[3] = {q->loss0, q->cache_s, q->train_s};
            MPI_Bcast(fig, 3, MPI_DOUBLE, j, t->stage_comm);
            MPI_Bcast(q->loss, o->train.epochs, MPI_DOUBLE, j, t->stage_comm);
            q->loss0 = fig[0], q->cache_s = fig[1], q->train_s = fig[2];
        }
        df_comm_free(&comm);
    }
    for (int j = 0; j < np; j++) {
        Pick *q = &pk[j];
        if (rc == 0) {
            df_print0("fusion %d/%d: loss %.6g -> %.6g (%d epochs of %d steps, %.1f s)\n", it + j + 1, o->K, q->loss0,
                      o->train.epochs ? q->loss[o->train.epochs - 1] : q->loss0, o->train.epochs, sh.n_batches, q->train_s);
            r->removed[r->n_removed++] = q->fid;
            cJSON *rec = cJSON_CreateObject();
            cJSON_AddNumberToObject(rec, "block", q->fid);
            cJSON_AddNumberToObject(rec, "mi", q->mi);
            cJSON *gr = cJSON_AddArrayToObject(rec, "group");
            cJSON_AddItemToArray(gr, cJSON_CreateNumber(q->first));
            cJSON_AddItemToArray(gr, cJSON_CreateNumber(q->last));
            cJSON *pos = cJSON_AddArrayToObject(rec, "positions");
            cJSON_AddItemToArray(pos, cJSON_CreateNumber(q->g0));
            cJSON_AddItemToArray(pos, cJSON_CreateNumber(q->g1 - 1));
            if (np > 1) cJSON_AddNumberToObject(rec, "round_of", np);
            cJSON_AddNumberToObject(rec, "loss_init", q->loss0);
            cJSON_AddItemToObject(rec, "loss", numbers(q->loss, o->train.epochs));
            cJSON_AddNumberToObject(rec, "cache_seconds", q->cache_s);
            cJSON_AddNumberToObject(rec, "train_seconds", q->train_s);
            cJSON_AddNumberToObject(rec, "seconds", df_now() - t0);
            cJSON_AddItemToArray(r->iterations, rec);
        }
        free(q->loss);
        free(q->blocks);
    }
    free(pk);
    return rc;
}

/* the folded model: every fused block folded in fp32 (dtypes of its own block); this rank's blocks */
static void fold_stack(Model *out, const Stack *s, const Model *m) {
    int *idx = df_malloc(sizeof(int) * (size_t)s->n);
    for (int i = 0; i < s->n; i++) idx[i] = s->orig[i];
    model_select_blocks(out, m, idx, s->n);
    for (int i = 0; i < s->n; i++)
        if (s->fb[i]) {
            block_release(out->blocks[i]);
            out->blocks[i] = fused_block_fold(s->fb[i]);
        }
    free(idx);
}

int fusegpt_run(FuseGptResult *r, const Topology *t, const Model *m, const CalibSet *ft, const CalibSet *mi,
                const FuseGptOpts *o) {
    memset(r, 0, sizeof *r);
    const int L = m->cfg.n_layers;
    if (o->K < 1 || o->K >= L) return df_fail("fusegpt: cannot remove %d of %d blocks", o->K, L);
    if (ft->n < o->train.batch)
        return df_fail("fusegpt: %d fine-tuning windows is fewer than one batch of %d", ft->n, o->train.batch);
    if (o->parallel > 1 && t->P > 1)
        return df_fail("fusegpt: --parallel-fusions with --pipeline > 1 is not supported (one fusion at a time there)");
    if (o->parallel > t->D)
        df_print0("note: --parallel-fusions %d: only %d data-parallel groups, so at most %d fusions at once\n", o->parallel,
                  t->D, t->D);
    if (o->train.batch < t->D)
        df_print0("note: %d data-parallel groups share batches of %d sequences: %d of them idle\n", t->D, o->train.batch,
                  t->D - o->train.batch);
    r->removed = df_calloc((size_t)L, sizeof(int));
    r->iterations = cJSON_CreateArray();
    Stack s;
    stack_init(&s, t, m);
    StateCtx sc = {o, t, state_key(m, ft, mi), o->K, 0};
    int rc = o->state ? state_resume(&sc, r, &s, m) : 0;
    sc.saved = r->n_removed;
    const double t0 = df_now();
    const int start = r->n_removed;
    const int par = o->parallel < 1 ? 1 : o->parallel > t->D ? t->D : o->parallel;
    for (int it = start; it < o->K && rc == 0; it = r->n_removed) {
        const int k = o->K - it < par ? o->K - it : par;
        rc = df_agree(MPI_COMM_WORLD, fuse_round(r, &s, t, m, ft, mi, o, it, k));
        if (rc == 0 && o->state) rc = state_save(&sc, r, &s);
        if (rc == 0 && r->n_removed < o->K) {
            const double el = df_now() - t0, eta = el / (r->n_removed - start) * (o->K - r->n_removed);
            df_info0("fusion %d/%d done; %.0f s elapsed, ETA %.0f s for the remaining %d\n", r->n_removed, o->K, el, eta,
                     o->K - r->n_removed);
        }
        if (rc == 0 && r->n_removed < o->K && df_stop_agreed(MPI_COMM_WORLD, "fusion"))
            rc = df_stop_fail(o->state ? "rerun the same command (same --state) to continue"
                                       : "no --state was given: a rerun starts over");
    }
    if (rc == 0) fold_stack(&r->out, &s, m);
    stack_free(&s);
    if (rc < 0) fusegpt_free(r);
    return rc;
}

void fusegpt_free(FuseGptResult *r) {
    free(r->removed);
    cJSON_Delete(r->iterations);
    if (r->out.blocks) model_free(&r->out);
    memset(r, 0, sizeof *r);
}
