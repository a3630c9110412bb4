/* Task files: every fixture format read into the requests lm-evaluation-harness would score (first
 * items checked against the files' text), compressed files equal to what gzip/bzip2 give, bad lines
 * reported with FILE:LINE; the context/continuation split and the metrics against hand-computed
 * values. */
#include <unistd.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/zeroshot.h"
#include "test_util.h"

static const char *g_tmp;

/* DIR/name with the given contents */
static const char *tmp_file(const char *name, const char *text) {
    static char bufs[4][1024];
    static int k = 0;
    char *p = bufs[k++ % 4];
    snprintf(p, 1024, "%s/%s", g_tmp, name);
    if (df_write_file(p, text, strlen(text)) < 0) fprintf(stderr, "%s\n", df_errmsg()), exit(2);
    return p;
}

static int nonblank_lines(const char *path) {
    char *t;
    size_t n;
    if (df_read_file(path, &t, &n) < 0) return -1;
    int k = 0, in_line = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\n') k += in_line, in_line = 0;
        else in_line = 1;
    }
    free(t);
    return k + in_line;
}

static void expect_request(const Task *t, int item, int choice, const char *ctx, const char *cont, int chars) {
    const TaskRequest *q = &t->reqs[t->items[item].first + choice];
    CHECK(!strcmp(q->ctx, ctx), "%s item %d: context '%s', want '%s'", t->path, item, q->ctx, ctx);
    CHECK(!strcmp(q->cont, cont), "%s item %d choice %d: continuation '%s', want '%s'", t->path, item, choice, q->cont, cont);
    CHECK(q->norm_chars == chars, "%s item %d choice %d: %d characters, want %d", t->path, item, choice, q->norm_chars, chars);
}

static void test_fixture_files(void) {
    static const struct {
        const char *rel, *format;
        int choices;
    } files[] = {
        {"tasks/brown_cloze.valid.jsonl", "multiple_choice", 4}, {"tasks/kjv_cloze.valid.jsonl", "multiple_choice", 4},
        {"tasks/nlpc_cloze.valid.jsonl", "multiple_choice", 4}, {"tasks/wordnet_def.valid.jsonl", "multiple_choice", 4},
        {"tasks/llm-foundry/arc_challenge.jsonl", "multiple_choice", 0}, {"tasks/llm-foundry/arc_easy.jsonl", "multiple_choice", 0},
        {"tasks/llm-foundry/boolq.jsonl", "multiple_choice", 2}, {"tasks/llm-foundry/commonsense_qa.jsonl", "multiple_choice", 4},
        {"tasks/llm-foundry/copa.jsonl", "multiple_choice", 2}, {"tasks/llm-foundry/lambada_openai.jsonl", "language_modeling", 1},
        {"tasks/llm-foundry/openbook_qa.jsonl", "multiple_choice", 4}, {"tasks/llm-foundry/piqa.jsonl", "multiple_choice", 2},
        {"tasks/llm-foundry/siqa.jsonl", "multiple_choice", 0}, {"tasks/llm-foundry/winogrande.jsonl", "schema", 2},
        {"tasks/piqa-original/valid.jsonl", "piqa", 2},
    };
    TaskReadOpts o = {0};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        Task t;
        const char *path = fixture(files[f].rel);
        CHECK(task_read(&t, path, &o) == 0, "%s", df_errmsg());
        CHECK(t.n_items == nonblank_lines(path), "%s: %d items, %d lines", path, t.n_items, nonblank_lines(path));
        CHECK(t.format && !strcmp(t.format, files[f].format), "%s: format %s, want %s", path, t.format, files[f].format);
        for (int i = 0; i < t.n_items && files[f].choices; i++)
            CHECK(t.items[i].n == files[f].choices, "%s item %d: %d requests", path, i, t.items[i].n);
        for (int i = 0; i < t.n_items; i++)
            CHECK(t.items[i].gold >= 0 && t.items[i].gold < t.items[i].n, "%s item %d: gold %d", path, i, t.items[i].gold);
        if (strstr(path, "wordnet_def")) {
            CHECK(t.items[0].gold == 3, "gold %d", t.items[0].gold);
            expect_request(&t, 0, 1, "epenthetic (adj):", " of a tire", 9);
            expect_request(&t, 0, 3, "epenthetic (adj):", " of or pertaining to epenthesis", 30);
        } else if (strstr(path, "winogrande")) {
            CHECK(t.kind == TASK_SCHEMA && t.items[0].gold == 1, "winogrande item 0");
            expect_request(&t, 0, 0, "Sarah was a much better surgeon than Maria so Sarah", " always got the easier cases.", 28);
            expect_request(&t, 0, 1, "Sarah was a much better surgeon than Maria so Maria", " always got the easier cases.", 28);
        } else if (strstr(path, "lambada")) {
            const TaskRequest *q = &t.reqs[0];
            CHECK(t.kind == TASK_LM && !strcmp(q->cont, " signs"), "lambada continuation '%s'", q->cont);
            CHECK(strlen(q->ctx) > 20 && !strcmp(q->ctx + strlen(q->ctx) - 18, "I don't care about"), "lambada context");
        } else if (strstr(path, "piqa-original")) {
            CHECK(t.items[0].gold == 0 && t.items[1].gold == 1, "PIQA labels %d %d", t.items[0].gold, t.items[1].gold);
            expect_request(&t, 1, 1, "Question: dresser\nAnswer:", " finish, woodgrain with  bobby pin ", 34);
        } else if (strstr(path, "nlpc_cloze")) { /* characters, not bytes: 'André' */
            for (int r = 0; r < t.n_reqs; r++)
                if (strstr(t.reqs[r].cont, "successful anti-poverty push \xe2\x80\x93 the Millen")) {
                    int bytes = (int)strlen(t.reqs[r].cont) - 1;
                    CHECK(t.reqs[r].norm_chars == bytes - 2, "en dash counted as %d characters", bytes - t.reqs[r].norm_chars + 1);
                }
        }
        task_free(&t);
    }
}

