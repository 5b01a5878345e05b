/* reload_lib.c - built twice, as libreload_alpha.so (alpha_work) and
 * libreload_bravo.so (bravo_work): the same code under two names, so that
 * the one loaded after the other was closed lands at its address and the
 * same instruction addresses mean another function. Both are linked at
 * a fixed address (tests/tests.mk), so their ELF addresses are not
 * offsets from 0 and the load bias is 0. */
#include <stdlib.h>

#ifdef RELOAD_BRAVO
#define WORK bravo_work
#else
#define WORK alpha_work
#endif

void *volatile reload_sink;

/* Allocates and frees n blocks of 24 bytes here; returns n. */
__attribute__((noinline)) int WORK(int n)
{
	for (int i = 0; i < n; i++) {
		void *p = malloc(24);
		reload_sink = p;
		free(p);
	}
	return n;
}
