/* test_ranking.c - every rule of the ranking (analyzer/core/ranking.c,
 * docs/ranking.md) on sites built in memory, each threshold just inside
 * and just outside, with the documented numbers written out literally (a
 * test that read the macros would move with them); the pool's size in
 * each case; what a remedy saves; and the order of the report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ranking.h"

/* A site that is a pool candidate: 10000 allocations of 64 B, all freed
 * by the allocating thread within a microsecond, 8 live at once, one
 * thread, 1000 per second of the run. */
static an_site pool_site(void)
{
	an_site s;
	memset(&s, 0, sizeof s);
	s.where.function = "site";
	s.allocs = s.frees = 10000;
	s.alloc_bytes = s.free_bytes = 640000;
	s.size_min = s.size_max = 64;
	s.peak = (an_peak){ 8, 8, 512, 512 };
	s.thread_peak = s.peak;
	s.alloc_threads = 1;
	s.lifetime_p50 = (an_pct){ 512, 1024 };
	s.lifetime_p99 = (an_pct){ 512, 1024 };
	s.rate_run_per_s = 1000;
	s.rate_per_s = s.rate_peak_per_s = 1000;
	s.bytes_run_per_s = 64000;
	return s;
}

static enum remedy rank_one(an_site *s)
{
	analysis a;
	memset(&a, 0, sizeof a);
	a.sites = s;
	a.nsites = 1;
	rank_sites(&a);
	free(a.ranked);
	return s->remedy;
}

/* rank_one() for a profile sampled 1 in every */
static enum remedy rank_sampled(an_site *s, uint32_t every)
{
	analysis a;
	memset(&a, 0, sizeof a);
	a.sites = s;
	a.nsites = 1;
	a.sample_every = every;
	rank_sites(&a);
	free(a.ranked);
	return s->remedy;
}

/* rank_one() for a run of duration_ns, rec_ns of them the recording's */
static enum remedy rank_recorded(an_site *s, uint64_t duration_ns, uint64_t rec_ns)
{
	analysis a;
	memset(&a, 0, sizeof a);
	a.sites = s;
	a.nsites = 1;
	a.duration_ns = duration_ns;
	a.rec_ns = rec_ns;
	rank_sites(&a);
	free(a.ranked);
	return s->remedy;
}

static int has_reason(const an_site *s, const char *text)
{
	for (int i = 0; i < s->nreasons; i++)
		if (strstr(s->reasons[i], text))
			return 1;
	return 0;
}

static void test_rare(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.allocs = s.frees = 1000;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	s = pool_site();
	s.allocs = s.frees = 999;
	assert_int_equal(rank_one(&s), REMEDY_NONE);
	assert_true(has_reason(&s, "rare: 999 allocations ("));
	s.allocs = s.frees = 1;
	assert_int_equal(rank_one(&s), REMEDY_NONE);
	assert_true(has_reason(&s, "rare: 1 allocation ("));
	s = pool_site();
	s.rate_run_per_s = 100;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	s = pool_site();
	s.rate_run_per_s = 99.9;
	assert_int_equal(rank_one(&s), REMEDY_NONE);
	/* the active-window rate does not count: a burst is still rare */
	s.rate_per_s = s.rate_peak_per_s = 1e9;
	assert_int_equal(rank_one(&s), REMEDY_NONE);
}

static void test_presize(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.allocs = s.frees = 2000;
	s.realloc_grows = 1000; /* half: inside */
	s.chain_final_size_max = 4096;
	assert_int_equal(rank_one(&s), REMEDY_PRESIZE);
	assert_int_equal(s.reserve_bytes, 4096);
	/* saves the growth steps' share of the run rate */
	assert_true(s.saved_calls_per_s == 1000.0 * 1000 / 2000);
	s = pool_site();
	s.allocs = s.frees = 2001;
	s.realloc_grows = 1000; /* under half */
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	s = pool_site();
	s.allocs = s.frees = 1000;
	s.realloc_grows = 500; /* the fewest that can be half */
	assert_int_equal(rank_one(&s), REMEDY_PRESIZE);
	s.realloc_grows = 499;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* the largest request when no chain ended bigger */
	s = pool_site();
	s.realloc_grows = s.allocs;
	s.size_max = 300;
	s.chain_final_size_max = 200;
	assert_int_equal(rank_one(&s), REMEDY_PRESIZE);
	assert_int_equal(s.reserve_bytes, 300);
}

static void test_retained(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.frees = 5000; /* half freed: inside */
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	s = pool_site();
	s.frees = 4999;
	assert_int_equal(rank_one(&s), REMEDY_NONE);
	assert_true(has_reason(&s, "long-lived"));
	/* the reason says how many stayed */
	s = pool_site();
	s.frees = 3000;
	assert_int_equal(rank_one(&s), REMEDY_NONE);
	assert_true(has_reason(&s, "long-lived: 70% of 10.0k allocations still live at end"));
	s.frees = 0;
	assert_int_equal(rank_one(&s), REMEDY_NONE);
	assert_true(has_reason(&s, "long-lived: 100% of 10.0k allocations still live at end"));
}

static void test_long_lived(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.lifetime_p50 = (an_pct){ 1e9, 2e9 }; /* surely >= 1 s */
	s.lifetime_p99 = s.lifetime_p50;
	assert_int_equal(rank_one(&s), REMEDY_NONE);
	assert_true(has_reason(&s, "half live longer than 1.00 s"));
	s = pool_site();
	s.lifetime_p50 = (an_pct){ 0.999e9, 2e9 }; /* maybe less */
	s.lifetime_p99 = s.lifetime_p50;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* lifetimes as recorded are the program's own time stretched by
	 * the recording: the rule takes the program's own share of the run
	 * (trial 7: blocks kept to the end of a run the recording made 10x
	 * longer). 2 s recorded in a run half recording: 1 s of the
	 * program's own (in), 0.51 recording: 0.98 s (out) */
	s = pool_site();
	s.lifetime_p50 = (an_pct){ 2e9, 4e9 };
	s.lifetime_p99 = s.lifetime_p50;
	assert_int_equal(rank_recorded(&s, 10000000000, 5000000000), REMEDY_NONE);
	assert_true(has_reason(&s, "long-lived: half live longer than 1.00 s of the "
				   "program's own time (2.00 s as recorded)"));
	assert_int_equal(rank_recorded(&s, 10000000000, 5100000000), REMEDY_POOL);
	/* no recording time, or all of the run (no estimate): as recorded */
	assert_int_equal(rank_recorded(&s, 10000000000, 0), REMEDY_NONE);
	assert_true(has_reason(&s, "long-lived: half live longer than 2.00 s"));
	assert_int_equal(rank_recorded(&s, 10000000000, 10000000000), REMEDY_NONE);
	assert_int_equal(rank_recorded(&s, 0, 0), REMEDY_NONE);
}

/* The lifetimes said: as recorded and of the program's own time once the
 * recording took a tenth of the run or more. */
static void test_lifetimes_own_time(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.lifetime_p50 = (an_pct){ 2048, 4096 };
	s.lifetime_p99 = (an_pct){ 8192, 16384 };
	rank_recorded(&s, 1000000000, 500000000);
	assert_true(has_reason(&s, "lifetime p50 < 4.10 us, p99 < 16.4 us as recorded, "
				   "some 2.05 us and 8.20 us of the program's own time; "
				   "100% freed"));
	rank_recorded(&s, 1000000000, 100000000); /* 90% its own: in */
	assert_true(has_reason(&s, "lifetime p50 < 4.10 us, p99 < 16.4 us as recorded, "
				   "some 3.69 us and 14.8 us"));
	rank_recorded(&s, 1000000000, 99999999); /* just over 90%: out */
	assert_true(has_reason(&s, "lifetime p50 < 4.10 us, p99 < 16.4 us; 100% freed"));
	/* a growth chain's short-lived note takes the own time too */
	s = pool_site();
	s.allocs = s.frees = 4000;
	s.realloc_grows = 2000;
	s.lifetime_p50 = (an_pct){ 2e9, 4e9 };
	rank_recorded(&s, 10000000000, 5100000000);
	assert_true(has_reason(&s, "and they are short-lived"));
	rank_recorded(&s, 10000000000, 5000000000);
	assert_false(has_reason(&s, "and they are short-lived"));
}

/* A tiny site freed at once on its own thread. */
static an_site stack_site(void)
{
	an_site s = pool_site();
	s.size_max = 1024;
	s.thread_peak = (an_peak){ 2, 2, 0, 0 };
	s.peak = s.thread_peak;
	s.lifetime_p99 = (an_pct){ 50e3, 100e3 };
	return s;
}

