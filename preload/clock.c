/* clock.c - time sources. Lifetimes are measured in ticks of the cheapest
 * monotonic counter (the invariant TSC on x86-64, 13 ns to read here
 * against 33 ns for clock_gettime; read inline, see ps_ticks in
 * ps_internal.h); the writer records the tick rate it measured against
 * CLOCK_MONOTONIC so the analyzer converts to ns. */
#include <time.h>

#include "ps_internal.h"

#if !defined(__x86_64__) /* x86-64: inline, ps_internal.h */
uint64_t ps_ticks(void)
{
	return ps_mono_ns();
}
#endif

static uint64_t read_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ps_mono_ns(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

uint64_t ps_real_ns(void)
{
	return read_clock(CLOCK_REALTIME);
}
