/* Internals of the tokenizer (src/text/). tokenizer_load compiles a tokenizer.json into the pipeline
 * below, which encode runs in the order Hugging Face tokenizers does:
 *   added tokens split out of the raw text -> normalizer on each piece between them -> added tokens
 *   with normalized=true split out of that -> pre-tokenizer steps -> BPE per word -> post-processor.
 * Decoding maps ids to token strings and runs the decoder steps over the list. */
#ifndef DEPTHFUSE_TEXT_TOK_INTERNAL_H
#define DEPTHFUSE_TEXT_TOK_INTERNAL_H
#include <cjson/cJSON.h>
#include <oniguruma.h>
#include <stddef.h>
#include <stdint.h>

#include "depthfuse/tokenizer.h"

/* a JSON object holds only these keys (NULL-terminated list); a key we do not know could change
 * what the reference computes, so it is refused rather than ignored (tokenizer.c) */
int json_only_keys(const cJSON *o, const char *const *keys, const char *what);

/* ---- growable byte buffer (buf.c) ------------------------------------------------------------ */
typedef struct {
    char *p;
    size_t n, cap;
} Buf;
void buf_reserve(Buf *b, size_t extra);
void buf_put(Buf *b, const void *s, size_t n);
void buf_free(Buf *b);
static inline void buf_putc(Buf *b, char c) {
    if (b->n + 1 > b->cap) buf_reserve(b, 1);
    b->p[b->n++] = c;
}

/* ---- UTF-8 (utf8.c) ---------------------------------------------------------------------------- */
/* length (1..4) of the well-formed character at s[0..n), 0 when the bytes there are not one */
int utf8_char(const unsigned char *s, size_t n, uint32_t *cp);
size_t utf8_check(const char *s, size_t n);          /* offset of the first invalid byte, n if valid */
int utf8_put(char *out, uint32_t cp);                /* 1..4 bytes written */
void utf8_lossy(Buf *out, const char *s, size_t n);  /* Rust's String::from_utf8_lossy */
/* GPT-2's printable stand-in for each byte (the ByteLevel alphabet), and back (-1: not in it) */
uint32_t bytelevel_char(uint8_t b);
int bytelevel_byte(uint32_t cp);

/* ---- hash maps (hashmap.c) ----------------------------------------------------------------------- */
uint64_t hash_bytes(const void *p, size_t n);
/* byte string -> int32 (keys copied into the map's own storage) */
typedef struct {
    uint64_t *hash;      /* 0: empty slot */
    uint32_t *key_off, *key_len;
    int32_t *val;
    size_t cap, n;
    Buf keys;
} StrMap;
void strmap_init(StrMap *m, size_t expected);
void strmap_put(StrMap *m, const char *k, size_t n, int32_t v);   /* replaces an existing value */
int32_t strmap_get(const StrMap *m, const char *k, size_t n);      /* -1 when absent */
void strmap_free(StrMap *m);
/* (left id, right id) of a merge -> its rank and the id it produces */
typedef struct {
    uint64_t *key;       /* UINT64_MAX: empty slot */
    uint32_t *rank;
    int32_t *id;
    size_t cap;
} PairMap;
void pairmap_init(PairMap *m, size_t expected);
void pairmap_put(PairMap *m, int32_t a, int32_t b, uint32_t rank, int32_t id);
int pairmap_get(const PairMap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *id);   /* 0: absent */
void pairmap_free(PairMap *m);

/* ---- patterns (pattern.c): a literal or an Oniguruma regex, searched the way the reference's
 * find_iter does. Oniguruma does not promise that one regex_t may be searched from several threads
 * at once, so each thread gets its own compiled copy. ------------------------------------------- */
typedef struct {
    char *lit;           /* literal pattern (NULL for a regex) */
    size_t litlen;
    regex_t **re;        /* one compiled copy per thread */
    OnigRegion **region;
    int ncopies;
} Pattern;
int pattern_literal(Pattern *p, const char *s, size_t n, const char *what);
int pattern_regex(Pattern *p, const char *re, size_t n, int ncopies, const char *what);
void pattern_free(Pattern *p);
/* Iteration state of find_iter: an empty match right after the previous match is skipped by one
 * character, so a scan's future depends only on where the last match ended. */
