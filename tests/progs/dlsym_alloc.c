/* dlsym_alloc.c - a library preloaded after poolscout's that wraps dlsym
 * and allocates on every call, as some tracing and compatibility shims
 * do, for tests/integration/robust.sh. The preload's own dlsym calls, made
 * while it looks up the next allocator, then allocate before that
 * allocator is known: those blocks come from the preload's bootstrap pool
 * and must never reach the real free when this library frees them (in
 * its destructor), sampled or not. Prints "dlsym_alloc: N calls, N freed"
 * on stderr at exit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEPT 64

static void *kept[KEPT];
static int nkept, calls;
static void *(*next_dlsym)(void *, const char *);

void *dlsym(void *handle, const char *name)
{
	if (!next_dlsym)
		next_dlsym = (void *(*)(void *, const char *))dlvsym(
			RTLD_NEXT, "dlsym", "GLIBC_2.34");
	calls++;
	if (nkept < KEPT)
		kept[nkept++] = malloc(24);
	return next_dlsym ? next_dlsym(handle, name) : NULL;
}

__attribute__((destructor)) static void release(void)
{
	int freed = 0;
	for (int i = 0; i < nkept; i++, freed++)
		free(kept[i]);
	char line[64];
	int n = snprintf(line, sizeof line, "dlsym_alloc: %d calls, %d freed\n",
			 calls, freed);
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
