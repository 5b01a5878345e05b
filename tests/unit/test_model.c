/* test_model.c - the metrics model (analyzer/core/model.c) on profiles
 * written by hand (tests/pswriter.h), whose every number the test chose:
 * lifetime buckets to nanosecond intervals at two tick rates and the
 * percentile rank on both sides of a bucket; peaks across threads whose
 * windows are apart, touching or overlapping; a thread's peak from its
 * site-candidate node (exact), without one (bounds) and from a node
 * another site also counts in (bounds); rates over the active window and
 * over the run; merged files on one wall-clock timeline; stacks with the
 * same frames, in one file and merged across files; the recording's own
 * time taken out of the rates, once for threads that record side by side
 * and once each for threads one after another; a version 1 file's
 * thread peak bytes (no lower bound); the 95% error `top` gives a
 * sampled stack's count and bytes. */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "commands.h"
#include "memory.h"
#include "units.h"
#include "model.h"
#include "present.h"
#include "pswriter.h"
#include "ranking.h"

static uint8_t buf[1 << 16];
static struct pswriter w = { .buf = buf };
static void v(uint64_t x) { pw_v(&w, x); }

#define MS 1000000ull /* ns, and ticks at 1 GHz */

struct spec_entry {
	uint32_t thread, stack;
	uint64_t allocs, frees, peak;
	uint64_t first_ms, last_ms, free_ms; /* 0: none */
	unsigned life_bucket[2];
	uint64_t life_count[2];
	uint64_t raw_first, raw_last; /* nonzero: the ticks (+1) written as is */
	/* nonzero grows: realloc counters follow (steps per chain, chains
	 * ended, their largest final size) */
	uint64_t grows, chains, steps_max, final_size;
	/* nonzero: one of its blocks is 64 bytes (the largest size then; the
	 * peak is still of 16-byte blocks) */
	int one_64;
};

struct spec_node {
	uint32_t thread;
	uint64_t ip, peak;
};

struct spec {
	/* of the file's header (0: the current one); 1 also writes the
	 * version 1 layout: no site candidates, no peak bytes or times per
	 * entry, no node lists */
	uint32_t version;
	uint64_t flags;   /* the PROCESS record's */
	uint32_t sample_every; /* the PROCESS record's (0: 1, every block) */
	/* nonzero: the all-thread node of the process (ip 0), its peak
	 * objects (of 16 B each) */
	uint64_t process_peak;
	uint64_t start_real_ns, tick_hz, duration_ms;
	uint32_t nthreads;
	/* stacks: two ips each, both candidates (no_cand: neither) */
	uint64_t stack_ips[8][2];
	int no_cand[8];
	uint32_t nstacks;
	struct spec_entry e[8];
	uint32_t nentries;
	struct spec_node n[8];
	uint32_t nnodes;
};

/* Writes spec as a version 2 profile at path (version 1 if s->version
 * says so). Every entry's blocks are 16 bytes. */
static void write_profile(const char *path, const struct spec *s)
{
	int v2 = s->version != 1;
	pw_header(&w);
	if (s->version)
		ps_put_u32le(buf + 8, s->version);
	pw_begin(&w, PS_REC_PROCESS);
	v(100); v(1); v(s->flags); v(s->start_real_ns); v(0); v(100); v(64);
	v(s->sample_every ? s->sample_every : 1); pw_str(&w, "/bin/t"); pw_str(&w, "t"); v(0);
	pw_end(&w);
	for (uint32_t i = 0; i < s->nstacks; i++) {
		pw_begin(&w, PS_REC_STACK);
		v(i + 1); v(0); v(2); v(s->stack_ips[i][0]); v(s->stack_ips[i][1]);
		if (v2) {
			v(0); v(s->no_cand[i] ? 0 : 2);
		}
		pw_end(&w);
	}
	for (uint32_t t = 1; t <= s->nthreads; t++) {
		pw_begin(&w, PS_REC_THREAD);
		v(t); v(100 + t); pw_str(&w, "th"); v(0); v(0); v(0);
		pw_end(&w);
	}
	pw_begin(&w, PS_REC_SNAPSHOT);
	v(1); v(s->duration_ms * MS); v(s->tick_hz); v(0);
	v(s->nentries);
	for (uint32_t i = 0; i < s->nentries; i++) {
		const struct spec_entry *e = &s->e[i];
		double k = (double)s->tick_hz / 1e9; /* ticks per ns */
		v(e->thread); v(e->stack);
		v(PS_ENT_HAS_HIST | (e->grows ? PS_ENT_HAS_REALLOC : 0));
		v(e->allocs); v(e->allocs * 16 + (e->one_64 ? 48 : 0));
		v(e->frees); v(e->frees * 16);
		v(0); v(0); v(16); v(e->one_64 ? 64 : 16);
		v(e->peak);
		uint64_t first = e->raw_first, last = e->raw_last;
		if (!e->raw_first) {
			first = e->first_ms ? (uint64_t)((double)(e->first_ms * MS) * k) + 1 : 0;
			last = e->last_ms ? (uint64_t)((double)(e->last_ms * MS) * k) + 1 : 0;
		}
		if (v2) { /* peak bytes and times */
			v(e->peak * 16); v(first); v(last);
			v(e->free_ms ? (uint64_t)((double)(e->free_ms * MS) * k) + 1 : 0);
		}
		if (e->one_64) { /* sizes: buckets 4 and 6 */
			v(2); v(4); v(e->allocs - 1); v(6); v(1);
		} else {
			v(1); v(4); v(e->allocs); /* sizes: bucket 4 */
		}
		int nl = (e->life_count[0] > 0) + (e->life_count[1] > 0);
		v((uint64_t)nl);
		for (int b = 0; b < 2; b++)
			if (e->life_count[b]) {
				v(e->life_bucket[b]);
				v(e->life_count[b]);
			}
		if (e->grows) {
			v(e->grows); v(e->chains); v(e->chains * e->steps_max);
			v(e->steps_max); v(e->final_size);
		}
	}
	v(0); v(0);
	if (v2) { /* node lists */
		v(s->nnodes);
		for (uint32_t i = 0; i < s->nnodes; i++) {
			v(s->n[i].thread); v(s->n[i].ip); v(s->n[i].peak);
			v(s->n[i].peak * 16);
		}
		v(s->process_peak ? 1 : 0);
		if (s->process_peak) {
			v(0); v(s->process_peak); v(s->process_peak * 16);
		}
	}
	pw_end(&w);
	pw_begin(&w, PS_REC_END);
	v(PS_END_EXIT); v(s->duration_ms * MS);
	pw_end(&w);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, w.len, f), w.len);
	fclose(f);
}

static char *paths[4];

static void load_with(analysis *a, const struct spec *specs, int n,
		      const an_opts *o)
{
	for (int i = 0; i < n; i++) {
		free(paths[i]);
		paths[i] = xasprintf("%s/test_model.%d.%d.pscout",
				     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
				     (int)getpid(), i);
		write_profile(paths[i], &specs[i]);
	}
	assert_int_equal(analysis_load(a, paths, n, o), 0);
}

static void load(analysis *a, const struct spec *specs, int n)
{
	load_with(a, specs, n, NULL);
}

static void done(analysis *a, int n)
{
	analysis_free(a);
	for (int i = 0; i < n; i++)
		unlink(paths[i]);
}

static const an_site *site_at(const analysis *a, uint64_t ip)
{
	char name[32];
	snprintf(name, sizeof name, "0x%llx", (unsigned long long)ip);
	for (size_t i = 0; i < a->nsites; i++)
		if (!strcmp(a->sites[i].where.function, name))
			return &a->sites[i];
	fail_msg("no site %s", name);
	return NULL;
}

/* One thread, one stack: the base every case changes. */
static struct spec base(void)
{
	struct spec s;
	memset(&s, 0, sizeof s);
	s.start_real_ns = 1700000000ull * 1000000000ull;
	s.tick_hz = 1000000000;
	s.duration_ms = 1000;
	s.nthreads = 1;
	s.nstacks = 1;
	s.stack_ips[0][0] = 0x1000;
	s.stack_ips[0][1] = 0x2000;
	s.nentries = 1;
	s.e[0] = (struct spec_entry){ 1, 1, 1000, 1000, 10, 1, 101, 102,
				      { 10, 0 }, { 1000, 0 }, 0, 0, 0, 0, 0, 0, 0 };
	return s;
}

static void test_lifetime_intervals(void **state)
{
	(void)state;
	analysis a;
	struct spec s = base();
	load(&a, &s, 1);
	const an_site *site = site_at(&a, 0x1000);
	/* bucket 10 at 1 GHz: [1024, 2048) ns */
	assert_true(site->lifetime_p50.lo_ns == 1024);
	assert_true(site->lifetime_p50.hi_ns == 2048);
	done(&a, 1);
	s.tick_hz = 4000000000ull; /* 4 ticks per ns: [256, 512) ns */
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_true(site->lifetime_p50.lo_ns == 256);
	assert_true(site->lifetime_p50.hi_ns == 512);
	done(&a, 1);
	/* bucket 0 holds 0 and 1 tick */
	s = base();
	s.e[0].life_bucket[0] = 0;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_true(site->lifetime_p50.lo_ns == 0);
	assert_true(site->lifetime_p50.hi_ns == 2);
	done(&a, 1);
}

