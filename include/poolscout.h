/* poolscout.h - the one call a program may make into poolscout.
 *
 * poolscout_mark_work(n) tells the profiler that the program finished n
 * units of work (requests served, log lines written, records parsed). The
 * profile records the running total with every snapshot, so `poolscout
 * diff` can report allocations per unit of work without --per.
 *
 * The symbol is weak: a program built with this header runs unchanged
 * without the preload (the call is then a no-op), and costs one relaxed
 * atomic add with it.
 */
#ifndef POOLSCOUT_H
#define POOLSCOUT_H

#ifdef __cplusplus
extern "C" {
#endif

void poolscout_mark_work(unsigned long long units) __attribute__((weak));

/* Calls poolscout_mark_work when the preload is there. */
static inline void poolscout_work_done(unsigned long long units)
{
	if (poolscout_mark_work)
		poolscout_mark_work(units);
}

#ifdef __cplusplus
}
#endif

#endif
