/* FuseGPT's iterative loop (include/depthfuse/fusegpt.h). Layout: every rank holds the whole model
 * (P = 1); the D data-parallel groups split each fine-tuning batch's sequences and cache the student
 * input and teacher output of their own sequences only; the Macro Influence sweep deals its
 * candidates to the groups (importance.c). The state file is JSON (key, removals, iteration
 * records, the name of the data file) beside a binary data file of the fused stack, written first
 * under a new name, so that the JSON's atomic rename commits both. */
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
    int *orig;
    Block **plain;
    FusedBlock **fb;
    Block **folded; /* [L0]: the fold a pruned fused block was injected as (retained), else NULL */
} Stack;

static const Block *stack_block(const Stack *s, int i) { return s->fb[i] ? s->fb[i]->eff : s->plain[i]; }

static void stack_init(Stack *s, const Model *m) {
    const int L = m->cfg.n_layers;
    s->n = s->L0 = L;
    s->orig = df_malloc(sizeof(int) * (size_t)L);
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
    if (!s->fb[i]) {
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

/* ---- this rank's share of the fine-tuning data ---- */

typedef struct {
    int n_batches, b_off, b_loc, T;
    size_t N;
    float *x, *y; /* [n_batches][b_loc][N] */
} Shard;

static const int32_t *shard_ids(const Shard *sh, const CalibSet *ft, int batch, int k, int r) {
    return ft->ids + ((size_t)k * batch + sh->b_off + r) * ft->T;
}

/* x[rows of shard] <- blocks [from, to) of the stack (or of the dense model when dense != NULL),
 * starting at the embeddings when from_embed, else from x itself; micro-batches of about
 * tokens_per_mb tokens */
static void shard_forward(Shard *sh, float *x, int from_embed, const Model *m, Block *const *blocks, int nb,
                          const CalibSet *ft, int batch, int tokens_per_mb) {
    const int T = sh->T, rows = sh->n_batches * sh->b_loc;
    if (rows == 0) return;
    int mb = tokens_per_mb / T;
    if (mb < 1) mb = 1;
    if (mb > rows) mb = rows;
    BlockActs a;
    block_acts_init(&a, &m->cfg, mb, T, 0);
    Rope rope;
    model_rope_init(&rope, &m->cfg, T);
    for (int r0 = 0; r0 < rows; r0 += mb) {
        const int B = rows - r0 < mb ? rows - r0 : mb;
        float *xb = x + (size_t)r0 * sh->N;
        if (from_embed)
            for (int r = 0; r < B; r++) {
                const int row = r0 + r;
                model_embed(xb + (size_t)r * sh->N, m, shard_ids(sh, ft, batch, row / sh->b_loc, row % sh->b_loc), T);
            }
        for (int i = 0; i < nb; i++) block_forward(xb, &a, blocks[i], &m->cfg, &rope, B, T);
    }
    rope_free(&rope);
    block_acts_free(&a);
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

static void stack_serialize(Bytes *b, const Stack *s) {
    put(b, MAGIC, 8);
    put_i32(b, s->n);
    for (int i = 0; i < s->n; i++) {
        const FusedBlock *fb = s->fb[i];
        put_i32(b, s->orig[i]);
        put_i32(b, fb != NULL);
        if (!fb) continue;
        put_u64(b, fb->nbase);
        put_u64(b, fb->ncoef);
        put_i32(b, fb->nterms);
        for (int k = 0; k < fb->nterms; k++) put_i32(b, fb->term[k].id);
        put(b, fb->pb, sizeof(float) * fb->nbase);
        put(b, fb->pc, sizeof(float) * fb->ncoef);
    }
    int nf = 0;
    for (int i = 0; i < s->L0; i++) nf += s->folded[i] != NULL;
    put_i32(b, nf);
    for (int i = 0; i < s->L0; i++)
        if (s->folded[i]) {
            put_i32(b, i);
            put_u64(b, s->folded[i]->numel);
            put(b, s->folded[i]->mem, sizeof(float) * s->folded[i]->numel);
        }
}

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

/* s (fresh from stack_init) <- the serialized stack; -1 + message naming the file */
static int stack_deserialize(Stack *s, const char *data, size_t len, const char *file, const Model *m, const FuseOptions *fo) {
    Reader r = {data, data + len, file, 0};
    char magic[8];
    get(&r, magic, 8);
    if (r.bad || memcmp(magic, MAGIC, 8)) return df_fail("%s: not a depthfuse fusegpt state data file", file);
    const int n = get_i32(&r);
    if (n < 1 || n > s->L0) return df_fail("%s: %d blocks in the stack (the model has %d)", file, n, s->L0);
    /* the folded sources are at the end: find them first */
    const char *body = r.p;
    for (int i = 0; i < n && !r.bad; i++) {
        get_i32(&r);
        if (!get_i32(&r)) continue;
        const uint64_t nb = get_u64(&r), nc = get_u64(&r);
        const int nt = get_i32(&r);
        if (nt < 0 || nt > FUSE_MAX_TERMS || nb > len || nc > len) r.bad = 1;
        else r.p += 4 * (size_t)nt + sizeof(float) * (nb + nc);
        if (r.p > r.end) r.bad = 1;
    }
    const int nf = get_i32(&r);
    for (int k = 0; k < nf && !r.bad; k++) {
        const int id = get_i32(&r);
        const uint64_t numel = get_u64(&r);
        if (id < 0 || id >= s->L0 || numel != m->blocks[0]->numel || s->folded[id]) {
            r.bad = 1;
            break;
        }
        Block *b = block_new(&m->cfg);
        memcpy(b->dtype, m->blocks[id]->dtype, sizeof b->dtype);
        get(&r, b->mem, sizeof(float) * numel);
        s->folded[id] = b;
    }
    if (r.bad) return df_fail("%s: truncated or inconsistent fusegpt state data", file);
    Stack fresh = *s;
    int *keep = df_calloc((size_t)s->L0, sizeof(int));
    r.p = body;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const int orig = get_i32(&r), fused = get_i32(&r);
        if (orig < 0 || orig >= s->L0 || keep[orig]) {
            rc = df_fail("%s: block %d listed twice or out of range", file, orig);
            break;
        }
        keep[orig] = 1;
        s->orig[i] = orig;
        s->plain[i] = block_retain(m->blocks[orig]);
        s->fb[i] = NULL;
        if (!fused) continue;
        const uint64_t nb = get_u64(&r), nc = get_u64(&r);
        const int nt = get_i32(&r);
        FusedBlock *fb = stack_fused(s, i, &m->cfg, fo);
        for (int k = 0; k < nt && rc == 0; k++) {
            const int id = get_i32(&r);
            if (id < 0 || id >= s->L0) rc = df_fail("%s: absorbed block %d out of range", file, id);
            else rc = fused_block_absorb(fb, s->folded[id] ? s->folded[id] : m->blocks[id], id);
        }
        if (rc == 0 && (fb->nbase != nb || fb->ncoef != nc))
            rc = df_fail("%s: block %d's parameters do not match --rank/--lora-rank of this run", file, orig);
        if (rc == 0) {
            get(&r, fb->pb, sizeof(float) * nb);
            get(&r, fb->pc, sizeof(float) * nc);
            fused_block_materialize(fb);
        }
    }
    /* the blocks no longer listed: the fresh stack's references to them go */
    for (int i = 0; i < fresh.L0; i++) block_release(m->blocks[i]);
    s->n = n;
    free(keep);
    return rc;
}

typedef struct {
    const FuseGptOpts *o;
    Key key;
    int K;
} StateCtx;

static cJSON *state_json(const StateCtx *sc, const FuseGptResult *r, const char *data_name) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "method", "fusegpt");
    cJSON_AddStringToObject(root, "model_hash", sc->key.model_hash);
    cJSON_AddStringToObject(root, "calib_hash", sc->key.ft_hash);
    cJSON_AddStringToObject(root, "mi_calib_hash", sc->key.mi_hash);
    cJSON_AddStringToObject(root, "options", sc->o->options ? sc->o->options : "");
    cJSON_AddNumberToObject(root, "done", r->n_removed);
    cJSON *rem = cJSON_AddArrayToObject(root, "removed");
    for (int i = 0; i < r->n_removed; i++) cJSON_AddItemToArray(rem, cJSON_CreateNumber(r->removed[i]));
    cJSON_AddItemToObject(root, "iterations", cJSON_Duplicate(r->iterations, 1));
    cJSON_AddStringToObject(root, "data", data_name);
    return root;
}

