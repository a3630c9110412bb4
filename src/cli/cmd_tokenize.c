/* depthfuse tokenize / detokenize: text <-> token ids with a model's tokenizer.json, exactly as
 * Hugging Face tokenizers does it. Rank 0 does the work (under mpirun the others wait); output
 * written with -o appears only when complete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "depthfuse/args.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/log.h"
#include "depthfuse/output.h"
#include "depthfuse/tokenizer.h"
#include "depthfuse/topology.h"

static int parse_format(const char *cmd, const char *f, int *u32) {
    if (!strcmp(f, "txt") || !strcmp(f, "u32")) {
        *u32 = !strcmp(f, "u32");
        return 0;
    }
    return df_fail("depthfuse %s: --format must be txt or u32, got '%s'", cmd, f);
}

/* exactly one of --text/--ids and a FILE */
static int one_input(const char *cmd, const char *flag, const char *inline_value, const StrList *files) {
    if ((inline_value != NULL) + files->n != 1)
        return df_fail("depthfuse %s: give either %s or one FILE (see --help)", cmd, flag);
    return 0;
}

/* -o is replaced (atomically), but never over an input (output.h) */
static int check_out(const char *out, const char *tokenizer, const StrList *files) {
    OutputPlan plan = {0};
    output_add_model_input(&plan, tokenizer);
    for (int i = 0; i < files->n; i++) output_add_input(&plan, files->items[i]);
    output_add_report(&plan, out);
    int rc = output_check_local(&plan);
    output_plan_free(&plan);
    return rc;
}

static int emit(const char *out, const void *data, size_t n) {
    if (out) return df_write_file(out, data, n);
    if (fwrite(data, 1, n, stdout) != n || fflush(stdout) != 0) return df_fail("stdout: write failed: %s", strerror(errno));
    return 0;
}

static int run_tokenize(const char *tokenizer, const char *text_arg, const StrList *files, int bos, int u32,
                        int replace, const char *out) {
    Tokenizer *tok;
    DF_TRY(tokenizer_load(&tok, tokenizer));
    tokenizer_set_replace_invalid(tok, replace);
    char *data = NULL;
    size_t len = 0;
    const char *what = text_arg ? "--text" : files->items[0];
    int rc = 0;
    if (text_arg) len = strlen(text_arg);
    else rc = df_read_file(files->items[0], &data, &len);
    IdVec ids = {0};
    if (rc == 0 && tokenizer_encode(tok, text_arg ? text_arg : data, len, bos, &ids) < 0) {
        char why[900];
        snprintf(why, sizeof why, "%s", df_errmsg());
        rc = df_fail("%s: %s", what, why);
    }
    free(data);
    tokenizer_free(tok);
    if (rc == 0) {
        char *buf;
        size_t n = 0;
        if (u32) {
            buf = df_malloc(4 * ids.n + 1);
            for (size_t i = 0; i < ids.n; i++) {
                uint32_t v = (uint32_t)ids.ids[i];
                unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
                memcpy(buf + 4 * i, le, 4);
            }
            n = 4 * ids.n;
        } else {
            buf = df_malloc(12 * ids.n + 2);
            for (size_t i = 0; i < ids.n; i++) n += (size_t)sprintf(buf + n, i ? " %d" : "%d", ids.ids[i]);
            buf[n++] = '\n';
        }
        rc = emit(out, buf, n);
        free(buf);
    }
    idvec_free(&ids);
    return rc;
}

