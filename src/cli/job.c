/* depthfuse run JOB.json: a job file checked against the command's option table and run as the
 * command line it stands for (job.h, docs/jobs.md). */
#include "job.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/log.h"
#include "depthfuse/topology.h"
#include "job_keys.h"

static const Command COMMANDS[] = {DF_COMMANDS};

const Command *job_command_at(int i) {
    return i >= 0 && i < (int)(sizeof COMMANDS / sizeof COMMANDS[0]) ? &COMMANDS[i] : NULL;
}

const Command *job_command(const char *name) {
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(COMMANDS[i].name, name)) return &COMMANDS[i];
    return NULL;
}

static void push(JobArgv *j, const char *s) {
    j->argv = df_realloc(j->argv, sizeof(char *) * (size_t)(j->argc + 2));
    j->argv[j->argc++] = df_strdup(s);
    j->argv[j->argc] = NULL;
}

void job_argv_free(JobArgv *j) {
    for (int i = 0; i < j->argc; i++) free(j->argv[i]);
    free(j->argv);
    memset(j, 0, sizeof *j);
}

/* a path of the job, relative to the job file's folder unless absolute */
static char *resolve(const char *dir, const char *v) {
    if (v[0] == '/' || !dir[0]) return df_strdup(v);
    return df_path_join(dir, v);
}

/* strict JSON has no duplicate keys; cJSON keeps both, so they are refused here */
static int no_duplicates(const cJSON *o, const char *file, const char *at) {
    for (const cJSON *a = o ? o->child : NULL; a; a = a->next) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", at, at[0] ? "." : "", a->string ? a->string : "");
        if (cJSON_IsObject(o))
            for (const cJSON *b = a->next; b; b = b->next)
                if (!strcmp(a->string, b->string)) return df_fail("%s: %s: given twice", file, path);
        if (cJSON_IsObject(a)) DF_TRY(no_duplicates(a, file, path));
    }
    return 0;
}

/* one key's value, type-checked, onto the command line */
static int add_option(JobArgv *j, const JobKey *k, const cJSON *v, const char *file, const char *at, const char *dir) {
    char buf[64];
    switch (k->kind) {
    case ARG_FLAG:
        if (!cJSON_IsBool(v)) return df_fail("%s: %s: expected true or false", file, at);
        if (cJSON_IsTrue(v)) push(j, k->flag);
        return 0;
    case ARG_INT:
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < INT_MIN ||
            v->valuedouble > INT_MAX)
            return df_fail("%s: %s: expected an integer", file, at);
        snprintf(buf, sizeof buf, "%d", (int)v->valuedouble);
        break;
    case ARG_DOUBLE:
        if (!cJSON_IsNumber(v)) return df_fail("%s: %s: expected a number", file, at);
        snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        break;
    case ARG_STR:
        if (!cJSON_IsString(v)) return df_fail("%s: %s: expected a string", file, at);
        if (!v->valuestring[0]) return df_fail("%s: %s: empty", file, at);
        break;
    case ARG_STR_LIST: {
        if (cJSON_IsString(v)) return add_option(j, &(JobKey){.kind = ARG_STR, .flag = k->flag, .path = k->path}, v, file, at, dir);
        if (!cJSON_IsArray(v) || !cJSON_GetArraySize(v)) return df_fail("%s: %s: expected a list of strings", file, at);
        int i = 0;
        for (const cJSON *e = v->child; e; e = e->next, i++) {
            char item[256];
            snprintf(item, sizeof item, "%s[%d]", at, i);
            DF_TRY(add_option(j, &(JobKey){.kind = ARG_STR, .flag = k->flag, .path = k->path}, e, file, item, dir));
        }
        return 0;
    }
    }
    push(j, k->flag);
    if (k->kind != ARG_STR) {
        push(j, buf);
    } else {
        char *p = k->path ? resolve(dir, v->valuestring) : df_strdup(v->valuestring);
        push(j, p);
        free(p);
    }
    return 0;
}

/* the members of obj against a key table (skip: the names handled by the caller; other, where: the
 * table of the other level, named in the message of a key put at the wrong one) */
