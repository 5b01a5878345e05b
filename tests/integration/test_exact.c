/* test_exact.c - exact counts: programs with known allocations per site
 * and per thread, run under `poolscout record` (on glibc malloc and on
 * tcmalloc), must give exactly those counts, live-at-end included; and so
 * must hundreds of short-lived threads whose blocks other threads free
 * after they ended (the preload retires ended threads meanwhile). */
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

#define WORKERS 3
#define TCMALLOC "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"

static void check_exact(analysis *a)
{
	struct site_sum s;
	s = sum_function(a, "small_objects");
	assert_int_equal(s.allocs, WORKERS * 1000);
	assert_int_equal(s.alloc_bytes, WORKERS * 1000 * 32);
	assert_int_equal(s.frees, WORKERS * 1000);
	assert_int_equal(s.inuse, 0);

	s = sum_function(a, "zeroed_arrays");
	assert_int_equal(s.allocs, WORKERS * 500);
	assert_int_equal(s.alloc_bytes, WORKERS * 500 * 80);
	assert_int_equal(s.inuse, 0);

	s = sum_function(a, "aligned_blocks");
	assert_int_equal(s.sites, 5); /* five call lines */
	assert_int_equal(s.allocs, WORKERS * 100 * 5);
	assert_int_equal(s.frees, WORKERS * 100 * 5);

	/* realloc: one allocation of the new size + one free of the old */
	s = sum_function(a, "chain_start");
	assert_int_equal(s.allocs, WORKERS * 10);
	assert_int_equal(s.frees, WORKERS * 10);
	s = sum_function(a, "grow_chain");
	assert_int_equal(s.allocs, WORKERS * 10 * 5);
	assert_int_equal(s.realloc_grows, WORKERS * 10 * 5);
	assert_int_equal(s.alloc_bytes, WORKERS * 10 * (16 + 32 + 64 + 128 + 256));
	assert_int_equal(s.inuse, 0);

	s = sum_function(a, "grow_array");
	assert_int_equal(s.allocs, WORKERS * 40);
	assert_int_equal(s.alloc_bytes, WORKERS * 40 * 64);

	s = sum_function(a, "keep_blocks");
	assert_int_equal(s.allocs, WORKERS * 7);
	assert_int_equal(s.inuse, WORKERS * 7);
	assert_int_equal(s.frees, 0);

	s = sum_function(a, "main_blocks");
	assert_int_equal(s.allocs, 123);
	assert_int_equal(s.inuse, 23);

	s = sum_function(a, "handoff_blocks");
	assert_int_equal(s.allocs, 40);
	assert_int_equal(s.frees, 40);
	assert_int_equal(s.xfrees, 40);
	assert_int_equal(s.peak_live, 40);
}

static void check_threads(analysis *a)
{
	const pf_file *f = a->set->files[0];
	int workers = 0;
	for (size_t t = 0; t < f->nthreads; t++) {
		const pf_thread *th = f->threads[t];
		if (!th)
			continue;
		uint64_t n = thread_function_allocs(a, f, th->tid, "small_objects");
		if (th->tid == f->pid) {
			assert_int_equal(n, 0);
			assert_int_equal(thread_function_allocs(a, f, th->tid,
								"main_blocks"),
					 123);
		} else if (n) {
			assert_int_equal(n, 1000);
			assert_int_equal(thread_function_allocs(a, f, th->tid,
								"keep_blocks"),
					 7);
			workers++;
		}
	}
	assert_int_equal(workers, WORKERS);
}

/* Records prog (under build/tests) and loads its one profile into a;
 * returns the directory to remove with done(). */
static char *record_one(const char *prog, const char *preload_under,
			analysis *a)
{
	char *dir = fresh_dir(prog);
	assert_int_equal(run("%s%s/poolscout record -o %s -- %s/tests/%s "
			     ">/dev/null 2>%s/stderr",
			     preload_under, build_dir(), dir, build_dir(), prog,
			     dir),
			 0);
	assert_int_equal(load_dir(a, dir, NULL), 1);
	return dir;
}

