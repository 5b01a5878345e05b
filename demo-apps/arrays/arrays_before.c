/* arrays_before.c - scenario 4 (seed 003), before: each batch collects
 * its 1000 item ids in an array appended to without a capacity hint; the
 * array doubles from 1 element: 1 malloc + 10 realloc growth steps.
 * usage: arrays_before [BATCHES] */
#include "../demo.h"

#define ITEMS 1000
static volatile unsigned long sink;

struct array {
	long *items;
	size_t len, cap;
};

NOINLINE static void append(struct array *a, long v)
{
	if (a->len == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 1;
		a->items = realloc(a->items, a->cap * sizeof *a->items);
	}
	a->items[a->len++] = v;
}

NOINLINE static void process_batch(long batch)
{
	struct array a = { 0 };
	for (long i = 0; i < ITEMS; i++)
		append(&a, batch * ITEMS + i);
	sink += (unsigned long)a.items[a.len - 1];
	free(a.items);
}

int main(int argc, char **argv)
{
	long n = demo_units(argc, argv, 20000);
	double start = demo_now_ms();
	for (long i = 0; i < n; i++) {
		process_batch(i);
		poolscout_work_done(1);
	}
	demo_report("arrays_before", n, start);
	return 0;
}
