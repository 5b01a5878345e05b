/* test_sample.c - the sampling's draws and filter (preload/sample.c) on
 * their own: the logarithms a draw takes (the table one and the series
 * one that fills its table) against libm's log, to a few units in the
 * last place over (0, 1] and at the table's points and the values next to
 * them, and ln(1 - 1/N) for N from 2; the number of allocations skipped against the geometric
 * distribution (each count's share, the mean, the tail) for 1 in 2, 32,
 * 64 and 1000, before the table is filled and after, with the same
 * draws either way; and the filter of recorded blocks: a count per slot,
 * a slot that reached 255 kept, the pinned range kept from the start and
 * after a fork child's reset, blocks 256 KiB apart never sharing a slot.
 *
 * The file is included so that its statics can be called; the rest of
 * the preload it needs is defined below.
 */
#define _GNU_SOURCE
#include "../../preload/sample.c"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rng.h"

/* ---- what sample.c needs from the rest of the preload -------------------- */

__thread struct ps_tls ps_tls;
struct ps_options ps_opt = { .sample_every = 64 };

/* ---- helpers ------------------------------------------------------------- */

/* How far ln may be from libm's log at u: two units of 2^-52 times
 * (1 + |ln u|) (the sum of ln 2's multiple and the table point's
 * logarithm rounds to the result's last place; measured: 1.5 of them at
 * most over 5 million draws). */
static double ln_tolerance(double u)
{
	return 0x1p-51 * (1.0 + fabs(log(u)));
}

static void check_ln_at(double u)
{
	double want = log(u);
	double got_fast = ln_fast(u), got_series = ln(u);
	if (fabs(got_fast - want) > ln_tolerance(u) ||
	    fabs(got_series - want) > ln_tolerance(u))
		fail_msg("ln(%a): libm %.17g, table %.17g, series %.17g", u,
			 want, got_fast, got_series);
}

/* Forgets the filter, so that ps_sample_init sets up the next one. */
static void drop_filter(void)
{
	if (ps_sample_filter)
		munmap(ps_sample_filter, FILTER_SIZE);
	ps_sample_filter = NULL;
}

/* An address at or after base whose slot is still 0 (not one of the
 * pinned range's, wherever the loader put that). */
static uintptr_t unmarked_at(uintptr_t base)
{
	while (ps_sample_maybe(base) ||
	       ps_sample_maybe(base + ((uintptr_t)1 << PS_SAMPLE_GRANULE_BITS) - 1))
		base += (uintptr_t)1 << 20;
	return base;
}

static void table_ready(void)
{
	fill_ln_table();
	assert_int_equal(ln_table_state, 2);
}

/* ---- tests --------------------------------------------------------------- */

/* Both logarithms over the draws' whole range: a million uniform u, as
 * a draw makes them, every power of two down to 2^-53, and each table
 * point (and the doubles on either side of it) in every binade. */
static void test_ln_against_libm(void **state)
{
	(void)state;
	table_ready();
	rng_state = 0x5eed1127;
	for (int i = 0; i < 1000000; i++)
		check_ln_at(((double)(rnd() >> 11) + 1.0) * 0x1p-53);
	for (int e = 0; e <= 53; e++)
		check_ln_at(ldexp(1.0, -e));
	check_ln_at(nextafter(1.0, 0.0));
	check_ln_at(0x1p-53 + 0x1p-105);
	for (unsigned i = 0; i < LN_TABLE_SIZE; i++) {
		double c = 1.0 + (double)i / LN_TABLE_SIZE;
		for (int e = 1; e <= 53; e += 13) {
			double u = ldexp(c, -e);
			check_ln_at(u);
			check_ln_at(nextafter(u, 0.0));
			check_ln_at(nextafter(u, 1.0));
		}
	}
	/* ln 1 is exactly 0: the draw's u = 1 skips none */
	assert_true(ln_fast(1.0) == 0.0);
	assert_true(ln(1.0) == 0.0);
}

/* ln(1 - 1/N), the factor of every draw of 1 in N, to libm's within two
 * ulp, from N = 2 (the series' slowest) up. */
static void test_ln_1p(void **state)
{
	(void)state;
	for (int n = 2; n < 100000; n++) {
		double want = log1p(-1.0 / n), got = ln_1p(-1.0 / n);
		if (fabs(got - want) > 0x1p-51 * fabs(want))
			fail_msg("ln(1 - 1/%d): libm %.17g, ours %.17g", n,
				 want, got);
	}
	/* and the function's whole domain, x > -1 (terms and sums of
	 * either sign) */
	for (double x = -0.75; x <= 3.0; x += 1.0 / 64) {
		double want = log1p(x), got = ln_1p(x);
		if (fabs(got - want) > 0x1p-51 * (1.0 + fabs(want)))
			fail_msg("ln(1 + %g): libm %.17g, ours %.17g", x,
				 want, got);
	}
	assert_true(ln_1p(0.0) == 0.0);
}

