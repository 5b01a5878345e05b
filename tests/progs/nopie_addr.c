/* nopie_addr.c - a non-PIE program that takes malloc's address, as
 * Debian's python3 does: its dynamic symbol table then defines "malloc"
 * (a PLT entry), which must not be taken for an allocator of its own.
 * Makes 1000 allocations through the pointer and 1000 directly. */
#include <stdio.h>
#include <stdlib.h>

void *(*volatile alloc_fn)(size_t) = malloc;

int main(void)
{
	for (int i = 0; i < 1000; i++)
		free(alloc_fn(24));
	for (int i = 0; i < 1000; i++)
		free(malloc(40));
	puts("nopie: done");
	return 0;
}
