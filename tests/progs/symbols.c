/* symbols.c - sites whose names and lines the program knows itself, for
 * the symbolizer (tests/integration/test_exact.c):
 *
 *   inline_helper()  always inlined into via_inline(): the site is the
 *                    helper (an inlined frame, at the line of its malloc)
 *                    and the next frame via_inline() at the line of the
 *                    call; 300 blocks of 24 bytes
 *   nodebug_block()  in symbols_nodebug.c, compiled without -g into this
 *                    binary built with -g: named from the symbol table,
 *                    with no file and line 0; 200 blocks of 40 bytes
 *
 * It prints "truth helper_line N" and "truth call_line N" on stderr.
 */
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

void *nodebug_block(size_t n);

static void *volatile sink;
static int helper_line, call_line;

static inline __attribute__((always_inline)) void *inline_helper(size_t n)
{
	helper_line = __LINE__ + 1;
	return malloc(n);
}

NOINLINE static void via_inline(int count)
{
	for (int i = 0; i < count; i++) {
		void *p = inline_helper(24); call_line = __LINE__;
		sink = p;
		free(p);
	}
}

NOINLINE static void call_nodebug(int count)
{
	for (int i = 0; i < count; i++) {
		void *p = nodebug_block(40);
		sink = p;
		free(p);
	}
}

int main(void)
{
	via_inline(300);
	call_nodebug(200);
	fprintf(stderr, "truth helper_line %d\ntruth call_line %d\n", helper_line,
		call_line);
	return 0;
}
