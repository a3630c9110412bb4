/* Why the tokenizer's regexes run on Oniguruma: throughput of Oniguruma and PCRE2 (JIT) on the
 * GPT-2 and Llama-3 pre-tokenizer patterns over a file, and the code points where the two engines
 * disagree on \s, \p{L} and \p{N}. Not built by CMake (PCRE2 is not a depthfuse dependency):
 *   cc -O2 tools/bench/regex_engines.c -o /tmp/regex_engines -lonig -lpcre2-8
 *   /tmp/regex_engines tests/fixtures/data/wikitext-2-raw/wiki.test.raw */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <oniguruma.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *PATTERNS[][2] = {
    {"GPT-2", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
    {"Llama-3", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static regex_t *onig_compile(const char *p) {
    regex_t *re;
    OnigErrorInfo ei;
    if (onig_new(&re, (const UChar *)p, (const UChar *)p + strlen(p), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                 ONIG_SYNTAX_DEFAULT, &ei) != ONIG_NORMAL) exit(1);
    return re;
}

static pcre2_code *pcre_compile(const char *p) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (!re) exit(1);
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

static int put(unsigned c, unsigned char *o) {
    if (c < 0x80) { o[0] = (unsigned char)c; return 1; }
    if (c < 0x800) { o[0] = (unsigned char)(0xC0 | c >> 6); o[1] = (unsigned char)(0x80 | (c & 63)); return 2; }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | c >> 12); o[1] = (unsigned char)(0x80 | ((c >> 6) & 63)); o[2] = (unsigned char)(0x80 | (c & 63));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | c >> 18); o[1] = (unsigned char)(0x80 | ((c >> 12) & 63));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 63)); o[3] = (unsigned char)(0x80 | (c & 63));
    return 4;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: regex_engines FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) return 1;
    fclose(f);
    OnigEncoding enc = ONIG_ENCODING_UTF8;
    onig_initialize(&enc, 1);
    for (int k = 0; k < 2; k++) {
        regex_t *ore = onig_compile(PATTERNS[k][1]);
        OnigRegion *rg = onig_region_new();
        pcre2_code *pre = pcre_compile(PATTERNS[k][1]);
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(pre, NULL);
        const UChar *u = (const UChar *)s;
        long mo = 0, mp = 0;
        double t0 = now();
        for (long p = 0; p < n && onig_search(ore, u, u + n, u + p, u + n, rg, ONIG_OPTION_NONE) >= 0; mo++) p = rg->end[0];
        double t1 = now();
        for (size_t p = 0; p < (size_t)n && pcre2_jit_match(pre, (PCRE2_SPTR)s, (size_t)n, p, 0, md, NULL) >= 0; mp++)
            p = pcre2_get_ovector_pointer(md)[1];
        double t2 = now();
        printf("%-8s Oniguruma %6.1f MB/s (%ld matches), PCRE2-JIT %6.1f MB/s (%ld matches)\n", PATTERNS[k][0],
               (double)n / (t1 - t0) / 1e6, mo, (double)n / (t2 - t1) / 1e6, mp);
    }
    static const char *CLASSES[] = {"\\s", "\\p{L}", "\\p{N}"};
    for (int k = 0; k < 3; k++) {
        regex_t *ore = onig_compile(CLASSES[k]);
        pcre2_code *pre = pcre_compile(CLASSES[k]);
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(pre, NULL);
        int diff = 0;
        printf("%-6s differ at:", CLASSES[k]);
        for (unsigned c = 0; c < 0x110000; c++) {
            if (c >= 0xD800 && c < 0xE000) continue;
            unsigned char b[4];
            int len = put(c, b);
            int a = onig_match(ore, b, b + len, b, NULL, ONIG_OPTION_NONE) == len;
            int p = pcre2_match(pre, b, (size_t)len, 0, PCRE2_ANCHORED, md, NULL) >= 0;
            if (a != p && diff++ < 10) printf(" U+%04X", c);
        }
        printf(" (%d code points)\n", diff);
    }
    free(s);
    return 0;
}
