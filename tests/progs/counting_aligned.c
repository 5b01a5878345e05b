/* counting_aligned.c - an allocator's own aligned_alloc, for
 * tests/integration/robust.sh: preloaded after libpoolscout.so, it is
 * the "next" aligned_alloc the preload's must call (not memalign, its
 * sibling). It counts its calls, passes each to the aligned_alloc after
 * it (libc's), and at exit prints "counting_aligned: aligned_alloc N" on
 * stderr. Without the preload the program's calls come here directly:
 * the two runs must count the same.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static void *(*next_aligned_alloc)(size_t, size_t);
static atomic_long calls;

__attribute__((constructor)) static void find_next(void)
{
	next_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT,
							      "aligned_alloc");
}

void *aligned_alloc(size_t align, size_t size)
{
	atomic_fetch_add(&calls, 1);
	if (!next_aligned_alloc)
		find_next();
	return next_aligned_alloc ? next_aligned_alloc(align, size) : NULL;
}

__attribute__((destructor)) static void report(void)
{
	fprintf(stderr, "counting_aligned: aligned_alloc %ld\n",
		(long)atomic_load(&calls));
}