static void test_hellaswag(void) {
    const char *path = fixture("tasks/hellaswag/hellaswag_val_full.txt.bz2");
    Task t;
    TaskReadOpts o = {0};
    CHECK(task_read(&t, path, &o) == 0, "%s", df_errmsg());
    CHECK(t.n_items == 10042 && t.n_reqs == 4 * 10042, "HellaSwag: %d items, %d requests", t.n_items, t.n_reqs);
    CHECK(t.items[0].gold == 3 && t.items[1].gold == 3, "gold %d %d", t.items[0].gold, t.items[1].gold);
    expect_request(&t, 0, 3, "Roof shingle removal: A man is sitting on a roof. he", " starts pulling up roofing on a roof.", 36);
    expect_request(&t, 1, 0, "Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole. the lady",
                   " swings and lands in her arms.", 29);
    CHECK(t.items[1].line == 7, "item 1 starts on line %d", t.items[1].line);
    task_free(&t);
    /* the decompressed text is what bzip2 itself gives */
    char cmd[1200], *ours, *theirs, out[1024];
    size_t n_ours = 0, n_theirs = 0;
    snprintf(out, sizeof out, "%s/hs.txt", g_tmp);
    snprintf(cmd, sizeof cmd, "bzip2 -dc '%s' > '%s'", path, out);
    CHECK(system(cmd) == 0, "%s", cmd);
    CHECK(task_file_read(path, &ours, &n_ours) == 0, "%s", df_errmsg());
    CHECK(df_read_file(out, &theirs, &n_theirs) == 0, "%s", df_errmsg());
    CHECK(n_ours == n_theirs && !memcmp(ours, theirs, n_ours), "HellaSwag: %zu bytes, bzip2 -dc gives %zu", n_ours, n_theirs);
    free(ours);
    free(theirs);
}

