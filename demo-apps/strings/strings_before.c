/* strings_before.c - scenario 3 (seed 004), before: a cache key built by
 * repeated concatenation, each piece appended with realloc to the exact
 * new length, so every append may move and copy the whole string (O(n^2)
 * bytes copied). 24 pieces per key: 1 malloc + 24 realloc growth steps.
 * usage: strings_before [KEYS] */
#include <string.h>

#include "../demo.h"

#define PIECES 24
static volatile unsigned long sink;

NOINLINE static char *concat(char *s, const char *piece)
{
	size_t len = strlen(s), n = strlen(piece);
	s = realloc(s, len + n + 1);
	memcpy(s + len, piece, n + 1);
	return s;
}

NOINLINE static char *build_key(long id)
{
	char *key = malloc(1);
	key[0] = 0;
	char piece[32];
	for (int i = 0; i < PIECES; i++) {
		snprintf(piece, sizeof piece, "%s%ld", i ? ":" : "", id * 31 + i);
		key = concat(key, piece);
	}
	return key;
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
	demo_report("strings_before", n, start);
	return 0;
}
