/* nodebug_sites.c - built without -g (tests/tests.mk), not stripped: every
 * function is named by the symbol table alone, with no file and no line.
 * two_calls() allocates from two calls of its own, 300 blocks of 64 bytes
 * from the first and 500 blocks of 96 bytes from the second, each freed at
 * once; the views must keep the two calls apart by their call addresses
 * (tests/integration/views.sh). It prints "truth first 300" and "truth
 * second 500" on stderr.
 */
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

__attribute__((noinline)) void two_calls(int second)
{
	void *p;
	if (second)
		p = calloc(1, 96);
	else
		p = malloc(64);
	sink = p;
	free(p);
}

int main(void)
{
	int first = 300, second = 500;
	for (int i = 0; i < first; i++)
		two_calls(0);
	for (int i = 0; i < second; i++)
		two_calls(1);
	fprintf(stderr, "truth first %d\ntruth second %d\n", first, second);
	return 0;
}
