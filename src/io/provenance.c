#include "depthfuse/provenance.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <mpi.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/h5store.h"

static char *g_cmdline = NULL;

void df_set_command_line(int argc, char **argv) {
    size_t n = strlen("depthfuse") + 1;
    for (int i = 1; i < argc; i++) n += strlen(argv[i]) + 1;
    free(g_cmdline);
    g_cmdline = df_malloc(n);
    strcpy(g_cmdline, "depthfuse");
    for (int i = 1; i < argc; i++) strcat(strcat(g_cmdline, " "), argv[i]);
}

const char *df_command_line(void) { return g_cmdline ? g_cmdline : "depthfuse"; }

cJSON *df_versions_json(void) {
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "depthfuse", DF_VERSION);
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    MPI_Get_library_version(mpi, &n);
    mpi[strcspn(mpi, ",\n")] = 0;
    cJSON_AddStringToObject(v, "mpi", mpi);
    cJSON_AddStringToObject(v, "openblas", openblas_get_config());
    return v;
}

typedef struct {
    uint64_t h;
    int bad;
} Hash;

static void mix(Hash *h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h->h = (h->h ^ p[i]) * 1099511628211ull;
}

/* n bytes of f from off (n = 0: to the end) */
static void mix_file(Hash *h, const char *path, long off, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, off, off < 0 ? SEEK_END : SEEK_SET) != 0) {
        h->bad = 1;
        if (f) fclose(f);
        return;
    }
    char buf[65536];
    size_t got, left = n;
    while ((n == 0 || left > 0) && (got = fread(buf, 1, n && left < sizeof buf ? left : sizeof buf, f)) > 0) {
        mix(h, buf, got);
        left -= n ? got : 0;
    }
    if (ferror(f)) h->bad = 1;
    fclose(f);
}

/* a safetensors file's 8-byte length and JSON header */
static void mix_safetensors_header(Hash *h, const char *path) {
    FILE *f = fopen(path, "rb");
    unsigned char len8[8];
    if (!f || fread(len8, 1, 8, f) != 8) {
        h->bad = 1;
        if (f) fclose(f);
        return;
    }
    fclose(f);
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = len << 8 | len8[i];
    mix(h, len8, 8);
    if (len > (100u << 20)) h->bad = 1;
    else mix_file(h, path, 8, (size_t)len);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void mix_model_folder(Hash *h, const char *dir) {
    char *cfg = df_path_join(dir, "config.json");
    mix_file(h, cfg, 0, 0);
    free(cfg);
    DIR *d = opendir(dir);
    if (!d) {
        h->bad = 1;
        return;
    }
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const size_t l = strlen(e->d_name);
        if (l > 12 && !strcmp(e->d_name + l - 12, ".safetensors")) {
            names = df_realloc(names, sizeof(char *) * (size_t)(n + 1));
            names[n++] = df_strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), by_name); /* readdir's order is the file system's */
    for (int i = 0; i < n; i++) {
        char *p = df_path_join(dir, names[i]);
        mix(h, names[i], strlen(names[i]) + 1);
        mix_safetensors_header(h, p);
        free(p);
        free(names[i]);
    }
    free(names);
}

char *provenance_hash(const char *path, int is_model) {
    struct stat st;
    if (stat(path, &st) != 0) return NULL;
    Hash h = {1469598103934665603ull, 0};
    if (is_model && S_ISDIR(st.st_mode)) {
        mix_model_folder(&h, path);
    } else if (is_model && h5_is_store(path)) {
        const uint64_t size = (uint64_t)st.st_size, mib = 1u << 20;
        mix(&h, &size, sizeof size);
        mix_file(&h, path, 0, size < mib ? (size_t)size : mib);
        if (size > 2 * mib) mix_file(&h, path, -(long)mib, mib);
    } else if (S_ISREG(st.st_mode)) {
        mix_file(&h, path, 0, 0);
    } else {
        return NULL;
    }
    if (h.bad) return NULL;
    char *s = df_malloc(32);
    snprintf(s, 32, "fnv1a64:%016llx", (unsigned long long)h.h);
    return s;
}

char *provenance_json(const OutputPlan *p) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "depthfuse-provenance");
    cJSON_AddNumberToObject(root, "format_version", 1);
    cJSON_AddItemToObject(root, "versions", df_versions_json());
    cJSON_AddStringToObject(root, "command", df_command_line());
    cJSON *in = cJSON_AddArrayToObject(root, "inputs");
    for (int i = 0; i < p->n_inputs; i++) {
        if (p->state && !strcmp(p->inputs[i], p->state)) continue; /* it changes as the run goes */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", p->inputs[i]);
        cJSON_AddStringToObject(o, "kind", p->input_is_model[i] ? "model" : "file");
        char *h = provenance_hash(p->inputs[i], p->input_is_model[i]);
        if (h) cJSON_AddStringToObject(o, "hash", h);
        else cJSON_AddNullToObject(o, "hash");
        free(h);
        cJSON_AddItemToArray(in, o);
    }
    for (const cJSON *it = p->provenance ? p->provenance->child : NULL; it; it = it->next)
        cJSON_AddItemToObject(root, it->string, cJSON_Duplicate(it, 1));
    char *printed = cJSON_Print(root), *text = df_strdup(printed);
    cJSON_free(printed);
    cJSON_Delete(root);
    return text;
}
