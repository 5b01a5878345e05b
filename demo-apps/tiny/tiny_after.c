/* tiny_after.c - scenario 6, after: the point is a local variable.
 * usage: tiny_after [UNITS] */
#include "../demo.h"

struct point {
	double x, y;
};

static volatile double sink;

NOINLINE static double distance(double x, double y)
{
	struct point p = { x, y };
	return p.x * p.x + p.y * p.y;
}

int main(int argc, char **argv)
{
	long n = demo_units(argc, argv, 1000000);
	double start = demo_now_ms();
	for (long i = 0; i < n; i++) {
		sink += distance((double)i, (double)(i & 255));
		poolscout_work_done(1);
	}
	demo_report("tiny_after", n, start);
	return 0;
}
