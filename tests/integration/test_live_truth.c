/* test_live_truth.c - what poolscout charges at a free against what the
 * profiled program counted itself (tests/progs/live_truth.c): frees, the
 * bytes they release and the realloc chains they end are all read back
 * from the live-pointer table (preload/livetab.c), for blocks held by the
 * hundred thousand and freed in a shuffled order, sizes past its compact
 * field (1 MiB and more), aligned blocks, realloc chains past its compact
 * step count, blocks one thread allocates and another frees while the
 * table grows, and lifetimes of blocks kept both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define MAX_TRUTH 64

struct truths {
	char fn[MAX_TRUTH][48], key[MAX_TRUTH][32];
	double value[MAX_TRUTH];
	int n;
};

static double truth_of(const struct truths *t, const char *fn, const char *key)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->fn[i], fn) && !strcmp(t->key[i], key))
			return t->value[i];
	fail_msg("the program printed no truth for %s %s", fn, key);
	return 0;
}

/* Records `live_truth scenario` into a fresh directory and loads it into
 * a; returns the directory, with the program's numbers in *t. */
static char *record(const char *scenario, analysis *a, struct truths *t)
{
	char *dir = fresh_dir(scenario);
	assert_int_equal(run("%s/poolscout record -o %s -- %s/tests/live_truth %s "
			     ">/dev/null 2>%s/stderr",
			     build_dir(), dir, build_dir(), scenario, dir),
			 0);
	memset(t, 0, sizeof *t);
	char path[4096];
	snprintf(path, sizeof path, "%s/stderr", dir);
	FILE *f = fopen(path, "r");
	char line[256];
	while (f && fgets(line, sizeof line, f) && t->n < MAX_TRUTH)
		if (sscanf(line, "truth %47s %31s %lf", t->fn[t->n], t->key[t->n],
			   &t->value[t->n]) == 3)
			t->n++;
	if (f)
		fclose(f);
	assert_int_equal(load_dir(a, dir, NULL), 1);
	return dir;
}

/* Every counter the program kept for fn, against the sum of fn's sites. */
static void check_function(const analysis *a, const struct truths *t,
			   const char *fn)
{
	uint64_t got[9] = { 0 };
	static const char *const keys[9] = {
		"allocs",	 "alloc_bytes",	 "frees",
		"free_bytes",	 "xfrees",	 "realloc_grows",
		"chains_ended", "chain_steps_sum", "chain_steps_max",
	};
	int sites = 0;
	for (size_t i = 0; i < a->nsites; i++) {
		const an_site *s = &a->sites[i];
		if (strcmp(s->where.function, fn))
			continue;
		sites++;
		got[0] += s->allocs;
		got[1] += s->alloc_bytes;
		got[2] += s->frees;
		got[3] += s->free_bytes;
		got[4] += s->xfrees;
		got[5] += s->realloc_grows;
		got[6] += s->chains_ended;
		got[7] += s->chain_steps_sum;
		if (s->chain_steps_max > got[8])
			got[8] = s->chain_steps_max;
	}
	if (!sites)
		fail_msg("no site named %s", fn);
	for (int k = 0; k < 9; k++) {
		double want = truth_of(t, fn, keys[k]);
		if ((double)got[k] != want)
			fail_msg("%s %s: poolscout says %llu, the program counted "
				 "%.0f", fn, keys[k], (unsigned long long)got[k],
				 want);
	}
}

static void test_hold_and_free(void **state)
{
	(void)state;
	analysis a;
	struct truths t;
	char *dir = record("hold", &a, &t);
	static const char *const fns[] = { "small_blocks", "huge_blocks",
					   "aligned_blocks", "long_chains",
					   "short_chains" };
	for (int i = 0; i < 5; i++)
		check_function(&a, &t, fns[i]);
	/* nothing freed went unrecognised */
	assert_int_equal(a.processes[0].unknown_frees, 0);
	done(&a, dir);
}

static void test_handoff(void **state)
{
	(void)state;
	analysis a;
	struct truths t;
	char *dir = record("handoff", &a, &t);
	check_function(&a, &t, "make_message");
	assert_int_equal(a.processes[0].unknown_frees, 0);
	done(&a, dir);
}

/* The printed interval [lo, hi) of a percentile holds the program's own
 * (poolscout's lifetime of a block is the program's plus the time spent
 * inside malloc and free: at most slack more). */
static void assert_holds(const an_pct *p, double truth, double slack,
			 const char *what)
{
	if (!(p->hi_ns > truth * (1 - 1e-3)) || !(p->lo_ns <= truth + slack))
		fail_msg("%s: poolscout says [%.0f, %.0f) ns, the program "
			 "measured %.0f ns", what, p->lo_ns, p->hi_ns, truth);
}

static void test_lifetimes(void **state)
{
	(void)state;
	analysis a;
	struct truths t;
	char *dir = record("lifetimes", &a, &t);
	static const char *const fns[] = { "held_small", "held_huge" };
	for (int k = 0; k < 2; k++) {
		const an_site *s = NULL;
		for (size_t i = 0; i < a.nsites; i++)
			if (!strcmp(a.sites[i].where.function, fns[k]))
				s = &a.sites[i];
		if (!s)
			fail_msg("no site named %s", fns[k]);
		assert_int_equal(s->lifetimes, 360);
		assert_holds(&s->lifetime_p50, truth_of(&t, fns[k], "p50_ns"), 5e3,
			     fns[k]);
		assert_holds(&s->lifetime_p99, truth_of(&t, fns[k], "p99_ns"), 1e6,
			     fns[k]);
	}
	done(&a, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold_and_free),
		cmocka_unit_test(test_handoff),
		cmocka_unit_test(test_lifetimes),
	};
	return cmocka_run_group_tests_name("live table ground truth", tests, NULL,
					   NULL);
}