static void test_stack(void **state)
{
	(void)state;
	an_site s = stack_site();
	assert_int_equal(rank_one(&s), REMEDY_STACK);
	assert_true(s.saved_calls_per_s == s.rate_run_per_s);
	s = stack_site();
	s.size_max = 1025;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	s = stack_site();
	s.thread_peak = (an_peak){ 2, 3, 0, 0 }; /* maybe 3 */
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	s = stack_site();
	s.xfrees = 1;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	s = stack_site();
	s.lifetime_p99 = (an_pct){ 50e3, 100.001e3 };
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* as recorded, 200 us in a run half recording is 100 us of the
	 * program's own (trial 7: a block that lived 17.7 us took 163 us
	 * recorded): in; a little less recording: out */
	s = stack_site();
	s.lifetime_p99 = (an_pct){ 100e3, 200e3 };
	assert_int_equal(rank_recorded(&s, 10000000000, 5000000000), REMEDY_STACK);
	assert_int_equal(rank_recorded(&s, 10000000000, 4990000000), REMEDY_POOL);
	/* resized by realloc, the data lives on: 1% of 10000 still a
	 * stack buffer, with a heap copy for those; one more is not */
	s = stack_site();
	s.resized = 100;
	assert_int_equal(rank_one(&s), REMEDY_STACK);
	assert_true(has_reason(&s, "100 of them resized by realloc (0 grown)"));
	assert_true(has_reason(&s, "with a heap copy for the few resized"));
	s = stack_site();
	s.resized = 101;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	assert_true(has_reason(&s, "101 of them resized by realloc"));
	s = stack_site();
	assert_int_equal(rank_one(&s), REMEDY_STACK);
	assert_false(has_reason(&s, "resized"));
	/* sampled 1 in 64: the thread peak is 1..64 at best; a stack when
	 * no recorded block met another over 30 x 64^2 = 122880 estimated
	 * allocations (1920 recorded), not one fewer, not with two met */
	s = stack_site();
	s.allocs = s.frees = 30 * 64 * 64;
	s.allocs_error95 = 5000;
	s.peak = s.thread_peak = (an_peak){ 1, 64, 0, 0 };
	assert_int_equal(rank_sampled(&s, 64), REMEDY_STACK);
	assert_true(has_reason(&s, "by the sample: no recorded block met "
				   "another on a thread, of some 1920 recorded"));
	s.allocs = s.frees = 30 * 64 * 64 - 1;
	assert_int_equal(rank_sampled(&s, 64), REMEDY_POOL);
	/* the upper end is the recorded peak scaled, not an estimate */
	assert_true(has_reason(&s, "1..64 live at once: a pool of at least 1 "
				   "(surely live at once), 64 if each block "
				   "recorded at once stood for 64"));
	s.allocs = s.frees = 30 * 64 * 64;
	s.peak = s.thread_peak = (an_peak){ 2, 128, 0, 0 };
	assert_int_equal(rank_sampled(&s, 64), REMEDY_POOL);
	assert_true(has_reason(&s, "a pool of at least 2 (surely live at "
				   "once), 128 if each block recorded at once "
				   "stood for 64"));
}

/* A site every allocation of which has a stack that is the runtime's or
 * wrappers' code up to the depth cap (trial 8: glibc's regcomp
 * recursion, 64 frames deep) is none, said why; one allocation through a
 * stack of the program's, and the rules apply. */
static void test_cut_runtime_site(void **state)
{
	(void)state;
	analysis a;
	memset(&a, 0, sizeof a);
	an_site s = pool_site();
	s.realloc_grows = s.allocs; /* would be presize */
	s.cut_runtime_allocs = s.allocs;
	a.sites = &s;
	a.nsites = 1;
	a.cut_depth = 64;
	rank_sites(&a);
	free(a.ranked);
	assert_int_equal(s.remedy, REMEDY_NONE);
	assert_true(has_reason(&s, "its stacks are the runtime's or wrappers' "
				   "code up to the depth cap (--depth 64): the "
				   "code that called it went unrecorded; record "
				   "with a larger --depth"));
	s.cut_runtime_allocs = s.allocs - 1;
	rank_sites(&a);
	free(a.ranked);
	assert_int_equal(s.remedy, REMEDY_PRESIZE);
}

/* A site whose blocks a realloc elsewhere grows (and keeps): allocate
 * the grown size at once, when at least half of them are. */
static void test_presize_grown_later(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.resized = s.resized_grown = 5000; /* half of 10000: inside */
	s.resized_size_max = 300;
	assert_int_equal(rank_one(&s), REMEDY_PRESIZE);
	assert_int_equal(s.reserve_bytes, 300);
	assert_true(has_reason(&s, "grown later: 5000 of 10.0k blocks are then "
				   "grown by realloc (and live on), to at most 300 B"));
	/* saves the reallocs that grow them */
	assert_true(s.saved_calls_per_s == 1000.0 * 5000 / 10000);
	s.resized_grown = 4999;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* never less than the largest request */
	s = pool_site();
	s.resized = s.resized_grown = s.allocs;
	s.resized_size_max = 1000;
	s.size_max = 1024;
	assert_int_equal(rank_one(&s), REMEDY_PRESIZE);
	assert_int_equal(s.reserve_bytes, 1024);
	/* and the text says what they grow to and what is asked (gawk: to
	 * 34 B, requests up to 74 B) */
	assert_true(has_reason(&s, "to at most 1000 B: allocate at least that "
				   "at once (requests reach 1.00 KiB)"));
	s.resized_size_max = 1024;
	assert_int_equal(rank_one(&s), REMEDY_PRESIZE);
	assert_true(has_reason(&s, "to at most 1.00 KiB: allocate that size at once"));
	/* rare sites stay none */
	s.allocs = s.frees = s.resized = s.resized_grown = 999;
	assert_int_equal(rank_one(&s), REMEDY_NONE);
}

/* Sampled 1 in 64, allocs allocations: in recorded live at once pile
 * up (an arena), one fewer do not (a pool). */
static void sampled_pile_edge(uint64_t allocs, uint64_t in)
{
	an_site s = pool_site();
	s.allocs = s.frees = allocs;
	s.peak = s.thread_peak = (an_peak){ in, in * 64, 0, 0 };
	assert_int_equal(rank_sampled(&s, 64), REMEDY_ARENA);
	assert_true(has_reason(&s, "pile up"));
	s.peak = s.thread_peak = (an_peak){ in - 1, (in - 1) * 64, 0, 0 };
	assert_int_equal(rank_sampled(&s, 64), REMEDY_POOL);
}

