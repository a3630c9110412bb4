/* cJSON helpers that check types and name the file in every message.
 * Integers are read through valuedouble (cJSON saturates valueint at INT_MAX). */
#ifndef DEPTHFUSE_JSON_H
#define DEPTHFUSE_JSON_H
#include <cjson/cJSON.h>
#include <stdint.h>

int df_json_load(const char *path, cJSON **root);          /* parse a file; -1 + message on error */
int df_json_parse(const char *text, size_t len, const char *what, cJSON **root);
/* required members: -1 + "FILE: KEY ..." when missing or of the wrong type */
int df_json_int(const cJSON *obj, const char *key, const char *file, int64_t *out);
int df_json_num(const cJSON *obj, const char *key, const char *file, double *out);
int df_json_str(const cJSON *obj, const char *key, const char *file, const char **out);
/* optional members: return 0 and leave *out unchanged when absent or null */
int df_json_opt_num(const cJSON *obj, const char *key, const char *file, double *out);
int df_json_opt_bool(const cJSON *obj, const char *key, const char *file, int *out);
/* an exact non-negative integer held by a number item (<= 2^53) */
int df_json_as_u64(const cJSON *item, uint64_t *out);
/* write a cJSON tree to a file atomically (pretty printed, trailing newline) */
int df_json_write(const char *path, const cJSON *root);

#endif
