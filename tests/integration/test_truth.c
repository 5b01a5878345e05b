/* test_truth.c - poolscout's numbers against the truth the profiled
 * program counted itself (tests/progs/truth.c prints it), and wrapper
 * detection on a stripped binary against the addresses its unstripped
 * twin's symbol table gives (tests/progs/wrapped.c): peaks through
 * several call paths and across threads that ran one after another or
 * at once, thread counts, lifetime percentiles from microseconds to
 * seconds, a forked child's clock and rates, merged rates over wall-clock
 * time, and the caller of a wrapper as the site. */
#include <glob.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "memory.h"
#include "present.h"
#include "ranking.h"

#define MAX_TRUTH 32

struct truths {
	char key[MAX_TRUTH][64];
	double value[MAX_TRUTH];
	int n;
};

/* The program's own numbers, from the "truth KEY VALUE" lines of its
 * stderr (every process of the tree). */
static struct truths read_truth(const char *dir)
{
	struct truths t = { 0 };
	char *path = xasprintf("%s/stderr", dir);
	FILE *f = fopen(path, "r");
	char line[256];
	while (f && fgets(line, sizeof line, f) && t.n < MAX_TRUTH)
		if (sscanf(line, "truth %63s %lf", t.key[t.n], &t.value[t.n]) == 2)
			t.n++;
	if (f)
		fclose(f);
	free(path);
	return t;
}

static double truth_of(const struct truths *t, const char *key)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->key[i], key))
			return t->value[i];
	fail_msg("the program printed no truth for %s", key);
	return 0;
}

/* Records `truth scenario` (record options opts) into a fresh directory;
 * returns it, with its truths in *t. */
static char *record_truth(const char *scenario, const char *opts,
			  struct truths *t)
{
	char *dir = fresh_dir(scenario);
	assert_int_equal(run("%s/poolscout record %s -o %s -- %s/tests/truth %s "
			     ">/dev/null 2>%s/stderr",
			     build_dir(), opts, dir, build_dir(), scenario, dir),
			 0);
	*t = read_truth(dir);
	return dir;
}

/* record_truth(), then the run read into a: one profile. */
static char *record_loaded(const char *scenario, const char *opts,
			   struct truths *t, analysis *a)
{
	char *dir = record_truth(scenario, opts, t);
	assert_int_equal(load_dir(a, dir, NULL), 1);
	return dir;
}

static void assert_exact(const an_peak *p, double want)
{
	if (p->lo != (uint64_t)want || p->hi != (uint64_t)want)
		fail_msg("peak %llu..%llu, the program counted %.0f",
			 (unsigned long long)p->lo, (unsigned long long)p->hi, want);
}

/* One of the site's reasons says want. */
static void assert_reason(const an_site *s, const char *want)
{
	for (int i = 0; i < s->nreasons; i++)
		if (strstr(s->reasons[i], want))
			return;
	fail_msg("no reason of %s says \"%s\" (of %d, the first: %s)",
		 s->where.function, want, s->nreasons,
		 s->nreasons ? s->reasons[0] : "none");
}

/* Each of the three callers is a site with the allocations the program
 * counted for it, through the wrapper via. */
static void assert_callers_via(const analysis *a, const struct truths *t,
			       const char *const callers[3], const char *via)
{
	for (int i = 0; i < 3; i++) {
		const an_site *s = only_site(a, callers[i]);
		assert_int_equal(s->allocs, (uint64_t)truth_of(t, callers[i]));
		assert_non_null(s->via);
		assert_string_equal(s->via, via);
	}
}

/* ---- peaks ------------------------------------------------------------------ */

static void test_peak_through_paths(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("paths", "", &t, &a);
	const an_site *s = only_site(&a, "make_item");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "allocs"));
	/* the most live at once, not the sum of the three paths' peaks */
	assert_true(truth_of(&t, "peak") < truth_of(&t, "sum_of_path_peaks"));
	assert_exact(&s->peak, truth_of(&t, "peak"));
	assert_exact(&s->thread_peak, truth_of(&t, "peak"));
	assert_int_equal(s->alloc_threads, 1);
	/* the path through from_a (one stack) on its own: exact too */
	int seen = 0;
	for (size_t i = 0; i < s->nstacks; i++) {
		const an_stack *st = &a.stacks[s->stacks[i]];
		if (st->nframes < 2 || strcmp(st->frames[1]->function, "from_a"))
			continue;
		assert_exact(&st->peak, truth_of(&t, "peak_a"));
		seen++;
	}
	assert_int_equal(seen, 1);
	/* the stacks the report shows, largest first (five stacks: two
	 * calls each of from_b and from_c, one of from_a) */
	assert_int_equal(s->nstacks, 5);
	size_t top[3];
	assert_int_equal(site_top_stacks(s, top, 3), 3);
	assert_int_equal(s->stack_allocs[top[0]], truth_of(&t, "stack_first"));
	assert_int_equal(s->stack_allocs[top[1]], truth_of(&t, "stack_second"));
	assert_int_equal(s->stack_allocs[top[2]], truth_of(&t, "stack_third"));
	assert_int_equal(a.stacks[s->stacks[top[0]]].allocs, truth_of(&t, "stack_first"));
	uint64_t sum = 0;
	for (size_t i = 0; i < s->nstacks; i++)
		sum += s->stack_allocs[i];
	assert_int_equal(sum, s->allocs);
	done(&a, dir);
}

static void test_peak_sequential_threads(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("sequential", "", &t, &a);
	const an_site *s = only_site(&a, "worker_buffer");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "allocs"));
	assert_int_equal(s->alloc_threads, (unsigned)truth_of(&t, "threads"));
	/* threads that ran one after another never held blocks together */
	assert_exact(&s->peak, truth_of(&t, "peak"));
	assert_exact(&s->thread_peak, truth_of(&t, "peak"));
	/* and its one stack, the three threads' contributions one after
	 * another: exact too */
	assert_int_equal(s->nstacks, 1);
	assert_exact(&a.stacks[s->stacks[0]].peak, truth_of(&t, "peak"));
	/* the threads view: each worker's own peak (its blocks are all
	 * worker_buffer's), exact */
	static const uint64_t held[] = { 40, 25, 15 };
	int seen[3] = { 0 };
	for (size_t i = 0; i < a.nthreads; i++)
		for (int k = 0; k < 3; k++)
			if (a.threads[i].allocs == held[k]) {
				assert_exact(&a.threads[i].peak, (double)held[k]);
				seen[k]++;
			}
	assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
	/* and the process: never more than the largest at once */
	assert_true(a.processes[0].peak.lo >= 40);
	done(&a, dir);
}

/* Threads that overlap in time but take turns holding their blocks: a
 * shared pool (every block freed by another thread) sized by a peak, the
 * 100 the program counted, never by the sum of the eight threads' own
 * peaks; --site-peak makes the peak exact. */
static void test_pool_size_is_a_peak(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	for (int site_peak = 0; site_peak < 2; site_peak++) {
		char *dir = record_loaded("turns", site_peak ? "--site-peak" : "", &t, &a);
		rank_sites(&a);
		const an_site *s = only_site(&a, "turn_block");
		assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "allocs"));
		assert_int_equal(s->alloc_threads, (unsigned)truth_of(&t, "threads"));
		assert_true(s->xfree_ratio == 1.0);
		assert_exact(&s->thread_peak, truth_of(&t, "thread_peak"));
		assert_int_equal(s->remedy, REMEDY_POOL);
		assert_int_equal(s->pool_size, (uint64_t)truth_of(&t, "peak"));
		if (site_peak) {
			assert_exact(&s->peak, truth_of(&t, "peak"));
			assert_int_equal(s->pool_size_max, s->pool_size);
		} else {
			/* bounds that hold the truth; the upper one is what
			 * the threads' peaks add up to */
			assert_true(s->peak.lo == truth_of(&t, "peak"));
			assert_true(s->peak.hi >= truth_of(&t, "peak"));
			assert_true(s->pool_size_max == s->peak.hi);
		}
		done(&a, dir);
	}
}

/* What is live at the end was live at once: four overlapping threads
 * keep 50 blocks each, so the process's peak is 200 (at least the 200
 * live at the end, at most the threads' 4 x 50), not 50..200. */