static void test_percentile_rank(void **state)
{
	(void)state;
	analysis a;
	struct spec s = base();
	/* 500 in bucket 5, 500 in bucket 9: rank 500 is the last of bucket 5 */
	s.e[0].life_bucket[0] = 5;
	s.e[0].life_count[0] = 500;
	s.e[0].life_bucket[1] = 9;
	s.e[0].life_count[1] = 500;
	load(&a, &s, 1);
	const an_site *site = site_at(&a, 0x1000);
	assert_true(site->lifetime_p50.hi_ns == 64);
	assert_true(site->lifetime_p99.lo_ns == 512);
	assert_true(site->lifetime_p99.hi_ns == 1024);
	done(&a, 1);
	s.e[0].life_count[0] = 499; /* rank 500 moves into bucket 9 */
	s.e[0].life_count[1] = 501;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_true(site->lifetime_p50.lo_ns == 512);
	done(&a, 1);
	/* 1001 lifetimes: the p50 is rank ceil(500.5) = 501, in bucket 9 */
	s.e[0].life_count[0] = 500;
	s.e[0].life_count[1] = 501;
	s.e[0].allocs = s.e[0].frees = 1001;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_true(site->lifetime_p50.lo_ns == 512);
	done(&a, 1);
	s.e[0].allocs = s.e[0].frees = 1000;
	s.e[0].life_count[0] = 990; /* p99: rank 990 of 1000, in bucket 5 */
	s.e[0].life_count[1] = 10;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_true(site->lifetime_p99.hi_ns == 64);
	done(&a, 1);
	s.e[0].life_count[0] = 989;
	s.e[0].life_count[1] = 11;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_true(site->lifetime_p99.hi_ns == 1024);
	done(&a, 1);
}

/* Two threads on the same site: thread 1 holds 10 at most, thread 2 7. */
static struct spec two_threads(uint64_t t1_free_ms, uint64_t t2_first_ms,
			       uint64_t t2_frees)
{
	struct spec s = base();
	s.nthreads = 2;
	s.nentries = 2;
	s.e[0] = (struct spec_entry){ 1, 1, 100, 100, 10, 1, 20, t1_free_ms,
				      { 10, 0 }, { 100, 0 }, 0, 0, 0, 0, 0, 0, 0 };
	s.e[1] = (struct spec_entry){ 2, 1, 50, t2_frees, 7, t2_first_ms,
				      t2_first_ms + 10, t2_frees ? 500 : 0,
				      { 10, 0 }, { t2_frees, 0 }, 0, 0, 0, 0, 0, 0, 0 };
	return s;
}

static void test_peak_windows(void **state)
{
	(void)state;
	analysis a;
	/* apart: thread 1 freed everything at 30 ms, thread 2 starts at 40 */
	struct spec s = two_threads(30, 40, 50);
	load(&a, &s, 1);
	const an_site *site = site_at(&a, 0x1000);
	assert_int_equal(site->peak.lo, 10);
	assert_int_equal(site->peak.hi, 10);
	assert_int_equal(site->thread_peak.hi, 10);
	assert_int_equal(site->alloc_threads, 2);
	done(&a, 1);
	/* touching: the same millisecond counts as together */
	s = two_threads(30, 30, 50);
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->peak.lo, 10);
	assert_int_equal(site->peak.hi, 17);
	done(&a, 1);
	/* overlapping */
	s = two_threads(30, 25, 50);
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->peak.hi, 17);
	done(&a, 1);
	/* thread 2 keeps blocks to the end: its window reaches the end,
	 * but thread 1 was done before it started */
	s = two_threads(30, 40, 10);
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->peak.hi, 10);
	done(&a, 1);
	/* thread 1 keeps blocks to the end: they meet thread 2's */
	s = two_threads(30, 40, 50);
	s.e[0].frees = 99;
	s.e[0].life_count[0] = 99;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->peak.lo, 10);
	assert_int_equal(site->peak.hi, 17);
	done(&a, 1);
}

/* One thread, two stacks of one site (same site address, other
 * callers): their own peaks 5 and 6. */
static struct spec two_paths(void)
{
	struct spec s = base();
	s.nstacks = 2;
	s.stack_ips[1][0] = 0x1000;
	s.stack_ips[1][1] = 0x3000;
	s.nentries = 2;
	s.e[0].peak = 5;
	s.e[1] = s.e[0];
	s.e[1].stack = 2;
	s.e[1].peak = 6;
	return s;
}

/* base() with a second stack (0x1100) whose entry, on thread `thread`,
 * peaks at 30 blocks of 16 B, the first's at 10. */
static struct spec peaks_10_30(uint32_t thread)
{
	struct spec s = base();
	s.nthreads = thread;
	s.nstacks = 2;
	s.stack_ips[1][0] = 0x1100;
	s.stack_ips[1][1] = 0x2000;
	s.nentries = 2;
	s.e[1] = s.e[0];
	s.e[1].thread = thread;
	s.e[1].stack = 2;
	s.e[0].peak = 10;
	s.e[1].peak = 30;
	return s;
}

/* Fails unless p is lo..hi blocks of 16 B (what: whose, for the message). */
static void expect_peak_16(const an_peak *p, uint64_t lo, uint64_t hi,
			   const char *what, unsigned n)
{
	if (p->lo != lo || p->hi != hi || p->bytes_lo != 16 * lo ||
	    p->bytes_hi != 16 * hi)
		fail_msg("%s %u: peak %llu..%llu, %llu..%llu B, expected "
			 "%llu..%llu", what, n, (unsigned long long)p->lo,
			 (unsigned long long)p->hi,
			 (unsigned long long)p->bytes_lo,
			 (unsigned long long)p->bytes_hi,
			 (unsigned long long)lo, (unsigned long long)hi);
}

/* Without node peaks, a thread's peak is bounded by its entries': at
 * least the largest (objects and bytes alike), at most their sum; in a
 * version 2 file too (the first with peak bytes), 10 and 30 blocks of
 * 16 B: 30..40, 480..640 B. */
static void test_thread_peak_from_entries(void **state)
{
	(void)state;
	for (uint32_t version = 2; version <= PS_FORMAT_VERSION; version += 7) {
		analysis a;
		struct spec s = peaks_10_30(1);
		s.version = version;
		load(&a, &s, 1);
		expect_peak_16(&a.threads[0].peak, 30, 40, "version", version);
		done(&a, 1);
	}
}

/* A version 1 file has no peak bytes per entry: an entry's peak blocks
 * times its largest size bounds its peak bytes from above only, so a
 * thread's peak bytes are 0..the sum of those bounds, while its blocks
 * keep the largest entry's peak as the lower end: 10 and 30 blocks of
 * 16 B give 30..40 blocks, 0..640 B. */
static void test_thread_peak_bytes_version1(void **state)
{
	(void)state;
	analysis a;
	struct spec s = peaks_10_30(1);
	s.version = 1;
	load(&a, &s, 1);
	const an_peak *p = &a.threads[0].peak;
	if (p->lo != 30 || p->hi != 40 || p->bytes_lo != 0 || p->bytes_hi != 640)
		fail_msg("version 1: thread peak %llu..%llu, %llu..%llu B, "
			 "expected 30..40, 0..640 B", (unsigned long long)p->lo,
			 (unsigned long long)p->hi,
			 (unsigned long long)p->bytes_lo,
			 (unsigned long long)p->bytes_hi);
	done(&a, 1);
}

/* A site's peak bytes are its entries' peak bytes from version 2 on, not
 * their peak blocks times the largest size (a version 1 file's only
 * bound): a site of one entry that peaked at 30 blocks of 16 B, one of
 * its blocks 64 B, peaked at 480 B, not 1920. */
static void test_site_peak_bytes(void **state)
{
	(void)state;
	for (uint32_t version = 2; version <= PS_FORMAT_VERSION; version += 7) {
		analysis a;
		struct spec s = peaks_10_30(1);
		s.version = version;
		s.e[1].one_64 = 1;
		load(&a, &s, 1);
		const an_site *site = site_at(&a, 0x1100);
		assert_int_equal(site->size_max, 64);
		if (site->thread_peak.lo != 30 || site->thread_peak.hi != 30 ||
		    site->thread_peak.bytes_lo != 480 ||
		    site->thread_peak.bytes_hi != 480)
			fail_msg("version %u: site peak %llu..%llu, %llu..%llu B, "
				 "expected 30, 480 B", version,
				 (unsigned long long)site->thread_peak.lo,
				 (unsigned long long)site->thread_peak.hi,
				 (unsigned long long)site->thread_peak.bytes_lo,
				 (unsigned long long)site->thread_peak.bytes_hi);
		done(&a, 1);
	}
}

