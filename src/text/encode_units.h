/* Units of encoding work (encode.c) and the speculative scan of split chunks (encode_sync.c). */
#ifndef DEPTHFUSE_TEXT_ENCODE_UNITS_H
#define DEPTHFUSE_TEXT_ENCODE_UNITS_H
#include "tok_internal.h"

/* an added token (id >= 0) or normalized text between added tokens */
typedef struct {
    int32_t id;
    int in_norm, at_origin;   /* text in Pieces.norm (else in the input); starts the input */
    size_t off, n;
    const char *s;
} Piece;
typedef struct {
    Piece *p;
    size_t n, cap;
    Buf norm;
} Pieces;

typedef enum {
    UNIT_GROUP,   /* pieces [p0, p1), whole */
    UNIT_WORD,    /* s[a, b) is (part of) one BPE word */
    UNIT_STEPS,   /* s[a, b) through pre-tokenizer steps [k, npre) */
    UNIT_SYNC     /* s[a, b) of a piece whose step k splits on a pattern; see encode_sync.c */
} UnitKind;
typedef struct {
    UnitKind kind;
    size_t p0, p1;            /* GROUP */
    const char *s;            /* the whole piece (after the steps before k) */
    size_t n, a, b;
    int k, at_origin, first, whole;
    /* SYNC */
    FindState fs;             /* scan state at the end of this unit's own range */
    Segs segs, ext;           /* segments of its range; of its run past the end until in step */
    size_t *id_end;           /* ids.n after each segment of segs */
    IdVec ext_ids;            /* ids of ext */
    size_t skip;              /* leading segments the previous unit's run covered */
    int failed, serial, dead;
    IdVec ids;
} Unit;
typedef struct {
    Unit *u;
    size_t n, cap;
} Units;
typedef struct {
    Buf *b;
    size_t n;
} Bufs;

/* phase 1: segments of [a, b) from a guessed start state, and their ids */
void sync_scan(const Tokenizer *t, Unit *u, Work *w);
/* phase 2: run u's scan past b until it ends a match where nx's scan ended one too */
void sync_extend(const Tokenizer *t, Unit *u, Unit *nx, Work *w);
/* a piece whose runs did not meet is redone whole by its first unit (serial) */
void sync_check(Units *us);
/* the unit's true ids onto out */
void sync_collect(const Unit *u, IdVec *out);

#endif
