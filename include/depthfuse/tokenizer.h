/* Hugging Face tokenizer.json: byte-level BPE (GPT-2 / Llama-3 / Qwen2 style) and SentencePiece-style
 * BPE (Llama-2 / Mistral / TinyLlama), ids identical to the reference implementation (tokenizers).
 * Unsupported components are refused at load with a message naming the component. */
#ifndef DEPTHFUSE_TOKENIZER_H
#define DEPTHFUSE_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

typedef struct Tokenizer Tokenizer;

typedef struct {
    int32_t *ids;
    size_t n, cap;
} IdVec;
void idvec_push(IdVec *v, int32_t id);
void idvec_free(IdVec *v);

/* path: a tokenizer.json, or a model folder holding one. -1 + df_fail on error. */
int tokenizer_load(Tokenizer **out, const char *path);   /* also a depthfuse .h5 store */
/* a tokenizer.json held in memory; what names it in messages */
int tokenizer_parse(Tokenizer **out, const char *json, size_t len, const char *what);
void tokenizer_free(Tokenizer *t);
int tokenizer_vocab_size(const Tokenizer *t);
int tokenizer_bos_id(const Tokenizer *t);   /* the id the post-processor adds, -1 when none */

/* Encode UTF-8 text (len bytes), appending ids to out. add_special: apply the post-processor
 * (BOS) as encode(..., add_special_tokens=True) does. Invalid UTF-8 fails with the byte offset
 * unless the tokenizer was told to replace it (tokenizer_set_replace_invalid). Large inputs are
 * tokenized in parallel chunks cut at safe boundaries, with the same result (docs/tokenizer.md).
 * One call at a time per Tokenizer (each thread of a call has its own regex copies). */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int add_special, IdVec *out);

/* How an encode call split its work, for tests and benchmarks: units run in parallel; chunks of
 * large pieces cut for a speculative pattern scan, and how many such pieces had to be rescanned
 * whole; chunks of large BPE words cut between characters no merge can join. */
typedef struct {
    size_t units, sync_chunks, sync_rescans, word_chunks;
} TokEncodeStats;
int tokenizer_encode_stats(const Tokenizer *t, const char *text, size_t len, int add_special, IdVec *out,
                           TokEncodeStats *stats);
/* Inputs of at least twice this many bytes are encoded in parallel units of about this size
 * (default 64 KiB; 0 restores it). Tests make it small to put many cuts into small texts. */
void tokenizer_set_chunk_bytes(Tokenizer *t, size_t bytes);
/* Decode ids (special tokens kept unless skip_special) into a new NUL-terminated string. */
int tokenizer_decode(const Tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **text, size_t *len);
void tokenizer_set_replace_invalid(Tokenizer *t, int on);
/* The tokenizer's normalizer alone on a text (the reference's normalizer.normalize_str), into a new
 * NUL-terminated string; text must be valid UTF-8. */
int tokenizer_normalize(const Tokenizer *t, const char *text, size_t len, char **out, size_t *out_len);

#endif