/* The process's all-thread node (site-wide peaks recorded) makes its
 * peak exact wherever it falls in the bounds the entries give, their
 * lower end too: 10 and 30 blocks of 16 B on two threads bound it to
 * 30..40 (480..640 B); a node of 30 (480 B) says exactly 30, 480 B, and
 * one of 40 exactly 40; without the flag, the bounds stay. */
static void test_process_peak_from_its_node(void **state)
{
	(void)state;
	static const struct {
		uint64_t flags, node, lo, hi;
	} cases[] = {
		{ PS_PROC_FLAG_SITE_PEAK, 30, 30, 30 },
		{ PS_PROC_FLAG_SITE_PEAK, 40, 40, 40 },
		{ PS_PROC_FLAG_SITE_PEAK, 35, 35, 35 },
		{ 0, 30, 30, 40 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		analysis a;
		struct spec s = peaks_10_30(2);
		s.flags = cases[i].flags;
		s.process_peak = cases[i].node;
		load(&a, &s, 1);
		expect_peak_16(&a.processes[0].peak, cases[i].lo, cases[i].hi,
			       "case", (unsigned)i);
		done(&a, 1);
	}
}

static void test_node_peaks(void **state)
{
	(void)state;
	analysis a;
	/* the node of the site's address: exact */
	struct spec s = two_paths();
	s.nnodes = 1;
	s.n[0] = (struct spec_node){ 1, 0x1000, 8 };
	load(&a, &s, 1);
	const an_site *site = site_at(&a, 0x1000);
	assert_int_equal(site->thread_peak.lo, 8);
	assert_int_equal(site->thread_peak.hi, 8);
	assert_int_equal(site->peak.hi, 8);
	done(&a, 1);
	/* no node: between the larger stack peak and the sum */
	s.nnodes = 0;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->thread_peak.lo, 6);
	assert_int_equal(site->thread_peak.hi, 11);
	done(&a, 1);
	/* a stack whose site frame is no candidate (a wrapper chain deeper
	 * than the candidates reach): bounded, and the site says why */
	s.nnodes = 1;
	s.n[0] = (struct spec_node){ 1, 0x1000, 8 };
	s.no_cand[1] = 1;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->thread_peak.lo, 6);
	assert_int_equal(site->thread_peak.hi, 11);
	assert_int_equal(site->peak_uncounted, PEAK_PAST_CANDIDATES);
	done(&a, 1);
	s.no_cand[1] = 0;
	load(&a, &s, 1);
	assert_int_equal(site_at(&a, 0x1000)->peak_uncounted, PEAK_COUNTED);
	done(&a, 1);
	/* another site's stack counts in the same node (0x1000 is its
	 * caller there): the node bounds from above only */
	s = two_paths();
	s.nstacks = 3;
	s.stack_ips[2][0] = 0x5000;
	s.stack_ips[2][1] = 0x1000;
	s.nentries = 3;
	s.e[2] = s.e[0];
	s.e[2].stack = 3;
	s.e[2].peak = 3;
	s.nnodes = 1;
	s.n[0] = (struct spec_node){ 1, 0x1000, 9 };
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->thread_peak.lo, 6);
	assert_int_equal(site->thread_peak.hi, 9);
	assert_int_equal(site_at(&a, 0x5000)->thread_peak.hi, 3);
	done(&a, 1);
}

static void test_rates_and_merged_run(void **state)
{
	(void)state;
	analysis a;
	/* 1000 allocations from 1 ms to 101 ms of a 1 s run */
	struct spec s = base();
	load(&a, &s, 1);
	const an_site *site = site_at(&a, 0x1000);
	assert_true(site->rate_per_s > 9999 && site->rate_per_s < 10001);
	assert_true(site->rate_run_per_s > 999 && site->rate_run_per_s < 1001);
	assert_true(site->rate_peak_per_s >= site->rate_per_s);
	assert_int_equal(a.duration_ns, 1000 * MS);
	done(&a, 1);
	/* a second process starting 2 s later: a 3 s run, one timeline */
	struct spec two[2] = { base(), base() };
	two[1].start_real_ns += 2000 * MS;
	load(&a, two, 2);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->allocs, 2000);
	assert_int_equal(a.duration_ns, 3000 * MS);
	assert_true(site->rate_run_per_s > 666 && site->rate_run_per_s < 667);
	/* active from 1 ms to 2101 ms */
	assert_true(site->rate_per_s > 951 && site->rate_per_s < 953);
	assert_int_equal(site->first_alloc_ns, 1 * MS);
	assert_int_equal(site->last_alloc_ns, 2101 * MS);
	/* the processes never overlapped: the peak is one process's */
	assert_int_equal(site->peak.hi, 10);
	done(&a, 2);
}

/* Two stacks of one file with the same frames (the reader takes them;
 * they are apart in the file) stay two stacks, also when the stacks of
 * several files are merged one file at a time (an_opts.stream): the
 * first of each file joins the first, the second the second. */
static void test_same_frames_apart(void **state)
{
	(void)state;
	struct spec s = base();
	s.nstacks = 2;
	s.stack_ips[1][0] = s.stack_ips[0][0];
	s.stack_ips[1][1] = s.stack_ips[0][1];
	s.nentries = 2;
	s.e[0].allocs = s.e[0].frees = 5;
	s.e[0].peak = 2;
	s.e[1] = s.e[0];
	s.e[1].stack = 2;
	s.e[1].allocs = s.e[1].frees = 3;
	s.e[0].life_count[0] = 5;
	s.e[1].life_count[0] = 3;
	struct spec three[3] = { s, s, s };
	for (int i = 1; i < 3; i++)
		three[i].start_real_ns += 2000 * MS * (uint64_t)i;
	for (int stream = 0; stream < 2; stream++) {
		an_opts o = { .stream = stream };
		analysis a;
		load_with(&a, three, 3, &o);
		assert_int_equal(site_at(&a, 0x1000)->allocs, 24);
		uint64_t got[6] = { 0 };
		size_t n = 0;
		for (size_t i = 0; i < a.nstacks && n < 6; i++)
			got[n++] = a.stacks[i].allocs;
		if (stream) { /* the k-th of each file together */
			assert_int_equal(n, 2);
			assert_int_equal(got[0], 15);
			assert_int_equal(got[1], 9);
		} else { /* every file's stacks apart */
			assert_int_equal(n, 6);
			for (size_t i = 0; i < n; i++)
				assert_int_equal(got[i], i % 2 ? 3 : 5);
		}
		done(&a, 3);
	}
}

/* A file's tick rate and times are untrusted: 2^64 - 2 ticks at 1 Hz is
 * 1.8e28 ns, beyond any integer (a plain conversion is undefined, and on
 * x86-64 gives 0); no time is later than the process's end, and every
 * rate stays a number. */
static void test_hostile_times(void **state)
{
	(void)state;
	analysis a;
	struct spec s = base();
	s.tick_hz = 1;
	s.duration_ms = 10000;
	s.e[0].raw_first = UINT64_MAX - 1;
	s.e[0].raw_last = UINT64_MAX;
	load(&a, &s, 1);
	const an_site *site = site_at(&a, 0x1000);
	assert_int_equal(site->first_alloc_ns, 10000 * MS);
	assert_int_equal(site->last_alloc_ns, 10000 * MS);
	assert_true(site->rate_per_s >= 0 && site->rate_per_s < 1e300);
	assert_true(site->rate_run_per_s > 99 && site->rate_run_per_s < 101);
	done(&a, 1);
	/* just inside: 7 and 9 ticks at 1 Hz, 7 s and 9 s of a 10 s run;
	 * and just outside, 11 s, is the end */
	s.e[0].raw_first = 7 + 1;
	s.e[0].raw_last = 9 + 1;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->first_alloc_ns, 7000 * MS);
	assert_int_equal(site->last_alloc_ns, 9000 * MS);
	assert_true(site->rate_per_s > 499 && site->rate_per_s < 501);
	done(&a, 1);
	s.e[0].raw_last = 11 + 1;
	load(&a, &s, 1);
	assert_int_equal(site_at(&a, 0x1000)->last_alloc_ns, 10000 * MS);
	done(&a, 1);
}

/* Lifetimes of a site with one and with two blocks: the percentile is
 * the bucket the block (the p50's first, the p99's second) is in. */
