/* test_clock.c - the recording's own time (preload/clock.c and the
 * inline halves in ps_internal.h) on a scripted tick counter: the
 * clock's own cost is the least of its 64 back-to-back reads (measured
 * once); a thread's first call draws where its first timed call falls;
 * a timed call adds (its ticks - the clock's cost - what was timed
 * exactly meanwhile) x PS_REC_EVERY to its thread, nothing at or under
 * that cost, and nothing above PS_REC_PREEMPTED (each threshold on both
 * sides); a rare step timed exactly adds its ticks once, PS_REC_PREEMPTED
 * at most; the next draw follows every timed call. The tick counter is
 * the test's: the file is included with the TSC read replaced.
 */
#define _GNU_SOURCE
#include <stdint.h>

static uint64_t fake_rdtsc(void);
#define __builtin_ia32_rdtsc fake_rdtsc
#include "../../preload/clock.c"
#undef __builtin_ia32_rdtsc

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- the scripted counter and the rest of the preload -------------------- */

/* Reads return script[0], script[1], ...; past the script, the last
 * value plus 1 per read. */
static uint64_t script[256];
static size_t script_len, script_at, reads;

static uint64_t fake_rdtsc(void)
{
	reads++;
	if (script_at < script_len)
		return script[script_at++];
	return script[script_len - 1] + (script_at++ - script_len) + 1;
}

static void play(const uint64_t *v, size_t n)
{
	memcpy(script, v, n * sizeof *v);
	script_len = n;
	script_at = 0;
}

__thread struct ps_tls ps_tls;
uint32_t ps_generation = 1;
static ps_thread thread;

/* ps_rec_skip's draws, scripted too */
static uint32_t skips[8];
static size_t skip_at, draws;
uint32_t ps_rec_skip(void)
{
	draws++;
	return skips[skip_at++ % 8];
}

static void own_thread(ps_thread *t)
{
	ps_tls.generation = ps_generation;
	ps_tls.thread = t;
}

/* The clock's own cost is measured once in a process and kept, before
 * the tests' timed calls: 64 pairs, the least of them 7, the first 90. */
static size_t measured_reads;
static uint64_t measured;

