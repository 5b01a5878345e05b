/* deepbind_lib.c - a library that counts its own allocator calls: the
 * deepbind test dlopens it with RTLD_DEEPBIND, which makes its malloc and
 * free bind to libc's before any preloaded definition. */
#include <stdlib.h>

static void *volatile sink;

__attribute__((noinline)) static void deepbind_work(int n)
{
	for (int i = 0; i < n; i++) {
		void *p = malloc(56);
		sink = p;
		free(p);
	}
	__asm__ volatile("" ::: "memory"); /* no tail call */
}

/* Makes n malloc/free pairs of 56 bytes; returns n. */
int deepbind_run(int n)
{
	deepbind_work(n);
	return n;
}