static void test_few_lifetimes(void **state)
{
	(void)state;
	analysis a;
	struct spec s = base();
	s.e[0].allocs = s.e[0].frees = 1;
	s.e[0].peak = 1;
	s.e[0].life_bucket[0] = 7; /* [128, 256) ns */
	s.e[0].life_count[0] = 1;
	load(&a, &s, 1);
	const an_site *site = site_at(&a, 0x1000);
	assert_int_equal(site->lifetimes, 1);
	assert_true(site->lifetime_p50.lo_ns == 128 && site->lifetime_p50.hi_ns == 256);
	assert_true(site->lifetime_p99.lo_ns == 128 && site->lifetime_p99.hi_ns == 256);
	done(&a, 1);
	s.e[0].allocs = s.e[0].frees = 2;
	s.e[0].life_bucket[0] = 3; /* [8, 16) ns */
	s.e[0].life_bucket[1] = 12; /* [4096, 8192) ns */
	s.e[0].life_count[1] = 1;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->lifetimes, 2);
	assert_true(site->lifetime_p50.lo_ns == 8 && site->lifetime_p50.hi_ns == 16);
	assert_true(site->lifetime_p99.lo_ns == 4096 && site->lifetime_p99.hi_ns == 8192);
	done(&a, 1);
}

/* Realloc chains: the site's growth counts are the sum of its entries';
 * the reserve is the largest final size of a chain even where it exceeds
 * every request the site saw (the file says so), else the largest
 * request. */
static void test_chains(void **state)
{
	(void)state;
	analysis a;
	struct spec s = base();
	s.nthreads = 2;
	s.nentries = 2;
	/* blocks are 16 bytes; chains ended at 1 MiB and 64 KiB */
	s.e[0].grows = 900;
	s.e[0].chains = 60;
	s.e[0].steps_max = 15;
	s.e[0].final_size = 1 << 20;
	s.e[1] = s.e[0];
	s.e[1].thread = 2;
	s.e[1].grows = 800;
	s.e[1].chains = 40;
	s.e[1].steps_max = 20;
	s.e[1].final_size = 1 << 16;
	load(&a, &s, 1);
	analysis *ap = &a;
	rank_sites(ap);
	const an_site *site = site_at(&a, 0x1000);
	assert_int_equal(site->realloc_grows, 1700);
	assert_int_equal(site->chains_ended, 100);
	assert_int_equal(site->chain_steps_sum, 60 * 15 + 40 * 20);
	assert_int_equal(site->chain_steps_max, 20);
	assert_int_equal(site->chain_final_size_max, 1 << 20);
	assert_int_equal(site->size_max, 16);
	assert_int_equal(site->remedy, REMEDY_PRESIZE);
	assert_int_equal(site->reserve_bytes, 1 << 20);
	done(&a, 1);
	/* the larger one in the other entry */
	s.e[0].final_size = 1 << 10;
	load(&a, &s, 1);
	rank_sites(&a);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->chain_final_size_max, 1 << 16);
	assert_int_equal(site->reserve_bytes, 1 << 16);
	done(&a, 1);
}

/* The cumulative counters of thread 1's entry for stack 1 in a snapshot;
 * blocks of 16 bytes. */
struct cumulative {
	uint64_t t_ms, allocs, frees, xfrees, peak;
	uint64_t first_ms, last_ms, free_ms;
};

/* Writes a profile of one thread and one stack over snapshots c[0..n)
 * at 1 GHz, ending at end_ms; returns its path. */
static void write_series(const char *path, const struct cumulative *c, int n,
			 uint64_t end_ms)
{
	pw_header(&w);
	pw_begin(&w, PS_REC_PROCESS);
	v(100); v(1); v(0); v(1700000000ull * 1000000000ull); v(0); v(100); v(64);
	v(1); pw_str(&w, "/bin/t"); pw_str(&w, "t"); v(0);
	pw_end(&w);
	pw_begin(&w, PS_REC_STACK);
	v(1); v(0); v(2); v(0x1000); v(0x2000); v(0); v(2);
	pw_end(&w);
	pw_begin(&w, PS_REC_THREAD);
	v(1); v(101); pw_str(&w, "th"); v(0); v(0); v(0);
	pw_end(&w);
	for (int i = 0; i < n; i++) {
		pw_begin(&w, PS_REC_SNAPSHOT);
		v((uint64_t)i + 1); v(c[i].t_ms * MS); v(1000000000); v(0);
		v(1);
		v(1); v(1); v(0);
		v(c[i].allocs); v(c[i].allocs * 16); v(c[i].frees); v(c[i].frees * 16);
		v(c[i].xfrees); v(c[i].xfrees * 16); v(16); v(16); v(c[i].peak);
		v(c[i].peak * 16);
		v(c[i].first_ms ? c[i].first_ms * MS + 1 : 0);
		v(c[i].last_ms ? c[i].last_ms * MS + 1 : 0);
		v(c[i].free_ms ? c[i].free_ms * MS + 1 : 0);
		v(0); v(0); v(0); v(0);
		pw_end(&w);
	}
	pw_begin(&w, PS_REC_END);
	v(PS_END_EXIT); v(end_ms * MS);
	pw_end(&w);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, w.len, f), w.len);
	fclose(f);
}

/* A time window keeps the counts of the snapshot intervals whose middle
 * lies inside it. Blocks allocated before the window and freed in it
 * are not the window's: its frees (and cross-thread frees, and peak) are
 * at most its allocations; its allocation times lie in the intervals
 * read. */
static void test_window(void **state)
{
	(void)state;
	/* 0..100 ms: 10 allocated (from 10 to 90 ms); 100..200 ms: 2 more
	 * (at 150 and 160 ms) and 8 freed, 4 by another thread; 200..300 ms:
	 * 5 more (210..290 ms), all freed */
	static const struct cumulative c[] = {
		{ 100, 10, 0, 0, 10, 10, 90, 0 },
		{ 200, 12, 8, 4, 10, 10, 160, 190 },
		{ 300, 17, 17, 4, 10, 10, 290, 295 },
	};
	char *path = xasprintf("%s/test_model.window.%d.pscout",
			       getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
			       (int)getpid());
	write_series(path, c, 3, 300);
	/* the file keeps the run's first and latest allocation times (10
	 * and 290 ms): a window clamps them into the intervals it read */
	static const struct {
		uint64_t from_ms, to_ms;
		uint64_t allocs, frees, xfrees, peak, first_ms, last_ms;
	} want[] = {
		/* the middle interval: 2 allocated, 8 freed -> 2; xfrees 4 -> 2 */
		{ 150, 250, 2, 2, 2, 2, 100, 200 },
		/* the first: 10, none freed */
		{ 0, 100, 10, 0, 0, 10, 10, 100 },
		/* the last two: 7 allocated, 17 freed -> 7 */
		{ 150, 0, 7, 7, 4, 7, 100, 290 },
		/* all of it */
		{ 1, 0, 17, 17, 4, 10, 10, 290 },
	};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		analysis a;
		an_opts o = { .from_ns = want[i].from_ms * MS,
			      .to_ns = want[i].to_ms * MS };
		assert_int_equal(analysis_load(&a, &path, 1, &o), 0);
		const an_site *site = site_at(&a, 0x1000);
		if (site->allocs != want[i].allocs || site->frees != want[i].frees ||
		    site->xfrees != want[i].xfrees ||
		    site->alloc_bytes != want[i].allocs * 16 ||
		    site->free_bytes != want[i].frees * 16 ||
		    site->peak.hi != want[i].peak ||
		    site->first_alloc_ns != want[i].first_ms * MS ||
		    site->last_alloc_ns != want[i].last_ms * MS)
			fail_msg("window %llu..%llu ms: allocs %llu frees %llu xfrees "
				 "%llu peak %llu, allocated %llu..%llu ns",
				 (unsigned long long)want[i].from_ms,
				 (unsigned long long)want[i].to_ms,
				 (unsigned long long)site->allocs,
				 (unsigned long long)site->frees,
				 (unsigned long long)site->xfrees,
				 (unsigned long long)site->peak.hi,
				 (unsigned long long)site->first_alloc_ns,
				 (unsigned long long)site->last_alloc_ns);
		assert_int_equal(a.allocs, want[i].allocs);
		assert_int_equal(a.frees, want[i].frees);
		analysis_free(&a);
	}
	/* a window with nothing in it */
	analysis a;
	an_opts o = { .from_ns = 400 * MS };
	assert_int_equal(analysis_load(&a, &path, 1, &o), 0);
	assert_int_equal(a.allocs, 0);
	assert_int_equal(a.nsites, 0);
	analysis_free(&a);
	unlink(path);
	free(path);
}

/* Labels in a column: the name first, then the wrapper, then the place,
 * each cut in its middle only as far as it must. */
