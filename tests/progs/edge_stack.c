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

int main(void)
{
	edge_site_exact_99();
	edge_site_one_more1();
	mid();
	return 0;
}