static int add_members(JobArgv *j, const JobKeys *t, const cJSON *obj, const char *file, const char *at,
                       const char *dir, const char *const *skip, const JobKeys *other, const char *where) {
    for (const cJSON *m = obj->child; m; m = m->next) {
        int skipped = 0;
        for (int i = 0; skip && skip[i]; i++) skipped |= !strcmp(m->string, skip[i]);
        if (skipped) continue;
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", at, at[0] ? "." : "", m->string);
        const JobKey *k = job_key_find(t, m->string);
        if (!k && other && job_key_find(other, m->string))
            return df_fail("%s: %s: unknown key here; it belongs %s", file, path, where);
        if (!k) return df_fail("%s: %s: unknown key (docs/jobs.md lists the keys of %s)", file, path, j->argv[0]);
        DF_TRY(add_option(j, k, m, file, path, dir));
    }
    for (int i = 0; i < t->n; i++)
        if (t->k[i].required && !cJSON_GetObjectItemCaseSensitive(obj, t->k[i].key))
            return df_fail("%s: %s%s%s: required (%s)", file, at, at[0] ? "." : "", t->k[i].key, t->k[i].flag);
    return 0;
}

/* "method": {"NAME": {...}} of compress and prune (shared: the top level's keys); mt: the method's */
static int add_method(JobArgv *j, const cJSON *root, const char *file, const char *dir, const JobKeys *shared, JobKeys *mt) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "method");
    if (!m) return df_fail("%s: method: required (an object naming one method: {\"mi\": {...}})", file);
    if (!cJSON_IsObject(m) || cJSON_GetArraySize(m) != 1)
        return df_fail("%s: method: expected an object with one member, the method: {\"mi\": {...}}", file);
    const cJSON *o = m->child;
    char at[128];
    snprintf(at, sizeof at, "method.%s", o->string);
    if (job_keys(mt, j->argv[0], o->string) < 0) return df_fail("%s: %s: %s", file, at, df_errmsg());
    if (!cJSON_IsObject(o)) return df_fail("%s: %s: expected an object of the method's options ({} for none)", file, at);
    push(j, "--method");
    push(j, o->string);
    return add_members(j, mt, o, file, at, dir, NULL, shared, "at the top level (every method's)");
}

static int build(JobArgv *j, const cJSON *root, const char *file, const char *dir) {
    if (!cJSON_IsObject(root)) return df_fail("%s: expected a JSON object", file);
    DF_TRY(no_duplicates(root, file, ""));
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "command"), *d = cJSON_GetObjectItemCaseSensitive(root, "description"),
                *r = cJSON_GetObjectItemCaseSensitive(root, "ranks"), *in = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    if (!c) return df_fail("%s: command: required (compress, prune, importance, eval, ...)", file);
    if (!cJSON_IsString(c)) return df_fail("%s: command: expected a string", file);
    if (d && !cJSON_IsString(d)) return df_fail("%s: description: expected a string", file);
    if (r && (!cJSON_IsNumber(r) || r->valuedouble != floor(r->valuedouble) || r->valuedouble < 1 || r->valuedouble > 1 << 20))
        return df_fail("%s: ranks: expected an integer >= 1", file);
    j->ranks = r ? (int)r->valuedouble : 0;
    JobKeys t;
    if (job_keys(&t, c->valuestring, NULL) < 0) return df_fail("%s: command: %s", file, df_errmsg());
    j->cmd = job_command(c->valuestring);
    push(j, c->valuestring);
    JobKeys mt = {0};
    int rc = job_has_methods(c->valuestring) ? add_method(j, root, file, dir, &t, &mt) : 0;
    const char *const skip[] = {"command", "description", "ranks", "inputs", job_has_methods(c->valuestring) ? "method" : NULL, NULL};
    char where[160];
    snprintf(where, sizeof where, "under method.%s", mt.n ? cJSON_GetObjectItemCaseSensitive(root, "method")->child->string : "NAME");
    if (rc == 0) rc = add_members(j, &t, root, file, "", dir, skip, mt.n ? &mt : NULL, where);
    job_keys_free(&mt);
    if (rc == 0 && in && !t.positional) rc = df_fail("%s: inputs: %s takes no positional arguments", file, c->valuestring);
    if (rc == 0 && in) {
        if (!cJSON_IsArray(in)) rc = df_fail("%s: inputs: expected a list of strings (%s)", file, t.positional_name);
        int i = 0;
        for (const cJSON *e = in->child; e && rc == 0; e = e->next, i++) {
            if (!cJSON_IsString(e) || !e->valuestring[0]) {
                rc = df_fail("%s: inputs[%d]: expected a string", file, i);
                break;
            }
            char *p = resolve(dir, e->valuestring);
            push(j, p);
            free(p);
        }
    }
    job_keys_free(&t);
    return rc;
}