static void test_label_fit(void **state)
{
	(void)state;
	char lbl[128];
	an_frame f = { .function = "format_field", .file = "/src/logger_before.c",
		       .line = 49, .symbolized = 1 };
	/* fits: whole */
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &f, NULL, 33),
			    "format_field (logger_before.c:49)");
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &f, "xmalloc", 45),
			    "format_field (logger_before.c:49) via xmalloc");
	/* one short: the place is cut, the name is whole */
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &f, NULL, 31),
			    "format_field (logger...re.c:49)");
	/* the wrapper stays whole before the place */
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &f, "xmalloc", 40),
			    "format_field (logg...e.c:49) via xmalloc");
	/* no room for a place of 8: none */
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &f, "xmalloc", 32),
			    "format_field via xmalloc");
	/* a long name gets two thirds, the wrapper whole */
	an_frame h = { .function = "std::vector<int>::_M_realloc_insert_long_name",
		       .file = "/src/a.c", .line = 7 };
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &h, "operator new", 47),
			    "std::vector<i...sert_long_name via operator new");
	/* without a line the call address stays whole (it is what tells
	 * two sites of the function apart), the name keeping the rest */
	an_frame g = { .function = "std::vector<int>::_M_realloc_insert_long_name",
		       .module = "/bin/p", .offset = 0x37a2 };
	const char *got = frame_label_fit(lbl, sizeof lbl, &g, "operator new", 47);
	assert_string_equal(got, "std::vec...long_name at 0x37a2 via operator new");
	/* a wrapper too long for what is left: cut, the place dropped */
	got = frame_label_fit(lbl, sizeof lbl, &g,
			      "a_wrapper_with_a_name_far_too_long_to_fit", 47);
	assert_int_equal(strlen(got), 47);
	assert_true(!strncmp(got, "std::v", 6)); /* a third for the name */
	assert_non_null(strstr(got, "_name via a_wrap"));
	assert_non_null(strstr(got, "...too_long_to_fit"));
	/* an unnamed wrapper of the site's own module: its offset alone when
	 * the whole does not fit, so two call addresses of one unnamed
	 * function read apart (trial 3: ruby's ranks 9 and 10 read alike) */
	an_frame r = { .function = "libruby-3.1.so.3.1+0x69000",
		       .module = "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1",
		       .offset = 0x69389 };
	const char *rvia = "libruby-3.1.so.3.1+0xd8460";
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &r, rvia, 46),
			    "libruby-3....1+0x69000 at 0x69389 via +0xd8460");
	r.offset = 0x693a0;
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &r, rvia, 46),
			    "libruby-3....1+0x69000 at 0x693a0 via +0xd8460");
	/* whole when it fits (68 columns) */
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &r, rvia, 68),
			    "libruby-3.1.so.3.1+0x69000 at 0x693a0 via libruby-3.1.so.3.1+0xd8460");
	/* another module's wrapper keeps its module; a name that only
	 * starts like the module is not cut */
	got = frame_label_fit(lbl, sizeof lbl, &r, "libonig.so.5+0x1234", 46);
	assert_non_null(strstr(got, " at 0x693a0 via libonig.so.5+0x1234"));
	got = frame_label_fit(lbl, sizeof lbl, &r, "libruby-3.1.so.3.1_alloc", 46);
	assert_non_null(strstr(got, " via libruby-3.1.so.3.1_alloc"));
	/* under 16 columns there is no room for parts: the whole label
	 * (name, place, wrapper) is cut in its middle; at 16 the parts
	 * are fitted, the wrapper whole */
	char whole[128], cut[128];
	snprintf(whole, sizeof whole, "%s", "format_field (logger_before.c:49) via xmalloc");
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &f, "xmalloc", 15),
			    fit_width(cut, sizeof cut, whole, 15));
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &f, "xmalloc", 16),
			    "fo...eld v...loc");
	/* 256 columns or more (past the parts' buffers): the whole label
	 * cut in its middle, within its width */
	char longname[400], want_cut[300];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	an_frame big = { .function = longname, .file = "/src/x.c", .line = 3 };
	char bigwhole[512];
	snprintf(bigwhole, sizeof bigwhole, "%s (x.c:3) via w", longname);
	char lbl2[512];
	assert_string_equal(frame_label_fit(lbl2, sizeof lbl2, &big, "w", 256),
			    fit_width(want_cut, sizeof want_cut, bigwhole, 256));
	/* one column less: the parts, the place and wrapper whole */
	got = frame_label_fit(lbl2, sizeof lbl2, &big, "w", 255);
	assert_int_equal(strlen(got), 255);
	assert_non_null(strstr(got, "nnn (x.c:3) via w"));
	/* a name longer than the label's buffer (1023 bytes) is cut there:
	 * the place is gone, the result within its width all the same */
	char huge[1100];
	memset(huge, 'h', sizeof huge - 1);
	huge[sizeof huge - 1] = 0;
	an_frame hf = { .function = huge, .file = "/src/x.c", .line = 3 };
	for (size_t cols = 16; cols < 120; cols += 7) {
		got = frame_label_fit(lbl, sizeof lbl, &hf, "w", cols);
		assert_true(strlen(got) <= cols);
		assert_non_null(strstr(got, "hhh"));
		assert_non_null(strstr(got, " via w"));
	}
	/* every result within its width */
	for (size_t cols = 16; cols < 80; cols++) {
		assert_true(strlen(frame_label_fit(lbl, sizeof lbl, &g, "operator new", cols)) <= cols);
		assert_true(strlen(frame_label_fit(lbl, sizeof lbl, &f, "xmalloc", cols)) <= cols);
	}
}

/* Touching windows in the other order: the thread declared first starts
 * in the millisecond the second one freed its last block, so the
 * contributions come start-before-end in neither thread order: at the
 * same time a start still sorts before an end (together: 17), and a
 * millisecond apart they are apart (10). */
static void test_peak_windows_touching_reversed(void **state)
{
	(void)state;
	analysis a;
	for (int apart = 0; apart <= 1; apart++) {
		struct spec s = base();
		s.nthreads = 2;
		s.nentries = 2;
		s.e[0] = (struct spec_entry){ 1, 1, 100, 100, 10, 30 + (uint64_t)apart,
					      40, 50, { 10, 0 }, { 100, 0 },
					      0, 0, 0, 0, 0, 0, 0 };
		s.e[1] = (struct spec_entry){ 2, 1, 50, 50, 7, 1, 20, 30,
					      { 10, 0 }, { 50, 0 }, 0, 0, 0, 0, 0, 0, 0 };
		load(&a, &s, 1);
		const an_site *site = site_at(&a, 0x1000);
		assert_int_equal(site->peak.lo, 10);
		assert_int_equal(site->peak.hi, apart ? 10 : 17);
		done(&a, 1);
	}
}

/* A frame without a line: its name and call address, unless the name is
 * that address already ("module+0xOFFSET", a frame with no symbol), and
 * never a name that merely ends like one. */
static void test_frame_label_address(void **state)
{
	(void)state;
	char lbl[128];
	static const char named_by_address[] = "libplugin.so+0x1a2b";
	an_frame f = { .function = named_by_address, .offset = 0x1a2b };
	assert_string_equal(frame_label(lbl, sizeof lbl, &f), "libplugin.so+0x1a2b");
	f.function = "parse";
	assert_string_equal(frame_label(lbl, sizeof lbl, &f), "parse at 0x1a2b");
	f.function = "libplugin.so+0x1a2c";
	assert_string_equal(frame_label(lbl, sizeof lbl, &f),
			    "libplugin.so+0x1a2c at 0x1a2b");
	f.function = "+0x1a2b"; /* as long as the address: still the address */
	assert_string_equal(frame_label(lbl, sizeof lbl, &f), "+0x1a2b");
	f.function = "x1a2b"; /* shorter */
	assert_string_equal(frame_label(lbl, sizeof lbl, &f), "x1a2b at 0x1a2b");
}

/* Times at the ends of the tick range, at 1 tick a ns: tick 0 is 0 ns and
 * tick 1 is 1 ns (not rounded away); a tick that is 2^64 ns as a double
 * (the largest one) is past the end of the run, not 0. */
static void test_tick_edges(void **state)
{
	(void)state;
	analysis a;
	struct spec s = base();
	s.tick_hz = 1000000000;
	s.duration_ms = 1000;
	s.e[0].raw_first = 0 + 1;
	s.e[0].raw_last = 1 + 1;
	load(&a, &s, 1);
	const an_site *site = site_at(&a, 0x1000);
	assert_int_equal(site->first_alloc_ns, 0);
	assert_int_equal(site->last_alloc_ns, 1);
	done(&a, 1);
	s.e[0].raw_first = s.e[0].raw_last = UINT64_MAX;
	load(&a, &s, 1);
	site = site_at(&a, 0x1000);
	assert_int_equal(site->first_alloc_ns, 1000 * MS);
	assert_int_equal(site->last_alloc_ns, 1000 * MS);
	done(&a, 1);
}

/* A wrapper (" via " and its name) exactly as wide as the column: it
 * cannot be whole, so the name keeps its two thirds (20 of 30) and the
 * wrapper is cut into what is left (10). */
static void test_label_fit_wrapper_as_wide(void **state)
{
	(void)state;
	char lbl[128];
	an_frame f = { .function = "abcdefghijklmnopqrstuvwxyz0123456789ABCD",
		       .module = "/bin/p", .offset = 0x10 };
	assert_string_equal(frame_label_fit(lbl, sizeof lbl, &f,
					    "wrapper_function_name_xyz", 30),
			    "abcdefgh...56789ABCD vi..._xyz");
}

