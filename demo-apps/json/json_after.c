/* json_after.c - scenario 5, after: the encoder lives on the stack, keys
 * are escaped constants, values are printed straight into an output
 * buffer presized once, and the headers are one preformatted block. What
 * is left, 12 allocations per request:
 *   buffer_grow        1   the output buffer, at its final capacity
 *   format_value      10   each value is also returned to the caller as
 *                          an owned string (an API contract we keep)
 *   copy_header        1   the header block
 * usage: json_after [REQUESTS] */
#include <string.h>

#include "../demo.h"

#define FIELDS 10
#define OUT_CAP 512
static volatile unsigned long sink;

struct encoder {
	char *out;
	size_t len, cap;
	char *headers;
};

NOINLINE static void buffer_grow(struct encoder *e, size_t need)
{
	if (e->len + need + 1 > e->cap) {
		e->cap = e->len + need + 1 > OUT_CAP ? e->len + need + 1 : OUT_CAP;
		e->out = realloc(e->out, e->cap);
	}
}

NOINLINE static char *format_value(long v)
{
	char *s = malloc(24);
	snprintf(s, 24, "%016ld", v); /* fixed width: a fixed output size */
	return s;
}

NOINLINE static char *copy_header(const char *s)
{
	char *c = malloc(strlen(s) + 1);
	strcpy(c, s);
	return c;
}

static const char *const keys[FIELDS] = { "\"id\"", "\"user\"", "\"items\"",
	"\"total\"", "\"currency\"", "\"status\"", "\"created\"", "\"updated\"",
	"\"region\"", "\"version\"" };

NOINLINE static void encode_response(long id, char **values)
{
	struct encoder e = { 0 };
	buffer_grow(&e, OUT_CAP - 1);
	e.headers = copy_header("Content-Type: application/json\r\n"
				"Cache-Control: no-store\r\nX-Request-Id: 42\r\n"
				"Server: demo\r\n");
	e.out[e.len++] = '{';
	for (int i = 0; i < FIELDS; i++) {
		values[i] = format_value(id * 7 + i);
		e.len += (size_t)snprintf(e.out + e.len, e.cap - e.len, "%s%s:%s",
					  i ? "," : "", keys[i], values[i]);
	}
	e.out[e.len++] = '}';
	e.out[e.len] = 0;
	sink += (unsigned char)e.out[e.len / 2];
	free(e.headers);
	free(e.out);
}

int main(int argc, char **argv)
{
	long n = demo_units(argc, argv, 50000);
	double start = demo_now_ms();
	char *values[FIELDS];
	for (long i = 0; i < n; i++) {
		encode_response(i, values);
		for (int k = 0; k < FIELDS; k++)
			free(values[k]);
		poolscout_work_done(1);
	}
	demo_report("json_after", n, start);
	return 0;
}