int job_load(JobArgv *j, const char *path) {
    memset(j, 0, sizeof *j);
    char *text = NULL;
    size_t len = 0;
    int rc = df_read_file(path, &text, &len);
    cJSON *root = NULL;
    if (rc == 0) {
        const char *end = NULL;
        root = cJSON_ParseWithOpts(text, &end, 1);
        if (root && (size_t)(end - text) != len) { /* a NUL byte inside the file */
            cJSON_Delete(root);
            root = NULL;
        }
        if (!root) {
            int line = 1;
            for (const char *p = text; end && p < end; p++) line += *p == '\n';
            rc = df_fail("%s: not valid JSON (line %d)", path, line);
        }
    }
    if (rc == 0) {
        const char *slash = strrchr(path, '/');
        char *dir = slash ? df_malloc((size_t)(slash - path) + 2) : df_strdup("");
        if (slash) snprintf(dir, (size_t)(slash - path) + 2, "%.*s", (int)(slash == path ? 1 : slash - path), path);
        rc = build(j, root, path, dir);
        free(dir);
    }
    cJSON_Delete(root);
    free(text);
    if (rc < 0) job_argv_free(j);
    return df_agree(MPI_COMM_WORLD, rc);
}

/* the command line a job stands for, shell-quoted where needed (a new string) */
static char *command_line(const JobArgv *j) {
    size_t n = 16;
    for (int i = 0; i < j->argc; i++) n += strlen(j->argv[i]) + 3;
    char *s = df_malloc(n), *p = s;
    p += sprintf(p, "depthfuse");
    for (int i = 0; i < j->argc; i++) {
        const char *a = j->argv[i];
        const int plain = a[0] && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@%") == strlen(a);
        p += sprintf(p, plain ? " %s" : " '%s'", a);
    }
    return s;
}

/* the command's own parser over the job's command line, without running it */
static int parse_only(void *ctx, const char *cmd, const ArgSpec *spec, const int *given, const char *positional_name) {
    *(int *)ctx = 1;
    return args_check_required(cmd, spec, given) < 0 ? -1 : 1;
}

int cmd_run(int argc, char **argv) {
    int check = 0, schema = 0;
    StrList files = {0};
    const ArgSpec spec[] = {
        {"--check", ARG_FLAG, &check, NULL, "check the job and print the command line it stands for; run nothing", 0},
        {"--schema", ARG_FLAG, &schema, NULL, "print every command's job keys as Markdown (docs/jobs.md)", 0},
        {0}};
    int rc = args_parse("run", "Run a command from a JSON job file: its keys are the command's options (\"seq_len\": "
                        "--seq-len; compress's method options under \"method\": {\"fusegpt\": {...}}); paths are relative "
                        "to the job file's folder. Unknown keys, wrong types and missing required keys are refused "
                        "before anything else is read. docs/jobs.md.", spec, argc, argv, &files, "JOB.json");
    if (rc == 0 && schema) {
        if (files.n) rc = df_fail("depthfuse run: --schema takes no job");
        else if (df_rank() == 0) job_print_schema();
        strlist_free(&files);
        return rc < 0;
    }
    if (rc == 0 && files.n != 1) rc = df_fail("depthfuse run: give one JOB.json");
    if (rc != 0) {
        strlist_free(&files);
        return rc < 0;
    }
    JobArgv j;
    rc = job_load(&j, files.items[0]);
    if (rc == 0 && !check && j.ranks && j.ranks != df_nranks())
        rc = df_fail("%s: ranks: the job is for %d ranks; this run has %d (mpirun -np %d)", files.items[0], j.ranks,
                     df_nranks(), j.ranks);
    if (rc == 0 && check) {
        int parsed = 0;
        args_observe(parse_only, &parsed);
        rc = j.cmd->run(j.argc, j.argv) || !parsed ? -1 : 0;
        args_observe(NULL, NULL);
        char *line = rc == 0 ? command_line(&j) : NULL;
        if (rc == 0) df_print0("%s\n", line);
        free(line);
    } else if (rc == 0) {
        char *line = command_line(&j);
        df_info0("%s: %s\n", files.items[0], line);
        free(line);
        rc = j.cmd->run(j.argc, j.argv) ? -1 : 0;
    }
    job_argv_free(&j);
    strlist_free(&files);
    return rc < 0;
}
