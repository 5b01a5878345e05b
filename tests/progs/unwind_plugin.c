/* unwind_plugin.c - built twice (libudiff_plugin_a.so -O2,
 * libudiff_plugin_b.so -O1 with frame pointers), the same size, so that b
 * is loaded where a was, with other unwind rules at the same addresses
 * and its .eh_frame_hdr elsewhere. */
#include <stdlib.h>

void *volatile plugin_sink;
volatile int plugin_keep; /* read after each call: no tail calls */

#ifdef PLUGIN_B
const char plugin_pad[12288] = { 1 };  /* before .eh_frame */
#else
char plugin_pad[12288] = { 1 };        /* after it */
#endif

__attribute__((noinline)) static int plugin_descend(int depth)
{
	if (depth == 0) {
		void *p = malloc(56);
		plugin_sink = p;
		free(p);
		return 1;
	}
	int r = plugin_descend(depth - 1);
	return r + plugin_keep;
}

/* Allocates at the bottom of a short descent; returns the count. */
int plugin_alloc_run(int i)
{
	return plugin_descend(i % 6);
}
