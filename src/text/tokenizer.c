/* tokenizer_load: a tokenizer.json (or a model folder holding one) compiled into the pipeline of
 * tok_internal.h. Every component the file names is either implemented or refused by name. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/h5store.h"
#include "depthfuse/json.h"
#include "depthfuse/log.h"
#include "tok_internal.h"

enum { DEFAULT_CHUNK = 64 << 10, MAX_THREADS = 64 };

int json_only_keys(const cJSON *o, const char *const *keys, const char *what) {
    const cJSON *it;
    cJSON_ArrayForEach(it, o) {
        int known = 0;
        for (const char *const *k = keys; *k && !known; k++) known = !strcmp(it->string, *k);
        if (!known) return df_fail("%s: option \"%s\" is not supported", what, it->string);
    }
    return 0;
}

/* truncation and padding change the ids of a single text; depthfuse tokenizes whole texts */
static int check_top(const cJSON *root, const char *file) {
    static const char *const keys[] = {"version", "truncation", "padding", "added_tokens", "normalizer",
                                       "pre_tokenizer", "post_processor", "decoder", "model", NULL};
    DF_TRY(json_only_keys(root, keys, file));
    static const char *const off[] = {"truncation", "padding"};
    for (int i = 0; i < 2; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, off[i]);
        if (x && !cJSON_IsNull(x)) return df_fail("%s: %s is not supported (it must be null)", file, off[i]);
    }
    return 0;
}

/* Ids of added tokens as the reference gives them when it loads a file (the "id" written there is
 * not used): a token already known keeps its id (model vocab, or an earlier added token with the
 * same content); a new one takes the model's vocab size, then one past the largest added id. */
static void assign_added_ids(Tokenizer *t, const StrMap *by_text) {
    StrMap seen = {0};
    strmap_init(&seen, (size_t)t->added.n);
    int32_t max = -1, vocab = (int32_t)by_text->n;
    for (int i = 0; i < t->added.n; i++) {
        AddedToken *a = &t->added.tok[i];
        int32_t id = strmap_get(&seen, a->content, a->len);
        if (id < 0) id = strmap_get(by_text, a->content, a->len);
        if (id < 0) id = max < 0 ? vocab : (max >= vocab || vocab == 0) ? max + 1 : vocab;
        if (a->id != id)
            df_warn("%s: added token '%s' is written with id %d; the reference tokenizer gives it %d, and so does depthfuse",
                    t->path, a->content, a->id, id);
        a->id = id;
        strmap_put(&seen, a->content, a->len, id);
        if (id > max) max = id;
    }
    strmap_free(&seen);
}

/* added tokens join the id -> text table; decode(skip_special) needs to know the special ones */
static int merge_added_ids(Tokenizer *t, const StrMap *by_text) {
    assign_added_ids(t, by_text);
    int max = t->nid - 1;
    for (int i = 0; i < t->added.n; i++)
        if (t->added.tok[i].id > max) max = t->added.tok[i].id;
    t->id_text = df_realloc(t->id_text, sizeof(char *) * (size_t)(max + 1));
    for (int i = t->nid; i <= max; i++) t->id_text[i] = NULL;
    t->nid = max + 1;
    StrMap special = {0};
    strmap_init(&special, (size_t)t->added.n);
    Buf nf = {0};
    for (int i = 0; i < t->added.n; i++) {
        const AddedToken *a = &t->added.tok[i];
        /* the reference's id_to_token looks at added tokens first, and gives a normalized=true one in
         * its normalized form (what the decoder is built to undo) */
        if (a->normalized) normalize_apply(t->norm, t->nnorm, a->content, a->len, &nf);
        if (!a->normalized || !nf.n) {
            nf.n = 0;
            buf_put(&nf, a->content, a->len);
        }
        buf_putc(&nf, 0);
        free(t->id_text[a->id]);
        t->id_text[a->id] = df_strdup(nf.p);
        if (a->special) strmap_put(&special, a->content, a->len, 1);
    }
    buf_free(&nf);
    /* decode(skip_special) compares token strings with the special tokens, as the reference does */
    t->is_special = df_calloc((size_t)t->nid, 1);
    for (int i = 0; i < t->nid; i++)
        if (t->id_text[i]) t->is_special[i] = strmap_get(&special, t->id_text[i], strlen(t->id_text[i])) >= 0;
    strmap_free(&special);
    return 0;
}