static void run_exact(const char *preload_under)
{
	analysis a;
	char *dir = record_one("exact", preload_under, &a);
	assert_true(a.set->files[0]->complete);
	check_exact(&a);
	check_threads(&a);
	done(&a, dir);
}

static void test_exact_glibc(void **state)
{
	(void)state;
	run_exact("");
}

static void test_exact_tcmalloc(void **state)
{
	(void)state;
	if (run("test -r " TCMALLOC))
		skip_because("exact/tcmalloc", "%s not found (package "
			     "libgoogle-perftools4, from mk/deps.sh test)",
			     TCMALLOC);
	run_exact("LD_PRELOAD=" TCMALLOC " ");
}

static void test_cxx(void **state)
{
	(void)state;
	analysis a;
	char *dir = record_one("cxx_objects", "", &a);
	struct site_sum s = sum_function(&a, "make_widgets");
	assert_int_equal(s.allocs, 1000);
	assert_int_equal(s.alloc_bytes, 1000 * 48);
	assert_int_equal(s.inuse, 0);
	s = sum_function(&a, "make_arrays");
	assert_int_equal(s.allocs, 500);
	assert_int_equal(s.alloc_bytes, 500 * 64);
	/* vector growth: capacities 1, 2, 4, ..., 1024 */
	s = sum_function(&a, "fill_vector");
	assert_int_equal(s.allocs, 11);
	assert_int_equal(s.inuse, 0);
	/* a function with a mangled linkage name, demangled */
	s = sum_function(&a, "shop::restock(int)");
	assert_int_equal(s.allocs, 300);
	assert_int_equal(s.alloc_bytes, 300 * 48);
	/* no site is operator new or a std:: internal */
	assert_int_equal(sum_function(&a, "operator new(unsigned long)").allocs, 0);
	/* a call of operator new needs no "via"; the vector's growth
	 * names the container's function the site called */
	for (size_t i = 0; i < a.nsites; i++) {
		const an_site *site = &a.sites[i];
		if (!strcmp(site->where.function, "make_widgets") ||
		    !strcmp(site->where.function, "make_arrays"))
			assert_null(site->via_runtime);
		if (!strcmp(site->where.function, "fill_vector") &&
		    (!site->via_runtime ||
		     strncmp(site->via_runtime, "std::vector<int", 15)))
			fail_msg("fill_vector via %s", site->via_runtime
							   ? site->via_runtime
							   : "nothing");
	}
	done(&a, dir);
}

