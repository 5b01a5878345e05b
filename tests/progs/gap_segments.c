/* gap_segments.c - a program whose code lies past a gap between its
 * segments (tests/tests.mk links work() at 0x10000000, far from the rest),
 * as the kernel maps bc, make or nodesource's node: the loader then knows
 * the program as one range per segment. For tests/integration/
 * unwind_diff.sh: every stack through work() must be proven by the fast
 * unwinder, never handed over as a stale map (it was, on every
 * allocation, reading the map again each time: 100-1000x slower).
 * Prints "points=N", the allocations work() made.
 */
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

__attribute__((noinline, section(".far"))) static long work(long n)
{
	long sum = 0;
	for (long i = 0; i < n; i++) {
		char *p = malloc(32 + (size_t)(i & 15));
		sink = p;
		p[0] = (char)i;
		sum += p[0];
		free(p);
	}
	return sum;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	long sum = work(n);
	printf("sum=%ld\npoints=%ld\n", sum, n);
	return 0;
}