typedef struct {
    size_t last_end, last_match_end;
    int has_match;
} FindState;
static inline FindState find_start(size_t pos) { return (FindState){pos, 0, 0}; }
/* next match in s[0..n) starting before limit; 0 when none. thread picks the regex copy. */
int pattern_next(const Pattern *p, int thread, const char *s, size_t n, size_t limit, FindState *st,
                 size_t *ms, size_t *me);
/* every match replaced by with (Replace; Metaspace's spaces), appended to out */
void pattern_replace(const Pattern *p, int thread, const char *s, size_t n, const char *with, size_t wlen, Buf *out);
/* a JSON pattern object {"String": s} or {"Regex": r} */
int pattern_from_json(Pattern *p, const cJSON *j, int ncopies, const char *what);

/* ---- normalizers (normalize.c) ---------------------------------------------------------------- */
typedef enum { NORM_PREPEND, NORM_REPLACE, NORM_NFC } NormKind;
typedef struct {
    NormKind kind;
    char *text;          /* Prepend: prefix; Replace: replacement */
    size_t textlen;
    Pattern pat;         /* Replace */
} NormStep;
/* s normalized into out (out->n reset first) */
void normalize_apply(const NormStep *steps, int n, const char *s, size_t len, Buf *out);
int normalize_parse(const cJSON *j, NormStep **steps, int *n, int ncopies, const char *file);
void normalize_free(NormStep *steps, int n);

/* NFC as the reference computes it (nfc.c; Unicode 9.0 tables in nfc_data.c), appended to out */
void nfc_apply(const char *s, size_t n, Buf *out);

/* ---- pre-tokenizer (pretokenize.c) -------------------------------------------------------------- */
typedef enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS } SplitBehavior;
enum { MAX_PRE_STEPS = 8 };
typedef enum { PRE_SPLIT, PRE_PREFIX, PRE_REPLACE } PreKind;
typedef struct {
    PreKind kind;
    Pattern pat;             /* SPLIT: delimiters; REPLACE: what is replaced */
    SplitBehavior behavior;
    int invert;
    char *text;              /* PREFIX: prepended unless the piece starts with it; REPLACE: replacement */
    size_t textlen;
    int first_only;          /* PREFIX: only on the piece at offset 0 of the input (Metaspace "first") */
} PreStep;
int pretokenize_parse(const cJSON *j, PreStep **steps, int *n, int *byte_level, int ncopies, const char *file);
void pretokenize_free(PreStep *steps, int n);

/* A split step's view of a text: consecutive segments, each a match of the pattern or the gap
 * before one, recorded by their end offsets (low bit: is a match, after invert). */
typedef struct {
    uint64_t *seg;
    size_t n, cap;
} Segs;
static inline uint64_t seg_end(uint64_t s) { return s >> 1; }
static inline int seg_match(uint64_t s) { return (int)(s & 1); }
void segs_push(Segs *g, size_t end, int match);

/* ---- BPE (bpe.c) -------------------------------------------------------------------------------- */
typedef struct {
    StrMap vocab;            /* token text in model space (raw bytes when byte_level) -> id */
    PairMap merges;
    int32_t unit[256];       /* byte_level: byte -> id; otherwise ASCII character -> id (-1: none) */
    int32_t fallback[256];   /* byte_fallback: id of <0xNN> (-1: none) */
    int byte_level, byte_fallback, fuse_unk, ignore_merges;
    int32_t unk_id;          /* -1: none */
} Bpe;
/* by_text: the vocab as written in the file (token string -> id), for the caller to free */
int bpe_parse(Bpe *m, const cJSON *model, int byte_level, char ***id_text, int *nid, StrMap *by_text, const char *file);
void bpe_free(Bpe *m);

/* Per-thread scratch for encoding: merge state, a cache of recent words, step buffers. */
typedef struct BpeCache BpeCache;
typedef struct {
    int thread;
    struct Sym *sym;
    struct Cand *heap;
    size_t cap_sym, cap_heap;
    BpeCache *cache;
    Buf step_buf[MAX_PRE_STEPS];     /* text produced by pre-tokenizer steps, one per step depth */
    Segs step_segs[MAX_PRE_STEPS];
} Work;
void work_init(Work *w, int thread);
void work_free(Work *w);
/* ids of one word (model space); whole: the word is complete, so ignore_merges may take it whole */
void bpe_word(const Bpe *m, Work *w, const char *s, size_t n, int whole, IdVec *out);
void idvec_append(IdVec *v, const int32_t *ids, size_t n);   /* encode.c */