static void test_planted(void **state)
{
	(void)state;
	analysis a;
	char *dir = record_one("planted", "", &a);
	rank_sites(&a);
	/* the program's own count of messages alive at once */
	int own_peak = -1;
	char *err_path = xasprintf("%s/stderr", dir);
	FILE *err = fopen(err_path, "r");
	char line[256];
	while (err && fgets(line, sizeof line, err))
		sscanf(line, "planted: peak messages %d", &own_peak);
	if (err)
		fclose(err);
	free(err_path);
	assert_true(own_peak >= 1 && own_peak <= 66);
	const an_site *top = &a.sites[a.ranked[0]];
	assert_string_equal(top->where.function, "handle_request");
	assert_int_equal(top->remedy, REMEDY_POOL);
	assert_int_equal(top->pool_size, 8);
	assert_int_equal(top->allocs, 200000);
	assert_true(top->xfree_ratio == 0.0);
	for (size_t i = 0; i < a.nsites; i++) {
		const an_site *s = &a.sites[i];
		const char *fn = s->where.function;
		if (!strcmp(fn, "parse_token")) {
			assert_int_equal(s->remedy, REMEDY_STACK);
			assert_int_equal(s->allocs, 100000);
			assert_int_equal(s->lifetimes, 100000);
			assert_int_equal(s->chains_ended, 0);
		} else if (!strcmp(fn, "start_buffer")) {
			/* the chains' first blocks: realloc'd, never freed
			 * as such: no chain ends here */
			assert_int_equal(s->allocs, 4000);
			assert_int_equal(s->lifetimes, 4000);
			assert_int_equal(s->chains_ended, 0);
			assert_int_equal(s->realloc_grows, 0);
		} else if (!strcmp(fn, "handle_request")) {
			assert_int_equal(s->lifetimes, 200000);
			assert_int_equal(s->chains_ended, 0);
			assert_int_equal(s->chain_steps_sum, 0);
		} else if (!strcmp(fn, "append_bytes")) {
			assert_int_equal(s->remedy, REMEDY_PRESIZE);
			assert_int_equal(s->realloc_grows, 4000 * 15);
			assert_int_equal(s->chain_steps_max, 15);
			assert_int_equal(s->reserve_bytes, 32768);
			/* 4000 chains of 15 steps end in free(): each counted
			 * once, when it ends, not at every realloc */
			assert_int_equal(s->chains_ended, 4000);
			assert_int_equal(s->chain_steps_sum, 4000 * 15);
			assert_int_equal(s->chain_final_size_max, 32768);
			/* every block dies: 14 of each chain's 15 by realloc */
			assert_int_equal(s->lifetimes, 4000 * 15);
			assert_int_equal(s->allocs, 4000 * 15);
			assert_int_equal(s->alloc_bytes, 4000 * (65536 - 2));
		} else if (!strcmp(fn, "load_table") && s->allocs == 2000) {
			assert_int_equal(s->remedy, REMEDY_NONE);
			assert_int_equal(s->allocs - s->frees, 2000);
		} else if (!strcmp(fn, "produce_message")) {
			assert_int_equal(s->remedy, REMEDY_POOL);
			assert_int_equal(s->allocs, 50000);
			assert_true(s->xfree_ratio == 1.0);
			/* freed by the consumer: their lifetimes count too,
			 * and a message lives a queue hop, never 0 */
			assert_int_equal(s->lifetimes, 50000);
			assert_true(s->lifetime_p50.lo_ns > 0);
			/* equal to the program's own count but for the one
			 * free the consumer may have in flight */
			assert_true((int)s->peak.hi >= own_peak - 1 &&
				    (int)s->peak.hi <= own_peak + 1);
		}
	}
	done(&a, dir);
}

/* Allocations, frees and cross-thread frees of the blocks thread tid of f
 * allocated from the functions fns (NULL-terminated). */
static void thread_counts(const analysis *a, const pf_file *f, uint32_t tid,
			  const char *const *fns, uint64_t out[3])
{
	out[0] = out[1] = out[2] = 0;
	const pf_thread *th = NULL;
	for (size_t t = 0; t < f->nthreads && !th; t++)
		if (f->threads[t] && f->threads[t]->tid == tid)
			th = f->threads[t];
	if (!th)
		return;
	for (size_t i = 0; i < a->nstacks; i++) {
		const an_stack *st = &a->stacks[i];
		int ours = 0;
		for (const char *const *fn = fns; *fn; fn++)
			ours |= st->file == f &&
				!strcmp(a->sites[st->site].where.function, *fn);
		const pf_entry *e = ours ? pf_entry_find(f, th->index, st->stack->id)
					 : NULL;
		if (e) {
			out[0] += e->allocs;
			out[1] += e->frees;
			out[2] += e->xfrees;
		}
	}
}

/* 30 waves of 16 threads; after each wave the writer (every 5 ms) has
 * time to retire them while the main thread and the next wave still hold
 * blocks of theirs to free. Every count, per site and per thread, is the
 * program's own. */