static void test_peak_at_least_live_at_end(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("leftover", "", &t, &a);
	const an_process *pr = &a.processes[0];
	uint64_t live = (uint64_t)truth_of(&t, "live_at_end");
	/* every block the program made (the threads' and libc's own) */
	assert_true(pr->allocs - pr->frees >= live);
	assert_true(pr->peak.lo >= pr->allocs - pr->frees);
	assert_true(pr->peak.lo <= pr->peak.hi);
	/* and the bytes: at least the 200 x 40 still held */
	assert_true(pr->alloc_bytes - pr->free_bytes >= live * 40);
	assert_true(pr->peak.bytes_lo >= pr->alloc_bytes - pr->free_bytes);
	assert_true(pr->peak.bytes_lo <= pr->peak.bytes_hi);
	const an_site *s = only_site(&a, "kept_block");
	assert_int_equal(s->allocs - s->frees, live);
	assert_int_equal(s->frees, 80);
	assert_exact(&s->thread_peak, truth_of(&t, "thread_peak"));
	done(&a, dir);
}

/* A site with a stack whose site frame lies past the frames the preload
 * counts live blocks in (four named wrappers below it): its nodes do not
 * see those blocks, so they must not bound its peak; the bounds still
 * hold the program's 50. */
static void test_peak_site_past_candidates(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_truth("deep", "", &t);
	char *files[] = { NULL };
	char *pattern = xasprintf("%s/*.pscout", dir);
	glob_t g;
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	files[0] = g.gl_pathv[0];
	const char *const wrappers[] = { "^deep_w" };
	an_opts o = { .wrappers = wrappers, .nwrappers = 1 };
	assert_int_equal(analysis_load(&a, files, 1, &o), 0);
	const an_site *s = only_site(&a, "deep_site");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "allocs"));
	assert_int_equal(s->nstacks, 2);
	uint64_t peak = (uint64_t)truth_of(&t, "peak");
	if (s->peak.lo > peak || s->peak.hi < peak)
		fail_msg("peak %llu..%llu, the program held %llu at once",
			 (unsigned long long)s->peak.lo,
			 (unsigned long long)s->peak.hi, (unsigned long long)peak);
	assert_true(s->thread_peak.lo <= peak && s->thread_peak.hi >= peak);
	globfree(&g);
	free(pattern);
	done(&a, dir);
}

/* One stack, two threads that never held blocks at the same time, the
 * later holder registered first: the stack's peak is the larger of the
 * two, exactly (each contributor's window starts where it started). */
static void test_stack_peak_windows_out_of_order(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("reversed", "", &t, &a);
	const an_site *s = only_site(&a, "worker_buffer");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "allocs"));
	size_t top[1];
	assert_int_equal(site_top_stacks(s, top, 1), 1);
	assert_int_equal(s->stack_allocs[top[0]], 70);
	assert_exact(&a.stacks[s->stacks[top[0]]].peak, truth_of(&t, "peak"));
	done(&a, dir);
}

static void test_peak_concurrent_threads(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("concurrent", "", &t, &a);
	const an_site *s = only_site(&a, "worker_buffer");
	assert_int_equal(s->alloc_threads, (unsigned)truth_of(&t, "threads"));
	assert_exact(&s->thread_peak, truth_of(&t, "thread_peak"));
	/* overlapping threads: bounds that hold the truth */
	assert_true(s->peak.lo <= truth_of(&t, "peak"));
	assert_true(s->peak.hi >= truth_of(&t, "peak"));
	assert_true(s->peak.lo >= truth_of(&t, "thread_peak"));
	done(&a, dir);

	/* --site-peak: a shared counter makes it exact */
	dir = record_loaded("concurrent", "--site-peak", &t, &a);
	s = only_site(&a, "worker_buffer");
	assert_exact(&s->peak, truth_of(&t, "peak"));
	assert_exact(&s->thread_peak, truth_of(&t, "thread_peak"));
	/* ... and the process's own peak exact too (its node counts every
	 * block: the program's, and the few the C library keeps) */
	const an_peak *pp = &a.processes[0].peak;
	if (pp->lo != pp->hi || pp->hi < truth_of(&t, "peak") ||
	    pp->hi > truth_of(&t, "peak") + 8)
		fail_msg("process peak %llu..%llu with --site-peak, the program "
			 "held %.0f at once (+ libc's few)",
			 (unsigned long long)pp->lo, (unsigned long long)pp->hi,
			 truth_of(&t, "peak"));
	done(&a, dir);
}

/* A site's peak bytes grow while its peak of blocks stays the same,
 * after a snapshot wrote the smaller bytes; its two stacks alone only
 * bound them: per thread and with --site-peak. */
static void test_peak_bytes_grow(void **state)
{
	(void)state;
	static const char *const modes[] = { "", "--site-peak" };
	for (int m = 0; m < 2; m++) {
		struct truths t;
		analysis a;
		char *dir = record_loaded("bytes", modes[m], &t, &a);
		const an_site *s = only_site(&a, "sized_block");
		assert_exact(&s->peak, truth_of(&t, "peak"));
		assert_exact(&s->thread_peak, truth_of(&t, "peak"));
		assert_true(s->nstacks >= 2);
		if (s->peak.bytes_lo != (uint64_t)truth_of(&t, "peak_bytes") ||
		    s->peak.bytes_hi != (uint64_t)truth_of(&t, "peak_bytes"))
			fail_msg("%s: peak bytes %llu..%llu, the program held %.0f",
				 modes[m], (unsigned long long)s->peak.bytes_lo,
				 (unsigned long long)s->peak.bytes_hi,
				 truth_of(&t, "peak_bytes"));
		/* a snapshot fell between the two blocks (and one at the end) */
		assert_true(a.set->files[0]->nsnaps >= 2);
		done(&a, dir);
	}
}

/* A site counted through one stack, then two: the site's peak is the
 * first stack's (held before the second came), or the most the two held
 * at once, counting what the first still held. Blocks and bytes, with
 * and without a writer thread. */
static void assert_site_peak(const analysis *a, const char *name,
			     const struct truths *t, const char *mode)
{
	char key[64];
	snprintf(key, sizeof key, "%s_block", name);
	const an_site *s = only_site(a, key);
	assert_true(s->nstacks >= 2);
	snprintf(key, sizeof key, "%s_peak", name);
	double want = truth_of(t, key);
	snprintf(key, sizeof key, "%s_peak_bytes", name);
	double want_bytes = truth_of(t, key);
	if (s->peak.lo != (uint64_t)want || s->peak.hi != (uint64_t)want ||
	    s->peak.bytes_lo != (uint64_t)want_bytes ||
	    s->peak.bytes_hi != (uint64_t)want_bytes)
		fail_msg("%s %s_block: peak %llu..%llu blocks, %llu..%llu "
			 "bytes; the program held %.0f blocks, %.0f bytes",
			 mode, name, (unsigned long long)s->peak.lo,
			 (unsigned long long)s->peak.hi,
			 (unsigned long long)s->peak.bytes_lo,
			 (unsigned long long)s->peak.bytes_hi, want, want_bytes);
	assert_exact(&s->thread_peak, want);
}

static void test_peak_handed_over(void **state)
{
	(void)state;
	static const char *const modes[] = { "handover", "handover_threaded" };
	for (int m = 0; m < 2; m++) {
		struct truths t;
		analysis a;
		char *dir = record_loaded(modes[m], "", &t, &a);
		assert_site_peak(&a, "handed", &t, modes[m]);
		assert_site_peak(&a, "grown", &t, modes[m]);
		/* a snapshot fell while each site had one stack */
		assert_true(a.set->files[0]->nsnaps >= 2);
		done(&a, dir);
	}
}

/* A function that frees its block before it returns uses it itself: it
 * is the site, though three callers reach it with three sizes (the
 * structural rule alone would take it for a wrapper); a function that
 * returns its block to its callers is their wrapper. */