/* gzip, bzip2, concatenated streams, and damaged files */
static void test_compressed(void) {
    const char *text = "{\"query\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 1}\n"
                       "{\"query\": \"d\", \"choices\": [\"e\", \"f\", \"g\"], \"gold\": 2}\n";
    const char *plain = tmp_file("z.jsonl", text);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && gzip -c z.jsonl > z.jsonl.gz && bzip2 -c z.jsonl > z.jsonl.bz2 && cat z.jsonl.gz z.jsonl.gz > zz.jsonl.gz"
             " && cat z.jsonl.bz2 z.jsonl.bz2 > zz.jsonl.bz2 && head -c 60 z.jsonl.bz2 > cut.jsonl.bz2"
             " && head -c 30 z.jsonl.gz > cut.jsonl.gz && printf 'BZh9garbage-garbage-garbage' > bad.jsonl.bz2",
             g_tmp);
    CHECK(system(cmd) == 0, "%s", cmd);
    static const char *const names[] = {"z.jsonl.gz", "z.jsonl.bz2", "zz.jsonl.gz", "zz.jsonl.bz2"};
    for (int i = 0; i < 4; i++) {
        char path[1024], *data;
        size_t n;
        snprintf(path, sizeof path, "%s/%s", g_tmp, names[i]);
        CHECK(task_file_read(path, &data, &n) == 0, "%s", df_errmsg());
        const size_t k = strlen(text), copies = names[i][1] == 'z' ? 2 : 1;
        CHECK(n == copies * k && !memcmp(data, text, k) && !memcmp(data + n - k, text, k), "%s: %zu bytes", path, n);
        free(data);
        Task t;
        TaskReadOpts o = {0};
        CHECK(task_read(&t, path, &o) == 0 && t.n_items == (int)(2 * copies) && t.n_reqs == (int)(5 * copies), "%s", path);
        task_free(&t);
    }
    (void)plain;
    static const char *const bad[][2] = {{"cut.jsonl.bz2", "ends early"}, {"cut.jsonl.gz", "ends early"},
                                         {"bad.jsonl.bz2", "corrupt bzip2"}};
    for (int i = 0; i < 3; i++) {
        char path[1024], *data;
        size_t n;
        snprintf(path, sizeof path, "%s/%s", g_tmp, bad[i][0]);
        CHECK(task_file_read(path, &data, &n) < 0 && strstr(df_errmsg(), path) && strstr(df_errmsg(), bad[i][1]),
              "%s: '%s'", path, df_errmsg());
    }
    char *data;
    size_t n;
    CHECK(task_file_read(tmp_file("x.jsonl.xz", "x"), &data, &n) < 0 && strstr(df_errmsg(), "xz -dk"), "%s", df_errmsg());
}

/* one bad file: the read fails naming "FILE:LINE: " (line > 0) or FILE (0), and says what */
static void expect_bad(const char *name, const char *text, int line, const char *what, const TaskReadOpts *o) {
    const char *path = tmp_file(name, text);
    Task t;
    char where[1100];
    if (line > 0) snprintf(where, sizeof where, "%s:%d: ", path, line);
    else snprintf(where, sizeof where, "%s", line == 0 ? path : g_tmp); /* < 0: another file is named */
    int rc = task_read(&t, path, o);
    CHECK(rc < 0 && strstr(df_errmsg(), where) && strstr(df_errmsg(), what), "%s: want '%s...%s', got '%s'", name, where,
          what, rc < 0 ? df_errmsg() : "success");
}