static void test_thread_churn(void **state)
{
	(void)state;
	analysis a;
	char *dir = fresh_dir("thread_churn");
	assert_int_equal(run("%s/poolscout record --interval 5 -o %s -- "
			     "%s/tests/thread_churn 30 16 25 >/dev/null 2>%s/stderr",
			     build_dir(), dir, build_dir(), dir),
			 0);
	assert_int_equal(load_dir(&a, dir, NULL), 1);
	const pf_file *f = a.set->files[0];
	assert_true(f->complete);
	char *path = xasprintf("%s/stderr", dir);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	char line[256], site[64];
	unsigned long long n[4];
	int tid, sites = 0, threads = 0;
	static const char *const churn_fns[] = { "churn_own", "churn_handed",
						 "churn_kept", NULL };
	while (fgets(line, sizeof line, in)) {
		if (sscanf(line, "truth thread %d allocs %llu frees %llu xfrees %llu",
			   &tid, &n[0], &n[1], &n[2]) == 4) {
			uint64_t got[3];
			thread_counts(&a, f, (uint32_t)tid, churn_fns, got);
			if (got[0] != n[0] || got[1] != n[1] || got[2] != n[2])
				fail_msg("thread %d: %llu allocs, %llu frees, %llu by "
					 "others; the program says %llu, %llu, %llu",
					 tid, (unsigned long long)got[0],
					 (unsigned long long)got[1],
					 (unsigned long long)got[2], n[0], n[1], n[2]);
			threads++;
		} else if (sscanf(line, "truth %63s allocs %llu frees %llu xfrees "
					"%llu inuse %llu",
				  site, &n[0], &n[1], &n[2], &n[3]) == 5) {
			struct site_sum s = sum_function(&a, site);
			if (s.allocs != n[0] || s.frees != n[1] || s.xfrees != n[2] ||
			    s.inuse != n[3])
				fail_msg("%s: %llu allocs, %llu frees, %llu by others, "
					 "%llu in use; the program says %llu, %llu, "
					 "%llu, %llu", site,
					 (unsigned long long)s.allocs,
					 (unsigned long long)s.frees,
					 (unsigned long long)s.xfrees,
					 (unsigned long long)s.inuse, n[0], n[1], n[2],
					 n[3]);
			sites++;
		}
	}
	fclose(in);
	free(path);
	assert_int_equal(sites, 3);
	assert_int_equal(threads, 30 * 16);
	done(&a, dir);
}

/* The value of "truth KEY N" in dir/stderr. */
static int truth_in(const char *dir, const char *key)
{
	char *path = xasprintf("%s/stderr", dir), line[256], k[64];
	FILE *f = fopen(path, "r");
	int v, found = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "truth %63s %d", k, &v) == 2 && !strcmp(k, key))
			found = v;
	if (f)
		fclose(f);
	free(path);
	if (found < 0)
		fail_msg("the program printed no truth %s", key);
	return found;
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = s ? strlen(s) : 0, k = strlen(tail);
	return n >= k && !strcmp(s + n - k, tail);
}

/* Names and lines the program knows: an inlined helper is the site (at
 * its malloc's line) and its caller the next frame at the line of the
 * call; a function compiled without -g has its name and no line. */
static void test_symbols(void **state)
{
	(void)state;
	analysis a;
	char *dir = record_one("symbols", "", &a);
	const an_site *s = only_site(&a, "inline_helper");
	assert_int_equal(s->allocs, 300);
	assert_true(ends_with(s->where.file, "tests/progs/symbols.c"));
	assert_int_equal(s->where.line, truth_in(dir, "helper_line"));
	assert_true(s->where.inlined);
	assert_true(s->nstacks >= 1);
	for (size_t i = 0; i < s->nstacks; i++) {
		const an_stack *st = &a.stacks[s->stacks[i]];
		assert_true(st->nframes >= 2);
		assert_string_equal(st->frames[1]->function, "via_inline");
		assert_true(ends_with(st->frames[1]->file, "tests/progs/symbols.c"));
		assert_int_equal(st->frames[1]->line, truth_in(dir, "call_line"));
		assert_false(st->frames[1]->inlined);
	}
	s = only_site(&a, "nodebug_block");
	assert_int_equal(s->allocs, 200);
	assert_int_equal(s->alloc_bytes, 200 * 40);
	assert_null(s->where.file);
	assert_int_equal(s->where.line, 0);
	assert_true(s->where.symbolized);
	done(&a, dir);
}

/* Allocations and frees of the stacks of a that pass through function
 * fn (anywhere in the stack). */
static void through_function(const analysis *a, const char *fn,
			     uint64_t *allocs, uint64_t *frees)
{
	*allocs = *frees = 0;
	for (size_t i = 0; i < a->nstacks; i++) {
		const an_stack *st = &a->stacks[i];
		for (unsigned k = 0; k < st->nall; k++)
			if (!strcmp(st->all[k]->function, fn)) {
				*allocs += st->allocs;
				*frees += st->frees;
				break;
			}
	}
}