static void test_temporaries_stay_with_their_function(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("temporaries", "", &t, &a);
	const an_site *s = only_site(&a, "with_temp");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "with_temp"));
	static const char *const callers[] = { "temp_a", "temp_b", "temp_c" };
	assert_callers_via(&a, &t, callers, "dup_text");
	done(&a, dir);
	/* the same sampled 1 in 4: the frees of recorded blocks say where
	 * they died too (OpenSSL's name lookups at 1 in 64 were charged two
	 * levels up, to functions no block reached); estimates within 3.3
	 * sd of the program's counts */
	dir = record_loaded("temporaries", "--sample 4", &t, &a);
	assert_true(a.sample_every == 4);
	double sd = 4 * sqrt(truth_of(&t, "with_temp") / 4 * 0.75);
	s = only_site(&a, "with_temp");
	assert_null(s->via);
	if (fabs((double)s->allocs - truth_of(&t, "with_temp")) > 3.3 * sd)
		fail_msg("sampled with_temp: %llu, truth %.0f (sd %.0f)",
			 (unsigned long long)s->allocs, truth_of(&t, "with_temp"), sd);
	for (int i = 0; i < 3; i++) {
		s = only_site(&a, callers[i]);
		assert_non_null(s->via);
		assert_string_equal(s->via, "dup_text");
	}
	done(&a, dir);
}

/* Two processes, one with 200 of its 500 blocks live at once, the other
 * 100 of 500: they pile up in the first (40%), though a fifth of all
 * 1000 (or the peaks added, 300) is no moment's count; the reason gives
 * that process's numbers, as it counted them. */
static void test_pile_up_per_process(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_truth("piles", "", &t);
	assert_int_equal(load_dir(&a, dir, NULL), 1 + (size_t)truth_of(&t, "processes"));
	rank_sites(&a);
	const an_site *s = only_site(&a, "pile_block");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "allocs"));
	assert_int_equal(s->alloc_procs, (unsigned)truth_of(&t, "processes"));
	assert_int_equal(s->pile_peak, (uint64_t)truth_of(&t, "pile_peak"));
	assert_int_equal(s->pile_allocs, (uint64_t)truth_of(&t, "pile_allocs"));
	assert_int_equal(s->remedy, REMEDY_ARENA);
	char want[160];
	snprintf(want, sizeof want, "%.0f of its %.0f live at once in one process",
		 truth_of(&t, "pile_peak"), truth_of(&t, "pile_allocs"));
	assert_reason(s, want);
	done(&a, dir);
}

/* Callers of one helper that differ in their smallest size only: the
 * helper is their wrapper, each caller a site with the allocations it
 * counted. */
static void test_callers_differ_in_smallest_size(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("min_sizes", "", &t, &a);
	static const char *const callers[] = { "min_a", "min_b", "min_c" };
	assert_callers_via(&a, &t, callers, "sized_new");
	done(&a, dir);
}

/* Two threads, 50 blocks of one site live at once: the site's peak holds
 * 50, though the entry the model meets first for one thread is the one
 * it allocated through last (a smaller stack id, a later first
 * allocation): that thread's window starts at its earliest entry. */
static void test_window_starts_at_earliest_entry(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("late_entry", "", &t, &a);
	const an_site *s = only_site(&a, "shared_site");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "allocs"));
	if (!(s->peak.lo <= truth_of(&t, "peak") && s->peak.hi >= truth_of(&t, "peak")))
		fail_msg("peak %llu..%llu, the program held %.0f at once",
			 (unsigned long long)s->peak.lo,
			 (unsigned long long)s->peak.hi, truth_of(&t, "peak"));
	done(&a, dir);
}

/* ---- lifetimes ------------------------------------------------------------- */

/* The printed interval [lo, hi) must hold the true percentile. poolscout
 * measures inside the hooks, so its lifetime of a block is the program's
 * plus the time spent in malloc's return and free's entry: at most slack
 * more. */
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
	struct truths t;
	analysis a;
	char *dir = record_loaded("lifetimes", "", &t, &a);
	const an_site *s = only_site(&a, "short_lived");
	assert_int_equal(s->lifetimes, 1000);
	assert_holds(&s->lifetime_p50, truth_of(&t, "short_p50_ns"), 2e3,
		     "short p50");
	assert_holds(&s->lifetime_p99, truth_of(&t, "short_p99_ns"), 1e5,
		     "short p99");
	s = only_site(&a, "long_lived");
	assert_int_equal(s->lifetimes, 20);
	assert_holds(&s->lifetime_p50, truth_of(&t, "long_p50_ns"), 1e6,
		     "long p50");
	assert_holds(&s->lifetime_p99, truth_of(&t, "long_p99_ns"), 1e6,
		     "long p99");
	done(&a, dir);
}

/* ---- time: a forked child, and a merged run ------------------------------------ */

static void assert_near(double got, double want, double rel, const char *what)
{
	if (got < want * (1 - rel) || got > want * (1 + rel))
		fail_msg("%s: poolscout says %.4g, the program measured %.4g",
			 what, got, want);
}

static void assert_between(double got, double lo, double hi, const char *what)
{
	if (got < lo || got > hi)
		fail_msg("%s: poolscout says %.4g, not within %.4g..%.4g from "
			 "what the program measured",
			 what, got, lo, hi);
}

static void test_fork_clock_and_rates(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_truth("fork", "", &t);
	char *child = xasprintf("*.%.0f.pscout", truth_of(&t, "child_pid"));
	assert_int_equal(load_dir(&a, dir, child), 1);
	free(child);
	/* the child's clock starts at the fork, its snapshots at 1 */
	const pf_file *f = a.set->files[0];
	assert_true(f->flags & PS_PROC_FLAG_FORKED);
	/* single-threaded, it snapshots from its own hook calls: 400 of
	 * them over 200 ms make one before the last (every 256 calls) */
	assert_true(f->nsnaps >= 2);
	for (size_t i = 0; i < f->nsnaps; i++)
		assert_int_equal(f->snaps[i].seq, i + 1);
	assert_near((double)f->duration_ns, truth_of(&t, "child_run_ns"), 0.1,
		    "child's run time");
	const an_site *s = only_site(&a, "ticker");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "child_allocs"));
	assert_near(s->rate_per_s,
		    truth_of(&t, "child_allocs") * 1e9 / truth_of(&t, "child_active_ns"),
		    0.15, "child's allocation rate");
	analysis_free(&a);

	/* parent and child merged: one wall-clock timeline, not a sum of
	 * the two files' rates */
	assert_int_equal(load_dir(&a, dir, NULL), 2);
	for (size_t fi = 0; fi < 2; fi++)
		for (size_t i = 0; i < a.set->files[fi]->nsnaps; i++)
			assert_int_equal(a.set->files[fi]->snaps[i].seq, i + 1);
	s = only_site(&a, "ticker");
	double allocs = truth_of(&t, "parent_allocs") + truth_of(&t, "child_allocs");
	assert_int_equal(s->allocs, (uint64_t)allocs);
	assert_near((double)a.duration_ns, truth_of(&t, "span_ns"), 0.1,
		    "the merged run's span");
	assert_near(s->rate_run_per_s, allocs * 1e9 / truth_of(&t, "span_ns"), 0.15,
		    "merged rate over the run");
	assert_near(s->rate_per_s, allocs * 1e9 / truth_of(&t, "span_ns"), 0.15,
		    "merged rate over the active window");
	done(&a, dir);
}

/* The least of three unprofiled runs of truth `scenario` of the value it
 * prints as `key` (a CPU time: the least is the least disturbed). */
static double native_least(const char *scenario, const char *key)
{
	char *name = xasprintf("%s_native", scenario);
	char *dir = fresh_dir(name);
	double least = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(run("%s/tests/truth %s >/dev/null 2>%s/stderr",
				     build_dir(), scenario, dir),
				 0);
		struct truths t = read_truth(dir);
		double v = truth_of(&t, key);
		if (!i || v < least)
			least = v;
	}
	assert_int_equal(run("rm -rf %s", dir), 0);
	free(dir);
	free(name);
	return least;
}

/* Recording slows a busy loop several times over; the rates are per
 * second of the program's own time, the run less the recording's (the
 * preload times its accounting on one call in 32, and the rare costly
 * steps each time). The truth: the CPU time the loop takes recorded
 * more than without the preload (the least of three runs), which a
 * loaded machine does not stretch as it does wall-clock time. The
 * thread's recording time must come near it, and the rates must have
 * taken it out: well above the loop's own rate over its recorded run. */
