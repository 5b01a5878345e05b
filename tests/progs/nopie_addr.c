/* nopie_addr.c - a non-PIE program that takes malloc's address in its
 * code, as non-PIE programs built without -fPIC do: the linker then makes
 * its PLT entry for malloc the function's canonical address, and the
 * dynamic symbol table gives "malloc" that address (dlsym finds the PLT
 * entry), which must not be taken for an allocator of its own. (Taken in
 * a data initializer instead, the address is a dynamic relocation, and
 * dlsym finds the allocator itself.) Linked with early_lib.so, whose
 * constructor allocates before libpoolscout.so's runs, so that the
 * preload asks the PLT entry with a thread already counting down its
 * samples. Makes 1000 allocations through the pointer and 1000 directly. */
#include <stdio.h>
#include <stdlib.h>

void *(*volatile alloc_fn)(size_t);

int main(void)
{
	alloc_fn = malloc; /* in code: an absolute address, the PLT's */
	for (int i = 0; i < 1000; i++)
		free(alloc_fn(24));
	for (int i = 0; i < 1000; i++)
		free(malloc(40));
	puts("nopie: done");
	return 0;
}