/* The stream a thread draws from is xorshift64* (the unit tests' own
 * rng.h, step for step), never stuck at 0, and seeded on first use. */
static void test_random_stream(void **state)
{
	(void)state;
	ps_tls.rng = rng_state = 0x2545f4914f6cdd1dull;
	for (int i = 0; i < 1000; i++)
		assert_true(next_random() == rnd());
	ps_tls.rng = 0;
	uint64_t first = next_random();
	assert_true(ps_tls.rng != 0);
	assert_true(next_random() != first);
}

/* A draw past 4e9 skips (1 in N for N near 2^32) is held at 4e9. */
static void test_geometric_cap(void **state)
{
	(void)state;
	table_ready();
	ps_tls.rng = 0x77;
	for (int i = 0; i < 100; i++)
		assert_int_equal(geometric(-1e15), 4000000000u);
}

/* The table: each point's logarithm to libm's within an ulp or two, and
 * its inverse the correctly rounded one. */
static void test_ln_table(void **state)
{
	(void)state;
	table_ready();
	for (unsigned i = 0; i < LN_TABLE_SIZE; i++) {
		double c = 1.0 + (double)i / LN_TABLE_SIZE;
		assert_true(fabs(ln_point[i] - log(c)) <= 0x1p-52);
		assert_true(inverse_point[i] == 1.0 / c);
	}
	assert_true(ln_point[0] == 0.0);
}

/* The distribution of draws for 1 in n: the share of each count up to
 * 3n and of the tail past it against (1 - p)^k p, within five standard
 * errors each, and the mean against (1 - p) / p. */
static void check_geometric(uint32_t (*draw)(void), double n, int draws)
{
	double p = 1.0 / n;
	int cells = (int)(3 * n) + 1;
	long *count = calloc((size_t)cells + 1, sizeof *count);
	assert_non_null(count);
	double sum = 0;
	for (int i = 0; i < draws; i++) {
		uint32_t k = draw();
		count[k < (uint32_t)cells ? k : (uint32_t)cells]++;
		sum += k;
	}
	for (int k = 0; k <= cells; k++) {
		double want = k < cells ? pow(1 - p, k) * p : pow(1 - p, cells);
		double se = sqrt(want * (1 - want) / draws);
		double got = (double)count[k] / draws;
		if (fabs(got - want) > 5 * se + 1e-9)
			fail_msg("1 in %g: %d skips in %.5f of the draws, "
				 "expected %.5f (+- %.5f)", n, k, got, want,
				 5 * se);
	}
	double mean = (1 - p) / p, sd = sqrt(1 - p) / p;
	if (fabs(sum / draws - mean) > 5 * sd / sqrt(draws))
		fail_msg("1 in %g: mean skip %.4f, expected %.4f", n,
			 sum / draws, mean);
	free(count);
}

static uint32_t draw_rec(void)
{
	return ps_rec_skip();
}

static uint32_t draw_sample(void)
{
	return ps_sample_skip();
}

static void test_geometric_draws(void **state)
{
	(void)state;
	table_ready();
	ps_tls.rng = 0x1127;
	check_geometric(draw_rec, PS_REC_EVERY, 400000);
	const unsigned every[] = { 2, 64, 1000 };
	for (unsigned i = 0; i < sizeof every / sizeof *every; i++) {
		ps_opt.sample_every = every[i];
		drop_filter();
		/* both ways the factor is had: before ps_sample_init, and
		 * after (the first of them sets the filter up too) */
		inverse_log_keep = 0;
		check_geometric(draw_sample, every[i], 100000);
		ps_sample_init(NULL, 0);
		assert_true(inverse_log_keep != 0);
		check_geometric(draw_sample, every[i], 300000);
		inverse_log_keep = 0;
	}
	ps_opt.sample_every = 64;
}

/* The same stream of draws, table or no table: a draw made while the
 * table is being filled (another thread filling it) takes the series
 * logarithm, and the first draw of all fills it. */
static void test_geometric_before_table(void **state)
{
	(void)state;
	enum { DRAWS = 20000 };
	static uint32_t fast[DRAWS];
	table_ready();
	ps_tls.rng = 0xfeed;
	for (int i = 0; i < DRAWS; i++)
		fast[i] = ps_rec_skip();
	ln_table_state = 1; /* being filled elsewhere: left so */
	ps_tls.rng = 0xfeed;
	int differ = 0;
	for (int i = 0; i < DRAWS; i++)
		differ += ps_rec_skip() != fast[i];
	assert_int_equal(ln_table_state, 1);
	assert_int_equal(differ, 0);

	ln_table_state = 0;
	memset(ln_point, 0, sizeof ln_point);
	memset(inverse_point, 0, sizeof inverse_point);
	ps_tls.rng = 0xfeed;
	assert_int_equal(ps_rec_skip(), fast[0]);
	assert_int_equal(ln_table_state, 2);
	for (int i = 1; i < DRAWS; i++)
		assert_int_equal(ps_rec_skip(), fast[i]);

	/* once it is ready, the table is what a draw reads: with its
	 * logarithms off by 1, every draw is 31 or more longer */
	for (unsigned i = 0; i < LN_TABLE_SIZE; i++)
		ln_point[i] -= 1.0;
	ps_tls.rng = 0xfeed;
	for (int i = 0; i < DRAWS; i++)
		assert_true(ps_rec_skip() >= fast[i] + 31);
	ln_table_state = 0;
	table_ready();
}