static void test_rates_over_own_time(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	double native_cpu = native_least("busy", "busy_loop_cpu_ns");
	char *dir = record_truth("busy", "", &t);
	double allocs = truth_of(&t, "busy_allocs");
	double recording = truth_of(&t, "busy_loop_cpu_ns") - native_cpu;
	double slowed_rate = allocs * 1e9 / truth_of(&t, "busy_loop_ns");
	assert_int_equal(load_dir(&a, dir, NULL), 1);
	assert_true(a.rec_ns > 0 && a.rec_ns < a.duration_ns);
	/* the hook's entry and exit are not timed: some of it is missed */
	assert_between((double)a.threads[0].rec_ns, recording * 0.5,
		       recording * 1.5, "the thread's recording time");
	const an_site *s = only_site(&a, "busy_block");
	assert_int_equal(s->allocs, (uint64_t)allocs);
	if (s->rate_per_s < 1.5 * slowed_rate)
		fail_msg("site rate %.4g/s: the recording's time was not taken "
			 "out (%.4g/s with it)", s->rate_per_s, slowed_rate);
	if (a.threads[0].rate_per_s < 1.5 * slowed_rate)
		fail_msg("thread rate %.4g/s: the recording's time was not "
			 "taken out (%.4g/s with it)",
			 a.threads[0].rate_per_s, slowed_rate);
	/* the report says so, with the time taken */
	assert_int_equal(run("%s/poolscout report %s/*.pscout | grep -q "
			     "'^RECORDING: took about .* of the run (.*%%, "
			     "estimated)'",
			     build_dir(), dir),
			 0);
	done(&a, dir);
}

/* Threads that take turns on one CPU: each waits in the run queue while
 * another runs (busy near four times the run, running once it). The
 * run's recording time must come near the CPU time the threads take
 * recorded more than not (the least of three runs), as one timeline of
 * work: their sum, not shared out by their busy time as if they ran side
 * by side (a quarter of it). */
static void test_rates_of_threads_sharing_a_cpu(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	double native_cpu = native_least("one_cpu", "one_cpu_cpu_ns");
	char *dir = record_truth("one_cpu", "", &t);
	double recording = truth_of(&t, "one_cpu_cpu_ns") - native_cpu;
	assert_int_equal(load_dir(&a, dir, NULL), 1);
	/* the case: the workers waited for the CPU more than they ran;
	 * and every interval a thread recorded in says it ran in it (a
	 * thread ran to record: the time it ran as it ended, and no
	 * recording time moved by the measured tick rate alone) */
	uint64_t busy = 0, ran = 0;
	for (size_t i = 0; i < a.nthreads; i++) {
		const pf_thread *th = a.threads[i].thread;
		busy += th->busy_ns;
		ran += th->cpu_ns;
		for (size_t x = 0; x < th->nticks; x++)
			if (th->ticks[x].rec_ns && !th->ticks[x].cpu_ns)
				fail_msg("thread %u recorded %llu ns in snapshot "
					 "%u, and did not run", th->tid,
					 (unsigned long long)th->ticks[x].rec_ns,
					 th->ticks[x].snapshot);
	}
	if ((double)busy < 1.5 * (double)ran)
		fail_msg("busy %.4g ns, ran %.4g ns: the threads did not wait "
			 "for the one CPU", (double)busy, (double)ran);
	const an_site *s = only_site(&a, "one_cpu_block");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "one_cpu_allocs"));
	assert_between((double)a.rec_ns, recording * 0.5, recording * 1.5,
		       "the run's recording time");
	done(&a, dir);
}

/* A program that sleeps to deadlines between bursts is not slowed by the
 * recording (it sleeps less): nothing of the recording is taken out of
 * its rates, which are its allocations over the time it ran. */
static void test_rates_of_paced_program(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("paced", "", &t, &a);
	const an_site *s = only_site(&a, "paced_block");
	double allocs = truth_of(&t, "paced_allocs");
	assert_int_equal(s->allocs, (uint64_t)allocs);
	double rate = allocs * 1e9 / truth_of(&t, "paced_run_ns");
	assert_between(s->rate_run_per_s, rate * 0.95, rate * 1.05,
		       "paced_block's rate over the run");
	/* the thread recorded, but slept more than that */
	assert_true(a.threads[0].rec_ns > 0);
	assert_true(a.rec_ns < a.duration_ns / 20);
	done(&a, dir);
}

/* A site that reached the allocator through the runtime says through
 * which of its functions (strdup), one that called malloc itself says
 * nothing, and one whose stacks called two (strdup, strndup) neither. */
static void test_via_runtime(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("via_runtime", "", &t, &a);
	const an_site *s = only_site(&a, "dup_names");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "dup_names"));
	assert_null(s->via);
	assert_non_null(s->via_runtime);
	assert_string_equal(s->via_runtime, "strdup");
	s = only_site(&a, "direct_block");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "direct_block"));
	assert_null(s->via_runtime);
	struct site_sum sum = sum_function(&a, "either_dup");
	assert_int_equal(sum.allocs, (uint64_t)truth_of(&t, "either_dup"));
	for (size_t i = 0; i < a.nsites; i++)
		if (!strcmp(a.sites[i].where.function, "either_dup") &&
		    a.sites[i].nstacks > 1)
			assert_null(a.sites[i].via_runtime);
	/* named by its plainest alias: glibc's function is
	 * __pthread_create_2_1, exported as pthread_create@@GLIBC_2.34 */
	s = only_site(&a, "spawn_one");
	assert_non_null(s->via_runtime);
	assert_string_equal(s->via_runtime, "pthread_create");
	/* the report's label, and --json */
	assert_int_equal(run("%s/poolscout report %s/*.pscout | grep -q "
			     "' dup_names (truth.c:[0-9]*) via strdup$'",
			     build_dir(), dir),
			 0);
	assert_int_equal(run("%s/poolscout report --json %s/*.pscout | jq -e "
			     "'[.sites[] | select(.function == \"dup_names\") | "
			     ".via_runtime] == [\"strdup\"]' >/dev/null",
			     build_dir(), dir),
			 0);
	done(&a, dir);
}

/* ---- many blocks live at once ----------------------------------------------------- */

/* 300000 blocks live at once, then every one freed in a shuffled order:
 * each free finds its block (no unknown frees), nothing stays in use,
 * and the peak is all of them. */
static void test_hold_many(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("hold", "", &t, &a);
	const an_site *s = only_site(&a, "hold_block");
	double held = truth_of(&t, "held");
	assert_int_equal(s->allocs, held);
	assert_int_equal(s->frees, held);
	assert_int_equal(s->alloc_bytes, held * 16);
	assert_int_equal(s->inuse_objects, 0);
	assert_int_equal(s->inuse_space, 0);
	assert_int_equal(s->lifetimes, held);
	assert_exact(&s->peak, truth_of(&t, "peak"));
	assert_int_equal(a.processes[0].unknown_frees, 0);
	/* all of them live at once: they pile up, an arena */
	rank_sites(&a);
	assert_int_equal(s->remedy, REMEDY_ARENA);
	assert_reason(s, "they pile up and die together");
	done(&a, dir);
	/* the same sampled 1 in 64: the recorded blocks' peak (about 4700,
	 * every recorded one) scaled as the estimated 300k allocations are,
	 * not 4700 of 300k (1.6%: a pool) */
	dir = record_loaded("hold", "--sample 64", &t, &a);
	rank_sites(&a);
	s = only_site(&a, "hold_block");
	assert_true(a.sample_every == 64);
	assert_true(s->peak.lo * 64 >= 0.9 * held && s->peak.lo * 64 <= 1.1 * held);
	assert_int_equal(s->remedy, REMEDY_ARENA);
	assert_reason(s, "they pile up and die together");
	done(&a, dir);
}

/* ---- sampling ----------------------------------------------------------------- */

/* A strict 1-in-4 pattern sampled 1 in 4 and 1 in 64: the estimates are
 * within 4 standard deviations of the truth (3.3, one comparison in a
 * thousand, failed once in a few hundred runs of its four: 91456 of
 * 100000 at 1 in 64, 3.4 sd; eight runs then read 96064..102720, no
 * bias), the shares within 0.03, and the printed 95% bound
 * is about the estimator's: 1.96 sd. */