/* the data file's path beside the state: STATE.<done>.bin */
static char *data_path(const char *state, int done) {
    char *p = df_malloc(strlen(state) + 32);
    sprintf(p, "%s.%d.bin", state, done);
    return p;
}

/* rank 0: data file, then the JSON (the commit), then the previous data file removed */
static int state_save(const StateCtx *sc, const FuseGptResult *r, const Stack *s) {
    int rc = 0;
    if (df_rank() == 0) {
        Bytes b = {0};
        stack_serialize(&b, s);
        char *dp = data_path(sc->o->state, r->n_removed);
        rc = df_write_file(dp, b.p, b.n);
        free(b.p);
        if (rc == 0) {
            cJSON *root = state_json(sc, r, df_basename(dp));
            rc = df_json_write(sc->o->state, root);
            cJSON_Delete(root);
        }
        if (rc == 0 && r->n_removed > 0) {
            char *old = data_path(sc->o->state, r->n_removed - 1);
            remove(old);
            free(old);
        }
        free(dp);
    }
    return df_agree(MPI_COMM_WORLD, rc);
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
static int state_read0(const StateCtx *sc, char **json_text, char **data, size_t *data_len) {
    const char *f = sc->o->state;
    cJSON *root = NULL;
    DF_TRY(df_json_load(f, &root));
    const char *dn = NULL;
    int64_t done = 0;
    int rc = check_str(root, "method", "fusegpt", f, "method");
    if (rc == 0) rc = check_str(root, "model_hash", sc->key.model_hash, f, "model");
    if (rc == 0) rc = check_str(root, "calib_hash", sc->key.ft_hash, f, "set of fine-tuning windows");
    if (rc == 0) rc = check_str(root, "mi_calib_hash", sc->key.mi_hash, f, "set of Macro Influence windows");
    if (rc == 0) rc = check_str(root, "options", sc->o->options ? sc->o->options : "", f, "set of options");
    if (rc == 0) rc = df_json_int(root, "done", f, &done);
    if (rc == 0 && (done < 0 || done > sc->K)) rc = df_fail("%s: %" PRId64 " fusions done, this run makes %d", f, done, sc->K);
    if (rc == 0) rc = df_json_str(root, "data", f, &dn);
    if (rc == 0 && (strchr(dn, '/') || !*dn)) rc = df_fail("%s: \"data\" must name a file beside it", f);
    if (rc == 0) {
        char *dir = df_strdup(f), *slash = strrchr(dir, '/');
        char *dp;
        if (slash) {
            *slash = 0;
            dp = df_path_join(dir, dn);
        } else {
            dp = df_strdup(dn);
        }
        rc = df_read_file(dp, data, data_len);
        free(dp);
        free(dir);
    }
    if (rc == 0) *json_text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return rc;
}

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
static int state_resume(const StateCtx *sc, FuseGptResult *r, Stack *s, const Model *m) {
    int exists = df_rank() == 0 ? df_exists(sc->o->state) : 0;
    MPI_Bcast(&exists, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!exists) return 0;
    char *json = NULL, *data = NULL;
    size_t jl = 0, dl = 0;
    int rc = df_rank() == 0 ? state_read0(sc, &json, &data, &dl) : 0;
    if (json) jl = strlen(json);
    DF_TRY(df_agree(MPI_COMM_WORLD, rc));
    bcast_text(&json, &jl);
    bcast_text(&data, &dl);
    cJSON *root = cJSON_Parse(json);
    const cJSON *rem = cJSON_GetObjectItem(root, "removed"), *its = cJSON_GetObjectItem(root, "iterations");
    const int done = (int)cJSON_GetObjectItem(root, "done")->valuedouble;
    if (!cJSON_IsArray(rem) || cJSON_GetArraySize(rem) != done || !cJSON_IsArray(its) || cJSON_GetArraySize(its) != done)
        rc = df_fail("%s: \"removed\" and \"iterations\" must list the %d fusions done", sc->o->state, done);
    for (int i = 0; rc == 0 && i < done; i++) r->removed[i] = (int)cJSON_GetArrayItem(rem, i)->valuedouble;
    if (rc == 0) {
        r->n_removed = done;
        cJSON_Delete(r->iterations);
        r->iterations = cJSON_Duplicate(its, 1);
        rc = stack_deserialize(s, data, dl, sc->o->state, m, &sc->o->fuse);
        if (rc == 0 && s->n != s->L0 - done)
            rc = df_fail("%s: %d blocks in the stack after %d fusions of %d", sc->o->state, s->n, done, s->L0);
    }
    cJSON_Delete(root);
    free(json);
    free(data);
    rc = df_agree(MPI_COMM_WORLD, rc);
    if (rc == 0 && done > 0) {
        df_print0("resuming from %s: blocks", sc->o->state);
        for (int i = 0; i < done; i++) df_print0(" %d", r->removed[i]);
        df_print0(" already fused\n");
    }
    return rc;
}

/* ---- one fusion ---- */

/* the position of lowest Macro Influence on the current stack (collective; same on every rank) */
static int lowest_mi(double *score, const Topology *t, const Model *m, const Stack *s, const CalibSet *mi, int tokens_per_mb) {
    Block **buf = df_malloc(sizeof(Block *) * (size_t)s->n);
    Model v = stack_view(s, m, buf);
    ImportanceResult ir;
    ImportanceOpts io = {METRIC_MI, 0, 0, tokens_per_mb, NULL};
    int rc = importance_run(&ir, t, &v, mi, &io), best = -1;
    if (rc == 0) {
        for (int i = 0; i < ir.n; i++)
            if (ir.rank[i] == 1) best = ir.block[i], *score = ir.score[i];
        importance_free(&ir);
    }
    free(buf);
    return rc < 0 ? -1 : best;
}

static cJSON *numbers(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static int fuse_one(FuseGptResult *r, Stack *s, const Topology *t, const Model *m, const CalibSet *ft, const CalibSet *mi,
                    const FuseGptOpts *o, MPI_Comm dp, int it) {
    const double t0 = df_now();
    const ModelConfig *c = &m->cfg;
    double mi_score = 0;
    df_info0("fusion %d/%d: Macro Influence of %d blocks\n", it + 1, o->K, s->n);
    const int f = lowest_mi(&mi_score, t, m, s, mi, o->tokens_per_mb);
    if (f < 0) return -1;
    int g0, g1;
    fusegpt_group(f, s->n, o->before, o->after, &g0, &g1);
    const int fid = s->orig[f], first = s->orig[g0], last = s->orig[g1 - 1];
    df_print0("fusion %d/%d: block %d (MI %.6f) into blocks %d..%d (positions %d..%d)\n", it + 1, o->K, fid, mi_score,
              first, last, g0, g1 - 1);

    /* this rank's share of every batch, its student input and teacher output */
    const int B = o->train.batch, D = df_comm_size(dp), d = df_comm_rank(dp);
    Shard sh = {ft->n / B, d * B / D, (d + 1) * B / D - d * B / D, ft->T, (size_t)ft->T * c->hidden, NULL, NULL};
    const size_t rows = (size_t)sh.n_batches * sh.b_loc;
    sh.x = df_alloc_floats(rows * sh.N + 1);
    sh.y = df_alloc_floats(rows * sh.N + 1);
    const double tc = df_now();
    Block **pre = df_malloc(sizeof(Block *) * (size_t)s->n);
    for (int i = 0; i < s->n; i++) pre[i] = (Block *)stack_block(s, i);
    shard_forward(&sh, sh.x, 1, m, pre, g0, ft, B, o->tokens_per_mb);
    if (o->teacher == TEACHER_CURRENT) {
        memcpy(sh.y, sh.x, sizeof(float) * rows * sh.N);
        shard_forward(&sh, sh.y, 0, m, pre + g0, g1 - g0, ft, B, o->tokens_per_mb);
    } else {
        shard_forward(&sh, sh.y, 1, m, m->blocks, last + 1, ft, B, o->tokens_per_mb);
    }
    free(pre);
    const double cache_s = df_now() - tc;

    /* inject block f into every other block of the group, then drop it */
    Block *src;
    if (s->fb[f]) { /* nested: the fused block's effective weights, folded once and shared */
        src = fused_block_fold(s->fb[f]);
        s->folded[fid] = block_retain(src);
    } else {
        src = block_retain(s->plain[f]);
    }
    int rc = 0;
    for (int i = g0; i < g1 && rc == 0; i++)
        if (i != f) {
            FusedBlock *fb = stack_fused(s, i, c, &o->fuse);
            rc = fused_block_absorb(fb, src, fid);
            if (rc == 0) fused_block_materialize(fb);
        }
    block_release(src);
    if (rc < 0) {
        free(sh.x);
        free(sh.y);
        return rc;
    }
    stack_remove(s, f);
    const int n = g1 - g0 - 1;

    GroupData g = {s->fb + g0, n, c, NULL, ft->T, sh.n_batches, sh.b_loc, sh.x, sh.y, dp};
    Rope rope;
    model_rope_init(&rope, c, ft->T);
    g.rope = &rope;
    const double loss0 = group_loss(&g, &o->train);
    double *loss = df_calloc((size_t)o->train.epochs, sizeof(double));
    char label[64];
    snprintf(label, sizeof label, "fusion %d/%d: fine-tuning", it + 1, o->K);
    Progress prog;
    progress_start(&prog, label, (long long)o->train.epochs * sh.n_batches);
    const double tt = df_now();
    group_train(loss, &g, &o->train, &prog);
    const double train_s = df_now() - tt;
    rope_free(&rope);
    free(sh.x);
    free(sh.y);
    df_print0("fusion %d/%d: loss %.6g -> %.6g (%d epochs of %d steps, %.1f s)\n", it + 1, o->K, loss0,
              o->train.epochs ? loss[o->train.epochs - 1] : loss0, o->train.epochs, sh.n_batches, train_s);

    r->removed[r->n_removed++] = fid;
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddNumberToObject(rec, "block", fid);
    cJSON_AddNumberToObject(rec, "mi", mi_score);
    cJSON *gr = cJSON_AddArrayToObject(rec, "group");
    cJSON_AddItemToArray(gr, cJSON_CreateNumber(first));
    cJSON_AddItemToArray(gr, cJSON_CreateNumber(last));
    cJSON *pos = cJSON_AddArrayToObject(rec, "positions");
    cJSON_AddItemToArray(pos, cJSON_CreateNumber(g0));
    cJSON_AddItemToArray(pos, cJSON_CreateNumber(g1 - 1));
    cJSON_AddNumberToObject(rec, "loss_init", loss0);
    cJSON_AddItemToObject(rec, "loss", numbers(loss, o->train.epochs));
    cJSON_AddNumberToObject(rec, "cache_seconds", cache_s);
    cJSON_AddNumberToObject(rec, "train_seconds", train_s);
    cJSON_AddNumberToObject(rec, "seconds", df_now() - t0);
    cJSON_AddItemToArray(r->iterations, rec);
    free(loss);
    return 0;
}

/* the folded model: every fused block folded in fp32 (dtypes of its own block) */
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
    if (t->P != 1) return df_fail("fusegpt: --pipeline %d: the fusion runs with every block on every rank (--pipeline 1)", t->P);
    if (o->K < 1 || o->K >= L) return df_fail("fusegpt: cannot remove %d of %d blocks", o->K, L);
    if (ft->n < o->train.batch)
        return df_fail("fusegpt: %d fine-tuning windows is fewer than one batch of %d", ft->n, o->train.batch);
    r->removed = df_calloc((size_t)L, sizeof(int));
    r->iterations = cJSON_CreateArray();
    Stack s;
    stack_init(&s, m);
    StateCtx sc = {o, state_key(m, ft, mi), o->K};
    int rc = o->state ? state_resume(&sc, r, &s, m) : 0;
    /* the data-parallel groups split each batch (P = 1: one rank per group) */
    MPI_Comm dp = t->stage_comm;
    const double t0 = df_now();
    const int start = r->n_removed;
    for (int it = start; it < o->K && rc == 0; it++) {
        rc = df_agree(MPI_COMM_WORLD, fuse_one(r, &s, t, m, ft, mi, o, dp, it));
        if (rc == 0 && o->state) rc = state_save(&sc, r, &s);
        if (rc == 0 && it + 1 < o->K) {
            const double el = df_now() - t0, eta = el / (it + 1 - start) * (o->K - it - 1);
            df_info0("fusion %d/%d done; %.0f s elapsed, ETA %.0f s for the remaining %d\n", it + 1, o->K, el, eta,
                     o->K - it - 1);
        }
        if (rc == 0 && it + 1 < o->K && df_stop_agreed(MPI_COMM_WORLD))
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