static void test_arena(void **state)
{
	(void)state;
	/* pile up: 64 live at once, a quarter of 256 */
	an_site s = pool_site();
	s.allocs = s.frees = 1000;
	s.peak = (an_peak){ 250, 250, 0, 0 };
	assert_int_equal(rank_one(&s), REMEDY_ARENA);
	assert_true(has_reason(&s, "pile up"));
	s.peak = (an_peak){ 249, 1000, 0, 0 }; /* surely only 249: under */
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	s.allocs = s.frees = 256;
	s.rate_run_per_s = 1000;
	s.allocs = s.frees = 1000;
	s.peak = (an_peak){ 64, 64, 0, 0 }; /* 64 of 1000: no pile-up */
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* spread: sizes over 16x with 64 live at once */
	s = pool_site();
	s.size_min = 10;
	s.size_max = 161;
	s.peak = (an_peak){ 64, 64, 0, 0 };
	assert_int_equal(rank_one(&s), REMEDY_ARENA);
	assert_true(has_reason(&s, "sizes vary"));
	s.size_max = 160; /* exactly 16x: not over */
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	s.size_max = 161;
	s.peak = (an_peak){ 63, 63, 0, 0 };
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* the many live at once must die: a peak of 1662 of which 1660 live
	 * to the end (gawk's array keys among 190k temporaries) is no arena;
	 * 64 of the peak dying is (the peak less what is live at the end),
	 * 63 is not */
	s = pool_site();
	s.allocs = 190000;
	s.size_min = 1;
	s.size_max = 62;
	s.peak = s.thread_peak = (an_peak){ 1662, 1662, 0, 0 };
	s.inuse_objects = 1660;
	s.frees = s.allocs - s.inuse_objects;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	assert_false(has_reason(&s, "sizes vary"));
	s.inuse_objects = 1662 - 64;
	s.frees = s.allocs - s.inuse_objects;
	assert_int_equal(rank_one(&s), REMEDY_ARENA);
	assert_true(has_reason(&s, "sizes vary 62x with 1662 live at once"));
	s.inuse_objects = 1662 - 63;
	s.frees = s.allocs - s.inuse_objects;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* piling up counts the blocks of the peak that die later: at least
	 * the peak less what is live at the end; 250 of 1000 is a quarter */
	s = pool_site();
	s.allocs = 1000;
	s.peak = (an_peak){ 314, 314, 0, 0 };
	s.inuse_objects = 64;
	s.frees = s.allocs - s.inuse_objects;
	assert_int_equal(rank_one(&s), REMEDY_ARENA);
	s.inuse_objects = 65; /* 249 died: under */
	s.frees = s.allocs - s.inuse_objects;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* several processes: the one that piled up most, against its own
	 * allocations (a quarter: in; one fewer: out), however few of all
	 * of them that is */
	s = pool_site();
	s.allocs = s.frees = 1000;
	s.alloc_procs = 2;
	s.peak = (an_peak){ 100, 200, 0, 0 };
	s.pile_peak = 100;
	s.pile_allocs = 400;
	assert_int_equal(rank_one(&s), REMEDY_ARENA);
	assert_true(has_reason(&s, "100 of its 400 live at once in one process"));
	s.pile_peak = 99;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* one process: its peak against all its allocations, as before */
	s.alloc_procs = 1;
	s.pile_peak = 1000;
	s.pile_allocs = 1000;
	s.peak = (an_peak){ 249, 249, 0, 0 };
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* sampled 1 in 64: the recorded blocks' peak scaled as the counts
	 * are; 250 recorded live at once x 64 is a quarter of 64000 (in),
	 * 249 is not; the same in one of two processes */
	sampled_pile_edge(64000, 250);
	s = pool_site();
	s.allocs = s.frees = 64000;
	s.peak = s.thread_peak = (an_peak){ 249, 249 * 64, 0, 0 };
	s.alloc_procs = 2;
	s.pile_peak = 250;
	s.pile_allocs = 64000;
	assert_int_equal(rank_sampled(&s, 64), REMEDY_ARENA);
	assert_true(has_reason(&s, "16.0k of its 64.0k live at once in one process"));
	s.pile_peak = 249;
	assert_int_equal(rank_sampled(&s, 64), REMEDY_POOL);
	/* an obstack's chunks pile up by design: the code uses an arena
	 * already (trial 7, 8: an obstack function anywhere below the site,
	 * the model says which); the same pile-up without one is one */
	s = pool_site();
	s.allocs = 1000;
	s.peak = (an_peak){ 314, 314, 0, 0 };
	s.inuse_objects = 64;
	s.frees = s.allocs - s.inuse_objects;
	s.via = "nfmalloc";
	s.obstack = "_obstack_newchunk";
	assert_int_equal(rank_one(&s), REMEDY_NONE);
	assert_true(has_reason(&s, "its blocks are an obstack's chunks (through "
				   "_obstack_newchunk), an arena already"));
	s.obstack = NULL;
	assert_int_equal(rank_one(&s), REMEDY_ARENA);
	/* when they do not pile up, a pool as any other */
	s.obstack = "_obstack_newchunk";
	s.inuse_objects = 65;
	s.frees = s.allocs - s.inuse_objects;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* sampled, "at least 64 live at once" takes the recorded peak's 95%
	 * lower bound, 64 x (k - 1.96 sqrt k): sizes spread 500x, 6 recorded
	 * live at once are 76 (an arena), 5 are 39, and one alone (trial 7:
	 * one block live at a time read "1..64 live at once") is none */
	s = pool_site();
	s.allocs = s.frees = 64000;
	s.size_min = 8;
	s.size_max = 4000;
	s.peak = s.thread_peak = (an_peak){ 6, 6 * 64, 0, 0 };
	assert_int_equal(rank_sampled(&s, 64), REMEDY_ARENA);
	assert_true(has_reason(&s, "sizes vary 500x with 6..384 live at once"));
	s.peak = s.thread_peak = (an_peak){ 5, 5 * 64, 0, 0 };
	assert_int_equal(rank_sampled(&s, 64), REMEDY_POOL);
	s.peak = s.thread_peak = (an_peak){ 1, 64, 0, 0 };
	assert_int_equal(rank_sampled(&s, 64), REMEDY_POOL);
	/* ... and of those, the ones still live at the end are taken off:
	 * 6 recorded (76) with 12 live at the end leave 64 (in), 13: out */
	s.peak = s.thread_peak = (an_peak){ 6, 6 * 64, 0, 0 };
	s.inuse_objects = 12;
	s.frees = s.allocs - s.inuse_objects;
	assert_int_equal(rank_sampled(&s, 64), REMEDY_ARENA);
	s.inuse_objects = 13;
	s.frees = s.allocs - s.inuse_objects;
	assert_int_equal(rank_sampled(&s, 64), REMEDY_POOL);
	/* a pile-up too needs 64 surely: 5 recorded of 1000 (a third, scaled)
	 * are not, 6 of 1000 are */
	sampled_pile_edge(1000, 6);
	/* a mixed population: the peak is what stays (a database's objects
	 * among temporaries), 43% never freed: no pile-up, a pool that
	 * says what it will never get back */
	s = pool_site();
	s.allocs = 10000;
	s.inuse_objects = 4300;
	s.frees = s.allocs - s.inuse_objects;
	s.peak = s.thread_peak = (an_peak){ 4300, 4300, 0, 0 };
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	assert_false(has_reason(&s, "pile up"));
	assert_true(has_reason(&s, "4300 still live at the end (long-lived ones "
				   "among the short-lived)"));
}

/* The pool says when half its size or more is blocks that never come
 * back (live at the end), and only then. */
static void test_pool_long_lived_among(void **state)
{
	(void)state;
	an_site s = pool_site(); /* a pool of 8 */
	s.inuse_objects = 4;
	s.frees = s.allocs - 4;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	assert_int_equal(s.pool_size, 8);
	assert_true(has_reason(&s, "4 still live at the end"));
	s.inuse_objects = 3;
	s.frees = s.allocs - 3;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	assert_false(has_reason(&s, "still live at the end"));
}

/* A one-thread peak only bounded says why, when the model knows: the
 * site is called deeper than the frames whose peaks are counted (trial
 * 7: cc1's 4-frame wrapper chains, 1..519 where 3 were live), or from
 * too many places to count. */
static void test_uncounted_peak_why(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.peak = s.thread_peak = (an_peak){ 3, 519, 0, 0 };
	s.peak_uncounted = PEAK_PAST_CANDIDATES;
	rank_one(&s);
	assert_true(has_reason(&s, "3..519 live at once: a pool of at least 3 "
				   "(surely live at once), 519 if its stacks' peaks "
				   "coincided (it is called deeper than the frames "
				   "whose peaks are counted)"));
	s.peak_uncounted = PEAK_MANY_NODES;
	rank_one(&s);
	assert_true(has_reason(&s, "519 if its stacks' peaks coincided (called "
				   "from too many places to count)"));
	s.peak_uncounted = PEAK_COUNTED;
	rank_one(&s);
	assert_true(has_reason(&s, "519 if its stacks' peaks coincided"));
	assert_false(has_reason(&s, "coincided ("));
	/* the longest such reason, whole: per-thread caches of 64 threads
	 * (each of too few allocations to share one: none) */
	s.allocs = s.frees = 1000000000000ull;
	s.alloc_threads = 64;
	s.peak = (an_peak){ 1048576, 67108864000ull, 0, 0 };
	s.thread_peak = (an_peak){ 1048576, 1048576000ull, 0, 0 };
	s.peak_uncounted = PEAK_PAST_CANDIDATES;
	rank_one(&s);
	assert_true(has_reason(&s, "per-thread cache of at least 1048576"));
	assert_true(has_reason(&s, "whose peaks are counted)"));
}

static void test_pool_size_and_sharing(void **state)
{
	(void)state;
	/* one thread: the peak */
	an_site s = pool_site();
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	assert_int_equal(s.pool_size, 8);
	assert_true(s.saved_calls_per_s == 1000.0 * (1 - 8.0 / 10000));
	/* one object, one sentence: "1 object", "2 objects" (trial 7);
	 * living up to 200 us, no stack buffer */
	s = pool_site();
	s.lifetime_p99 = (an_pct){ 100e3, 200e3 };
	s.peak = s.thread_peak = (an_peak){ 1, 1, 64, 64 };
	rank_one(&s);
	assert_true(has_reason(&s, "a pool of 1 object serves every request"));
	s.peak = s.thread_peak = (an_peak){ 2, 2, 128, 128 };
	rank_one(&s);
	assert_true(has_reason(&s, "a pool of 2 objects serves every request"));
	/* per-thread caches of one, exact on each thread, bounded across */
	s = pool_site();
	s.lifetime_p99 = (an_pct){ 100e3, 200e3 };
	s.alloc_threads = 4;
	s.peak = (an_peak){ 1, 4, 0, 0 };
	s.thread_peak = (an_peak){ 1, 1, 0, 0 };
	rank_one(&s);
	assert_true(has_reason(&s, "a per-thread cache of 1 object serves"));
	s.peak = (an_peak){ 2, 8, 0, 0 };
	s.thread_peak = (an_peak){ 2, 2, 0, 0 };
	rank_one(&s);
	assert_true(has_reason(&s, "a per-thread cache of 2 objects serves"));
	/* a pool in each process */
	s = pool_site();
	s.lifetime_p99 = (an_pct){ 100e3, 200e3 };
	s.alloc_procs = 2;
	s.alloc_threads = 2;
	s.peak = (an_peak){ 1, 2, 0, 0 };
	s.thread_peak = s.proc_peak = (an_peak){ 1, 1, 0, 0 };
	rank_one(&s);
	assert_true(has_reason(&s, "a pool of 1 object in each serves"));
	s.peak = (an_peak){ 2, 4, 0, 0 };
	s.thread_peak = s.proc_peak = (an_peak){ 2, 2, 0, 0 };
	rank_one(&s);
	assert_true(has_reason(&s, "a pool of 2 objects in each serves"));
	/* several threads, exact peak */
	s = pool_site();
	s.alloc_threads = 4;
	s.peak = (an_peak){ 20, 20, 0, 0 };
	s.thread_peak = (an_peak){ 8, 8, 0, 0 };
	rank_one(&s);
	assert_int_equal(s.pool_size, 20);
	/* several threads, bounded, few cross-thread frees: a per-thread
	 * cache of the one-thread peak each */
	s = pool_site();
	s.alloc_threads = 4;
	s.peak = (an_peak){ 8, 32, 0, 0 };
	s.thread_peak = (an_peak){ 8, 8, 0, 0 };
	s.xfree_ratio = 0.1; /* 10%: inside */
	rank_one(&s);
	assert_int_equal(s.pool_size, 8);
	assert_true(has_reason(&s, "per-thread cache needs no lock"));
	assert_true(s.saved_calls_per_s == 1000.0 * (1 - 32.0 / 10000));
	/* over 10%: a shared pool, sized by a peak, never a sum of peaks:
	 * 8 surely live at one moment; 32 only if the four threads' peaks
	 * coincided (threads taking turns reach 8 each, never 32) */
	s.xfree_ratio = 0.1001;
	rank_one(&s);
	assert_int_equal(s.pool_size, 8);
	assert_int_equal(s.pool_size_max, 32);
	assert_true(has_reason(&s, "a shared pool"));
	assert_true(has_reason(&s, "8..32 live at once across its 4 threads"));
	assert_true(has_reason(&s, "a pool of at least 8 (surely live at once), "
				   "32 if the threads' peaks coincided"));
	assert_true(s.saved_calls_per_s == 1000.0 * (1 - 8.0 / 10000));
	/* the exact peak (--site-peak, or threads that never overlapped):
	 * that peak, whatever the threads */
	s.peak = (an_peak){ 20, 20, 0, 0 };
	rank_one(&s);
	assert_int_equal(s.pool_size, 20);
	assert_int_equal(s.pool_size_max, 20);
	assert_true(has_reason(&s, "a pool of 20 objects serves every request"));
	/* few cross-thread frees, the one-thread peak only bounded (stacks
	 * of the site with peaks of their own): the lower bound each */
	s = pool_site();
	s.alloc_threads = 4;
	s.peak = (an_peak){ 8, 40, 0, 0 };
	s.thread_peak = (an_peak){ 6, 10, 0, 0 };
	rank_one(&s);
	assert_int_equal(s.pool_size, 6);
	assert_int_equal(s.pool_size_max, 10);
	assert_true(has_reason(&s, "a per-thread cache of at least 6 (surely "
				   "live at once), 10 if its stacks'"));
	assert_true(s.saved_calls_per_s == 1000.0 * (1 - 24.0 / 10000));
	/* one thread, two stacks whose peaks may not have coincided */
	s = pool_site();
	s.peak = s.thread_peak = (an_peak){ 5, 9, 0, 0 };
	rank_one(&s);
	assert_int_equal(s.pool_size, 5);
	assert_int_equal(s.pool_size_max, 9);
	assert_true(has_reason(&s, "5..9 live at once: a pool of at least 5 "
				   "(surely live at once), 9 if its stacks'"));
	/* short-lived threads: 240 of them, 100 live on each at most,
	 * 48000 allocations (200 each). Caches of their own would keep
	 * 24000, half of what they hand out: caches that return to a shared
	 * pool of the peak (100 surely at once) instead. One allocation
	 * more and the threads' own caches keep less than half: they stay */
	for (int more = 0; more < 2; more++) {
		s = pool_site();
		s.alloc_threads = 240;
		s.allocs = s.frees = 48000 + (uint64_t)more;
		s.thread_peak = (an_peak){ 100, 100, 0, 0 };
		s.peak = (an_peak){ 100, 800, 0, 0 };
		s.xfree_ratio = 0;
		rank_one(&s);
		assert_int_equal(s.remedy, REMEDY_POOL);
		if (!more) {
			assert_int_equal(s.pool_size, 100);
			assert_true(has_reason(&s, "240 threads, 200 allocations "
						   "each: caches of their own would "
						   "keep 24000 objects"));
			assert_false(has_reason(&s, "per-thread cache needs no lock"));
			assert_true(s.saved_calls_per_s ==
				    s.rate_run_per_s * (1 - 100.0 / 48000));
		} else {
			assert_int_equal(s.pool_size, 100);
			assert_true(has_reason(&s, "per-thread cache needs no lock"));
			assert_true(s.saved_calls_per_s ==
				    s.rate_run_per_s * (1 - 24000.0 / 48001));
		}
	}
	/* the same 240 threads in 240 processes (a build's compilers): no
	 * shared pool across processes, a pool of the most one process held
	 * in each; with 2 processes of 120 threads, per-thread caches */
	s = pool_site();
	s.alloc_threads = s.alloc_procs = 240;
	s.allocs = s.frees = 48000;
	s.thread_peak = s.proc_peak = (an_peak){ 100, 100, 0, 0 };
	s.peak = (an_peak){ 100, 800, 0, 0 };
	rank_one(&s);
	assert_int_equal(s.pool_size, 100);
	assert_int_equal(s.pool_size_max, 100);
	assert_false(has_reason(&s, "caches of their own"));
	assert_true(has_reason(&s, "at most 100 live at once in one process "
				   "(100..800 across its 240 processes, which "
				   "cannot share a pool): a pool of 100 objects in "
				   "each"));
	assert_true(s.saved_calls_per_s == s.rate_run_per_s * (1 - 24000.0 / 48000));
	s.alloc_procs = 2;
	s.proc_peak = (an_peak){ 200, 400, 0, 0 };
	rank_one(&s);
	assert_false(has_reason(&s, "caches of their own"));
	assert_true(has_reason(&s, "per-thread cache of 100 objects"));
	/* shared (freed by other threads) in 2 processes: a pool in each,
	 * of the most one process held (bounded: its lower end) */
	s.xfree_ratio = 0.5;
	rank_one(&s);
	assert_int_equal(s.pool_size, 200);
	assert_int_equal(s.pool_size_max, 400);
	assert_true(has_reason(&s, "200..400 live at once in one process (2 "
				   "processes, which cannot share a pool): a pool "
				   "of at least 200 (surely live at once) in each, "
				   "400 if its threads' or stacks' peaks "
				   "coincided"));
	/* sampled, the upper end is the recorded peak scaled up */
	s.allocs_error95 = 100;
	s.proc_peak = (an_peak){ 2, 128, 0, 0 };
	rank_sampled(&s, 64);
	assert_true(has_reason(&s, "2..128 live at once in one process (2 "
				   "processes, which cannot share a pool): a pool "
				   "of at least 2 (surely live at once) in each, "
				   "128 if each block recorded at once stood for "
				   "64"));
	s.allocs_error95 = 0;
	/* sampled: the upper end is the recorded peak scaled up, and said
	 * to be (not an estimate: one recorded block may be one live) */
	s = pool_site();
	s.peak = s.thread_peak = (an_peak){ 2, 128, 0, 0 };
	s.allocs_error95 = 100;
	rank_sampled(&s, 64);
	assert_int_equal(s.pool_size, 2);
	assert_int_equal(s.pool_size_max, 128);
	assert_true(has_reason(&s, "2..128 live at once: a pool of at least 2 "
				   "(surely live at once), 128 if each block "
				   "recorded at once stood for 64"));
}

static void test_spread_warning(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.size_min = 10;
	s.size_max = 81;
	rank_one(&s);
	assert_true(has_reason(&s, "cap what the pool takes back"));
	s.size_max = 80; /* exactly 8x */
	rank_one(&s);
	assert_false(has_reason(&s, "cap what the pool takes back"));
	/* the 99th percentile it quotes: 990 of 1000 blocks of 16 B (the
	 * bucket up to 16) and 10 of 4 KiB; one fewer small block and the
	 * 99th is in the 4 KiB bucket */
	s = pool_site();
	s.allocs = s.frees = 1000;
	s.size_min = 16;
	s.size_max = 4096;
	memset(s.size_hist, 0, sizeof s.size_hist);
	s.size_hist[3] = 990;
	s.size_hist[11] = 10;
	rank_one(&s);
	assert_true(has_reason(&s, "(99% <= 16 B, max 4.00 KiB)"));
	s.size_hist[3] = 989;
	s.size_hist[11] = 11;
	rank_one(&s);
	assert_true(has_reason(&s, "(99% <= 4.00 KiB, max 4.00 KiB)"));
}

static void test_order(void **state)
{
	(void)state;
	an_site v[5];
	for (int i = 0; i < 5; i++)
		v[i] = pool_site();
	v[0].where.function = "rare";
	v[0].allocs = v[0].frees = 10; /* none: last */
	v[1].where.function = "slow";
	v[1].rate_run_per_s = 500;
	v[2].where.function = "fast";
	v[2].rate_run_per_s = 5000;
	v[3].where.function = "b_tie"; /* same saving, more bytes */
	v[3].alloc_bytes = v[3].free_bytes = 700000;
	v[4].where.function = "a_tie";
	analysis a;
	memset(&a, 0, sizeof a);
	a.sites = v;
	a.nsites = 5;
	rank_sites(&a);
	static const char *const want[] = { "fast", "b_tie", "a_tie", "slow",
					    "rare" };
	for (int r = 0; r < 5; r++)
		assert_string_equal(v[a.ranked[r]].where.function, want[r]);
	assert_int_equal(v[2].rank, 1);
	assert_int_equal(v[0].rank, 5);
	free(a.ranked);
}

/* Each key of the order on its own: remedy (none last), then saving,
 * then allocations, then bytes, then the name; sites given in the
 * reverse of the order wanted. */
static void test_order_each_key(void **state)
{
	(void)state;
	an_site v[6];
	for (int i = 0; i < 6; i++)
		v[i] = pool_site();
	static const char *const want[] = { "p_alpha", "p_zulu", "q_bytes",
					    "r_allocs", "s_slower", "t_none" };
	v[0].where.function = "t_none";
	v[0].allocs = 999;
	v[0].frees = 999;
	v[1].where.function = "s_slower";
	v[1].rate_run_per_s = 999;
	v[2].where.function = "r_allocs"; /* fewer allocations, same saving */
	v[2].allocs = v[2].frees = 9999;
	v[2].rate_run_per_s = 1000.0 * (1 - 8.0 / 10000) / (1 - 8.0 / 9999);
	v[3].where.function = "q_bytes"; /* fewer bytes */
	v[3].alloc_bytes = v[3].free_bytes = 639999;
	v[4].where.function = "p_zulu";
	v[5].where.function = "p_alpha";
	analysis a;
	memset(&a, 0, sizeof a);
	a.sites = v;
	a.nsites = 6;
	rank_sites(&a);
	assert_true(v[2].saved_calls_per_s == v[4].saved_calls_per_s);
	for (int r = 0; r < 6; r++)
		assert_string_equal(v[a.ranked[r]].where.function, want[r]);
	for (int r = 0; r < 6; r++)
		assert_int_equal(v[a.ranked[r]].rank, r + 1);
	free(a.ranked);
}

/* A pool site of three stacks: two make temporaries (5000 allocations
 * each, all freed, peaks temp_peak), one keeps most of its 2000 (keeper
 * frees, peak keeper_peak); the site's peak is site_peak. Ranked in an
 * analysis of its own; returns the site. */
static an_stack kstacks[3];
static size_t kindex[3] = { 0, 1, 2 };

static an_site keeper_site(uint64_t keeper_frees, an_peak keeper_peak,
			   an_peak temp_peak, an_peak site_peak)
{
	memset(kstacks, 0, sizeof kstacks);
	for (int i = 0; i < 2; i++) {
		kstacks[i].allocs = kstacks[i].frees = 5000;
		kstacks[i].alloc_bytes = kstacks[i].free_bytes = 5000 * 64;
		kstacks[i].size_min = kstacks[i].size_max = 64;
		kstacks[i].peak = temp_peak;
	}
	kstacks[2].size_min = kstacks[2].size_max = 64;
	kstacks[2].allocs = 2000;
	kstacks[2].frees = keeper_frees;
	kstacks[2].alloc_bytes = 2000 * 64;
	kstacks[2].free_bytes = keeper_frees * 64;
	kstacks[2].peak = keeper_peak;
	an_site s = pool_site();
	s.allocs = 12000;
	s.frees = 10000 + keeper_frees;
	s.alloc_bytes = 12000 * 64;
	s.free_bytes = s.frees * 64;
	s.inuse_objects = s.allocs - s.frees;
	s.inuse_space = s.inuse_objects * 64;
	s.peak = s.thread_peak = site_peak;
	s.rate_run_per_s = 12000;
	s.bytes_run_per_s = 12000 * 64;
	s.stacks = kindex;
	s.nstacks = 3;
	return s;
}

/* Ranks s in an analysis of its own whose stacks are kstacks (as many
 * as s has). */
static void rank_with_stacks(an_site *s)
{
	analysis a;
	memset(&a, 0, sizeof a);
	a.sites = s;
	a.nsites = 1;
	a.stacks = kstacks;
	a.nstacks = s->nstacks;
	rank_sites(&a);
	free(a.ranked);
}

#define PEAK(lo, hi) ((an_peak){ (lo), (hi), 0, 0 })

/* A stack that frees fewer than half its blocks keeps them: the pool
 * leaves it out, sized by the other stacks' peak (at least each one's
 * own and the site's less what the keepers can hold; at most their sum
 * and the site's), and saves their allocations only. Each bound just
 * inside and just outside. */
static void test_pool_keeper_stacks(void **state)
{
	(void)state;
	/* 999 of 2000 freed: a keeper, 1001 live at the end; the site's
	 * peak 2002 = twice that: the split is worth it */
	an_site s = keeper_site(999, PEAK(2000, 2000), PEAK(3, 3), PEAK(2002, 2002));
	rank_with_stacks(&s);
	assert_int_equal(s.remedy, REMEDY_POOL);
	assert_true(has_reason(&s, "2000 of them come from 1 stack that keeps "
				   "them (1001 still live at the end)"));
	/* others: at least 3 (each one's own; 2002 - 2000 is less), at
	 * most their sum 6 */
	assert_int_equal(s.pool_size, 3);
	assert_int_equal(s.pool_size_max, 6);
	assert_true(has_reason(&s, "the other stacks' 10.0k: 3..6 live at once"));
	assert_false(has_reason(&s, "still live at the end (long-lived"));
	double want = 12000.0 * (1 - 3.0 / 10000) * 10000 / 12000;
	assert_true(s.saved_calls_per_s > want - 1e-6 && s.saved_calls_per_s < want + 1e-6);
	want = 12000.0 * 64 * (1 - 3.0 / 10000) * (10000.0 * 64) / (12000.0 * 64);
	assert_true(s.saved_bytes_per_s > want - 1e-6 && s.saved_bytes_per_s < want + 1e-6);
	/* 1000 of 2000 freed: not a keeper (half freed), no split */
	s = keeper_site(1000, PEAK(2000, 2000), PEAK(3, 3), PEAK(2002, 2002));
	rank_with_stacks(&s);
	assert_false(has_reason(&s, "come from"));
	assert_int_equal(s.pool_size, 2002);
	/* live at the end just under half the site's peak: no split */
	s = keeper_site(999, PEAK(2000, 2000), PEAK(3, 3), PEAK(2003, 2003));
	rank_with_stacks(&s);
	assert_false(has_reason(&s, "come from"));
	assert_int_equal(s.pool_size, 2003);
	/* the others' lower bound: the site's peak less the keepers' */
	s = keeper_site(0, PEAK(2000, 2000), PEAK(3, 3), PEAK(2006, 2006));
	rank_with_stacks(&s);
	assert_int_equal(s.pool_size, 6);
	assert_int_equal(s.pool_size_max, 6);
	assert_true(has_reason(&s, "the other stacks' 10.0k: at most 6 live at "
				   "once: a pool of 6 serves them"));
	s = keeper_site(0, PEAK(2000, 2001), PEAK(3, 3), PEAK(2006, 2006));
	rank_with_stacks(&s);
	assert_int_equal(s.pool_size, 5);
	assert_int_equal(s.pool_size_max, 6);
	assert_true(has_reason(&s, "5..6 live at once: a pool of at least 5 "
				   "(surely live at once), 6 if their peaks coincided"));
	/* each one's own: 4 beats 2006 - 2004; at most their sum, 8 */
	s = keeper_site(0, PEAK(2000, 2004), PEAK(4, 4), PEAK(2006, 2006));
	rank_with_stacks(&s);
	assert_int_equal(s.pool_size, 4);
	assert_int_equal(s.pool_size_max, 8);
	/* the others' upper bound: the site's peak when below their sum */
	s = keeper_site(0, PEAK(2000, 2000), PEAK(1, 1004), PEAK(1004, 2005));
	rank_with_stacks(&s);
	assert_int_equal(s.pool_size, 1);
	assert_int_equal(s.pool_size_max, 2005);
	/* a stack without its peak (a streamed model): no split */
	s = keeper_site(0, PEAK(0, 0), PEAK(3, 3), PEAK(2006, 2006));
	rank_with_stacks(&s);
	assert_false(has_reason(&s, "come from"));
	/* sampled: no split */
	s = keeper_site(0, PEAK(2000, 2000), PEAK(3, 3), PEAK(2006, 2006));
	s.allocs_error95 = 100;
	rank_with_stacks(&s);
	assert_false(has_reason(&s, "come from"));
}

/* The keeper rules where the first keeper test cannot tell: a stack that
 * frees exactly half is no keeper even when a split would pay (its half
 * live at the end is the site's whole peak); keepers without any other
 * stack leave nothing to split; the others' upper bound raised to their
 * lower one when their own peaks add up to less. */
static void test_keeper_edges(void **state)
{
	(void)state;
	an_site s = keeper_site(1000, PEAK(2000, 2000), PEAK(3, 3), PEAK(2000, 2000));
	rank_with_stacks(&s);
	assert_false(has_reason(&s, "come from"));
	assert_int_equal(s.pool_size, 2000);
	/* the two other stacks made nothing: keepers only */
	s = keeper_site(999, PEAK(2000, 2000), PEAK(3, 3), PEAK(2002, 2002));
	kstacks[0].allocs = kstacks[0].frees = kstacks[1].allocs = kstacks[1].frees = 0;
	rank_with_stacks(&s);
	assert_false(has_reason(&s, "come from"));
	assert_int_equal(s.pool_size, 2002);
	/* others at least 2006 - 2000 = 6, their own peaks 1 + 1: exactly 6 */
	s = keeper_site(0, PEAK(2000, 2000), PEAK(1, 1), PEAK(2006, 2006));
	rank_with_stacks(&s);
	assert_int_equal(s.pool_size, 6);
	assert_int_equal(s.pool_size_max, 6);
	assert_true(has_reason(&s, "the other stacks' 10.0k: at most 6 live at "
				   "once: a pool of 6 serves them"));
}

/* A site of two stacks as trial 9's keepspread.c: one makes KEEPER_N
 * blocks of keeper_size bytes and frees keeper_frees of them (fewer than
 * half: it keeps them to the end), the other makes 60000 blocks of
 * temp_size bytes, temp_peak of them live at once; the site's thread
 * peak is theirs added. */
static uint64_t KEEPER_N = 2;
static an_site keepspread_site(uint64_t keeper_size, uint64_t keeper_frees,
			       uint64_t temp_size, uint64_t temp_peak)
{
	memset(kstacks, 0, sizeof kstacks);
	kstacks[0].allocs = kstacks[0].frees = 60000;
	kstacks[0].alloc_bytes = kstacks[0].free_bytes = 60000 * temp_size;
	kstacks[0].size_min = kstacks[0].size_max = temp_size;
	kstacks[0].peak = PEAK(temp_peak, temp_peak);
	kstacks[1].allocs = KEEPER_N;
	kstacks[1].frees = keeper_frees;
	kstacks[1].alloc_bytes = KEEPER_N * keeper_size;
	kstacks[1].free_bytes = keeper_frees * keeper_size;
	kstacks[1].size_min = kstacks[1].size_max = keeper_size;
	kstacks[1].peak = PEAK(KEEPER_N, KEEPER_N);
	an_site s = pool_site();
	s.allocs = 60000 + KEEPER_N;
	s.frees = 60000 + keeper_frees;
	s.alloc_bytes = 60000 * temp_size + KEEPER_N * keeper_size;
	s.free_bytes = 60000 * temp_size + keeper_frees * keeper_size;
	s.inuse_objects = s.allocs - s.frees;
	s.size_min = temp_size < keeper_size ? temp_size : keeper_size;
	s.size_max = temp_size > keeper_size ? temp_size : keeper_size;
	s.peak = s.thread_peak = PEAK(KEEPER_N + temp_peak, KEEPER_N + temp_peak);
	s.lifetime_p50 = s.lifetime_p99 = (an_pct){ 64, 128 };
	s.rate_run_per_s = (double)s.allocs;
	s.bytes_run_per_s = (double)s.alloc_bytes;
	s.stacks = kindex;
	s.nstacks = 2;
	return s;
}

/* Blocks kept by their own stacks stay with malloc whatever the remedy:
 * the sizes, spread and live blocks the remedies weigh are the other
 * stacks' (trial 9: one kept 4 KiB block made 16 B temporaries a pool
 * with "sizes spread 256x"). Each bound on both sides. */
static void test_keepers_out_of_sizes(void **state)
{
	(void)state;
	/* kept 4 KiB, temporaries of 16 B one at a time: a stack site, which
	 * says the kept ones stay with malloc; 4 live on the thread at once,
	 * 1 of them the temporaries' */
	an_site s = keepspread_site(4096, 0, 16, 1);
	rank_with_stacks(&s);
	assert_int_equal(s.remedy, REMEDY_STACK);
	assert_true(has_reason(&s, "never more than 1 live on a thread"));
	assert_true(has_reason(&s, "2 of them come from 1 stack that keeps them "
				   "(2 still live at the end): they outlive "
				   "their functions, leave them to malloc"));
	double want = 60002.0 * 60000 / 60002;
	assert_true(s.saved_calls_per_s > want - 1e-6 && s.saved_calls_per_s < want + 1e-6);
	/* the temporaries at the size bound, 1024 B: still a stack site;
	 * 1025 B: not, and then a pool without a spread warning (1025 B
	 * only, the 4 KiB kept apart) */
	s = keepspread_site(4096, 0, 1024, 1);
	rank_with_stacks(&s);
	assert_int_equal(s.remedy, REMEDY_STACK);
	s = keepspread_site(4096, 0, 1025, 1);
	rank_with_stacks(&s);
	assert_int_equal(s.remedy, REMEDY_POOL);
	assert_false(has_reason(&s, "sizes spread"));
	/* two of the temporaries live at once: a stack site still (the
	 * thread's 4 with the kept ones); three: a pool (4 kept, so that
	 * they are still half the site's peak) */
	s = keepspread_site(4096, 0, 16, 2);
	rank_with_stacks(&s);
	assert_int_equal(s.remedy, REMEDY_STACK);
	assert_true(has_reason(&s, "never more than 2 live on a thread"));
	KEEPER_N = 4;
	s = keepspread_site(4096, 0, 16, 2);
	rank_with_stacks(&s);
	assert_int_equal(s.remedy, REMEDY_STACK);
	s = keepspread_site(4096, 0, 16, 3);
	rank_with_stacks(&s);
	assert_true(has_reason(&s, "4 of them come from 1 stack that keeps them"));
	assert_int_equal(s.remedy, REMEDY_POOL);
	KEEPER_N = 2;
	/* the 4 KiB freed (half of them: no keeper): the site's own sizes,
	 * 16 B..4 KiB, make it a pool that warns of the spread */
	s = keepspread_site(4096, 1, 16, 1);
	rank_with_stacks(&s);
	assert_int_equal(s.remedy, REMEDY_POOL);
	assert_true(has_reason(&s, "sizes spread 256x"));
	assert_false(has_reason(&s, "come from"));
	/* kept apart, the others' spread still warns: temporaries of 1025
	 * B up to 8201 B (8.0x and a bit), the keeper's 64 KiB aside; up to
	 * 8200 B (8x exactly), no warning */
	s = keepspread_site(65536, 0, 1025, 1);
	kstacks[0].size_max = 8201;
	rank_with_stacks(&s);
	assert_int_equal(s.remedy, REMEDY_POOL);
	assert_true(has_reason(&s, "sizes spread 8x"));
	assert_true(has_reason(&s, "max 8.01 KiB"));
	s = keepspread_site(65536, 0, 1025, 1);
	kstacks[0].size_max = 8200;
	rank_with_stacks(&s);
	assert_int_equal(s.remedy, REMEDY_POOL);
	assert_false(has_reason(&s, "sizes spread"));
}

/* A site with more to say than the 7 reasons a site holds (model.h):
 * the eighth, the spread, is dropped and nothing past them is written. */
static void test_reasons_cap(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.size_min = 1;
	s.size_max = 4096;
	s.size_hist[0] = 9900;
	s.size_hist[12] = 100;
	s.resized = 50;
	s.resized_grown = 20;
	s.allocs_error95 = 123;
	s.frees = 9996;
	s.inuse_objects = 4;
	s.peak = PEAK(8, 12);
	s.thread_peak = s.peak;
	rank_one(&s);
	assert_int_equal(s.remedy, REMEDY_POOL);
	assert_int_equal(s.nreasons, 7);
	assert_string_equal(s.reasons[6], "4 still live at the end (long-lived "
					  "ones among the short-lived): the pool's "
					  "size counts them, and they never come back");
	assert_true(s.xfree_ratio == 0); /* a field past them, untouched */
	/* a caveat on the whole site comes first, and the last reason gives
	 * way: sampled, the same site maybe a wrapper */
	char first[sizeof s.reasons[0]];
	memcpy(first, s.reasons[0], sizeof first);
	s.callers_short = 2;
	rank_sampled(&s, 2); /* 1 in 2: the same remedy, the same reasons */
	assert_int_equal(s.nreasons, 7);
	assert_true(!strncmp(s.reasons[0], "sampled: maybe a wrapper", 24));
	assert_string_equal(s.reasons[1], first);
	assert_false(has_reason(&s, "4 still live at the end"));
	/* with room to spare, nothing gives way */
	s = pool_site();
	s.callers_short = 2;
	rank_sampled(&s, 64);
	assert_true(s.nreasons >= 3 && s.nreasons < 7);
	assert_true(!strncmp(s.reasons[0], "sampled: maybe a wrapper", 24));
	assert_true(!strncmp(s.reasons[1], "10.0k allocations", 17));
}

/* The size the spread warning quotes for 99% of the allocations: blocks
 * of 1 byte (bucket 0) are under 2 B; a histogram short of the
 * allocations (nothing recorded in it) quotes the largest size. */
static void test_spread_percentile_edges(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.allocs = s.frees = 1000;
	s.size_min = 1;
	s.size_max = 4096;
	memset(s.size_hist, 0, sizeof s.size_hist);
	s.size_hist[0] = 990;
	s.size_hist[12] = 10;
	rank_one(&s);
	assert_true(has_reason(&s, "(99% <= 2 B, max 4.00 KiB)"));
	memset(s.size_hist, 0, sizeof s.size_hist);
	rank_one(&s);
	assert_true(has_reason(&s, "(99% <= 4.00 KiB, max 4.00 KiB)"));
}

/* Ranks s alone, sampled 1 in every (0: not sampled), and checks its
 * remedy and every reason, in order. */
static void expect_reasons_every(an_site *s, uint32_t every,
				 enum remedy remedy, int n, ...)
{
	assert_int_equal(rank_sampled(s, every), remedy);
	assert_int_equal(s->nreasons, n);
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(s->reasons[i], va_arg(ap, const char *));
	va_end(ap);
}

#define expect_reasons(s, ...) expect_reasons_every(s, 0, __VA_ARGS__)

#define LIFETIMES_1US "lifetime p50 < 1.03 us, p99 < 1.03 us; 100% freed"

/* Every reason of a pool site whole, the numbers worked out by hand from
 * the site: the sampling's +-, one thread or more, processes only when
 * more than one, blocks of 0 B (the spread from 1 B), the share freed,
 * and the share freed by another thread at its rounding edges. */
static void test_pool_reasons_whole(void **state)
{
	(void)state;
	/* +-250 of 10000 is 2.5%; 0 B..100 B spread 100x; half freed */
	an_site s = pool_site();
	s.alloc_procs = 1;
	s.size_min = 0;
	s.size_max = 100;
	s.allocs_error95 = 250;
	s.frees = 5000;
	expect_reasons(&s, REMEDY_POOL, 6,
		       "10.0k (+-2.5%) allocations of 0 B..100 B on 1 thread "
		       "(1000/s while active, peak 1000/s; 62.5 KiB/s churned "
		       "over the run)",
		       "lifetime p50 < 1.03 us, p99 < 1.03 us; 50% freed",
		       "sampled: each peak below runs from the recorded blocks' "
		       "own to that scaled up; record without --sample for the "
		       "pool's exact size",
		       "at most 8 live at once (8 on one thread, 1 thread): a "
		       "pool of 8 objects serves every request",
		       "0% freed by another thread: a per-thread cache needs no lock",
		       "sizes spread 100x (99% <= 100 B, max 100 B): cap what "
		       "the pool takes back, or big buffers stay pinned");
	/* +-1 (0.01%) is still sampled; a peak of 0..5 makes a pool of 1;
	 * all freed by another thread */
	s = pool_site();
	s.alloc_procs = 1;
	s.alloc_threads = 2;
	s.allocs_error95 = 1;
	s.peak = s.thread_peak = PEAK(0, 64);
	s.xfree_ratio = 1.0;
	expect_reasons_every(&s, 64, REMEDY_POOL, 5,
		       "10.0k (+-0.0%) allocations of 64 B..64 B on 2 threads "
		       "(1000/s while active, peak 1000/s; 62.5 KiB/s churned "
		       "over the run)",
		       LIFETIMES_1US,
		       "sampled: each peak below runs from the recorded blocks' "
		       "own to that scaled up; record without --sample for the "
		       "pool's exact size",
		       "0..64 live at once across its 2 threads: a pool of at "
		       "least 1 (surely live at once), 64 if each block "
		       "recorded at once stood for 64",
		       "100% freed by another thread: a shared pool (or "
		       "per-thread caches that return to a shared one)");
	assert_int_equal(s.pool_size, 1);
	assert_int_equal(s.pool_size_max, 64);
	s = pool_site();
	s.alloc_procs = 1;
	s.alloc_threads = 2;
	s.xfree_ratio = 0.5;
	expect_reasons(&s, REMEDY_POOL, 4,
		       "10.0k allocations of 64 B..64 B on 2 threads (1000/s "
		       "while active, peak 1000/s; 62.5 KiB/s churned over the run)",
		       LIFETIMES_1US,
		       "at most 8 live at once (8 on one thread, 2 threads): a "
		       "pool of 8 objects serves every request",
		       "50% freed by another thread: a shared pool (or "
		       "per-thread caches that return to a shared one)");
	/* 9.49% is 9%; one process: its own peak is not the pool's */
	s = pool_site();
	s.alloc_procs = 1;
	s.proc_peak = PEAK(3, 3);
	s.xfree_ratio = 0.0949;
	expect_reasons(&s, REMEDY_POOL, 4,
		       "10.0k allocations of 64 B..64 B on 1 thread (1000/s "
		       "while active, peak 1000/s; 62.5 KiB/s churned over the run)",
		       LIFETIMES_1US,
		       "at most 8 live at once (8 on one thread, 1 thread): a "
		       "pool of 8 objects serves every request",
		       "9% freed by another thread: a per-thread cache needs no lock");
	assert_int_equal(s.pool_size, 8);
}

/* A realloc chain's reasons whole: 3000 steps over 1000 chains is 3.0
 * each; the 1000 first allocations (exactly the fewest that count), half
 * freed, short-lived: a cache for them too; 999 first, or a p50 of
 * surely 1 s, no cache. */
static void test_presize_reasons_whole(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.allocs = 2000;
	s.frees = 1000;
	s.realloc_grows = 1000;
	s.chains_ended = 1000;
	s.chain_steps_sum = 3000;
	s.chain_steps_max = 7;
	expect_reasons(&s, REMEDY_PRESIZE, 3,
		       "realloc growth chain: 1000 of 2000 allocations grow a "
		       "block, 3.0 steps per object on average (max 7)",
		       "final sizes up to 64 B: reserve that capacity once",
		       "and they are short-lived (p50 < 1.03 us): keep grown "
		       "buffers in a per-thread cache to drop the other 1000 "
		       "allocations too");
	/* one chain: its length, not an average of one (gawk's one buffer
	 * grown 99461 times) */
	s.chains_ended = 1;
	s.chain_steps_sum = s.chain_steps_max = 1000;
	rank_one(&s);
	assert_true(has_reason(&s, "1000 of 2000 allocations grow a block, one "
				   "object grown 1000 times"));
	s.chains_ended = 2;
	s.chain_steps_sum = 2000;
	rank_one(&s);
	assert_true(has_reason(&s, "1000.0 steps per object on average (max 1000)"));
	s.chains_ended = 1000;
	s.chain_steps_sum = 3000;
	s.chain_steps_max = 7;
	s.realloc_grows = 1001;
	rank_one(&s);
	assert_int_equal(s.nreasons, 2);
	s.realloc_grows = 1000;
	s.lifetime_p50 = (an_pct){ 1e9, 2e9 };
	rank_one(&s);
	assert_int_equal(s.nreasons, 2);
}

/* A site ranked again (a second view of one analysis) keeps nothing of
 * the first ranking: reasons, pool, reserve and savings start over. */
static void test_rank_again(void **state)
{
	(void)state;
	an_site s = pool_site();
	rank_one(&s);
	assert_int_equal(s.pool_size, 8);
	s.realloc_grows = s.allocs;
	rank_one(&s);
	assert_int_equal(s.remedy, REMEDY_PRESIZE);
	assert_int_equal(s.reserve_bytes, 64);
	s.allocs = s.frees = 999;
	s.realloc_grows = 0;
	rank_one(&s);
	assert_int_equal(s.remedy, REMEDY_NONE);
	assert_int_equal(s.nreasons, 1);
	assert_int_equal(s.pool_size, 0);
	assert_int_equal(s.pool_size_max, 0);
	assert_int_equal(s.reserve_bytes, 0);
	assert_true(s.saved_calls_per_s == 0 && s.saved_bytes_per_s == 0);
}

/* Arena and stack sites save the whole run's calls and bytes. Piling up
 * in one of several processes: 64 died of its 200 (exactly the fewest,
 * and over a quarter); sizes that vary in several processes that do not
 * pile up are said to vary. */
static void test_arena_and_stack_whole(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.alloc_procs = 2;
	s.alloc_threads = 2;
	s.pile_peak = 64;
	s.pile_allocs = 200;
	s.peak = PEAK(70, 70);
	expect_reasons(&s, REMEDY_ARENA, 3,
		       "10.0k allocations of 64 B..64 B on 2 threads in 2 "
		       "processes (1000/s while active, peak 1000/s; 62.5 KiB/s "
		       "churned over the run)",
		       LIFETIMES_1US,
		       "they pile up and die together: 64 of its 200 live at "
		       "once in one process, so a pool would never reuse one - "
		       "allocate them from an arena freed in one go");
	assert_true(s.saved_calls_per_s == 1000 && s.saved_bytes_per_s == 64000);
	/* sizes spread: the many live at once are one process's (an arena
	 * serves one), not the peaks of two added */
	s.pile_peak = 64;
	s.pile_allocs = 5000;
	s.peak = PEAK(100, 100);
	s.size_min = 10;
	s.size_max = 200;
	rank_one(&s);
	assert_int_equal(s.remedy, REMEDY_ARENA);
	assert_string_equal(s.reasons[2], "sizes vary 20x with 64 live at once "
					  "in one process: allocate them from an "
					  "arena freed in one go");
	s.pile_peak = 63;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	s.alloc_procs = 1;
	rank_one(&s);
	assert_int_equal(s.remedy, REMEDY_ARENA);
	assert_string_equal(s.reasons[2], "sizes vary 20x with 100 live at once: "
					  "allocate them from an arena freed in one go");
	s = pool_site();
	s.peak = s.thread_peak = PEAK(1, 1);
	assert_int_equal(rank_one(&s), REMEDY_STACK);
	assert_true(s.saved_calls_per_s == 1000 && s.saved_bytes_per_s == 64000);
}

/* Threads that each allocate little, at the rule's edges: a thread peak
 * of 0..2 counts one kept a thread (600 threads keep 600 >= 500); 501
 * threads keep exactly half of 1001 rounded up; a site peak as large as
 * what the threads keep is no reason for a shared pool. */
static void test_few_each_edges(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.allocs = s.frees = 1000;
	s.alloc_procs = 1;
	s.size_min = s.size_max = 2048;
	s.alloc_threads = 600;
	s.thread_peak = PEAK(0, 2);
	s.peak = PEAK(4, 600);
	rank_one(&s);
	assert_string_equal(s.reasons[3], "600 threads, 2 allocations each: "
					  "caches of their own would keep 600 objects "
					  "for 1000 handed out; caches that return to "
					  "a shared pool");
	s.allocs = s.frees = 1001;
	s.alloc_threads = 501;
	s.thread_peak = PEAK(1, 2);
	rank_one(&s);
	assert_true(has_reason(&s, "501 threads, 2 allocations each: caches of "
				   "their own would keep 501 objects for 1001"));
	/* 600 kept, 600 surely live at once (351 of them for good: no
	 * piling up) */
	s.allocs = 1000;
	s.frees = 649;
	s.inuse_objects = 351;
	s.alloc_threads = 600;
	s.peak = PEAK(600, 700);
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	assert_false(has_reason(&s, "caches of their own"));
}

/* 300 processes and one of them had 8 live: 8 kept in each, 2400, more
 * than the 1000 allocations: the pools save nothing (not less). */
static void test_pool_saves_nothing(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.allocs = s.frees = 1000;
	s.alloc_procs = s.alloc_threads = 300;
	s.peak = PEAK(20, 20);
	s.thread_peak = s.proc_peak = PEAK(8, 8);
	s.pile_peak = 8;
	s.pile_allocs = 30;
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	assert_int_equal(s.pool_size, 8);
	assert_true(s.saved_calls_per_s == 0 && s.saved_bytes_per_s == 0);
}

/* A site of no remedy after one with a remedy (the order test gives them
 * the other way round), and a keeper site sampled by the least amount. */
static void test_order_none_after(void **state)
{
	(void)state;
	an_site v[2] = { pool_site(), pool_site() };
	v[0].where.function = "pool";
	v[1].where.function = "rare";
	v[1].allocs = v[1].frees = 10;
	analysis a;
	memset(&a, 0, sizeof a);
	a.sites = v;
	a.nsites = 2;
	rank_sites(&a);
	assert_int_equal(v[0].rank, 1);
	assert_int_equal(v[1].rank, 2);
	free(a.ranked);
	an_site s = keeper_site(0, PEAK(2000, 2000), PEAK(3, 3), PEAK(2006, 2006));
	s.allocs_error95 = 1;
	rank_with_stacks(&s);
	assert_false(has_reason(&s, "come from"));
}

/* A site most of whose blocks a realloc elsewhere shrinks (or grows, for
 * fewer than half) and keeps: no pool or arena can hand them out; the
 * size they end at is allocated here (not recorded: reserve 0). */
static void test_presize_resized_later(void **state)
{
	(void)state;
	an_site s = pool_site();
	s.resized = 5001; /* more than half of 10000 */
	assert_int_equal(rank_one(&s), REMEDY_PRESIZE);
	assert_int_equal(s.reserve_bytes, 0);
	assert_true(has_reason(&s, "resized later: 5001 of 10.0k blocks are then "
				   "resized by realloc (0 grown) and live on there"));
	assert_true(s.saved_calls_per_s == 1000.0 * 5001 / 10000);
	s.resized = 5000; /* half: still a pool */
	assert_int_equal(rank_one(&s), REMEDY_POOL);
	/* a pile-up that is then shrunk: no arena either */
	s = pool_site();
	s.peak.lo = s.peak.hi = s.allocs;
	s.resized = s.allocs;
	s.resized_grown = s.allocs / 4;
	s.resized_size_max = 4096;
	assert_int_equal(rank_one(&s), REMEDY_PRESIZE);
	assert_int_equal(s.reserve_bytes, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rare),
		cmocka_unit_test(test_presize),
		cmocka_unit_test(test_retained),
		cmocka_unit_test(test_long_lived),
		cmocka_unit_test(test_stack),
		cmocka_unit_test(test_lifetimes_own_time),
		cmocka_unit_test(test_cut_runtime_site),
		cmocka_unit_test(test_presize_grown_later),
		cmocka_unit_test(test_pool_long_lived_among),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_pool_size_and_sharing),
		cmocka_unit_test(test_uncounted_peak_why),
		cmocka_unit_test(test_spread_warning),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_order_each_key),
		cmocka_unit_test(test_pool_keeper_stacks),
		cmocka_unit_test(test_keeper_edges),
		cmocka_unit_test(test_keepers_out_of_sizes),
		cmocka_unit_test(test_reasons_cap),
		cmocka_unit_test(test_spread_percentile_edges),
		cmocka_unit_test(test_pool_reasons_whole),
		cmocka_unit_test(test_presize_reasons_whole),
		cmocka_unit_test(test_rank_again),
		cmocka_unit_test(test_arena_and_stack_whole),
		cmocka_unit_test(test_few_each_edges),
		cmocka_unit_test(test_pool_saves_nothing),
		cmocka_unit_test(test_order_none_after),
		cmocka_unit_test(test_presize_resized_later),
	};
	return cmocka_run_group_tests_name("ranking rules", tests, NULL, NULL);
}