static void test_sampling_unbiased(void **state)
{
	(void)state;
	static const char *const rates[] = { "--sample 4", "--sample 64" };
	for (int r = 0; r < 2; r++) {
		struct truths t;
		analysis a;
		char *dir = record_loaded("periodic", rates[r], &t, &a);
		double n = a.sample_every;
		assert_true(n == (r ? 64 : 4));
		const an_site *one = only_site(&a, "every_fourth");
		const an_site *three = only_site(&a, "other_three");
		double want1 = truth_of(&t, "every_fourth");
		double want3 = truth_of(&t, "other_three");
		double got1 = (double)one->allocs, got3 = (double)three->allocs;
		double sd1 = n * sqrt(want1 / n * (1 - 1 / n));
		double sd3 = n * sqrt(want3 / n * (1 - 1 / n));
		if (fabs(got1 - want1) > 4 * sd1 || fabs(got3 - want3) > 4 * sd3)
			fail_msg("%s: estimates %.0f and %.0f, truth %.0f and %.0f "
				 "(sd %.0f, %.0f)", rates[r], got1, got3, want1, want3,
				 sd1, sd3);
		double share = got1 / (got1 + got3);
		if (fabs(share - want1 / (want1 + want3)) > 0.03)
			fail_msg("%s: every_fourth's share %.3f, truth 0.25", rates[r],
				 share);
		/* the bound printed is 1.96 sd of the recorded count */
		double bound_sd = one->allocs_error95 / 1.96;
		assert_true(bound_sd > 0.8 * sd1 && bound_sd < 1.25 * sd1);
		/* the peak: 1 block at a time. Sampled, it is the recorded
		 * blocks' peak (1, surely live at once) up to n times that
		 * (an estimate), never "exactly n"; the pool is the former */
		uint64_t peak = (uint64_t)truth_of(&t, "peak");
		assert_int_equal(one->peak.lo, peak);
		assert_int_equal(one->peak.hi, (uint64_t)n * peak);
		assert_false(an_peak_exact(&one->peak));
		assert_false(an_peak_exact(&one->thread_peak));
		/* each block freed before the next (the truth): a stack site
		 * when the sample is large enough to show overlaps (1 in 4:
		 * 100000 >= 30 x 4^2), else a pool of the recorded peak (1 in
		 * 64: 100000 < 30 x 64^2) */
		rank_sites(&a);
		one = only_site(&a, "every_fourth");
		if (n == 4) {
			assert_int_equal(one->remedy, REMEDY_STACK);
		} else {
			assert_int_equal(one->remedy, REMEDY_POOL);
			assert_int_equal(one->pool_size, peak);
		}
		done(&a, dir);
	}
}

/* Sampled with --site-peak: the shared counters count the recorded blocks
 * only, so no peak is exact, a stack's neither (one block at a time). */
static void test_sampled_site_peak_not_exact(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("periodic", "--sample 4 --site-peak", &t, &a);
	const an_site *one = only_site(&a, "every_fourth");
	uint64_t peak = (uint64_t)truth_of(&t, "peak");
	assert_false(an_peak_exact(&one->peak));
	assert_int_equal(one->peak.lo, peak);
	for (size_t i = 0; i < one->nstacks; i++) {
		const an_peak *p = &a.stacks[one->stacks[i]].peak;
		assert_false(an_peak_exact(p));
		assert_true(p->lo <= peak);
	}
	done(&a, dir);
}

/* C++ new and delete sampled 1 in 4 (tests/progs/cxx_objects.cpp counts
 * 1000 widgets, 500 arrays and 300 restocks, each deleted at once): a new
 * is one draw (one the sampling skips calls the next operator with its
 * own malloc uncounted, not drawn again), so each estimate is within 3.3
 * sd of the count; every recorded block is seen freed, and no site is
 * operator new itself. */
static void test_sampled_cxx(void **state)
{
	(void)state;
	static const struct {
		const char *function;
		double count;
	} want[] = {
		{ "make_widgets", 1000 },
		{ "make_arrays", 500 },
		{ "shop::restock(int)", 300 },
	};
	analysis a;
	char *dir = fresh_dir("cxx_sampled");
	assert_int_equal(run("%s/poolscout record --sample 4 -o %s -- "
			     "%s/tests/cxx_objects >/dev/null 2>%s/stderr",
			     build_dir(), dir, build_dir(), dir),
			 0);
	assert_int_equal(load_dir(&a, dir, NULL), 1);
	double n = a.sample_every;
	assert_true(n == 4);
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		struct site_sum s = sum_function(&a, want[i].function);
		double sd = n * sqrt(want[i].count / n * (1 - 1 / n));
		if (fabs((double)s.allocs - want[i].count) > 3.3 * sd)
			fail_msg("sampled %s: estimate %llu, truth %.0f (sd %.0f)",
				 want[i].function, (unsigned long long)s.allocs,
				 want[i].count, sd);
		assert_int_equal(s.frees, s.allocs);
		assert_int_equal(s.inuse, 0);
	}
	assert_int_equal(sum_function(&a, "operator new(unsigned long)").allocs, 0);
	assert_int_equal(sum_function(&a, "operator new[](unsigned long)").allocs, 0);
	done(&a, dir);
}

/* Realloc growth chains, exact and sampled 1 in 10: exact mode counts
 * every chain and step; sampled, a chain is recorded whole or not at all
 * (a resize inherits its block's draw), so every recorded chain has the
 * program's 7 steps, and the estimates are within 3.3 sd of the truth. */
/* The sum of the sites named fn (one function's malloc and realloc lines
 * are two sites); chain_steps_max is the largest. */
static an_site sites_named(const analysis *a, const char *fn)
{
	an_site sum;
	memset(&sum, 0, sizeof sum);
	for (size_t i = 0; i < a->nsites; i++) {
		const an_site *s = &a->sites[i];
		if (strcmp(s->where.function, fn))
			continue;
		sum.allocs += s->allocs;
		sum.realloc_grows += s->realloc_grows;
		sum.chains_ended += s->chains_ended;
		sum.chain_steps_sum += s->chain_steps_sum;
		if (s->chain_steps_max > sum.chain_steps_max)
			sum.chain_steps_max = s->chain_steps_max;
	}
	return sum;
}

static void test_sampled_chains(void **state)
{
	(void)state;
	static const char *const rates[] = { "", "--sample 10" };
	for (int r = 0; r < 2; r++) {
		struct truths t;
		analysis a;
		char *dir = record_loaded("chains", rates[r], &t, &a);
		an_site gs = sites_named(&a, "grow_buffer");
		const an_site *g = &gs;
		const an_site *p = only_site(&a, "plain_block");
		double chains = truth_of(&t, "chains");
		double steps = truth_of(&t, "steps_per_chain");
		if (!r) {
			assert_int_equal(g->allocs, truth_of(&t, "grow_buffer_allocs"));
			assert_int_equal(g->realloc_grows, chains * steps);
			assert_int_equal(g->chains_ended, chains);
			assert_int_equal(g->chain_steps_sum, chains * steps);
			assert_int_equal(g->chain_steps_max, steps);
			assert_int_equal(p->allocs, truth_of(&t, "plain_block"));
			done(&a, dir);
			continue;
		}
		double n = a.sample_every;
		assert_true(n == 10);
		/* whole chains: the steps per recorded chain are exact */
		assert_true(g->chains_ended > 0);
		assert_int_equal(g->chain_steps_sum, g->chains_ended * steps);
		assert_int_equal(g->realloc_grows, g->chains_ended * steps);
		assert_int_equal(g->chain_steps_max, steps);
		/* chains are drawn 1 in 10: their count is binomial */
		double sd = n * sqrt(chains / n * (1 - 1 / n));
		if (fabs((double)g->chains_ended - chains) > 3.3 * sd)
			fail_msg("sampled chains: estimate %llu, truth %.0f (sd %.0f)",
				 (unsigned long long)g->chains_ended, chains, sd);
		double want = truth_of(&t, "plain_block");
		double psd = n * sqrt(want / n * (1 - 1 / n));
		if (fabs((double)p->allocs - want) > 3.3 * psd)
			fail_msg("sampled plain_block: estimate %llu, truth %.0f (sd %.0f)",
				 (unsigned long long)p->allocs, want, psd);
		/* the error each site states: plain_block's blocks are drawn
		 * one by one (sd psd); the realloc line's 7 steps of a chain
		 * all at once, so its estimate varies as 7-step draws do:
		 * sd = 7 n sqrt(chains / n (1 - 1/n)), 2.6x what 7 x chains
		 * independent steps would give. The recorded chains stand for
		 * the truth's (+-2%). */
		double printed = p->allocs_error95 / 1.96;
		if (printed < 0.9 * psd || printed > 1.1 * psd)
			fail_msg("sampled plain_block: error95 %.0f, want 1.96 x %.0f",
				 p->allocs_error95, psd);
		int checked = 0;
		for (size_t i = 0; i < a.nsites; i++) {
			const an_site *s = &a.sites[i];
			if (strcmp(s->where.function, "grow_buffer") ||
			    !s->realloc_grows)
				continue;
			double csd = steps * n * sqrt(chains / n * (1 - 1 / n));
			printed = s->allocs_error95 / 1.96;
			if (printed < 0.9 * csd || printed > 1.1 * csd)
				fail_msg("sampled grow_buffer's reallocs: error95 %.0f, "
					 "want 1.96 x %.0f (chains of %.0f drawn whole)",
					 s->allocs_error95, csd, steps);
			checked++;
		}
		assert_int_equal(checked, 1);
		done(&a, dir);
	}
}