static void test_bad_lines(void) {
    const TaskReadOpts o = {0};
    const char *ok = "{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n";
    char text[2048];
    snprintf(text, sizeof text, "%s\n%s{\"query\": \"q\", \"choices\": [\"a\", \"b\"]}\n", ok, ok);
    expect_bad("missing.jsonl", text, 4, "missing \"gold\"", &o);
    snprintf(text, sizeof text, "%s{\"query\": \"q\", \"choices\": [\"a\", \"b\", \"c\", \"d\"], \"gold\": 4}\n", ok);
    expect_bad("range.jsonl", text, 2, "gold 4 is out of range for 4 choices", &o);
    snprintf(text, sizeof text, "%s{\"query\": \"q\", \"choices\": [], \"gold\": 0}\n", ok);
    expect_bad("nochoices.jsonl", text, 2, "\"choices\" has 0 entries", &o);
    snprintf(text, sizeof text, "%s%s{\"query\": \"q\", \"choices\": [\"a\", \"\"], \"gold\": 0}\n", ok, ok);
    expect_bad("emptychoice.jsonl", text, 3, "\"choices\"[1] is empty", &o);
    snprintf(text, sizeof text, "%s{\"query\": \"q\", \"choices\": [\"a\", 3], \"gold\": 0}\n", ok);
    expect_bad("notstring.jsonl", text, 2, "\"choices\"[1] must be a string", &o);
    snprintf(text, sizeof text, "%s{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": -1}\n", ok);
    expect_bad("negative.jsonl", text, 2, "gold -1 is out of range", &o);
    snprintf(text, sizeof text, "%s{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 0.5}\n", ok);
    expect_bad("fraction.jsonl", text, 2, "\"gold\" must be an integer", &o);
    snprintf(text, sizeof text, "%s{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 0\n", ok);
    expect_bad("json.jsonl", text, 2, "invalid JSON", &o);
    expect_bad("unknown.jsonl", "{\"question\": \"q\", \"answers\": [\"a\"]}\n", 1, "unknown task format (fields: question, answers)", &o);
    expect_bad("schema.jsonl", "{\"context_options\": [\"a\", \"b\"], \"gold\": 0, \"continuation\": \"c\"}\n"
               "{\"context_options\": [\"a\", \"b\"], \"gold\": 0}\n", 2, "missing \"continuation\"", &o);
    expect_bad("lm.jsonl", "{\"context\": \"a\", \"continuation\": \"b\"}\n{\"context\": \"a\", \"continuation\": \"\"}\n", 2,
               "\"continuation\" is empty", &o);
    expect_bad("empty.jsonl", "\n\n", 0, "no items", &o);
    /* PIQA: labels beside the file, or --labels */
    const char *piqa = "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n{\"goal\": \"h\", \"sol1\": \"c\", \"sol2\": \"d\"}\n";
    expect_bad("p1.jsonl", piqa, 0, "p1-labels.lst: cannot open", &o);
    tmp_file("p2-labels.lst", "0\n");
    expect_bad("p2.jsonl", piqa, 0, "p2-labels.lst: 1 labels for the 2 items", &o);
    tmp_file("p3-labels.lst", "0\n2\n");
    expect_bad("p3.jsonl", piqa, -1, "p3-labels.lst:2: a label must be 0 or 1, got '2'", &o);
    tmp_file("p4-labels.lst", "1\n0\n");
    Task t;
    CHECK(task_read(&t, tmp_file("p4.jsonl", piqa), &o) == 0 && t.items[0].gold == 1 && t.items[1].gold == 0, "%s", df_errmsg());
    task_free(&t);
    const TaskReadOpts with_labels = {NULL, tmp_file("other.lst", "0\n1\n"), 0};
    CHECK(task_read(&t, tmp_file("p5.jsonl", piqa), &with_labels) == 0 && t.items[1].gold == 1 && t.used_labels_option,
          "%s", df_errmsg());
    task_free(&t);
    /* HellaSwag */
    expect_bad("h1.txt", "ctx\n3\na\nb\nc\nd\nctx\n7\na\nb\nc\nd\n", 8, "the gold label must be 0-3, got '7'", &o);
    expect_bad("h2.txt", "ctx\n3\na\nb\nc\nd\nctx\n1\na\n", 7, "incomplete HellaSwag item (3 of 6 lines", &o);
    expect_bad("h3.txt", "ctx\n3\na\n\nc\nd\n", 4, "empty ending", &o);
}

static void test_options(void) {
    const char *text = "{\"query\": \"q \", \"choices\": [\"caf\xc3\xa9\", \"b\"], \"gold\": 0}\n"
                       "{\"query\": \"r\", \"choices\": [\"x\", \"y\"], \"gold\": 1, \"delimiter\": \": \"}\n"
                       "{\"query\": \"s\", \"choices\": [\"x\", \"y\"], \"gold\": 1}\n";
    const char *path = tmp_file("opts.jsonl", text);
    Task t;
    TaskReadOpts o = {"\n", NULL, 2};
    CHECK(task_read(&t, path, &o) == 0, "%s", df_errmsg());
    CHECK(t.n_items == 2, "--limit 2: %d items", t.n_items);
    expect_request(&t, 0, 0, "q ", "\ncaf\xc3\xa9", 4);
    expect_request(&t, 1, 1, "r", ": y", 1);
    task_free(&t);
}

