/* The safe-output rules (include/depthfuse/output.h). */
#include "depthfuse/output.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/h5store.h"
#include "depthfuse/hf_writer.h"
#include "depthfuse/lock.h"
#include "depthfuse/log.h"
#include "depthfuse/provenance.h"
#include "depthfuse/tensors.h"

static void push(char ***arr, int *n, const char *s) {
    *arr = df_realloc(*arr, sizeof(char *) * (size_t)(*n + 1));
    (*arr)[(*n)++] = df_strdup(s);
}

void output_add_input(OutputPlan *p, const char *path) {
    if (!path) return;
    p->input_is_model = df_realloc(p->input_is_model, sizeof(int) * (size_t)(p->n_inputs + 1));
    p->input_is_model[p->n_inputs] = 0;
    push(&p->inputs, &p->n_inputs, path);
}

void output_add_model_input(OutputPlan *p, const char *path) {
    if (!path) return;
    output_add_input(p, path);
    p->input_is_model[p->n_inputs - 1] = 1;
}

void output_set_model(OutputPlan *p, const char *path) {
    free(p->model);
    p->model = path ? df_strdup(path) : NULL;
}

void output_add_report(OutputPlan *p, const char *path) {
    if (path) push(&p->reports, &p->n_reports, path);
}

void output_set_state(OutputPlan *p, const char *path) {
    if (!path) return;
    output_add_input(p, path);
    free(p->state);
    p->state = df_strdup(path);
}

void output_plan_free(OutputPlan *p) {
    free(p->state);
    for (int i = 0; i < p->n_inputs; i++) free(p->inputs[i]);
    for (int i = 0; i < p->n_reports; i++) free(p->reports[i]);
    free(p->inputs);
    free(p->input_is_model);
    free(p->reports);
    free(p->model);
    memset(p, 0, sizeof *p);
}

char *output_resolve(const char *path) {
    char *abs;
    if (path[0] == '/') {
        abs = df_strdup(path);
    } else {
        char cwd[PATH_MAX];
        abs = df_path_join(getcwd(cwd, sizeof cwd) ? cwd : ".", path);
    }
    /* resolved prefix: realpath'd while it exists, so a later ".." is its true parent; past the
     * first missing component nothing can be a symlink, and the rest is applied as written */
    char *cur = df_strdup("/");
    int exists = 1;
    for (char *save = NULL, *c = strtok_r(abs, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, ".")) continue;
        if (!strcmp(c, "..")) {
            char *slash = strrchr(cur, '/');
            if (slash == cur) cur[1] = 0;
            else *slash = 0;
            continue;
        }
        char *cand = df_path_join(cur, c);
        free(cur);
        cur = cand;
        if (exists) {
            char *r = realpath(cand, NULL);
            if (r) {
                free(cur);
                cur = r;
            } else {
                exists = 0;
            }
        }
    }
    free(abs);
    return cur;
}

/* a == b, or a lies inside folder b */
static int within(const char *a, const char *b) {
    size_t lb = strlen(b);
    if (strncmp(a, b, lb) != 0) return 0;
    return a[lb] == 0 || a[lb] == '/' || (lb == 1 && b[0] == '/');
}

int output_is_model_file(const char *name) {
    static const char *const own[] = {"config.json", "depthfuse.json", "model.safetensors",
                                      "model.safetensors.index.json", "pytorch_model.bin",
                                      "pytorch_model.bin.index.json"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (!strcmp(name, own[i])) return 1;
    for (int i = 0; i < HF_N_EXTRA_FILES; i++)
        if (!strcmp(name, HF_EXTRA_FILES[i])) return 1;
    /* shards: model-00001-of-00003.safetensors, pytorch_model-00001-of-00003.bin */
    unsigned a, b;
    char tail[32];
    return (sscanf(name, "model-%5u-of-%5u.%31s", &a, &b, tail) == 3 && !strcmp(tail, "safetensors")) ||
           (sscanf(name, "pytorch_model-%5u-of-%5u.%31s", &a, &b, tail) == 3 && !strcmp(tail, "bin"));
}

/* is process pid running (a zombie is not: a killed rank whose parent died may never be reaped)? */
static int pid_alive(long pid) {
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return 0;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}

/* remove PATH.depthfuse-tmp.PID siblings whose process is gone (left by a killed run) */
static void remove_stale_tmp(const char *path) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    char *dir = df_malloc(len + 2);
    memcpy(dir, path, len);
    dir[len] = 0;
    char *slash = strrchr(dir, '/');
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof prefix, "%s.depthfuse-tmp.", slash ? slash + 1 : dir);
    if (!slash) strcpy(dir, ".");
    else slash[slash == dir ? 1 : 0] = 0; /* "/x" -> "/", "a/x" -> "a" */
    const size_t np = strlen(prefix);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, prefix, np) != 0) continue;
        char *end;
        long pid = strtol(e->d_name + np, &end, 10);
        if (*end || pid <= 0 || pid_alive(pid)) continue;
        char *stale = df_path_join(dir, e->d_name);
        if (df_rm_rf(stale) == 0) df_warn("removed %s, left by a killed run", stale);
        free(stale);
    }
    if (d) closedir(d);
    free(dir);
}