/* ---- wrappers in a stripped binary ----------------------------------------------- */

/* The address of symbol name in the unstripped copy (nm), as poolscout
 * names a function without symbols: "wrapped+0xADDR". */
static char *stripped_name(const char *name)
{
	char *cmd = xasprintf("nm %s/tests/wrapped-symbols", build_dir());
	FILE *p = popen(cmd, "r");
	free(cmd);
	char line[256], sym[128], type;
	unsigned long long addr;
	char *out = NULL;
	while (p && fgets(line, sizeof line, p))
		if (sscanf(line, "%llx %c %127s", &addr, &type, sym) == 3 &&
		    !strcmp(sym, name))
			out = xasprintf("wrapped+0x%llx", addr);
	if (p)
		pclose(p);
	if (!out)
		fail_msg("nm found no %s", name);
	return out;
}

static char *record_wrapped_args(const char *binary, const char *args)
{
	char *dir = fresh_dir(*args ? args : binary);
	assert_int_equal(run("%s/poolscout record -o %s -- %s/tests/%s %s "
			     ">/dev/null 2>/dev/null",
			     build_dir(), dir, build_dir(), binary, args),
			 0);
	return dir;
}

static char *record_wrapped(const char *binary)
{
	return record_wrapped_args(binary, "");
}

/* A diff of a run where the stripped wrapper has one caller (site_medium
 * alone) against one where it has three: the rule decides over both
 * runs' stacks, so site_medium is the site on both sides, with the
 * program's 2000 on each (a run alone would make my_xmalloc the site of
 * the base: a row "gone" beside one "new"). */
static void test_stripped_wrapper_diff(void **state)
{
	(void)state;
	char *base = record_wrapped_args("wrapped", "medium");
	char *now = record_wrapped("wrapped");
	char *medium = stripped_name("site_medium");
	char *wrapper = stripped_name("my_xmalloc");
	analysis a;
	assert_int_equal(load_dir(&a, base, NULL), 1);
	/* the base alone: one caller, no wrapper (what the diff must not
	 * show) */
	assert_int_equal(only_site(&a, wrapper)->allocs, 2000);
	analysis_free(&a);
	char *out = xasprintf("%s/diff.json", now);
	assert_int_equal(run("%s/poolscout diff --json %s %s >%s", build_dir(),
			     base, now, out),
			 0);
	assert_int_equal(run("jq -e '[.sites[] | select(.function == \"%s\")] "
			     "| length == 1 and .[0].base.alloc_objects == 2000 "
			     "and .[0].new.alloc_objects == 2000' %s >/dev/null",
			     medium, out),
			 0);
	assert_int_equal(run("jq -e '[.sites[] | select(.function == \"%s\")] "
			     "| length == 0' %s >/dev/null", wrapper, out),
			 0);
	/* --no-auto-wrappers: the wrapper is the site on both sides */
	assert_int_equal(run("%s/poolscout diff --json --no-auto-wrappers %s %s >%s",
			     build_dir(), base, now, out),
			 0);
	assert_int_equal(run("jq -e '[.sites[] | select(.function == \"%s\")] "
			     "| .[0].base.alloc_objects == 2000 and "
			     ".[0].new.alloc_objects == 6000' %s >/dev/null",
			     wrapper, out),
			 0);
	run("rm -rf %s %s", base, now);
	free(out);
	free(medium);
	free(wrapper);
	free(base);
	free(now);
}

/* Blocks that leave a site resized by realloc: counted, and never a
 * stack buffer's (their data lives on), but for a few (1%). */
static void test_resized_blocks(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("resized", "", &t, &a);
	rank_sites(&a);
	const an_site *key = only_site(&a, "make_key");
	assert_int_equal(key->allocs, (uint64_t)truth_of(&t, "allocs"));
	assert_int_equal(key->resized, (uint64_t)truth_of(&t, "key_resized"));
	assert_int_equal(key->resized_grown, (uint64_t)truth_of(&t, "key_grown"));
	assert_int_equal(key->resized_size_max,
			 (uint64_t)truth_of(&t, "key_grown_max"));
	/* allocate the grown size at once, not a stack buffer */
	assert_int_equal(key->remedy, REMEDY_PRESIZE);
	assert_int_equal(key->reserve_bytes, (uint64_t)truth_of(&t, "key_grown_max"));
	const an_site *local = only_site(&a, "local_buf");
	assert_int_equal(local->resized, (uint64_t)truth_of(&t, "local_resized"));
	assert_int_equal(local->resized_grown, 0);
	assert_int_equal(local->remedy, REMEDY_STACK);
	const an_site *other = only_site(&a, "other_buf");
	assert_int_equal(other->resized, (uint64_t)truth_of(&t, "other_resized"));
	assert_int_equal(other->allocs, local->allocs);
	assert_int_equal(other->remedy, REMEDY_POOL);
	/* the JSON report's fields carry the same counts */
	assert_int_equal(run("%s/poolscout report --json %s/*.pscout | jq -e "
			     "'[.sites[] | select(.function == \"make_key\")][0] | "
			     ".realloc_resized_objects == %.0f and "
			     ".realloc_resized_grown_objects == %.0f and "
			     ".realloc_resized_size_max == %.0f and "
			     ".reserve_bytes == %.0f and .remedy == \"presize\"' >/dev/null",
			     build_dir(), dir, truth_of(&t, "key_resized"),
			     truth_of(&t, "key_grown"), truth_of(&t, "key_grown_max"),
			     truth_of(&t, "key_grown_max")),
			 0);
	assert_int_equal(run("%s/poolscout report --json %s/*.pscout | jq -e "
			     "'[.sites[] | select(.function == \"local_buf\")][0] | "
			     ".realloc_resized_objects == %.0f and "
			     ".realloc_resized_grown_objects == 0 and "
			     ".realloc_resized_size_max == 0 and .remedy == \"stack\"' >/dev/null",
			     build_dir(), dir, truth_of(&t, "local_resized")),
			 0);
	done(&a, dir);
}

/* A site whose peak is the long-lived part of a mixed population (43%
 * kept to the end, the rest freed at once): live at the end and peak as
 * the program counted; no arena (they never die together), a pool that
 * says how many never come back. */
static void test_mixed_population(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("mixed", "", &t, &a);
	rank_sites(&a);
	const an_site *s = only_site(&a, "make_object");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "allocs"));
	assert_int_equal(s->inuse_objects, (uint64_t)truth_of(&t, "kept"));
	assert_int_equal(s->frees, truth_of(&t, "allocs") - truth_of(&t, "kept"));
	assert_exact(&s->peak, truth_of(&t, "peak"));
	assert_int_equal(s->remedy, REMEDY_POOL);
	char want[96];
	snprintf(want, sizeof want, "%.0f still live at the end",
		 truth_of(&t, "kept"));
	assert_reason(s, want);
	done(&a, dir);
}

