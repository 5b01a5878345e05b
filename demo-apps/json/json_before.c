/* json_before.c - scenario 5 (seed 003's "real example"), before: a JSON
 * response encoder that allocates its way through every request:
 *   new_encoder        1   the encoder state
 *   buffer_grow        6   an output buffer from 16 bytes, doubled 5 times
 *   escape_key        10   each key escaped into a new string
 *   format_value      10   each value printed into a new string
 *   make_pair         10   "key":value joined into a new string
 *   copy_header        8   four headers, name and value copied
 * = 45 allocations per request.
 * usage: json_before [REQUESTS] */
#include <string.h>

#include "../demo.h"

#define FIELDS 10
static volatile unsigned long sink;

struct encoder {
	char *out;
	size_t len, cap;
	char *headers[8];
};

NOINLINE static struct encoder *new_encoder(void)
{
	return calloc(1, sizeof(struct encoder));
}

NOINLINE static void buffer_grow(struct encoder *e, size_t need)
{
	while (e->len + need + 1 > e->cap) {
		e->cap = e->cap ? e->cap * 2 : 16;
		e->out = realloc(e->out, e->cap);
	}
}

static void emit(struct encoder *e, const char *s)
{
	size_t n = strlen(s);
	buffer_grow(e, n);
	memcpy(e->out + e->len, s, n + 1);
	e->len += n;
}

NOINLINE static char *escape_key(const char *k)
{
	char *s = malloc(strlen(k) + 3);
	sprintf(s, "\"%s\"", k);
	return s;
}

NOINLINE static char *format_value(long v)
{
	char *s = malloc(24);
	snprintf(s, 24, "%016ld", v); /* fixed width: a fixed output size */
	return s;
}

NOINLINE static char *make_pair(const char *k, const char *v)
{
	char *s = malloc(strlen(k) + strlen(v) + 2);
	sprintf(s, "%s:%s", k, v);
	return s;
}

NOINLINE static char *copy_header(const char *s)
{
	char *c = malloc(strlen(s) + 1);
	strcpy(c, s);
	return c;
}

static const char *const keys[FIELDS] = { "id", "user", "items", "total",
	"currency", "status", "created", "updated", "region", "version" };
static const char *const headers[8] = { "Content-Type", "application/json",
	"Cache-Control", "no-store", "X-Request-Id", "42", "Server", "demo" };

NOINLINE static void encode_response(long id)
{
	struct encoder *e = new_encoder();
	for (int i = 0; i < 8; i++)
		e->headers[i] = copy_header(headers[i]);
	emit(e, "{");
	for (int i = 0; i < FIELDS; i++) {
		char *k = escape_key(keys[i]);
		char *v = format_value(id * 7 + i);
		char *pair = make_pair(k, v);
		emit(e, i ? "," : "");
		emit(e, pair);
		free(pair);
		free(v);
		free(k);
	}
	emit(e, "}");
	sink += (unsigned char)e->out[e->len / 2];
	for (int i = 0; i < 8; i++)
		free(e->headers[i]);
	free(e->out);
	free(e);
}

int main(int argc, char **argv)
{
	long n = demo_units(argc, argv, 50000);
	double start = demo_now_ms();
	for (long i = 0; i < n; i++) {
		encode_response(i);
		poolscout_work_done(1);
	}
	demo_report("json_before", n, start);
	return 0;
}
