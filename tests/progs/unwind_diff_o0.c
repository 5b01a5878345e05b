/* unwind_diff_o0.c - the unwinder differential test's -O0 code (every
 * frame rbp-based, locals on the stack, a VLA). Part of unwind_diff. */
#include <stddef.h>
#include <string.h>

void o0_run(void (*leaf)(size_t), int depth);

void o0_run(void (*leaf)(size_t), int depth)
{
	char fixed[24];
	int n = depth % 5 + 1;
	char vla[n * 8];
	memset(fixed, depth, sizeof fixed);
	memset(vla, depth, sizeof vla);
	if (depth > 0)
		o0_run(leaf, depth - 1);
	leaf((size_t)(fixed[0] + vla[0] + 8));
}

void o0_shift(void (*f)(void), int depth, int pad);

/* depth rbp-based frames, the innermost with a VLA of pad bytes that is
 * left unwritten (so the stack words of earlier, deeper calls survive in
 * it), then f() */
void o0_shift(void (*f)(void), int depth, int pad)
{
	if (depth > 0) {
		o0_shift(f, depth - 1, pad);
		return;
	}
	char vla[pad];
	f();
	(void)vla;
}