/* A site made through two call chains, one keeping its blocks for good
 * (2000) and one making short-lived temporaries (at most 3 live): the
 * site's peak is 2003, but the pool that serves the temporaries needs
 * only their peak, as the program counted it; the kept ones are named
 * apart, and the savings count the temporaries only. */
static void test_keeper_stacks(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("keepers", "", &t, &a);
	rank_sites(&a);
	const an_site *s = only_site(&a, "make_record");
	double kept = truth_of(&t, "kept"), temps = truth_of(&t, "temps");
	assert_int_equal(s->allocs, (uint64_t)(kept + temps));
	assert_int_equal(s->inuse_objects, (uint64_t)kept);
	assert_exact(&s->peak, truth_of(&t, "peak"));
	assert_int_equal(s->remedy, REMEDY_POOL);
	assert_int_equal(s->pool_size, (uint64_t)truth_of(&t, "temps_peak"));
	char want[128];
	snprintf(want, sizeof want, "%.0f of them come from 1 stack that keeps "
		 "them (%.0f still live at the end)", kept, kept);
	assert_reason(s, want);
	/* each stack's own blocks live at the end, as the program kept them */
	for (size_t i = 0; i < s->nstacks; i++) {
		const an_stack *st = &a.stacks[s->stacks[i]];
		int keeper = 0;
		for (unsigned f = 0; f < st->nframes; f++)
			keeper |= !strcmp(st->frames[f]->function, "keep_records");
		assert_int_equal(st->allocs - st->frees,
				 keeper ? (uint64_t)kept : 0);
	}
	/* the pool serves the temporaries: each of them but the pool's own */
	double want_saved = s->rate_run_per_s *
			    (1 - truth_of(&t, "temps_peak") / temps) * temps /
			    (kept + temps);
	assert_true(s->saved_calls_per_s > 0.999 * want_saved &&
		    s->saved_calls_per_s < 1.001 * want_saved);
	done(&a, dir);
}

/* Three processes each holding 100 blocks at one moment (they wait for
 * each other): 300 live across the run, but a pool serves one process,
 * so the pool is the most one process held, exactly, and the savings
 * count a pool in each. */
static void test_pool_per_process(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_truth("processes", "", &t);
	assert_int_equal(load_dir(&a, dir, NULL), 1 + (size_t)truth_of(&t, "processes"));
	rank_sites(&a);
	const an_site *s = only_site(&a, "proc_block");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "allocs"));
	assert_int_equal(s->alloc_procs, (unsigned)truth_of(&t, "processes"));
	assert_exact(&s->proc_peak, truth_of(&t, "process_peak"));
	/* across the processes, the peak's bounds hold the 300 */
	assert_true(s->peak.lo <= truth_of(&t, "all_peak") &&
		    s->peak.hi >= truth_of(&t, "all_peak"));
	assert_int_equal(s->remedy, REMEDY_POOL);
	assert_int_equal(s->pool_size, (uint64_t)truth_of(&t, "process_peak"));
	assert_int_equal(s->pool_size_max, (uint64_t)truth_of(&t, "process_peak"));
	char want[160];
	snprintf(want, sizeof want, "at most %.0f live at once in one process",
		 truth_of(&t, "process_peak"));
	assert_reason(s, want);
	double want_saved = s->rate_run_per_s *
			    (1 - truth_of(&t, "process_peak") *
				     truth_of(&t, "processes") / truth_of(&t, "allocs"));
	assert_true(s->saved_calls_per_s > 0.999 * want_saved &&
		    s->saved_calls_per_s < 1.001 * want_saved);
	done(&a, dir);
}

static void test_stripped_wrapper(void **state)
{
	(void)state;
	assert_int_equal(run("! nm %s/tests/wrapped >/dev/null 2>&1 || "
			     "test -z \"$(nm %s/tests/wrapped 2>/dev/null)\"",
			     build_dir(), build_dir()),
			 0); /* really stripped */
	analysis a;
	char *dir = record_wrapped("wrapped");
	assert_int_equal(load_dir(&a, dir, NULL), 1);
	char *wrapper = stripped_name("my_xmalloc");
	static const char *const sites[] = { "site_small", "site_medium",
					     "site_large" };
	static const uint64_t counts[] = { 1000, 2000, 3000 };
	for (int i = 0; i < 3; i++) {
		char *name = stripped_name(sites[i]);
		const an_site *s = only_site(&a, name);
		assert_int_equal(s->allocs, counts[i]);
		assert_non_null(s->via);
		assert_string_equal(s->via, wrapper);
		free(name);
	}
	/* the wrapper itself is no site */
	for (size_t i = 0; i < a.nsites; i++)
		assert_string_not_equal(a.sites[i].where.function, wrapper);
	/* one fixed type from three callers: a site of its own */
	char *record = stripped_name("new_record");
	const an_site *s = only_site(&a, record);
	assert_int_equal(s->allocs, 700);
	assert_null(s->via);
	free(record);
	/* the report says names are missing, and where: of the program's
	 * module, as many unnamed code addresses as its distinct return
	 * addresses in the recorded stacks (none of them has a name) */
	const pf_file *f = a.set->files[0];
	uint64_t seen[1024];
	size_t nseen = 0;
	for (size_t id = 0; id < f->nstacks; id++) {
		const pf_stack *st = f->stacks[id];
		for (uint32_t k = 0; st && k < st->depth; k++) {
			const pf_module *m = pf_module_for(f, st->ips[k],
							   st->map_epoch);
			if (!m || !m->path || !strstr(m->path, "/tests/wrapped"))
				continue;
			size_t x = 0;
			while (x < nseen && seen[x] != st->ips[k])
				x++;
			if (x == nseen && nseen < 1024)
				seen[nseen++] = st->ips[k];
		}
	}
	assert_true(nseen > 0 && nseen < 1024);
	int named = 0;
	for (size_t i = 0; i < a.nunsymbolized; i++) {
		if (!strstr(a.unsymbolized[i].module, "/tests/wrapped"))
			continue;
		named = 1;
		assert_true(a.unsymbolized[i].allocs >= 6700);
		assert_int_equal(a.unsymbolized[i].frames, nseen);
	}
	assert_true(named);
	analysis_free(&a);

	/* --no-auto-wrappers: the wrapper is the site again */
	char *files[] = { NULL };
	char *pattern = xasprintf("%s/*.pscout", dir);
	glob_t g;
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	files[0] = g.gl_pathv[0];
	an_opts no_auto = { .no_auto_wrappers = 1 };
	assert_int_equal(analysis_load(&a, files, 1, &no_auto), 0);
	s = only_site(&a, wrapper);
	assert_int_equal(s->allocs, 6000);
	analysis_free(&a);
	/* a filter keeping one caller: what the views see changes, not
	 * which function is the site (the rule runs over every recorded
	 * stack; on site_medium's alone, one caller, it found no wrapper
	 * and my_xmalloc was the site) */
	char *medium = stripped_name("site_medium");
	char *focus = xasprintf("^%s$", medium);
	*strchr(focus, '+') = '.'; /* "wrapped+0x..": + is a regex's */
	an_opts one_caller[] = { { .focus = focus },
				 { .from_ns = 1, .focus = focus } };
	for (int k = 0; k < 2; k++) {
		assert_int_equal(analysis_load(&a, files, 1, &one_caller[k]), 0);
		s = only_site(&a, medium);
		assert_int_equal(s->allocs, 2000);
		assert_non_null(s->via);
		assert_string_equal(s->via, wrapper);
		for (size_t i = 0; i < a.nsites; i++)
			assert_string_not_equal(a.sites[i].where.function, wrapper);
		analysis_free(&a);
	}
	free(focus);
	free(medium);
	globfree(&g);
	free(pattern);
	free(wrapper);
	run("rm -rf %s", dir);
	free(dir);

	/* with symbols: the same sites, by name */
	dir = record_wrapped("wrapped-symbols");
	assert_int_equal(load_dir(&a, dir, NULL), 1);
	for (int i = 0; i < 3; i++) {
		s = only_site(&a, sites[i]);
		assert_int_equal(s->allocs, counts[i]);
		assert_string_equal(s->via, "my_xmalloc");
	}
	assert_int_equal(only_site(&a, "new_record")->allocs, 700);
	done(&a, dir);
}