/* Call paths that look the same from the allocation (same leaf, same
 * depth, same frames for eight levels) and differ further out, taken in
 * alternation by three threads: each allocation must be charged to its
 * own path, as the program counted. What fails if a capture or entry
 * were reused for a stack that only looks unchanged. */
static void test_same_depth_paths(void **state)
{
	(void)state;
	analysis a;
	char *dir = record_one("same_depth", "", &a);
	assert_true(a.set->files[0]->complete);
	char *path = xasprintf("%s/stderr", dir);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	char line[256], fn[64];
	unsigned long long want;
	int paths = 0;
	uint64_t total = 0;
	while (fgets(line, sizeof line, in)) {
		if (sscanf(line, "truth %63s allocs %llu", fn, &want) != 2)
			continue;
		uint64_t allocs, frees;
		through_function(&a, fn, &allocs, &frees);
		if (allocs != want || frees != want)
			fail_msg("%s: %llu allocs, %llu frees; the program says "
				 "%llu of each", fn, (unsigned long long)allocs,
				 (unsigned long long)frees, want);
		if (!strncmp(fn, "path_", 5))
			total += want;
		paths++;
	}
	fclose(in);
	free(path);
	assert_int_equal(paths, 4);
	assert_true(total > 0);
	assert_int_equal(sum_function(&a, "leaf").allocs, total);
	done(&a, dir);
}

/* The peak of the one stack of the sites of function fn (the stacks'
 * own peaks, not the sites'); fails when fn has not exactly one. */
static an_peak stack_peak(const analysis *a, const char *fn)
{
	an_peak p = { 0, 0, 0, 0 };
	int n = 0;
	for (size_t i = 0; i < a->nstacks; i++) {
		const an_stack *st = &a->stacks[i];
		if (strcmp(a->sites[st->site].where.function, fn))
			continue;
		p = st->peak;
		n++;
	}
	if (n != 1)
		fail_msg("%s: %d stacks, expected one", fn, n);
	return p;
}

/* The size histogram of the sites of function fn, summed, against the
 * program's own sizes: want[i] blocks of size sizes[i] (distinct log2
 * buckets), none elsewhere; and how many of their frees have a lifetime. */
static void check_sizes(const analysis *a, const char *fn, int n,
			const uint64_t *sizes, const uint64_t *want,
			uint64_t lifetimes)
{
	uint64_t got[PS_HIST_BUCKETS] = { 0 }, expect[PS_HIST_BUCKETS] = { 0 };
	uint64_t measured = 0;
	for (size_t i = 0; i < a->nsites; i++) {
		const an_site *site = &a->sites[i];
		if (strcmp(site->where.function, fn))
			continue;
		for (unsigned b = 0; b < PS_HIST_BUCKETS; b++)
			got[b] += site->size_hist[b];
		measured += site->lifetimes;
	}
	for (int i = 0; i < n; i++)
		expect[ps_hist_bucket(sizes[i])] += want[i];
	for (unsigned b = 0; b < PS_HIST_BUCKETS; b++) {
		if (got[b] != expect[b])
			print_error("%s: bucket from %llu\n", fn,
				    (unsigned long long)ps_hist_bucket_low(b));
		assert_int_equal(got[b], expect[b]);
	}
	assert_int_equal(measured, lifetimes);
}

/* Sizes and lifetimes per site, as exact.c made them: one size per site
 * (the entries keep only the smallest), several sizes at one site
 * (grow_chain's reallocs: a histogram of their own), blocks freed by
 * another thread (handoff_blocks), blocks still live at exit (no
 * lifetime). */