/* The filter: the count of a slot goes up and down with the marks of the
 * blocks in it; 255 sticks; the pinned range says "maybe" from the start
 * and after a fork child's reset, which clears the rest. */
static void test_filter(void **state)
{
	(void)state;
	/* (ending on a granule's edge: the granule after it is not
	 * pinned) */
	static char pinned_buffer[16 + 96] __attribute__((aligned(32)));
	char *pinned = pinned_buffer + 16; /* (bit 4 set: 16-aligned only) */
	const size_t pinned_size = 96;
	drop_filter();
	ps_opt.sample_every = 1; /* not sampled: no filter */
	ps_sample_init(pinned, pinned_size);
	assert_null(ps_sample_filter);
	assert_true(ps_sample_maybe((uintptr_t)pinned + 200));
	ps_opt.sample_every = 2;
	ps_sample_init(pinned, pinned_size);
	assert_non_null(ps_sample_filter);
	/* a second call keeps the filter it has */
	uint8_t *first = ps_sample_filter;
	ps_sample_init(NULL, 0);
	assert_ptr_equal(ps_sample_filter, first);

	for (size_t i = 0; i < pinned_size; i++)
		assert_true(ps_sample_maybe((uintptr_t)pinned + i));
	const uintptr_t granule = (uintptr_t)1 << PS_SAMPLE_GRANULE_BITS;
	uintptr_t after = ((uintptr_t)pinned + pinned_size + granule - 1) &
			  ~(granule - 1);
	assert_false(ps_sample_maybe(after));
	assert_false(ps_sample_maybe(((uintptr_t)pinned & ~(granule - 1)) -
				     1));

	uintptr_t p = unmarked_at(0x7f0012345670), q = p + 8; /* one slot */
	assert_false(ps_sample_maybe(p));
	ps_sample_mark(p);
	ps_sample_mark(q);
	assert_true(ps_sample_maybe(q));
	assert_int_equal(ps_sample_filter[ps_sample_slot(p)], 2);
	ps_sample_unmark(p);
	assert_true(ps_sample_maybe(p));
	ps_sample_unmark(q);
	assert_false(ps_sample_maybe(p));
	ps_sample_unmark(q); /* an extra unmark stays at 0 */
	assert_int_equal(ps_sample_filter[ps_sample_slot(p)], 0);

	/* 254 marks count down; the 255th sticks */
	uintptr_t r = unmarked_at(0x7f0022345680);
	for (int i = 0; i < 254; i++)
		ps_sample_mark(r);
	for (int i = 0; i < 254; i++)
		ps_sample_unmark(r);
	assert_false(ps_sample_maybe(r));
	for (int i = 0; i < 300; i++)
		ps_sample_mark(r);
	assert_int_equal(ps_sample_filter[ps_sample_slot(r)], STICKY);
	for (int i = 0; i < 300; i++)
		ps_sample_unmark(r);
	assert_true(ps_sample_maybe(r));

	/* blocks less than 256 KiB apart: slots of their own */
	for (uintptr_t d = granule; d < ((uintptr_t)1 << 18); d += granule)
		assert_int_not_equal(ps_sample_slot(p), ps_sample_slot(p + d));

	ps_sample_mark(p);
	ps_sample_reset_child();
	assert_false(ps_sample_maybe(p));
	assert_false(ps_sample_maybe(r));
	for (size_t i = 0; i < pinned_size; i++)
		assert_true(ps_sample_maybe((uintptr_t)pinned + i));
	ps_opt.sample_every = 64;
}

/* A pinned range of 16 MiB or more covers every slot (at this start, its
 * own granules would leave 59 of them out). */
static void test_filter_pinned_all(void **state)
{
	(void)state;
	uint8_t *f = calloc(FILTER_SIZE, 1);
	assert_non_null(f);
	pinned_lo = 0x55550123450;
	pinned_len = (size_t)FILTER_SIZE << PS_SAMPLE_GRANULE_BITS;
	pin(f);
	for (size_t i = 0; i < FILTER_SIZE; i++)
		assert_int_equal(f[i], STICKY);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ln_against_libm),
		cmocka_unit_test(test_ln_1p),
		cmocka_unit_test(test_ln_table),
		cmocka_unit_test(test_random_stream),
		cmocka_unit_test(test_geometric_cap),
		cmocka_unit_test(test_geometric_draws),
		cmocka_unit_test(test_geometric_before_table),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_filter_pinned_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
