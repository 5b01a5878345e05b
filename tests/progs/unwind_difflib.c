/* unwind_difflib.c - a shared library for the unwinder differential test:
 * frames of another object, reached through the PLT, and a call back into
 * the program from inside them. Built -O2 without frame pointers and with
 * sibling calls allowed. */
#include <stdlib.h>
#include <string.h>

#include "unwind_difflib.h"

void *volatile difflib_sink;
volatile int difflib_keep; /* read after each call: no tail calls */

__attribute__((noinline)) static int lib_descend(int depth, void (*cb)(int), int arg)
{
	if (depth == 0) {
		if (cb) {
			cb(arg);
			return 0;
		}
		char *p = malloc(48);
		memset(p, 0, 48);
		difflib_sink = p;
		free(p);
		p = calloc(3, 16);
		difflib_sink = p;
		free(p);
		return 2;
	}
	int r = lib_descend(depth - 1, cb, arg);
	return r + difflib_keep;
}

int difflib_alloc(int depth)
{
	return lib_descend(depth, NULL, 0);
}

void difflib_call_back(void (*cb)(int), int depth)
{
	lib_descend(depth, cb, depth);
}