/* An entry with no allocation of its own (so no allocation time either)
 * takes no part in its thread's active window: the thread's first and
 * last allocations are those of its entry that allocated. */
static void test_thread_window_skips_empty_entry(void **state)
{
	(void)state;
	analysis a;
	struct spec s = base();
	s.nstacks = 2;
	s.stack_ips[1][0] = 0x3000;
	s.stack_ips[1][1] = 0x4000;
	s.e[0].first_ms = 10;
	s.e[0].last_ms = 20;
	s.nentries = 2;
	s.e[1] = (struct spec_entry){ 1, 2, 0, 0, 0, 0, 0, 0,
				      { 0, 0 }, { 0, 0 }, 0, 0, 0, 0, 0, 0, 0 };
	load(&a, &s, 1);
	assert_int_equal(a.nthreads, 1);
	assert_int_equal(a.threads[0].first_alloc_ns, 10 * MS);
	assert_int_equal(a.threads[0].last_alloc_ns, 20 * MS);
	done(&a, 1);
}

/* ---- the recording's own time --------------------------------------------------- */

#define REC_SNAPS 10

/* Threads that allocate, and record, in 100 ms snapshot intervals: in
 * interval j, thread t makes allocs[t][j] blocks of 16 B (each freed at
 * once) and its recording takes rec_ns[t][j]. One stack; the run is
 * REC_SNAPS intervals long. A thread's first allocation is 1 ms into its
 * first busy interval, its latest at the end of its last one. */
struct rec_spec {
	uint32_t nthreads;
	uint64_t allocs[2][REC_SNAPS];
	uint64_t rec_ns[2][REC_SNAPS];
	uint64_t busy_ns[2][REC_SNAPS]; /* the time it ran or waited for a CPU
					 * (0: not read) */
	uint64_t ran_ns[2][REC_SNAPS];  /* of that, the time it ran (0: not
					 * read) */
};

static void write_rec_profile(const char *path, const struct rec_spec *s)
{
	pw_header(&w);
	pw_begin(&w, PS_REC_PROCESS);
	v(100); v(1); v(0); v(1700000000ull * 1000000000ull); v(0); v(100);
	v(64); v(1); pw_str(&w, "/bin/t"); pw_str(&w, "t"); v(0);
	pw_end(&w);
	pw_begin(&w, PS_REC_STACK);
	v(1); v(0); v(2); v(0x1000); v(0x2000); v(0); v(2);
	pw_end(&w);
	for (uint32_t t = 1; t <= s->nthreads; t++) {
		pw_begin(&w, PS_REC_THREAD);
		v(t); v(100 + t); pw_str(&w, "th"); v(0); v(0); v(0);
		pw_end(&w);
	}
	uint64_t allocs[2] = { 0 }, rec[2] = { 0 }, busy[2] = { 0 };
	uint64_t ran[2] = { 0 };
	uint64_t first[2] = { 0 };
	for (uint32_t j = 0; j < REC_SNAPS; j++) {
		uint64_t end = (j + 1) * 100 * MS;
		pw_begin(&w, PS_REC_SNAPSHOT);
		v(j + 1); v(end); v(1000000000); v(0);
		uint64_t n = 0;
		for (uint32_t t = 0; t < s->nthreads; t++)
			n += s->allocs[t][j] != 0;
		v(n);
		for (uint32_t t = 0; t < s->nthreads; t++) {
			if (!s->allocs[t][j])
				continue;
			if (!allocs[t])
				first[t] = j * 100 * MS + MS;
			allocs[t] += s->allocs[t][j];
			uint64_t x = allocs[t];
			v(t + 1); v(1); v(PS_ENT_HAS_HIST);
			v(x); v(x * 16); v(x); v(x * 16); v(0); v(0);
			v(16); v(16); v(1); v(16);
			v(first[t] + 1); v(end + 1); v(end + 1);
			v(1); v(4); v(x); /* sizes: bucket 4 */
			v(1); v(1); v(x); /* lifetimes: bucket 1 */
		}
		v(0); /* stack peaks */
		v(s->nthreads);
		for (uint32_t t = 0; t < s->nthreads; t++) {
			rec[t] += s->rec_ns[t][j];
			busy[t] += s->busy_ns[t][j];
			ran[t] += s->ran_ns[t][j];
			v(t + 1); v(0); v(0); v(rec[t]); v(busy[t]); v(ran[t]);
		}
		v(0); v(0);
		pw_end(&w);
	}
	pw_begin(&w, PS_REC_END);
	v(PS_END_EXIT); v(REC_SNAPS * 100 * MS);
	pw_end(&w);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, w.len, f), w.len);
	fclose(f);
}

static void load_rec(analysis *a, const struct rec_spec *s)
{
	free(paths[0]);
	paths[0] = xasprintf("%s/test_model.%d.rec.pscout",
			     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
			     (int)getpid());
	write_rec_profile(paths[0], s);
	assert_int_equal(analysis_load(a, paths, 1, NULL), 0);
}

/* A process of the run that allocated nothing: pid, ppid, from `from` ns
 * after write_rec_profile's process started, for `len` ns (one snapshot,
 * then END). */
static void write_span_profile(const char *path, uint64_t pid, uint64_t ppid,
			       uint64_t from, uint64_t len)
{
	pw_header(&w);
	pw_begin(&w, PS_REC_PROCESS);
	v(pid); v(ppid); v(0); v(1700000000ull * 1000000000ull + from); v(0);
	v(100); v(64); v(1); pw_str(&w, "/bin/c"); pw_str(&w, "c"); v(0);
	pw_end(&w);
	pw_begin(&w, PS_REC_SNAPSHOT);
	v(1); v(len); v(1000000000); v(0);
	v(0); v(0); v(0); v(0); v(0);
	pw_end(&w);
	pw_begin(&w, PS_REC_END);
	v(PS_END_EXIT); v(len);
	pw_end(&w);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, w.len, f), w.len);
	fclose(f);
}

/* Every interval of every thread: allocs blocks, rec_ns of recording,
 * running throughout (CPU-bound). */
static struct rec_spec rec_busy(uint32_t nthreads, uint64_t allocs,
				uint64_t rec_ns)
{
	struct rec_spec s;
	memset(&s, 0, sizeof s);
	s.nthreads = nthreads;
	for (uint32_t t = 0; t < nthreads; t++)
		for (int j = 0; j < REC_SNAPS; j++) {
			s.allocs[t][j] = allocs;
			s.rec_ns[t][j] = rec_ns;
			s.busy_ns[t][j] = 100 * MS;
		}
	return s;
}

static void assert_rate(double got, double want)
{
	if (got < want * (1 - 1e-9) || got > want * (1 + 1e-9))
		fail_msg("rate %.10g, expected %.10g", got, want);
}

/* One thread: 1000 allocations and 60 ms of recording in each 100 ms.
 * The run's 1 s less 600 ms: 10000 allocations in 400 ms. The thread's
 * and the site's window, 1 ms to 1 s, holds 99% of the first interval's
 * recording and all the others': 999 ms - 599.4 ms. */
static void test_rates_over_own_time(void **state)
{
	(void)state;
	analysis a;
	struct rec_spec s = rec_busy(1, 1000, 60 * MS);
	load_rec(&a, &s);
	assert_int_equal(a.rec_ns, 600 * MS);
	assert_int_equal(a.threads[0].rec_ns, 600 * MS);
	assert_int_equal(a.processes[0].rec_ns, 600 * MS);
	const an_site *site = site_at(&a, 0x1000);
	assert_int_equal(site->allocs, 10000);
	assert_rate(site->rate_run_per_s, 10000 / 0.4);
	assert_rate(site->bytes_run_per_s, 160000 / 0.4);
	assert_rate(site->rate_per_s, 10000 / 0.3996);
	assert_rate(a.threads[0].rate_per_s, 10000 / 0.3996);
	/* a bin: 1000 in 100 ms less 60 */
	assert_rate(site->rate_peak_per_s, 10000 / 0.3996);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	report_header(&a, out);
	fclose(out);
	if (!strstr(text, "RECORDING: took about 600 ms of the run (60%, "
			  "estimated); rates are per second\n  of the program's "
			  "own 400 ms\n"))
		fail_msg("header: %s", text);
	free(text);
	analysis_free(&a);

	/* without the recording's time: over the run, the window */
	s = rec_busy(1, 1000, 0);
	load_rec(&a, &s);
	assert_int_equal(a.rec_ns, 0);
	site = site_at(&a, 0x1000);
	assert_rate(site->rate_run_per_s, 10000 / 1.0);
	assert_rate(site->rate_per_s, 10000 / 0.999);
	assert_rate(site->rate_peak_per_s, 10000 / 0.999);
	analysis_free(&a);
	unlink(paths[0]);
}

/* Two threads recording side by side slow the run once: the run's
 * recording time is the most of one thread in each interval, not their
 * sum; one after the other, each counts in its own intervals. */