static void test_histograms(void **state)
{
	(void)state;
	analysis a;
	char *dir = record_one("exact", "", &a);
	check_sizes(&a, "small_objects", 1, (uint64_t[]){ 32 },
		    (uint64_t[]){ WORKERS * 1000 }, WORKERS * 1000);
	check_sizes(&a, "aligned_blocks", 4, (uint64_t[]){ 100, 256, 48, 10 },
		    (uint64_t[]){ WORKERS * 100, WORKERS * 100, WORKERS * 100,
				  2 * WORKERS * 100 },
		    WORKERS * 100 * 5);
	check_sizes(&a, "grow_chain", 5, (uint64_t[]){ 16, 32, 64, 128, 256 },
		    (uint64_t[]){ WORKERS * 10, WORKERS * 10, WORKERS * 10,
				  WORKERS * 10, WORKERS * 10 },
		    WORKERS * 10 * 5);
	check_sizes(&a, "main_blocks", 1, (uint64_t[]){ 77 },
		    (uint64_t[]){ 123 }, 100);
	check_sizes(&a, "handoff_blocks", 1, (uint64_t[]){ 64 },
		    (uint64_t[]){ 40 }, 40);
	check_sizes(&a, "keep_blocks", 1, (uint64_t[]){ 1000 },
		    (uint64_t[]){ WORKERS * 7 }, 0);
	/* the stacks' own peaks: main_blocks keeps 23 and frees each other
	 * one before the next (24 at once), handoff_blocks' 40 all live */
	an_peak p = stack_peak(&a, "main_blocks");
	assert_int_equal(p.lo, 24);
	assert_int_equal(p.hi, 24);
	assert_int_equal(p.bytes_hi, 24 * 77);
	p = stack_peak(&a, "handoff_blocks");
	assert_int_equal(p.hi, 40);
	assert_int_equal(p.bytes_hi, 40 * 64);
	done(&a, dir);
}

/* Request sizes against the program's own (tests/progs/sizes.c): per
 * function, the smallest and largest request, the bytes, and the size
 * histogram, bucket by bucket, over both threads' entries: several sizes
 * in one bucket (the histogram is then implied by the smallest), sizes 0
 * and 1, a second bucket after many of one, the smallest size last. */
static void test_size_histograms(void **state)
{
	(void)state;
	analysis a;
	char *dir = record_one("sizes", "", &a);
	char *path = xasprintf("%s/stderr", dir);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	char line[256], fn[64];
	unsigned long long min, max, bytes, low, count;
	int functions = 0, buckets = 0;
	while (fgets(line, sizeof line, in)) {
		if (sscanf(line, "size %63s min %llu max %llu bytes %llu", fn,
			   &min, &max, &bytes) == 4) {
			uint64_t got_min = UINT64_MAX, got_max = 0, got_bytes = 0;
			uint64_t total[PS_HIST_BUCKETS] = { 0 };
			for (size_t i = 0; i < a.nsites; i++) {
				const an_site *site = &a.sites[i];
				if (strcmp(site->where.function, fn))
					continue;
				if (site->size_min < got_min)
					got_min = site->size_min;
				if (site->size_max > got_max)
					got_max = site->size_max;
				got_bytes += site->alloc_bytes;
				for (unsigned b = 0; b < PS_HIST_BUCKETS; b++)
					total[b] += site->size_hist[b];
			}
			if (got_min != min || got_max != max || got_bytes != bytes)
				print_error("%s: min %llu max %llu bytes %llu\n",
					    fn, (unsigned long long)got_min,
					    (unsigned long long)got_max,
					    (unsigned long long)got_bytes);
			assert_int_equal(got_min, min);
			assert_int_equal(got_max, max);
			assert_int_equal(got_bytes, bytes);
			/* every bucket the program did not list is empty */
			uint64_t listed = 0, all = 0;
			for (unsigned b = 0; b < PS_HIST_BUCKETS; b++)
				all += total[b];
			long at = ftell(in);
			while (fgets(line, sizeof line, in) &&
			       sscanf(line, "hist %*s %llu %llu", &low,
				      &count) == 2) {
				unsigned b = ps_hist_bucket(low);
				if (total[b] != count)
					print_error("%s: from %llu: %llu, not "
						    "%llu\n", fn, low,
						    (unsigned long long)total[b],
						    count);
				assert_int_equal(total[b], count);
				listed += count;
				buckets++;
				at = ftell(in);
			}
			fseek(in, at, SEEK_SET);
			assert_int_equal(all, listed);
			functions++;
		}
	}
	fclose(in);
	free(path);
	assert_int_equal(functions, 5);
	assert_int_equal(buckets, 9);
	/* its threads: main and two joined, named as the process is, and
	 * one still waiting at exit, its name emptied (read from /proc) */
	const pf_file *f = a.set->files[0];
	int threads = 0, running = 0;
	for (size_t i = 0; i < f->nthreads; i++) {
		const pf_thread *th = f->threads[i];
		if (!th)
			continue;
		int waiting = !th->ended && !th->end_ns && th->tid != f->pid;
		if (strcmp(th->name, waiting ? "" : "sizes"))
			fail_msg("thread %u is named '%s', not '%s'", th->tid,
				 th->name, waiting ? "" : "sizes");
		threads++;
		running += waiting;
	}
	assert_int_equal(threads, 4);
	assert_int_equal(running, 1);
	/* a stack's own peak, reached after another thread freed ten of its
	 * blocks (they are no longer live) */
	assert_int_equal(stack_peak(&a, "handed_back").hi, 15);
	assert_int_equal(stack_peak(&a, "handed_back").lo, 15);
	assert_int_equal(stack_peak(&a, "handed_back").bytes_hi, 15 * 100);
	done(&a, dir);
}

