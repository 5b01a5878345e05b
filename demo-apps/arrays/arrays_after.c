/* arrays_after.c - scenario 4, after: the batch size is known, so the
 * array is created with that capacity: one allocation per batch.
 * usage: arrays_after [BATCHES] */
#include "../demo.h"

#define ITEMS 1000
static volatile unsigned long sink;

struct array {
	long *items;
	size_t len, cap;
};

NOINLINE static void append(struct array *a, long v)
{
	a->items[a->len++] = v;
}

NOINLINE static void process_batch(long batch)
{
	struct array a = { malloc(ITEMS * sizeof(long)), 0, ITEMS };
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
	demo_report("arrays_after", n, start);
	return 0;
}
