/* runtime_bss.c - a site whose blocks a runtime library with a large
 * .bss allocates for it, five frames down (libmimalloc-psbss.so,
 * runtime_bss_lib.c, loaded from this program's directory): the
 * library's frames are the runtime's, so keep_copy() is the site and its
 * first candidate. It keeps 30 copies through path_one(), frees 20, then
 * keeps 25 more through path_two(): at most 35 live at once, more than
 * either path held (30, 25), fewer than both (55); only the count per
 * candidate (the preload's, past the runtime's frames) makes the peak
 * exact. Prints "truth keep_copy N" and "truth keep_copy_peak N" on stderr. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST 30
#define FREED 20
#define SECOND 25

static char *(*dup_fn)(const char *);
static char *kept[FIRST + SECOND];

__attribute__((noinline)) static void keep_copy(int i)
{
	kept[i] = dup_fn("a line to keep");
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void path_one(int i)
{
	keep_copy(i);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void path_two(int i)
{
	keep_copy(i);
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	(void)argc;
	char path[4096];
	snprintf(path, sizeof path, "%s", argv[0]);
	char *slash = strrchr(path, '/');
	char *name = slash ? slash + 1 : path;
	snprintf(name, sizeof path - (size_t)(name - path), "libmimalloc-psbss.so");
	void *h = dlopen(path, RTLD_NOW);
	if (!h || !(dup_fn = (char *(*)(const char *))dlsym(h, "psbss_dup"))) {
		fprintf(stderr, "runtime_bss: %s\n", dlerror());
		return 2;
	}
	for (int i = 0; i < FIRST; i++)
		path_one(i);
	for (int i = 0; i < FREED; i++)
		free(kept[i]);
	for (int i = FIRST; i < FIRST + SECOND; i++)
		path_two(i);
	for (int i = FREED; i < FIRST + SECOND; i++)
		free(kept[i]);
	fprintf(stderr, "truth keep_copy %d\ntruth keep_copy_peak %d\n",
		FIRST + SECOND, FIRST - FREED + SECOND);
	return 0;
}
