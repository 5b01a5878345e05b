/* runtime_bss_lib.c - built as libmimalloc-psbss.so: a library named as
 * the runtime is (include/psruntime.h), whose last segment (a 4 MiB
 * .bss) is far larger than the gap below it, so its code lies below that
 * segment's start minus its size. Its psbss_dup() allocates on its
 * caller's behalf, as strdup does, five frames down in the library: past
 * the site candidates (four) of a stack whose runtime frames were not
 * skipped; the caller is the site (tests/progs/runtime_bss.c). */
#include <stdlib.h>
#include <string.h>

__attribute__((visibility("default"))) char psbss_scratch[4 << 20];

__attribute__((noinline)) static char *copy_down(const char *s, int levels)
{
	char *p;
	if (levels > 0) {
		p = copy_down(s, levels - 1);
	} else {
		size_t n = strlen(s) + 1;
		if ((p = malloc(n)))
			memcpy(p, s, n);
		psbss_scratch[n] = 1; /* the .bss is used */
	}
	__asm__ volatile("" ::: "memory"); /* no tail call */
	return p;
}

__attribute__((visibility("default"))) char *psbss_dup(const char *s)
{
	char *p = copy_down(s, 4);
	__asm__ volatile("" ::: "memory");
	return p;
}