/* ids from "1 2 3" text (what names the source in messages) or little-endian u32 */
static int parse_ids(const char *s, size_t len, int u32, const char *what, IdVec *ids) {
    if (u32) {
        if (len % 4) return df_fail("%s: %zu bytes is not a whole number of u32 ids", what, len);
        for (size_t i = 0; i < len; i += 4) {
            const unsigned char *b = (const unsigned char *)s + i;
            uint32_t v = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            if (v > INT32_MAX) return df_fail("%s: id %u at byte %zu is out of range", what, v, i);
            idvec_push(ids, (int32_t)v);
        }
        return 0;
    }
    for (size_t i = 0; i < len;) {
        if (strchr(" \t\r\n,", s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        long long v = 0;
        while (j < len && s[j] >= '0' && s[j] <= '9' && v <= INT32_MAX) v = v * 10 + (s[j++] - '0');
        if (j == i || v > INT32_MAX || (j < len && !strchr(" \t\r\n,", s[j])))
            return df_fail("%s: expected a token id at byte %zu, found '%.*s'", what, i, (int)(j + 1 - i < 20 ? j + 1 - i : 20), s + i);
        idvec_push(ids, (int32_t)v);
        i = j;
    }
    return 0;
}

static int run_detokenize(const char *tokenizer, const char *ids_arg, const StrList *files, int u32, int skip,
                          const char *out) {
    Tokenizer *tok;
    DF_TRY(tokenizer_load(&tok, tokenizer));
    char *data = NULL, *text = NULL;
    size_t len = 0, tlen = 0;
    const char *what = ids_arg ? "--ids" : files->items[0];
    int rc = ids_arg ? 0 : df_read_file(files->items[0], &data, &len);
    IdVec ids = {0};
    if (rc == 0) rc = parse_ids(ids_arg ? ids_arg : data, ids_arg ? strlen(ids_arg) : len, u32 && !ids_arg, what, &ids);
    if (rc == 0 && tokenizer_decode(tok, ids.ids, ids.n, skip, &text, &tlen) < 0) {
        char why[900];
        snprintf(why, sizeof why, "%s", df_errmsg());
        rc = df_fail("%s: %s", what, why);
    }
    if (rc == 0) rc = emit(out, text, tlen);
    free(text);
    free(data);
    idvec_free(&ids);
    tokenizer_free(tok);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *summary = "Text (a FILE, or --text) to token ids, as Hugging Face tokenizers encodes it.";
    char *tokenizer = NULL, *text = NULL, *out = NULL, *format = "txt";
    int bos = 0, replace = 0, u32 = 0;
    StrList files = {0};
    ArgSpec spec[] = {
        {"--tokenizer", ARG_STR, &tokenizer, "PATH", "tokenizer.json, or a model folder holding one", ARG_REQUIRED},
        {"--text", ARG_STR, &text, "STR", "the text to tokenize (instead of FILE)", 0},
        {"--bos", ARG_FLAG, &bos, NULL, "add the post-processor's special tokens (BOS)", 0},
        {"--format", ARG_STR, &format, "txt|u32", "txt: ids separated by spaces; u32: little-endian uint32", 0},
        {"--replace-invalid", ARG_FLAG, &replace, NULL, "replace invalid UTF-8 with U+FFFD instead of failing", 0},
        {"-o", ARG_STR, &out, "OUT", "write here, replacing the file (default: stdout)", 0},
        {0}};
    int rc = args_parse("tokenize", summary, spec, argc, argv, &files, "[FILE]");
    if (rc == 1) {
        strlist_free(&files);
        return 0;
    }
    if (rc == 0) rc = parse_format("tokenize", format, &u32);
    if (rc == 0) rc = one_input("tokenize", "--text", text, &files);
    if (rc == 0 && df_rank() == 0) rc = check_out(out, tokenizer, &files);
    if (rc == 0 && df_rank() == 0) rc = run_tokenize(tokenizer, text, &files, bos, u32, replace, out);
    strlist_free(&files);
    return df_agree(MPI_COMM_WORLD, rc) < 0;
}

int cmd_detokenize(int argc, char **argv) {
    const char *summary = "Token ids (a FILE, or --ids) back to text, as Hugging Face tokenizers decodes them.";
    char *tokenizer = NULL, *ids = NULL, *out = NULL, *format = "txt";
    int skip = 0, u32 = 0;
    StrList files = {0};
    ArgSpec spec[] = {
        {"--tokenizer", ARG_STR, &tokenizer, "PATH", "tokenizer.json, or a model folder holding one", ARG_REQUIRED},
        {"--ids", ARG_STR, &ids, "\"1 2 3\"", "the ids to decode (instead of FILE)", 0},
        {"--format", ARG_STR, &format, "txt|u32", "FILE holds txt ids (separated by spaces) or little-endian uint32", 0},
        {"--skip-special", ARG_FLAG, &skip, NULL, "leave special tokens out of the text", 0},
        {"-o", ARG_STR, &out, "OUT", "write here, replacing the file (default: stdout)", 0},
        {0}};
    int rc = args_parse("detokenize", summary, spec, argc, argv, &files, "[FILE]");
    if (rc == 1) {
        strlist_free(&files);
        return 0;
    }
    if (rc == 0) rc = parse_format("detokenize", format, &u32);
    if (rc == 0) rc = one_input("detokenize", "--ids", ids, &files);
    if (rc == 0 && df_rank() == 0) rc = check_out(out, tokenizer, &files);
    if (rc == 0 && df_rank() == 0) rc = run_detokenize(tokenizer, ids, &files, u32, skip, out);
    strlist_free(&files);
    return df_agree(MPI_COMM_WORLD, rc) < 0;
}
