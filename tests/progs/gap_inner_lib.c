/* gap_inner_lib.c - libgap_inner.so, linked at a fixed address
 * (tests/tests.mk: 0x80000000) that lies inside the gap between the
 * segments of tests/progs/gap_inner.c. The allocations it makes for
 * that program are the ones tests/integration/unwind_diff.sh checks. */
#include <stdlib.h>

void *volatile gap_inner_sink;

/* Allocates and frees n blocks of 40 to 55 bytes here; returns n. */
__attribute__((noinline)) long gap_inner_work(long n)
{
	for (long i = 0; i < n; i++) {
		char *p = malloc(40 + (size_t)(i & 15));
		gap_inner_sink = p;
		free(p);
	}
	return n;
}