static int measure_clock(void **state)
{
	(void)state;
	uint64_t v[128];
	for (int i = 0; i < 64; i++) {
		v[2 * i] = 1000 + 100 * (uint64_t)i;
		v[2 * i + 1] = v[2 * i] + (i == 0 ? 90 : i == 41 ? 7 : 12 + i % 5);
	}
	play(v, 128);
	measured = empty_region();
	measured_reads = script_at;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	memset(&ps_tls, 0, sizeof ps_tls);
	memset(&thread, 0, sizeof thread);
	memset(skips, 0, sizeof skips);
	skip_at = draws = 0;
	own_thread(&thread);
	return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_empty_region_least(void **state)
{
	(void)state;
	assert_int_equal(measured, 7);
	assert_int_equal(measured_reads, 128);
	/* measured once: later calls read nothing */
	play((uint64_t[]){ 1, 2 }, 2);
	assert_int_equal(empty_region(), 7);
	assert_int_equal(script_at, 0);
}

/* Times one call from tick a to tick b, with ps_rec_begin/end; returns
 * what it added to the thread. */
static uint64_t timed(uint64_t a, uint64_t b)
{
	uint64_t before = thread.rec_ticks;
	uint64_t v[] = { a, b };
	play(v, 2);
	ps_tls.rec_skip = 0;
	uint64_t t0 = ps_rec_begin();
	assert_int_equal(t0, a);
	ps_rec_end(t0);
	assert_int_equal(script_at, 2);
	return thread.rec_ticks - before;
}

static void test_timed_call(void **state)
{
	(void)state;
	ps_tls.rec_drawn = 1;
	/* 1000 ticks, the clock's 7 of them: 993 x 32 */
	assert_int_equal(timed(5000, 6000), 993 * PS_REC_EVERY);
	/* at the clock's cost, and under it: nothing */
	assert_int_equal(timed(5000, 5007), 0);
	assert_int_equal(timed(5000, 5003), 0);
	assert_int_equal(timed(5000, 5008), 1 * PS_REC_EVERY);
	/* at the preemption bound, counted; one tick past it, not */
	assert_int_equal(timed(10, 10 + PS_REC_PREEMPTED),
			 (PS_REC_PREEMPTED - 7) * PS_REC_EVERY);
	assert_int_equal(timed(10, 10 + PS_REC_PREEMPTED + 1), 0);
	/* no thread record of this process: nothing anywhere */
	own_thread(NULL);
	uint64_t before = thread.rec_ticks;
	assert_int_equal(timed(5000, 6000), 0);
	assert_int_equal(thread.rec_ticks, before);
}

/* A rare, costly step inside a timed call is counted once, exactly, and
 * taken out of the sampled estimate. */
static void test_exact_inside_timed(void **state)
{
	(void)state;
	ps_tls.rec_drawn = 1;
	ps_tls.rec_skip = 0;
	uint64_t v[] = { 1000, 1100, 1400, 2000 };
	play(v, 4);
	uint64_t t0 = ps_rec_begin();        /* 1000 */
	uint64_t step = ps_ticks();          /* 1100 */
	ps_rec_exact(&thread, step);         /* 1400: 300 once */
	assert_int_equal(thread.rec_ticks, 300);
	assert_int_equal(ps_tls.rec_exact, 300);
	ps_rec_end(t0);                      /* 2000 */
	/* 1000 - 300 - 7 = 693, x 32, on top of the 300 */
	assert_int_equal(thread.rec_ticks, 300 + 693 * PS_REC_EVERY);
	/* the next timed call starts its own mark */
	assert_int_equal(timed(3000, 3100), 93 * PS_REC_EVERY);
	/* an exact step with no thread counts only in the mark */
	play((uint64_t[]){ 10, 60 }, 2);
	ps_rec_exact(NULL, ps_ticks());
	assert_int_equal(ps_tls.rec_exact, 350);
}

/* A step timed exactly counts PS_REC_PREEMPTED ticks at most on its
 * thread (longer, it was preempted): at the bound in full, one tick past
 * it the bound; all of it is in the thread's exact mark. */
static void test_exact_capped(void **state)
{
	(void)state;
	uint64_t before = thread.rec_ticks, mark = ps_tls.rec_exact;
	play((uint64_t[]){ 100, 100 + PS_REC_PREEMPTED }, 2);
	ps_rec_exact(&thread, ps_ticks());
	assert_int_equal(thread.rec_ticks - before, PS_REC_PREEMPTED);
	before = thread.rec_ticks;
	play((uint64_t[]){ 100, 100 + PS_REC_PREEMPTED + 1 }, 2);
	ps_rec_exact(&thread, ps_ticks());
	assert_int_equal(thread.rec_ticks - before, PS_REC_PREEMPTED);
	before = thread.rec_ticks;
	play((uint64_t[]){ 100, 100 + 4 * PS_REC_PREEMPTED }, 2);
	ps_rec_exact(&thread, ps_ticks());
	assert_int_equal(thread.rec_ticks - before, PS_REC_PREEMPTED);
	assert_int_equal(ps_tls.rec_exact - mark,
			 PS_REC_PREEMPTED + (PS_REC_PREEMPTED + 1) +
				 4 * PS_REC_PREEMPTED);
	/* inside a timed call: 1000 + 200000 + 100 ticks, the step 200000
	 * of them: capped on the thread, and the call, past the bound with
	 * it, counts nothing itself */
	ps_tls.rec_drawn = 1;
	ps_tls.rec_skip = 0;
	before = thread.rec_ticks;
	play((uint64_t[]){ 1000, 1100, 201100, 201200 }, 4);
	uint64_t t0 = ps_rec_begin();
	uint64_t step = ps_ticks();
	ps_rec_exact(&thread, step);
	ps_rec_end(t0);
	assert_int_equal(thread.rec_ticks - before, PS_REC_PREEMPTED);
}

/* Untimed calls between timed ones: the draw's count, one fewer each; the
 * draw comes after each timed call; a thread's first call draws too. */
static void test_skips_and_draws(void **state)
{
	(void)state;
	/* first call: a draw of 3 leaves 2 to skip after this one */
	skips[0] = 3;
	skips[1] = 1;
	reads = 0;
	assert_int_equal(ps_rec_begin(), 0);
	assert_int_equal(ps_tls.rec_drawn, 1);
	assert_int_equal(ps_tls.rec_skip, 2);
	assert_int_equal(draws, 1);
	assert_int_equal(ps_rec_begin(), 0);
	assert_int_equal(ps_rec_begin(), 0);
	assert_int_equal(reads, 0); /* untimed calls read no clock */
	play((uint64_t[]){ 100, 250 }, 2);
	uint64_t t0 = ps_rec_begin();
	assert_int_equal(t0, 100);
	ps_rec_end(t0);
	assert_int_equal(draws, 2);
	assert_int_equal(ps_tls.rec_skip, 1);
	assert_int_equal(thread.rec_ticks, (150 - 7) * PS_REC_EVERY);
	assert_int_equal(ps_rec_begin(), 0);
	assert_int_equal(ps_tls.rec_skip, 0);

	/* a first draw of 0: the first call is timed */
	memset(&ps_tls, 0, sizeof ps_tls);
	own_thread(&thread);
	skips[2] = 0;
	skip_at = 2;
	play((uint64_t[]){ 400, 500 }, 2);
	t0 = ps_rec_begin();
	assert_int_equal(t0, 400);
	assert_int_equal(ps_tls.rec_drawn, 1);

	/* a counter that reads 0 still starts a timed call */
	ps_tls.rec_skip = 0;
	play((uint64_t[]){ 0, 0 }, 2);
	assert_int_equal(ps_rec_begin(), 1);
}

/* The kernel's clocks: monotonic time moves, and this thread's CPU time
 * is read by its id (0 for none). */
static void test_kernel_clocks(void **state)
{
	(void)state;
	uint64_t a = ps_mono_ns();
	for (volatile int i = 0; i < 1000000; i++)
		;
	uint64_t b = ps_mono_ns();
	assert_true(a > 0 && b > a);
	/* in ns: the wall clock read directly, within a millisecond */
	struct timespec ts;
	assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
	uint64_t direct = (uint64_t)ts.tv_sec * 1000000000u +
			  (uint64_t)ts.tv_nsec;
	uint64_t ours = ps_real_ns();
	assert_true(ours >= direct && ours - direct < 1000000);
	assert_true(ps_thread_cpu_ns(gettid()) > 0);
	assert_int_equal(ps_thread_cpu_ns(0), 0);
	assert_int_equal(ps_thread_cpu_ns(-1), 0);
	/* a thread of another process: the kernel refuses, read as 0 */
	assert_int_equal(ps_thread_cpu_ns(1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty_region_least, setup),
		cmocka_unit_test_setup(test_timed_call, setup),
		cmocka_unit_test_setup(test_exact_inside_timed, setup),
		cmocka_unit_test_setup(test_exact_capped, setup),
		cmocka_unit_test_setup(test_skips_and_draws, setup),
		cmocka_unit_test_setup(test_kernel_clocks, setup),
	};
	return cmocka_run_group_tests(tests, measure_clock, NULL);
}
