/* strings_after.c - scenario 3, after: a builder that reserves the final
 * capacity once (24 pieces of at most 21 bytes each) and appends in place:
 * one allocation per key, no copying.
 * usage: strings_after [KEYS] */
#include <string.h>

#include "../demo.h"

#define PIECES 24
#define PIECE_MAX 21
static volatile unsigned long sink;

struct builder {
	char *data;
	size_t len;
};

NOINLINE static void concat(struct builder *b, const char *piece)
{
	size_t n = strlen(piece);
	memcpy(b->data + b->len, piece, n + 1);
	b->len += n;
}

NOINLINE static char *build_key(long id)
{
	struct builder b = { malloc(PIECES * PIECE_MAX + 1), 0 };
	b.data[0] = 0;
	char piece[32];
	for (int i = 0; i < PIECES; i++) {
		snprintf(piece, sizeof piece, "%s%ld", i ? ":" : "", id * 31 + i);
		concat(&b, piece);
	}
	return b.data;
}

int main(int argc, char **argv)
{
	long n = demo_units(argc, argv, 100000);
	double start = demo_now_ms();
	for (long i = 0; i < n; i++) {
		char *key = build_key(i);
		sink += (unsigned char)key[3];
		free(key);
		poolscout_work_done(1);
	}
	demo_report("strings_after", n, start);
	return 0;
}
