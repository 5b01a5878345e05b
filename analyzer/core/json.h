/* json.h - a streaming JSON writer for the --json views: one document on
 * a FILE, commas and nesting handled here, strings escaped per RFC 8259. */
#ifndef POOLSCOUT_JSON_H
#define POOLSCOUT_JSON_H

#include <stdint.h>
#include <stdio.h>

typedef struct json {
	FILE *out;
	int depth;
	int first[64]; /* no element written yet at this depth */
	int pretty;
} json;

void json_init(json *j, FILE *out);
void json_begin_object(json *j, const char *key);
void json_end_object(json *j);
void json_begin_array(json *j, const char *key);
void json_end_array(json *j);
/* key may be NULL inside arrays. */
void json_str(json *j, const char *key, const char *value);
void json_u64(json *j, const char *key, uint64_t value);
void json_i64(json *j, const char *key, int64_t value);
void json_double(json *j, const char *key, double value);
void json_bool(json *j, const char *key, int value);
void json_null(json *j, const char *key);
/* A value already encoded as JSON (len bytes of text), written as is. */
void json_raw(json *j, const char *key, const char *text, size_t len);
/* Ends the document with a newline. */
void json_finish(json *j);

#endif