static int parse(Tokenizer *t, const cJSON *root) {
    const char *f = t->path;
    if (!cJSON_IsObject(root)) return df_fail("%s: not a tokenizer.json object", f);
    DF_TRY(check_top(root, f));
    int byte_level;
    DF_TRY(normalize_parse(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), &t->norm, &t->nnorm, t->ncopies, f));
    DF_TRY(pretokenize_parse(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &t->pre, &t->npre, &byte_level,
                             t->ncopies, f));
    StrMap by_text = {0};
    int rc = bpe_parse(&t->bpe, cJSON_GetObjectItemCaseSensitive(root, "model"), byte_level, &t->id_text, &t->nid,
                       &by_text, f);
    if (rc == 0) rc = added_parse(&t->added, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), t->norm, t->nnorm, f);
    if (rc == 0) rc = merge_added_ids(t, &by_text);
    strmap_free(&by_text);
    DF_TRY(rc);
    DF_TRY(postprocess_parse(&t->post, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), f));
    DF_TRY(decode_parse(cJSON_GetObjectItemCaseSensitive(root, "decoder"), &t->dec, &t->ndec, &t->has_decoder, f));
    int has_split = 0;
    for (int i = 0; i < t->npre; i++) has_split |= t->pre[i].kind == PRE_SPLIT;
    if (!has_split) tokenizer_build_pairs(t);
    return 0;
}

int tokenizer_parse(Tokenizer **out, const char *json, size_t len, const char *what) {
    *out = NULL;
    /* the reference only reads well-formed UTF-8, and the decoders rely on it */
    size_t bad = utf8_check(json, len);
    if (bad < len) return df_fail("%s: invalid UTF-8 at byte %zu", what, bad);
    cJSON *root = NULL;
    DF_TRY(df_json_parse(json, len, what, &root));
    Tokenizer *t = df_calloc(1, sizeof(Tokenizer));
    t->path = df_strdup(what);
    t->chunk_bytes = DEFAULT_CHUNK;
    t->ncopies = omp_get_max_threads();
    if (t->ncopies > MAX_THREADS) t->ncopies = MAX_THREADS;
    if (t->ncopies < 1) t->ncopies = 1;
    int rc = parse(t, root);
    cJSON_Delete(root);
    if (rc < 0) {
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int tokenizer_load(Tokenizer **out, const char *path) {
    *out = NULL;
    char *json = NULL, *file = NULL, what[1100];
    size_t len = 0;
    int rc;
    if (h5_is_store(path)) { /* a depthfuse .h5 store carries its tokenizer.json verbatim */
        snprintf(what, sizeof what, "%s:/files/tokenizer.json", path);
        df_clear_error();
        rc = h5_read_file(path, "tokenizer.json", &json, &len);
        if (rc < 0 && !strstr(df_errmsg(), path)) rc = df_fail("%s: the store holds no tokenizer.json", path);
    } else {
        file = df_is_dir(path) ? df_path_join(path, "tokenizer.json") : df_strdup(path);
        snprintf(what, sizeof what, "%s", file);
        rc = df_exists(file) ? df_read_file(file, &json, &len)
                             : df_fail("%s: no tokenizer.json there", df_is_dir(path) ? path : file);
    }
    if (rc == 0) rc = tokenizer_parse(out, json, len, what);
    free(json);
    free(file);
    return rc;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    bpe_free(&t->bpe);
    for (int i = 0; i < t->nid; i++) free(t->id_text[i]);
    free(t->id_text);
    free(t->is_special);
    added_free(&t->added);
    normalize_free(t->norm, t->nnorm);
    pretokenize_free(t->pre, t->npre);
    free(t->post.prefix);
    free(t->post.suffix);
    decode_free(t->dec, t->ndec);
    strmap_free(&t->pairs);
    free(t->path);
    free(t);
}

int tokenizer_vocab_size(const Tokenizer *t) { return t->nid; }

int tokenizer_bos_id(const Tokenizer *t) { return t->post.nprefix == 1 ? t->post.prefix[0] : -1; }

void tokenizer_set_replace_invalid(Tokenizer *t, int on) { t->replace_invalid = on; }

void tokenizer_set_chunk_bytes(Tokenizer *t, size_t bytes) { t->chunk_bytes = bytes ? bytes : DEFAULT_CHUNK; }