static void test_recording_threads(void **state)
{
	(void)state;
	analysis a;
	struct rec_spec s = rec_busy(2, 1000, 60 * MS);
	s.rec_ns[1][3] = 70 * MS; /* the most of the two in interval 3 */
	load_rec(&a, &s);
	assert_int_equal(a.rec_ns, 610 * MS);
	assert_int_equal(a.processes[0].rec_ns, 1210 * MS);
	const an_site *site = site_at(&a, 0x1000);
	assert_rate(site->rate_run_per_s, 20000 / 0.39);
	analysis_free(&a);

	/* thread 1 in the first half, thread 2 in the second */
	memset(&s, 0, sizeof s);
	s.nthreads = 2;
	for (int j = 0; j < REC_SNAPS; j++) {
		s.allocs[j < 5 ? 0 : 1][j] = 1000;
		s.rec_ns[j < 5 ? 0 : 1][j] = 60 * MS;
		s.busy_ns[j < 5 ? 0 : 1][j] = 100 * MS;
	}
	load_rec(&a, &s);
	assert_int_equal(a.rec_ns, 600 * MS);
	assert_int_equal(a.threads[0].rec_ns, 300 * MS);
	assert_int_equal(a.threads[1].rec_ns, 300 * MS);
	site = site_at(&a, 0x1000);
	assert_rate(site->rate_run_per_s, 10000 / 0.4);
	/* thread 1: 1 ms to 500 ms, less 59.4 + 4 * 60 ms */
	assert_rate(a.threads[0].rate_per_s, 5000 / (0.499 - 0.2994));
	/* thread 2: 501 ms to 1 s; its first interval holds 99% of its 60 */
	assert_rate(a.threads[1].rate_per_s, 5000 / (0.499 - 0.2994));
	analysis_free(&a);
	unlink(paths[0]);
}

/* nthreads threads each recording rec_ms, busy busy_ms (0: not read) and
 * running ran_ms of it (0: not read) of every 100 ms interval: the run's
 * recording time is want_ms of each, and each thread's estimate is kept
 * whole. */
static void check_run_rec_ran(uint32_t nthreads, uint64_t rec_ms,
			      uint64_t busy_ms, uint64_t ran_ms, uint64_t want_ms)
{
	analysis a;
	struct rec_spec s = rec_busy(nthreads, 1000, rec_ms * MS);
	for (uint32_t t = 0; t < nthreads; t++)
		for (int j = 0; j < REC_SNAPS; j++) {
			s.busy_ns[t][j] = busy_ms * MS;
			s.ran_ns[t][j] = ran_ms * MS;
		}
	load_rec(&a, &s);
	if (a.rec_ns != want_ms * REC_SNAPS * MS)
		fail_msg("%u thread(s) recording %llu ms, busy %llu ms and "
			 "running %llu ms of each 100: the run's %llu ns, "
			 "expected %llu ms",
			 nthreads, (unsigned long long)rec_ms,
			 (unsigned long long)busy_ms, (unsigned long long)ran_ms,
			 (unsigned long long)a.rec_ns,
			 (unsigned long long)(want_ms * REC_SNAPS));
	for (uint32_t t = 0; t < nthreads; t++)
		assert_int_equal(a.threads[t].rec_ns, rec_ms * REC_SNAPS * MS);
	analysis_free(&a);
	unlink(paths[0]);
}

/* The same, the time each ran not read (a version 8 file). */
static void check_run_rec(uint32_t nthreads, uint64_t rec_ms, uint64_t busy_ms,
			  uint64_t want_ms)
{
	check_run_rec_ran(nthreads, rec_ms, busy_ms, 0, want_ms);
}

/* A thread that did not run all of an interval (it slept to a deadline,
 * or waited for input) waits less instead of running longer: its
 * recording lengthened the run only by what the time it was not busy
 * could not take, and never by more than the time it was busy. A busy
 * time of 0 was not read: as if busy throughout. */