/* lm-evaluation-harness moves the context's trailing whitespace (str.rstrip()) to the continuation */
static void test_context_split(void) {
    static const struct {
        const char *ctx;
        size_t keep;
    } cases[] = {{"Question: x?\n", 12}, {"abc", 3}, {"abc \t\n ", 3}, {"   ", 0}, {"", 0},
                 {"ab\xc2\xa0", 2},              /* U+00A0 no-break space */
                 {"ab\xe3\x80\x80 ", 2},         /* U+3000 ideographic space */
                 {"ab\xe2\x80\x8b", 5},          /* U+200B zero width space: not whitespace to Python */
                 {"\xc3\xa9\x1f", 2}};           /* U+001F unit separator is */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(zeroshot_context_len(cases[i].ctx) == cases[i].keep, "case %zu: kept %zu bytes, want %zu", i,
              zeroshot_context_len(cases[i].ctx), cases[i].keep);
}

/* acc, acc_norm, stderr and perplexity on made-up log-likelihoods, against values worked by hand */
static void test_metrics(void) {
    Task t = {0};
    TaskRequest reqs[8];
    TaskItem items[3] = {{0, 3, 1, 1}, {3, 3, 1, 2}, {6, 2, 1, 3}};
    const int chars[8] = {1, 10, 1, 5, 1, 1, 2, 2};
    for (int i = 0; i < 8; i++) reqs[i].norm_chars = chars[i];
    t.reqs = reqs, t.items = items, t.n_items = 3, t.n_reqs = 8, t.kind = TASK_CHOICE;
    /* item 0: argmax 2 (-1), normalised argmax 1 (-3/10), gold 1; item 1: argmax 1 (-1), normalised 0
     * (-2/5), gold 1; item 2: a tie, the first wins for both, gold 1 */
    const double ll[8] = {-5, -3, -1, -2, -1, -4, -6, -6};
    int pred[3], pred_norm[3], greedy[8] = {0};
    TaskScores s;
    zeroshot_scores(&s, &t, ll, greedy, pred, pred_norm);
    CHECK(pred[0] == 2 && pred_norm[0] == 1 && pred[1] == 1 && pred_norm[1] == 0 && pred[2] == 0 && pred_norm[2] == 0,
          "predictions %d/%d %d/%d %d/%d", pred[0], pred_norm[0], pred[1], pred_norm[1], pred[2], pred_norm[2]);
    /* acc = [0,1,0]: mean 1/3, sample sd sqrt(1/3), stderr 1/3; acc_norm = [1,0,0] the same */
    CHECK(fabs(s.acc - 1.0 / 3) < 1e-12 && fabs(s.acc_stderr - 1.0 / 3) < 1e-12, "acc %.6f +- %.6f", s.acc, s.acc_stderr);
    CHECK(fabs(s.acc_norm - 1.0 / 3) < 1e-12 && fabs(s.acc_norm_stderr - 1.0 / 3) < 1e-12, "acc_norm %.6f", s.acc_norm);
    CHECK(fabs(s.chance - (1.0 / 3 + 1.0 / 3 + 0.5) / 3) < 1e-12 && isnan(s.perplexity) && s.n == 3, "chance %.6f", s.chance);
    const double x[4] = {1, 0, 1, 1}; /* var (3 * 1/16 + 9/16) / 3 = 1/4: stderr sqrt(1/4) / 2 */
    CHECK(fabs(zeroshot_stderr(x, 4) - 0.25) < 1e-15 && isnan(zeroshot_stderr(x, 1)), "stderr %.17g", zeroshot_stderr(x, 4));
    /* language modelling: acc = greedy, perplexity = exp(-mean ll) */
    TaskItem lm[2] = {{0, 1, 0, 1}, {1, 1, 0, 2}};
    const double lml[2] = {-1, -3};
    const int g[2] = {1, 0};
    t.items = lm, t.n_items = 2, t.n_reqs = 2, t.kind = TASK_LM;
    zeroshot_scores(&s, &t, lml, g, pred, pred_norm);
    CHECK(s.acc == 0.5 && fabs(s.perplexity - exp(2.0)) < 1e-12 && isnan(s.acc_norm) && s.chance == 0,
          "LM acc %.3f ppl %.6f", s.acc, s.perplexity);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    g_tmp = df_strdup(test_tmpdir("tasks"));
    test_fixture_files();
    test_hellaswag();
    test_compressed();
    test_bad_lines();
    test_options();
    test_context_split();
    test_metrics();
    df_rm_rf(g_tmp);
    return test_end("test_tasks");
}
