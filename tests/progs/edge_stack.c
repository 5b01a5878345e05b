/* edge_stack.c - stack lines at the report's 99-column edge, for
 * tests/integration/views.sh. Each function allocates 1000 blocks of
 * 16 bytes and frees them; called from main (or through mid()), its
 * stack is the function, [mid,] main and glibc's three start frames:
 *
 *   edge_site_exact_99   line of exactly 99 columns: shown whole
 *   edge_site_one_more1  one column more: the last frame becomes " < ..."
 *   edge_site_tail16     through mid(), six frames: the fifth shown frame
 *                        leaves no room for the " < ..." the sixth needs,
 *                        so the line ends there
 *   edge_site_fits       through mid2(), six frames: the fifth shown frame
 *                        ends at column 93, leaving exactly the 6 columns
 *                        " < ..." would take: it is shown
 *
 * and stacks whose report lines read the same, which the report tells
 * apart by their first difference:
 *
 *   twin_site            twin_site < tw1 < tw2 < tw3 < tw4, then
 *                        twin_left or twin_right: frame 6 differs
 *   line_site            called twice from one line of same_line(): the
 *                        two stacks differ only in frame 2's address
 *   one_line_site        calls malloc twice from one line of its own:
 *                        frame 1's address differs
 *   long_line_site       called twice from one line of a function whose
 *                        name is longer than the 40 columns the report
 *                        gives a differing frame: frame 2, its name cut
 *   wrapped_site         calls xmalloc (a wrapper by name), which calls
 *                        malloc from two lines: past the wrapper the two
 *                        stacks are the same frames, told apart by their
 *                        stack ids only
 */
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

void *volatile edge_sink;

#define BLOCKS()                                 \
	for (int i = 0; i < 1000; i++) {         \
		edge_sink = malloc(16);          \
		free(edge_sink);                 \
	}

NOINLINE void edge_site_exact_99(void)
{
	BLOCKS();
}

NOINLINE void edge_site_one_more1(void)
{
	BLOCKS();
}

NOINLINE void edge_site_tail16(void)
{
	BLOCKS();
}

NOINLINE void mid(void)
{
	edge_site_tail16();
	edge_sink = NULL;
}

NOINLINE void edge_site_fits(void)
{
	BLOCKS();
}

NOINLINE void mid2(void)
{
	edge_site_fits();
	edge_sink = NULL;
}

NOINLINE void twin_site(void)
{
	BLOCKS();
}

#define PASS(name, callee)            \
	NOINLINE void name(void)      \
	{                             \
		callee();             \
		edge_sink = NULL;     \
	}
PASS(tw1, twin_site)
PASS(tw2, tw1)
PASS(tw3, tw2)
PASS(tw4, tw3)
PASS(twin_left, tw4)
PASS(twin_right, tw4)

NOINLINE void line_site(void)
{
	BLOCKS();
}

NOINLINE void same_line(void)
{
	line_site(); line_site(); /* two return addresses, one line */
	edge_sink = NULL;
}

NOINLINE void one_line_site(void)
{
	for (int i = 0; i < 1000; i++) {
		edge_sink = malloc(16); free(edge_sink); edge_sink = malloc(16); free(edge_sink);
	}
}

NOINLINE void long_line_site(void)
{
	BLOCKS();
}

NOINLINE void calls_twice_from_one_line_under_a_long_name(void)
{
	long_line_site(); long_line_site(); /* two return addresses */
	edge_sink = NULL;
}

NOINLINE void *xmalloc(size_t n, int second)
{
	void *p;
	if (second) {
		edge_sink = &p;
		p = malloc(n);
	} else {
		p = malloc(n);
		edge_sink = NULL;
	}
	return p;
}

NOINLINE void wrapped_site(void)
{
	for (int i = 0; i < 2000; i++)
		free(xmalloc(16, i & 1));
	edge_sink = NULL;
}

int main(void)
{
	edge_site_exact_99();
	edge_site_one_more1();
	mid();
	mid2();
	twin_left();
	twin_right();
	same_line();
	one_line_site();
	wrapped_site();
	calls_twice_from_one_line_under_a_long_name();
	return 0;
}