static void test_recording_of_waiting_threads(void **state)
{
	(void)state;
	static const struct {
		uint64_t rec_ms, busy_ms, run_rec_ms;
	} cases[] = {
		{ 30, 40, 0 },   /* 60 ms idle takes all 30 */
		{ 30, 70, 0 },   /* 30 idle: just all */
		{ 30, 71, 1 },   /* 29 idle: 1 ms left */
		{ 30, 80, 10 },
		{ 90, 50, 0 },   /* no more than the 50 it was busy, 50 idle */
		{ 60, 100, 60 }, /* busy throughout */
		{ 60, 0, 60 },   /* not read */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_run_rec(1, cases[i].rec_ms, cases[i].busy_ms,
			      cases[i].run_rec_ms);
}

/* Threads that take turns (a lock, Python's GIL): each is busy half of
 * each interval and waits the rest for the other, which records. On its
 * own, each one's recording fits in its wait; as one timeline of work,
 * the process was busy throughout, and recorded both halves' worth: the
 * sum. Two threads busy throughout, side by side: their parallelism
 * shares the sum out, the most of one (test_recording_threads); busy 75%
 * each, recording 30 ms: 60 ms over 1.5. */
static void test_recording_threads_taking_turns(void **state)
{
	(void)state;
	static const struct {
		uint64_t busy_ms, rec_ms, run_rec_ms;
	} cases[] = {
		{ 50, 25, 50 },  /* one timeline, fully busy: 25 + 25 */
		{ 40, 25, 30 },  /* 20 ms nobody was busy: 50 - 20 */
		{ 25, 25, 0 },   /* half the interval idle: it takes all 50 */
		{ 75, 30, 40 },  /* 1.5 at once: 60 / 1.5 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_run_rec(2, cases[i].rec_ms, cases[i].busy_ms,
			      cases[i].run_rec_ms);
}

/* A process that waits for its child (make, a shell) is not idle: its
 * recording only put the child off. One thread recording 30 ms and busy
 * 40 ms of each 100 ms: on its own, its 60 ms idle takes all 30 (the run's
 * recording 0); with a child (ppid its pid) running from 500 ms for
 * 500 ms, the last five intervals keep their 30 (150 ms), and the
 * thread's rate takes them out too; a process of another parent, or one
 * that started after the process ended (its id was another's), changes
 * nothing. Children's spans count once where they overlap, each where
 * they do not, and in each interval they cross: two in the first 40 ms
 * of interval 5 leave it 20 ms idle, 10 of its 30 kept. */
static void test_recording_of_a_waiting_parent(void **state)
{
	(void)state;
	static const struct {
		struct { uint64_t pid, ppid, from, len; } kid[2];
		uint64_t run_rec_ms;
	} cases[] = {
		{ { { 101, 100, 500, 500 } }, 150 }, /* its child */
		{ { { 101, 99, 500, 500 } }, 0 },    /* another's */
		{ { { 100, 100, 500, 500 } }, 0 },   /* itself, again */
		{ { { 101, 100, 1001, 500 } }, 0 },  /* started after it ended */
		/* 550..580 and 560..590: 40 ms, not 60 */
		{ { { 101, 100, 550, 30 }, { 102, 100, 560, 30 } }, 10 },
		/* 510..530 and 560..580, apart: 40 ms */
		{ { { 101, 100, 510, 20 }, { 102, 100, 560, 20 } }, 10 },
		/* 550..650: 50 ms of intervals 5 and 6 each */
		{ { { 101, 100, 550, 100 } }, 40 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		analysis a;
		struct rec_spec s = rec_busy(1, 1000, 30 * MS);
		for (int j = 0; j < REC_SNAPS; j++)
			s.busy_ns[0][j] = 40 * MS;
		const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		int n = 1;
		free(paths[0]);
		paths[0] = xasprintf("%s/test_model.%d.par.pscout", tmp,
				     (int)getpid());
		write_rec_profile(paths[0], &s);
		for (int k = 0; k < 2 && cases[i].kid[k].pid; k++, n++) {
			free(paths[n]);
			paths[n] = xasprintf("%s/test_model.%d.kid%d.pscout", tmp,
					     (int)getpid(), k);
			write_span_profile(paths[n], cases[i].kid[k].pid,
					   cases[i].kid[k].ppid,
					   cases[i].kid[k].from * MS,
					   cases[i].kid[k].len * MS);
		}
		assert_int_equal(analysis_load(&a, paths, n, NULL), 0);
		if (a.rec_ns != cases[i].run_rec_ms * MS)
			fail_msg("case %zu: the run's recording %llu ns, expected "
				 "%llu ms", i, (unsigned long long)a.rec_ns,
				 (unsigned long long)cases[i].run_rec_ms);
		/* the thread's window, 1 ms to 1 s: less what was kept */
		const an_thread *t = NULL;
		for (size_t k = 0; k < a.nthreads; k++)
			if (a.threads[k].allocs)
				t = &a.threads[k];
		assert_non_null(t);
		assert_rate(t->rate_per_s,
			    10000 / (0.999 - cases[i].run_rec_ms / 1000.0));
		analysis_free(&a);
		for (int k = 0; k < n; k++)
			unlink(paths[k]);
	}
	/* two threads taking turns, each busy 40 ms and recording 20 of
	 * every 100: as one timeline 40 less the 20 nobody was busy, 20 an
	 * interval; with a child running all along, nothing is idle: 40 */
	for (int with_child = 0; with_child < 2; with_child++) {
		analysis a;
		struct rec_spec s = rec_busy(2, 1000, 20 * MS);
		for (int t = 0; t < 2; t++)
			for (int j = 0; j < REC_SNAPS; j++)
				s.busy_ns[t][j] = 40 * MS;
		write_rec_profile(paths[0], &s);
		write_span_profile(paths[1], 101, with_child ? 100 : 99, 0,
				   1000 * MS);
		assert_int_equal(analysis_load(&a, paths, 2, NULL), 0);
		assert_int_equal(a.rec_ns, (with_child ? 400 : 200) * MS);
		analysis_free(&a);
		unlink(paths[0]);
		unlink(paths[1]);
	}
}

/* The threads' parallelism is the time they ran, not the time they were
 * busy: two threads on one CPU (or taking turns on a lock, each woken to
 * wait in the run queue) are each busy throughout and each run half of
 * it, one timeline: their recording's sum, not shared out as if side by
 * side. A time ran more than the busy time counts as the busy time; one
 * not read (0) as the busy time (a version 8 file). */
static void test_recording_threads_sharing_a_cpu(void **state)
{
	(void)state;
	static const struct {
		uint64_t busy_ms, ran_ms, rec_ms, run_rec_ms;
	} cases[] = {
		{ 100, 50, 30, 60 },  /* one CPU between them: 30 + 30 */
		{ 100, 60, 30, 50 },  /* 1.2 at once: 60 / 1.2 */
		{ 100, 75, 30, 40 },  /* 1.5 at once: 60 / 1.5 */
		{ 100, 100, 30, 30 }, /* side by side: the most of one */
		{ 100, 0, 30, 30 },   /* not read: as busy, side by side */
		{ 60, 90, 30, 50 },   /* ran more than busy: as busy, 1.2 at
				       * once: 60 / 1.2 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_run_rec_ran(2, cases[i].rec_ms, cases[i].busy_ms,
				  cases[i].ran_ms, cases[i].run_rec_ms);
}

/* An interval's recording time counts up to 99% of it (an estimate may
 * say more); the program's own time in a span at least 1% of it. The
 * header names the recording's time from 1% of the run. */
static void test_recording_bounds(void **state)
{
	(void)state;
	analysis a;
	static const uint64_t in_first[] = { 99 * MS + 1, 99 * MS, 99 * MS - 1 };
	static const uint64_t run_rec[] = { 99 * MS, 99 * MS, 99 * MS - 1 };
	for (int i = 0; i < 3; i++) {
		struct rec_spec s = rec_busy(1, 1000, 0);
		s.rec_ns[0][0] = in_first[i];
		load_rec(&a, &s);
		assert_int_equal(a.rec_ns, run_rec[i]);
		analysis_free(&a);
	}
	/* the thread's own: 99.5 ms of each 100 leave 4.99 ms of its 999,
	 * less than 1% of them: 9.99 ms */
	struct rec_spec s = rec_busy(1, 1000, 99500000);
	load_rec(&a, &s);
	assert_rate(a.threads[0].rate_per_s, 10000 / 0.00999);
	analysis_free(&a);

	static const struct {
		uint64_t rec_ns;
		int shown;
	} header[] = { { 10 * MS, 1 }, { 10 * MS - 1, 0 } };
	for (int i = 0; i < 2; i++) {
		s = rec_busy(1, 1000, 0);
		s.rec_ns[0][4] = header[i].rec_ns;
		load_rec(&a, &s);
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);
		report_header(&a, out);
		fclose(out);
		if ((strstr(text, "RECORDING:") != NULL) != header[i].shown)
			fail_msg("%llu ns of a 1 s run: header %s",
				 (unsigned long long)header[i].rec_ns, text);
		free(text);
		analysis_free(&a);
	}
	unlink(paths[0]);
}

/* Runs `poolscout top --json --INDEX` (cmd_top) on the file at path and
 * returns the row of function fn's "flat" and "flat_error95". */
static void top_row(const char *path, const char *index, const char *fn,
		    uint64_t *flat, double *err)
{
	char out[256], opt[64], want[64];
	snprintf(out, sizeof out, "%s.top", path);
	snprintf(opt, sizeof opt, "--%s", index);
	char *argv[] = { "top", "--json", opt, (char *)path, NULL };
	fflush(stdout);
	int saved = dup(1);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 1);
	close(fd);
	int rc = cmd_top(4, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	assert_int_equal(rc, 0);
	FILE *f = fopen(out, "r");
	assert_non_null(f);
	static char text[1 << 14];
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = 0;
	fclose(f);
	unlink(out);
	snprintf(want, sizeof want, "\"function\": \"%s\"", fn);
	const char *row = strstr(text, want);
	if (!row)
		fail_msg("top --%s: no row %s in:\n%s", index, fn, text);
	const char *fl = strstr(row, "\"flat\": ");
	const char *er = strstr(row, "\"flat_error95\": ");
	if (!fl || !er)
		fail_msg("top --%s: no flat or flat_error95 in:\n%s", index, row);
	*flat = strtoull(fl + strlen("\"flat\": "), NULL, 10);
	*err = strtod(er + strlen("\"flat_error95\": "), NULL);
}

/* Sampled 1 in 4, each recorded block stands for 4: a stack that made
 * 100 recorded blocks of 16 B and freed none estimates 400 blocks,
 * 6400 B, allocated and in use alike. A count's estimate has variance
 * n (k - 1) (400 x 3): 95% error 1.96 sqrt(1200) for alloc_objects and
 * inuse_objects, live blocks or not; a byte estimate's is the count's
 * times the mean block size, 16: 1.96 sqrt(6400 x 16 x 3) for
 * alloc_space and inuse_space. */
static void test_top_sampled_error(void **state)
{
	(void)state;
	static const struct {
		const char *index;
		uint64_t flat;
		double var;
	} cases[] = {
		{ "alloc_objects", 400, 400.0 * 3 },
		{ "inuse_objects", 400, 400.0 * 3 },
		{ "alloc_space", 6400, 6400.0 * 16 * 3 },
		{ "inuse_space", 6400, 6400.0 * 16 * 3 },
	};
	analysis a;
	struct spec s = base();
	s.sample_every = 4;
	s.e[0].allocs = 100;
	s.e[0].frees = 0;
	s.e[0].peak = 100;
	s.e[0].free_ms = 0;
	s.e[0].life_count[0] = 0;
	load(&a, &s, 1);
	assert_int_equal(a.sample_every, 4);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint64_t flat;
		double err, want = AN_Z95 * sqrt(cases[i].var);
		top_row(paths[0], cases[i].index, "0x1000", &flat, &err);
		if (flat != cases[i].flat || fabs(err - want) > 1e-4 * want)
			fail_msg("top --%s: flat %llu +- %g, expected %llu +- %g",
				 cases[i].index, (unsigned long long)flat, err,
				 (unsigned long long)cases[i].flat, want);
	}
	done(&a, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifetime_intervals),
		cmocka_unit_test(test_percentile_rank),
		cmocka_unit_test(test_peak_windows),
		cmocka_unit_test(test_thread_peak_from_entries),
		cmocka_unit_test(test_thread_peak_bytes_version1),
		cmocka_unit_test(test_site_peak_bytes),
		cmocka_unit_test(test_process_peak_from_its_node),
		cmocka_unit_test(test_node_peaks),
		cmocka_unit_test(test_rates_and_merged_run),
		cmocka_unit_test(test_same_frames_apart),
		cmocka_unit_test(test_hostile_times),
		cmocka_unit_test(test_few_lifetimes),
		cmocka_unit_test(test_chains),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_label_fit),
		cmocka_unit_test(test_peak_windows_touching_reversed),
		cmocka_unit_test(test_frame_label_address),
		cmocka_unit_test(test_tick_edges),
		cmocka_unit_test(test_label_fit_wrapper_as_wide),
		cmocka_unit_test(test_thread_window_skips_empty_entry),
		cmocka_unit_test(test_rates_over_own_time),
		cmocka_unit_test(test_recording_threads),
		cmocka_unit_test(test_recording_bounds),
		cmocka_unit_test(test_recording_of_waiting_threads),
		cmocka_unit_test(test_recording_threads_taking_turns),
		cmocka_unit_test(test_recording_threads_sharing_a_cpu),
		cmocka_unit_test(test_recording_of_a_waiting_parent),
		cmocka_unit_test(test_top_sampled_error),
	};
	int rc = cmocka_run_group_tests_name("metrics model", tests, NULL, NULL);
	for (int i = 0; i < 4; i++)
		free(paths[i]);
	return rc;
}