static int check_model_output(const OutputPlan *p, char **in) {
    char *out = output_resolve(p->model);
    int rc = 0;
    for (int i = 0; i < p->n_inputs && rc == 0; i++) {
        if (!strcmp(out, in[i])) rc = df_fail("%s: is the input %s; write the output elsewhere", p->model, p->inputs[i]);
        else if (within(in[i], out))
            rc = df_fail("%s: contains the input %s; write the output elsewhere", p->model, p->inputs[i]);
        else if (within(out, in[i]))
            rc = df_fail("%s: lies inside the input %s; write the output elsewhere", p->model, p->inputs[i]);
    }
    free(out);
    DF_TRY(rc);
    remove_stale_tmp(p->model);
    struct stat st;
    if (stat(p->model, &st) != 0) return 0;
    if (!p->overwrite) return df_fail("%s: exists; pass --overwrite to replace it", p->model);
    if (h5_is_store(p->model) && !S_ISREG(st.st_mode)) return df_fail("%s: exists and is not an .h5 file", p->model);
    if (!h5_is_store(p->model) && !S_ISDIR(st.st_mode)) return df_fail("%s: exists and is not a folder", p->model);
    return 0;
}

static int check_report(const OutputPlan *p, const char *report, char **in) {
    char *r = output_resolve(report);
    int rc = 0;
    for (int i = 0; i < p->n_inputs && rc == 0; i++) {
        if (!strcmp(r, in[i])) rc = df_fail("%s: is an input of this command; write the report elsewhere", report);
        else if (p->input_is_model[i] && within(r, in[i]))
            rc = df_fail("%s: lies inside the input model %s; write the report elsewhere", report, p->inputs[i]);
    }
    if (rc == 0 && p->model) {
        char *out = output_resolve(p->model);
        if (!strcmp(r, out)) rc = df_fail("%s: is also the model output", report);
        free(out);
    }
    free(r);
    if (rc == 0) remove_stale_tmp(report);
    return rc;
}

int output_check_local(const OutputPlan *p) {
    char **in = df_malloc(sizeof(char *) * (size_t)(p->n_inputs + 1));
    for (int i = 0; i < p->n_inputs; i++) in[i] = output_resolve(p->inputs[i]);
    int rc = p->model ? check_model_output(p, in) : 0;
    for (int i = 0; i < p->n_reports && rc == 0; i++) rc = check_report(p, p->reports[i], in);
    for (int i = 0; i < p->n_reports && rc == 0; i++)
        for (int j = 0; j < i && rc == 0; j++)
            if (!strcmp(p->reports[i], p->reports[j])) rc = df_fail("%s: named by two report options", p->reports[i]);
    for (int i = 0; i < p->n_inputs; i++) free(in[i]);
    free(in);
    return rc;
}

int output_lock(const OutputPlan *p) {
    int rc = 0;
    if (df_rank() == 0) {
        if (p->state) rc = df_lock(p->state);
        if (rc == 0 && p->model) rc = df_lock(p->model);
    }
    return df_agree(MPI_COMM_WORLD, rc);
}

int output_check(const OutputPlan *p) {
    DF_TRY(output_lock(p));
    return df_agree(MPI_COMM_WORLD, df_rank() == 0 ? output_check_local(p) : 0);
}

/* the order the new model's files take their place in an existing folder: weights, their index,
 * the tokenizer and generation files, config.json last (it is what makes the folder a model) */
static int commit_rank(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!strcmp(name, "config.json")) return 3;
    if (!strcmp(name, "model.safetensors.index.json")) return 1;
    return dot && !strcmp(dot, ".safetensors") ? 0 : 2;
}

static int by_commit_order(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int rx = commit_rank(x), ry = commit_rank(y);
    return rx != ry ? rx - ry : strcmp(x, y);
}

