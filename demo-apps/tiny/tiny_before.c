/* tiny_before.c - scenario 6 (seeds 001, 004): where pooling does not pay.
 * A 16-byte point is allocated and freed inside the same call, one per
 * unit of work. A pool would add locking or bookkeeping to save nothing a
 * local variable does not save better: poolscout must say `stack`.
 * usage: tiny_before [UNITS] */
#include <math.h>

#include "../demo.h"

struct point {
	double x, y;
};

static volatile double sink;

NOINLINE static double distance(double x, double y)
{
	struct point *p = malloc(sizeof *p);
	p->x = x;
	p->y = y;
	double d = p->x * p->x + p->y * p->y;
	free(p);
	return d;
}

int main(int argc, char **argv)
{
	long n = demo_units(argc, argv, 1000000);
	double start = demo_now_ms();
	for (long i = 0; i < n; i++) {
		sink += distance((double)i, (double)(i & 255));
		poolscout_work_done(1);
	}
	demo_report("tiny_before", n, start);
	return 0;
}