/* ---- added tokens (added.c) ----------------------------------------------------------------------- */
typedef struct {
    char *content;
    size_t len;
    int32_t id;
    int special, single_word, lstrip, rstrip, normalized;
} AddedToken;
typedef struct Trie Trie;
typedef struct {
    AddedToken *tok;
    int n;
    Trie *raw, *norm;        /* matchers over raw text and over normalized pieces */
    Pattern word_end, space; /* \w and \s as the reference's regex crate defines them */
} Added;
int added_parse(Added *a, const cJSON *arr, const NormStep *norm, int nnorm, const char *file);
void added_free(Added *a);
/* One piece of a split: an added token (id >= 0) or text [start, end) between them. */
typedef struct {
    size_t start, end;
    int32_t id;
} Part;
typedef struct {
    Part *p;
    size_t n, cap;
} Parts;
/* split s[0..n) at the added tokens of one matcher (normalized: the normalized=true set) */
void added_split(const Added *a, int normalized, const char *s, size_t n, Parts *out);

/* ---- post-processor and decoder (postprocess.c, decode.c) ------------------------------------------- */
typedef struct {
    int32_t *prefix, *suffix;   /* ids the single-sequence template puts around the text */
    int nprefix, nsuffix;
} PostProc;
int postprocess_parse(PostProc *pp, const cJSON *j, const char *file);

typedef enum { DEC_BYTELEVEL, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_REPLACE, DEC_METASPACE } DecKind;
typedef struct {
    DecKind kind;
    uint32_t ch;             /* Strip: the character; Metaspace: the replacement */
    int start, stop;         /* Strip */
    int prepend;             /* Metaspace: prepend_scheme is not "never" */
    Pattern pat;             /* Replace */
    char *text;
    size_t textlen;
} DecStep;
int decode_parse(const cJSON *j, DecStep **steps, int *n, int *has_decoder, const char *file);
void decode_free(DecStep *steps, int n);

/* ---- the tokenizer ----------------------------------------------------------------------------- */
struct Tokenizer {
    char *path;
    Bpe bpe;
    char **id_text;          /* id -> token string as written in the file (added tokens included) */
    int nid;
    uint8_t *is_special;     /* id -> special added token (skipped by decode(skip_special)) */
    Added added;
    NormStep *norm;
    int nnorm;
    PreStep *pre;
    int npre;
    PostProc post;
    DecStep *dec;
    int ndec, has_decoder;
    int ncopies;             /* compiled copies of each regex = most threads encode may use */
    int replace_invalid;
    size_t chunk_bytes;
    /* safe cuts of a word with no pre-tokenizer: adjacent character pairs found inside some token */
    StrMap pairs;
    int have_pairs;
};

/* pretokenize.c: a PREFIX or REPLACE step on one piece: the text it becomes (s itself, or b's) */
const char *pretok_transform(const PreStep *st, int thread, const char *s, size_t *n, int at_origin, Buf *b);
/* pre-tokenizer steps [k, npre) then the model, over s[0..n) */
void pretok_run(const Tokenizer *t, Work *w, int k, const char *s, size_t n, int at_origin, IdVec *out);
/* find the segments of a split step's pattern over s[0..n) from state st, matches starting before
 * limit (phase 1 of a chunk), appended to g */
void split_scan(const PreStep *st, int thread, const char *s, size_t n, size_t limit, FindState *fs, Segs *g);
/* pieces of segments g[from..to) (previous end prev) under a split behavior, each run through
 * steps [k+1, npre) and the model; id_end (may be NULL) gets out->n after each segment */
void split_emit(const Tokenizer *t, Work *w, int k, const char *s, const Segs *g, size_t from, size_t to,
                size_t prev, int at_origin, IdVec *out, size_t *id_end);
/* the byte offset in s of a cut between two words with no pre-tokenizer that no merge can cross,
 * searching forward from near; n when there is none */
size_t bpe_safe_cut(const Tokenizer *t, const char *s, size_t n, size_t near);
/* the model on a word that may be a whole text: cut at every safe boundary, parts through bpe_word */
void bpe_text(const Tokenizer *t, Work *w, const char *s, size_t n, int whole, IdVec *out);
void tokenizer_build_pairs(Tokenizer *t);

#endif