/* The threads of a churn, as the program made them: every worker joined
 * (so ended, after it started), named as the process is (none names its
 * threads), one record per thread however many the preload recycled; and
 * no free of a block the program did not allocate, nor any thread
 * counted twice. */
static void test_churn_threads(void **state)
{
	(void)state;
	analysis a;
	char *dir = fresh_dir("thread_churn");
	assert_int_equal(run("%s/poolscout record --interval 5 -o %s -- "
			     "%s/tests/thread_churn 6 8 25 >/dev/null 2>%s/stderr",
			     build_dir(), dir, build_dir(), dir),
			 0);
	assert_int_equal(load_dir(&a, dir, NULL), 1);
	const pf_file *f = a.set->files[0];
	assert_true(f->complete);
	int workers = 0, main_seen = 0;
	for (size_t i = 0; i < f->nthreads; i++) {
		const pf_thread *th = f->threads[i];
		if (!th)
			continue;
		if (strcmp(th->name, "thread_churn"))
			fail_msg("thread %u is named '%s', not thread_churn",
				 th->tid, th->name);
		if (th->tid == f->pid) {
			main_seen++;
			continue;
		}
		if (!th->ended || th->end_ns < th->start_ns || !th->end_ns)
			fail_msg("worker %u: ended %d, from %llu to %llu ns", th->tid,
				 th->ended, (unsigned long long)th->start_ns,
				 (unsigned long long)th->end_ns);
		workers++;
	}
	assert_int_equal(main_seen, 1);
	assert_int_equal(workers, 6 * 8);
	assert_int_equal(a.processes[0].unknown_frees, 0);
	done(&a, dir);
}

/* Realloc chains against the program's own account (tests/progs/
 * reallocs.c): per function, allocations, growths, the longest chain,
 * chains ended and their steps and final size, blocks resized (grown, the
 * largest size they grew to) and frees; growths, a realloc to the same
 * size, a shrink then a growth, a realloc to 0, a chain that goes on
 * through a shrink, one still live at exit, and sites that never
 * realloc (malloc's whole family). */
static void test_realloc_chains(void **state)
{
	(void)state;
	analysis a;
	char *dir = record_one("reallocs", "", &a);
	char *path = xasprintf("%s/stderr", dir);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	char line[512], fn[64];
	unsigned long long w[10];
	int functions = 0;
	while (fgets(line, sizeof line, in)) {
		if (sscanf(line, "realloc %63s allocs %llu grows %llu steps_max "
				 "%llu chains %llu steps_sum %llu final_max %llu "
				 "resized %llu grown %llu resized_max %llu frees "
				 "%llu",
			   fn, &w[0], &w[1], &w[2], &w[3], &w[4], &w[5], &w[6],
			   &w[7], &w[8], &w[9]) != 11)
			continue;
		uint64_t g[10] = { 0 };
		for (size_t i = 0; i < a.nsites; i++) {
			const an_site *site = &a.sites[i];
			if (strcmp(site->where.function, fn))
				continue;
			g[0] += site->allocs;
			g[1] += site->realloc_grows;
			if (site->chain_steps_max > g[2])
				g[2] = site->chain_steps_max;
			g[3] += site->chains_ended;
			g[4] += site->chain_steps_sum;
			if (site->chain_final_size_max > g[5])
				g[5] = site->chain_final_size_max;
			g[6] += site->resized;
			g[7] += site->resized_grown;
			if (site->resized_size_max > g[8])
				g[8] = site->resized_size_max;
			g[9] += site->frees;
		}
		static const char *const what[10] = {
			"allocs", "grows", "steps_max", "chains", "steps_sum",
			"final_max", "resized", "grown", "resized_max", "frees"
		};
		for (int k = 0; k < 10; k++)
			if (g[k] != w[k])
				fail_msg("%s: %s %llu, the program says %llu", fn,
					 what[k], (unsigned long long)g[k], w[k]);
		functions++;
	}
	fclose(in);
	free(path);
	assert_int_equal(functions, 14);
	done(&a, dir);
}

