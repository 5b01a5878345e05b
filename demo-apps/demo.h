/* demo.h - what every demo app shares: the unit-of-work call, a noinline
 * marker, and a timer that reports "NAME: N units in T ms" on stderr. */
#ifndef POOLSCOUT_DEMO_H
#define POOLSCOUT_DEMO_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "poolscout.h"

#define NOINLINE __attribute__((noinline))

static inline double demo_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* units from argv[1], or the default */
static inline long demo_units(int argc, char **argv, long dflt)
{
	long n = argc > 1 ? atol(argv[1]) : dflt;
	return n > 0 ? n : dflt;
}

static inline void demo_report(const char *name, long units, double start_ms)
{
	fprintf(stderr, "%s: %ld units in %.0f ms\n", name, units,
		demo_now_ms() - start_ms);
}

#endif
