/* stripped_via.c - built stripped of every symbol (tests/tests.mk): each
 * function is "stripped_via+0xSTART". get_block() wraps malloc and is
 * reached from four call addresses in three functions with different
 * sizes, so the structural rule takes it for a wrapper; two_calls()
 * calls it from two places. In the report's 100-column rows, the two
 * sites of two_calls must read apart, each with its call address
 * (tests/integration/views.sh). Prints "truth NAME COUNT" on stderr for
 * each call.
 */
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

__attribute__((noinline)) static void *get_block(size_t n)
{
	void *p = malloc(n);
	sink = p;
	return p;
}

__attribute__((noinline)) static void two_calls(int second)
{
	void *p = second ? get_block(48) : get_block(32);
	sink = p;
	free(p);
}

__attribute__((noinline)) static void other(void)
{
	free(get_block(64));
}

__attribute__((noinline)) static void third(void)
{
	free(get_block(80));
}

int main(void)
{
	int first = 100, second = 200, others = 300, thirds = 400;
	for (int i = 0; i < first; i++)
		two_calls(0);
	for (int i = 0; i < second; i++)
		two_calls(1);
	for (int i = 0; i < others; i++)
		other();
	for (int i = 0; i < thirds; i++)
		third();
	fprintf(stderr, "truth first %d\ntruth second %d\ntruth other %d\n"
		"truth third %d\n", first, second, others, thirds);
	return 0;
}