/* A fork child with --site-peak: the parent's per-site shared counters
 * went with its memory (the child's tables start empty), so the child
 * makes its own and runs to its end: its profile has its 200 ticker()
 * blocks, one live at a time. */
static void test_fork_child_site_peak(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_truth("fork", "--site-peak", &t);
	char *child = xasprintf("*.%.0f.pscout", truth_of(&t, "child_pid"));
	assert_int_equal(load_dir(&a, dir, child), 1);
	free(child);
	assert_true(a.set->files[0]->flags & PS_PROC_FLAG_FORKED);
	const an_site *s = only_site(&a, "ticker");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "child_allocs"));
	assert_exact(&s->peak, 1);
	done(&a, dir);
}

/* A fork child's first allocations, each freed before the next (its
 * latest block): the preload asks of every one of an entry's first 64
 * frees where the block died, so the child's child_temp() stack counts
 * all 40 in its inner frees, whichever candidate each names. */
static void test_fork_child_inner_frees(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_truth("inner_fork", "", &t);
	char *child = xasprintf("*.%.0f.pscout", truth_of(&t, "child_pid"));
	assert_int_equal(load_dir(&a, dir, child), 1);
	free(child);
	const an_site *s = only_site(&a, "child_temp");
	uint64_t want = (uint64_t)truth_of(&t, "child_temps");
	assert_int_equal(s->allocs, want);
	uint64_t checked = 0;
	for (size_t i = 0; i < s->nstacks; i++)
		for (int k = 0; k < PF_INNER_VALUES; k++)
			checked += a.stacks[s->stacks[i]].inner_frees[k];
	if (checked != want)
		fail_msg("child_temp: %llu frees checked, the child freed its "
			 "latest block %llu times",
			 (unsigned long long)checked, (unsigned long long)want);
	done(&a, dir);
}

/* A site whose blocks libc allocates four and more frames down (stdio
 * buffers, through fputs): the preload counts live blocks per candidate
 * past the runtime's frames, so put_line() is a candidate of both its
 * stacks and its peak is exact: the 35 the program held at most, not
 * bounds from its two paths' 30 and 25. */
static void test_peak_past_runtime_frames(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("deep_runtime", "", &t, &a);
	const an_site *s = only_site(&a, "put_line");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "put_line"));
	assert_true(s->nstacks >= 2);
	assert_exact(&s->peak, truth_of(&t, "put_line_peak"));
	assert_exact(&s->thread_peak, truth_of(&t, "put_line_peak"));
	done(&a, dir);
}

/* A worker thread that ended is not the main thread: the main thread
 * still runs, so the writer keeps to the interval (200 ms) and takes no
 * more snapshots than the program's run time allows (at the start, one
 * per interval, and at the end), where it would take one every 10 ms if
 * it took the main thread for ended. */
static void test_snapshots_after_worker_ended(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("worker_ended", "--interval 200", &t, &a);
	const an_site *s = only_site(&a, "main_tick");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "main_ticks"));
	size_t most = (size_t)(truth_of(&t, "main_run_ns") / 200e6) + 4;
	if (a.set->files[0]->nsnaps > most)
		fail_msg("%zu snapshots in %.0f ms at an interval of 200 ms "
			 "(at most %zu)", a.set->files[0]->nsnaps,
			 truth_of(&t, "main_run_ns") / 1e6, most);
	done(&a, dir);
}

/* Blocks that are resized by realloc elsewhere and live on there (shrunk
 * at once, or all made before any is shrunk): neither a pool (before the
 * rule, make_list read "a pool of 1") nor an arena (make_lists_first read
 * "2000 of 2000 live at once"), but the size they end at, allocated here. */
static void test_shrunk_blocks(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = record_loaded("shrunk", "", &t, &a);
	rank_sites(&a);
	const char *names[] = { "make_list", "make_lists_first" };
	for (size_t i = 0; i < 2; i++) {
		const an_site *s = only_site(&a, names[i]);
		assert_int_equal(s->allocs, (uint64_t)truth_of(&t, names[i]));
		assert_int_equal(s->resized, (uint64_t)truth_of(&t, "shrunk_each"));
		assert_int_equal(s->resized_grown, 0);
		assert_int_equal(s->remedy, REMEDY_PRESIZE);
		assert_int_equal(s->reserve_bytes, 0);
		assert_non_null(strstr(s->reasons[0], "resized later"));
	}
	done(&a, dir);
}

/* A site whose blocks a runtime library allocates five frames down, the
 * library's last segment (a 4 MiB .bss) far larger than the gap below it
 * (tests/progs/runtime_bss.c): the library's frames are the runtime's
 * however its segments lie, so keep_copy() is a candidate of both its
 * stacks and its peak is exact: the 35 the program held at most, not
 * bounds from its two paths' 30 and 25. */
static void test_site_under_runtime_bss(void **state)
{
	(void)state;
	struct truths t;
	analysis a;
	char *dir = fresh_dir("runtime_bss");
	assert_int_equal(run("%s/poolscout record -o %s -- %s/tests/runtime_bss "
			     ">/dev/null 2>%s/stderr",
			     build_dir(), dir, build_dir(), dir),
			 0);
	t = read_truth(dir);
	assert_int_equal(load_dir(&a, dir, NULL), 1);
	const an_site *s = only_site(&a, "keep_copy");
	assert_int_equal(s->allocs, (uint64_t)truth_of(&t, "keep_copy"));
	assert_true(s->nstacks >= 2);
	assert_exact(&s->peak, truth_of(&t, "keep_copy_peak"));
	assert_exact(&s->thread_peak, truth_of(&t, "keep_copy_peak"));
	done(&a, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peak_through_paths),
		cmocka_unit_test(test_peak_sequential_threads),
		cmocka_unit_test(test_pool_size_is_a_peak),
		cmocka_unit_test(test_peak_at_least_live_at_end),
		cmocka_unit_test(test_peak_site_past_candidates),
		cmocka_unit_test(test_stack_peak_windows_out_of_order),
		cmocka_unit_test(test_sampled_site_peak_not_exact),
		cmocka_unit_test(test_peak_concurrent_threads),
		cmocka_unit_test(test_peak_bytes_grow),
		cmocka_unit_test(test_peak_handed_over),
		cmocka_unit_test(test_temporaries_stay_with_their_function),
		cmocka_unit_test(test_pile_up_per_process),
		cmocka_unit_test(test_callers_differ_in_smallest_size),
		cmocka_unit_test(test_window_starts_at_earliest_entry),
		cmocka_unit_test(test_lifetimes),
		cmocka_unit_test(test_fork_clock_and_rates),
		cmocka_unit_test(test_hold_many),
		cmocka_unit_test(test_sampling_unbiased),
		cmocka_unit_test(test_sampled_chains),
		cmocka_unit_test(test_sampled_cxx),
		cmocka_unit_test(test_stripped_wrapper),
		cmocka_unit_test(test_stripped_wrapper_diff),
		cmocka_unit_test(test_resized_blocks),
		cmocka_unit_test(test_mixed_population),
		cmocka_unit_test(test_keeper_stacks),
		cmocka_unit_test(test_pool_per_process),
		cmocka_unit_test(test_fork_child_site_peak),
		cmocka_unit_test(test_fork_child_inner_frees),
		cmocka_unit_test(test_peak_past_runtime_frames),
		cmocka_unit_test(test_snapshots_after_worker_ended),
		cmocka_unit_test(test_shrunk_blocks),
		cmocka_unit_test(test_site_under_runtime_bss),
		cmocka_unit_test(test_rates_over_own_time),
		cmocka_unit_test(test_via_runtime),
		cmocka_unit_test(test_rates_of_paced_program),
		cmocka_unit_test(test_rates_of_threads_sharing_a_cpu),
	};
	return cmocka_run_group_tests_name("ground truth", tests, NULL, NULL);
}
