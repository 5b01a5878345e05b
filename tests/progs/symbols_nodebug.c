/* symbols_nodebug.c - compiled without -g into tests/progs/symbols.c's
 * binary (tests/tests.mk): a function the symbol table names but no line
 * table covers. */
#include <stdlib.h>

void *nodebug_block(size_t n);

__attribute__((noinline)) void *nodebug_block(size_t n)
{
	void *p = malloc(n);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}
