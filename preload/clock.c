/* clock.c - time sources. Lifetimes are measured in ticks of the cheapest
 * monotonic counter (the invariant TSC on x86-64, 13 ns to read here
 * against 33 ns for clock_gettime; read inline, see ps_ticks in
 * ps_internal.h); the writer records the tick rate it measured against
 * CLOCK_MONOTONIC so the analyzer converts to ns. It also times the
 * recording's own work (ps_rec_begin in ps_internal.h). */
#include <time.h>

#include "ps_internal.h"

#if !defined(__x86_64__) /* x86-64: inline, ps_internal.h */
uint64_t ps_ticks(void)
{
	return ps_mono_ns();
}
#endif

/* Clock id's time in ns, or 0 when it cannot be read. */
static uint64_t read_clock(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) != 0)
		return 0;
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

uint64_t ps_thread_cpu_ns(pid_t tid)
{
	/* the kernel's CPU clock of a thread, named by its id (glibc's
	 * MAKE_THREAD_CPUCLOCK: CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD_MASK) */
	return tid > 0 ? read_clock((clockid_t)((~(unsigned)tid << 3) | 6)) : 0;
}

/* Ticks an empty timed region reads (the clock's own cost): the least of
 * a few back-to-back reads, measured once. */
static uint64_t empty_region(void)
{
	static uint64_t ticks; /* + 1; 0: not measured yet */
	uint64_t t = __atomic_load_n(&ticks, __ATOMIC_RELAXED);
	if (PS_LIKELY(t))
		return t - 1;
	uint64_t least = UINT64_MAX;
	for (int i = 0; i < 64; i++) {
		uint64_t a = ps_ticks(), b = ps_ticks();
		if (b - a < least)
			least = b - a;
	}
	__atomic_store_n(&ticks, least + 1, __ATOMIC_RELAXED);
	return least;
}

uint64_t ps_rec_begin_slow(void)
{
	/* A thread's first call draws where its first timed one falls, so
	 * that every call is timed with the same chance, its first too. */
	if (!ps_tls.rec_drawn) {
		ps_tls.rec_drawn = 1;
		uint32_t skip = ps_rec_skip();
		if (skip) {
			ps_tls.rec_skip = skip - 1;
			return 0;
		}
	}
	ps_tls.rec_exact_mark = ps_tls.rec_exact;
	uint64_t now = ps_ticks();
	return now ? now : 1;
}

void ps_rec_end_slow(uint64_t t0)
{
	uint64_t d = ps_ticks() - t0;
	/* the next draw after the clock read: its arithmetic is not timed */
	ps_tls.rec_skip = ps_rec_skip();
	uint64_t waste = ps_tls.rec_exact - ps_tls.rec_exact_mark + empty_region();
	ps_thread *t = ps_own_thread();
	/* A timed call this long was preempted (or stalled in a page
	 * fault): the machine's time, not the recording's; what the call
	 * itself took is lost, a fraction of a microsecond. */
	if (d <= waste || d > PS_REC_PREEMPTED || !t)
		return;
	PS_STORE(&t->rec_ticks,
		 PS_LOAD(&t->rec_ticks) + (d - waste) * PS_REC_EVERY);
}