/* operator new and delete are no realloc: cxx_objects.cpp never calls
 * realloc (its vector grows by new, copy and delete), so no site of it
 * has a growth, a chain or a resized block, and every block it made was
 * freed but the runtime's own. */
static void test_cxx_no_realloc(void **state)
{
	(void)state;
	analysis a;
	char *dir = record_one("cxx_objects", "", &a);
	for (size_t i = 0; i < a.nsites; i++) {
		const an_site *site = &a.sites[i];
		if (site->realloc_grows || site->chains_ended ||
		    site->chain_steps_max || site->resized)
			fail_msg("%s: %llu growths, %llu chains, %llu resized",
				 site->where.function,
				 (unsigned long long)site->realloc_grows,
				 (unsigned long long)site->chains_ended,
				 (unsigned long long)site->resized);
	}
	assert_int_equal(sum_function(&a, "fill_vector").frees, 11);
	done(&a, dir);
}

/* A fork child frees blocks its parent made before the fork, and grows
 * one with realloc (tests/progs/reallocs.c fork): its profile, a file of
 * its own, counts each as a free of an unknown block, and the realloc's
 * result as a plain allocation, no growth and no chain (the chain began
 * in another profile); the parent's profile has no unknown free. */
static void test_realloc_fork(void **state)
{
	(void)state;
	analysis a;
	char *dir = fresh_dir("reallocs-fork");
	assert_int_equal(run("%s/poolscout record -o %s -- %s/tests/reallocs fork "
			     ">/dev/null 2>%s/stderr",
			     build_dir(), dir, build_dir(), dir),
			 0);
	assert_int_equal(load_dir(&a, dir, NULL), 2);
	uint64_t unknown = (uint64_t)truth_in(dir, "unknown_frees_child");
	assert_true(unknown > 0);
	/* one profile has them all (the child's), the other none */
	uint64_t u0 = a.processes[0].unknown_frees,
		 u1 = a.processes[1].unknown_frees;
	if (!((u0 == unknown && u1 == 0) || (u0 == 0 && u1 == unknown)))
		fail_msg("unknown frees %llu and %llu; the child made %llu",
			 (unsigned long long)u0, (unsigned long long)u1,
			 (unsigned long long)unknown);
	const an_site *site = only_site(&a, "child_regrow");
	assert_int_equal(site->allocs, 1);
	assert_int_equal(site->frees, 1);
	assert_int_equal(site->realloc_grows, 0);
	assert_int_equal(site->chains_ended, 0);
	assert_int_equal(site->chain_steps_sum, 0);
	assert_int_equal(site->resized, 0);
	done(&a, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_glibc),
		cmocka_unit_test(test_exact_tcmalloc),
		cmocka_unit_test(test_cxx),
		cmocka_unit_test(test_planted),
		cmocka_unit_test(test_thread_churn),
		cmocka_unit_test(test_symbols),
		cmocka_unit_test(test_same_depth_paths),
		cmocka_unit_test(test_histograms),
		cmocka_unit_test(test_size_histograms),
		cmocka_unit_test(test_churn_threads),
		cmocka_unit_test(test_realloc_chains),
		cmocka_unit_test(test_cxx_no_realloc),
		cmocka_unit_test(test_realloc_fork),
	};
	return cmocka_run_group_tests_name("exact counts", tests, NULL, NULL);
}