/* names in dir (new strings), sorted in commit order */
static int list_dir(const char *dir, char ***names, int *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return df_fail("%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) push(names, n, e->d_name);
    closedir(d);
    qsort(*names, (size_t)*n, sizeof(char *), by_commit_order);
    return 0;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* --overwrite into an existing folder: move the new model's files in (commit order), then remove the
 * earlier model's own files that the new one does not have (stale shards, as save_pretrained does);
 * every other file stays */
static int replace_model_files(const char *tmp, const char *out) {
    char **fresh, **old;
    int nf, no, rc = 0;
    DF_TRY(list_dir(tmp, &fresh, &nf));
    if (list_dir(out, &old, &no) < 0) {
        free_names(fresh, nf);
        return -1;
    }
    for (int i = 0; i < nf && rc == 0; i++) {
        char *src = df_path_join(tmp, fresh[i]), *dst = df_path_join(out, fresh[i]);
        if (rename(src, dst) != 0) rc = df_fail("%s: cannot move %s into place: %s", out, src, strerror(errno));
        free(src);
        free(dst);
    }
    for (int i = 0; i < no && rc == 0; i++) {
        int kept = 0;
        for (int j = 0; j < nf && !kept; j++) kept = !strcmp(old[i], fresh[j]);
        if (kept || !output_is_model_file(old[i])) continue;
        char *stale = df_path_join(out, old[i]);
        if (unlink(stale) != 0) rc = df_fail("%s: cannot remove the earlier model's %s: %s", out, old[i], strerror(errno));
        free(stale);
    }
    if (rc == 0 && rmdir(tmp) != 0) rc = df_fail("%s: cannot remove: %s", tmp, strerror(errno));
    free_names(fresh, nf);
    free_names(old, no);
    return rc;
}

static int commit_model(const char *tmp, const OutputPlan *p) {
    struct stat st;
    if (p->overwrite && !h5_is_store(p->model) && stat(p->model, &st) == 0 && S_ISDIR(st.st_mode))
        return replace_model_files(tmp, p->model);
    return df_commit_path(tmp, p->model); /* a new path, or an .h5 file replaced in one rename */
}

/* the bytes of the model's tensors as stored (blocks another rank holds: at the embedding's dtype) */
static uint64_t model_bytes(const Model *m) {
    TensorRef *refs;
    const int n = tensor_refs(&m->cfg, &refs);
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) {
        const int held = tensor_ref_data(m, &refs[i]) != NULL;
        bytes += tensor_ref_numel(&refs[i]) * df_dtype_size(held ? tensor_ref_dtype(m, &refs[i]) : m->embed_dtype);
    }
    free(refs);
    return bytes;
}

/* Before a large write: the output's file system must have room for the model (plus 1% and 1 MB
 * for headers and the small files), so a full disk is a clear refusal rather than a failed write.
 * An .h5 is one file, so a file-size limit (ulimit -f) below it is refused too: HDF5 1.10 cannot close
 * a file whose write failed (it crashes at exit), while the HF writer's failures are clean (EFBIG). */
static int check_free_space(const Model *m, const char *out) {
    char *abs = output_resolve(out), *slash = strrchr(abs, '/');
    if (slash == abs) slash[1] = 0;
    else *slash = 0;
    struct statvfs vfs;
    struct rlimit lim;
    const uint64_t need = model_bytes(m), want = need + need / 100 + (1u << 20);
    int rc = 0;
    if (statvfs(abs, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < want)
        rc = df_fail("%s: the model needs %.1f MB but %s has %.1f MB free", out, (double)want / 1e6, abs,
                     (double)vfs.f_bavail * (double)vfs.f_frsize / 1e6);
    else if (h5_is_store(out) && getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
             (uint64_t)lim.rlim_cur < want)
        rc = df_fail("%s: the model needs %.1f MB but the file-size limit (ulimit -f) is %.1f MB", out,
                     (double)want / 1e6, (double)lim.rlim_cur / 1e6);
    free(abs);
    return rc;
}

/* rank 0: depthfuse.json into the completed temporary folder, or the .h5's "depthfuse_json" */
static int write_provenance(const char *tmp, const OutputPlan *p) {
    char *text = provenance_json(p);
    int rc;
    if (h5_is_store(p->model)) {
        rc = h5_set_root_attr(tmp, "depthfuse_json", text);
    } else {
        char *f = df_path_join(tmp, "depthfuse.json");
        rc = df_write_file(f, text, strlen(text));
        free(f);
    }
    free(text);
    return rc;
}

int output_write_model(const Model *m, const Topology *t, const OutputPlan *p, uint64_t max_shard_bytes) {
    const int rank = t ? t->rank : 0;
    char tmp[PATH_MAX];
    int rc = 0;
    if (rank == 0) {
        char *tp = df_tmp_path(p->model);
        snprintf(tmp, sizeof tmp, "%s", tp);
        free(tp);
        rc = check_free_space(m, p->model);
    }
    if (t) {
        MPI_Bcast(tmp, (int)sizeof tmp, MPI_CHAR, 0, MPI_COMM_WORLD);
        DF_TRY(df_agree(MPI_COMM_WORLD, rc));
    } else {
        DF_TRY(rc);
    }
    rc = h5_is_store(p->model) ? h5_write_model(m, t, tmp) : model_write_hf(m, t, tmp, max_shard_bytes);
    if (rank == 0) {
        if (rc == 0) rc = write_provenance(tmp, p);
        if (rc == 0) rc = commit_model(tmp, p);
        if (rc == 0) df_event_output(p->model);
        if (rc != 0) df_rm_rf(tmp);
    }
    return t ? df_agree(MPI_COMM_WORLD, rc) : rc;
}
