/* ranking.c - which remedy each site needs, why, what it would save, and
 * the order of the report. docs/ranking.md explains every rule and number
 * here; keep the two in step.
 *
 * The score is the allocator calls per second the remedy would remove.
 * Bytes never raise a score, so a site that is merely big does not rank:
 * long-lived or rare allocations are `none` whatever they hold.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "commands.h"
#include "memory.h"

/* Thresholds (docs/ranking.md, "The rules"). */
#define RARE_ALLOCS 1000       /* fewer allocations than this: none */
#define RARE_RATE 100.0        /* or fewer per second than this: none */
#define RETAINED_RATIO 0.5     /* fewer of them freed than this: none */
#define LONG_LIVED_NS 1e9      /* half of them live longer: none */
#define PRESIZE_SHARE 0.5      /* realloc growth steps among its allocations */
#define PRESIZE_MIN 100
#define STACK_MAX_SIZE 1024    /* tiny ... */
#define STACK_MAX_LIVE 2       /* ... never more than this live per thread */
#define STACK_MAX_P99_NS 100e3 /* ... freed within 100 us */
#define ARENA_SPREAD 16.0      /* size spread (max/min) of arena sites ... */
#define ARENA_MIN_LIVE 64      /* ... with this many live at once */
#define ARENA_PILE_UP 0.25     /* or this share of all of them live at once */
#define SPREAD_WARN 8.0        /* pools with a wider spread get a cap */
#define SHARED_POOL_RATIO 0.1  /* cross-thread frees above: a shared pool */

const char *remedy_name(enum remedy r)
{
	static const char *const names[] = { "pool", "presize", "stack",
					     "arena", "none" };
	return names[r];
}

static void reason(an_site *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reason(an_site *s, const char *fmt, ...)
{
	if (s->nreasons == 6)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reasons[s->nreasons++], sizeof s->reasons[0], fmt, ap);
	va_end(ap);
}

/* The size below which pct of the site's allocations fall (bucket bound). */
static uint64_t size_pct(const an_site *s, double pct)
{
	double want = pct * (double)s->allocs, run = 0;
	for (unsigned b = 0; b < PS_HIST_BUCKETS; b++) {
		run += (double)s->size_hist[b];
		if (run >= want && s->size_hist[b]) {
			uint64_t hi = (uint64_t)2 << b;
			return hi < s->size_max ? hi : s->size_max;
		}
	}
	return s->size_max;
}

static void classify(an_site *s, double duration_s)
{
	char a[32], b[32], c[32];
	double freed = s->allocs ? (double)s->frees / (double)s->allocs : 0;
	double spread = (double)s->size_max /
			(double)(s->size_min ? s->size_min : 1);
	s->lifetime_p50_ns = site_lifetime_pct(s, 0.50);
	s->lifetime_p99_ns = site_lifetime_pct(s, 0.99);
	s->xfree_ratio = s->frees ? (double)s->xfrees / (double)s->frees : 0;
	s->remedy = REMEDY_NONE;

	if (s->allocs < RARE_ALLOCS || s->rate_per_s < RARE_RATE) {
		reason(s, "rare: %s allocations (%s) - not worth a pool",
		       fmt_count(a, (double)s->allocs),
		       fmt_rate(b, s->rate_per_s));
		return;
	}
	if (s->realloc_grows >= PRESIZE_MIN &&
	    (double)s->realloc_grows >= PRESIZE_SHARE * (double)s->allocs) {
		s->remedy = REMEDY_PRESIZE;
		s->reserve_bytes = s->chain_final_size_max > s->size_max
					   ? s->chain_final_size_max
					   : s->size_max;
		if (s->chains_ended)
			reason(s, "realloc growth chain: %s of %s allocations grow "
				  "a block, %.1f steps per object on average (max %llu)",
			       fmt_count(a, (double)s->realloc_grows),
			       fmt_count(b, (double)s->allocs),
			       (double)s->chain_steps_sum / (double)s->chains_ended,
			       (unsigned long long)s->chain_steps_max);
		else
			reason(s, "realloc growth chain: %s of %s allocations grow "
				  "a block, up to %llu steps per object",
			       fmt_count(a, (double)s->realloc_grows),
			       fmt_count(b, (double)s->allocs),
			       (unsigned long long)s->chain_steps_max);
		reason(s, "final sizes up to %s: reserve that capacity once",
		       fmt_bytes(c, (double)s->reserve_bytes));
		uint64_t first = s->allocs - s->realloc_grows;
		if (first >= RARE_ALLOCS && freed >= RETAINED_RATIO &&
		    site_lifetime_pct(s, 0.5) < LONG_LIVED_NS)
			reason(s, "and they are short-lived (p50 < %s): keep grown "
				  "buffers in a per-thread cache to drop the other "
				  "%s allocations too",
			       fmt_ns(a, site_lifetime_pct(s, 0.5)),
			       fmt_count(b, (double)first));
		s->saved_calls_per_s = (double)s->realloc_grows / duration_s;
		s->saved_bytes_per_s = s->bytes_per_s;
		return;
	}
	if (freed < RETAINED_RATIO) {
		reason(s, "long-lived: %.0f%% of %s allocations still live at end",
		       100 * (1 - freed), fmt_count(a, (double)s->allocs));
		return;
	}
	if (s->lifetime_p50_ns >= LONG_LIVED_NS) {
		reason(s, "long-lived: half live longer than %s",
		       fmt_ns(a, s->lifetime_p50_ns / 2));
		return;
	}
	reason(s, "%s allocations of %s..%s (%s, %s/s churned)",
	       fmt_count(a, (double)s->allocs), fmt_bytes(b, (double)s->size_min),
	       fmt_bytes(c, (double)s->size_max),
	       fmt_rate((char[32]){ 0 }, s->rate_per_s),
	       fmt_bytes((char[32]){ 0 }, s->bytes_per_s));
	reason(s, "lifetime p50 < %s, p99 < %s; %.0f%% freed",
	       fmt_ns(a, s->lifetime_p50_ns), fmt_ns(b, s->lifetime_p99_ns),
	       100 * freed);
	if (s->size_max <= STACK_MAX_SIZE &&
	    s->thread_peak_live <= STACK_MAX_LIVE && s->xfrees == 0 &&
	    s->lifetime_p99_ns <= STACK_MAX_P99_NS) {
		s->remedy = REMEDY_STACK;
		reason(s, "tiny and freed before the next one: never more than "
			  "%llu live on a thread, never freed by another thread "
			  "- use a stack buffer or a local",
		       (unsigned long long)s->thread_peak_live);
		s->saved_calls_per_s = s->rate_per_s;
		s->saved_bytes_per_s = s->bytes_per_s;
		return;
	}
	int piles_up = s->peak_live >= ARENA_MIN_LIVE &&
		       (double)s->peak_live >= ARENA_PILE_UP * (double)s->allocs;
	if (piles_up || (spread > ARENA_SPREAD && s->peak_live >= ARENA_MIN_LIVE)) {
		s->remedy = REMEDY_ARENA;
		if (piles_up)
			reason(s, "they pile up and die together: %llu of %s live "
				  "at once, so a pool would never reuse one - "
				  "allocate them from an arena freed in one go",
			       (unsigned long long)s->peak_live,
			       fmt_count(a, (double)s->allocs));
		else
			reason(s, "sizes vary %.0fx with up to %llu live at once: "
				  "allocate them from an arena freed in one go",
			       spread, (unsigned long long)s->peak_live);
		s->saved_calls_per_s = s->rate_per_s;
		s->saved_bytes_per_s = s->bytes_per_s;
		return;
	}
	s->remedy = REMEDY_POOL;
	s->pool_size = s->peak_live ? s->peak_live : 1;
	if (s->peak_exact || s->alloc_threads <= 1)
		reason(s, "at most %llu live at once (%llu on one thread): a pool "
			  "of %llu objects serves every request",
		       (unsigned long long)s->peak_live,
		       (unsigned long long)s->thread_peak_live,
		       (unsigned long long)s->pool_size);
	else
		reason(s, "at most %llu live at once on one thread, %llu summed "
			  "over its %u threads (record --site-peak for the exact "
			  "all-thread peak): per-thread pools of %llu, %llu in all",
		       (unsigned long long)s->thread_peak_live,
		       (unsigned long long)s->peak_live, s->alloc_threads,
		       (unsigned long long)s->thread_peak_live,
		       (unsigned long long)s->pool_size);
	if (s->xfree_ratio > SHARED_POOL_RATIO)
		reason(s, "%.0f%% freed by another thread: a shared pool (or "
			  "per-thread caches that return to a shared one)",
		       100 * s->xfree_ratio);
	else
		reason(s, "%.0f%% freed by another thread: a per-thread cache "
			  "needs no lock",
		       100 * s->xfree_ratio);
	if (spread > SPREAD_WARN)
		reason(s, "sizes spread %.0fx (99%% <= %s, max %s): cap what the "
			  "pool takes back, or big buffers stay pinned",
		       spread, fmt_bytes(a, (double)size_pct(s, 0.99)),
		       fmt_bytes(b, (double)s->size_max));
	double reused = 1.0 - (double)s->pool_size / (double)s->allocs;
	s->saved_calls_per_s = s->rate_per_s * (reused > 0 ? reused : 0);
	s->saved_bytes_per_s = s->bytes_per_s * (reused > 0 ? reused : 0);
}

static const analysis *sort_ctx;

static int by_rank(const void *pa, const void *pb)
{
	const an_site *a = &sort_ctx->sites[*(const size_t *)pa];
	const an_site *b = &sort_ctx->sites[*(const size_t *)pb];
	int anone = a->remedy == REMEDY_NONE, bnone = b->remedy == REMEDY_NONE;
	if (anone != bnone)
		return anone - bnone;
	if (a->saved_calls_per_s != b->saved_calls_per_s)
		return a->saved_calls_per_s < b->saved_calls_per_s ? 1 : -1;
	if (a->allocs != b->allocs)
		return a->allocs < b->allocs ? 1 : -1;
	if (a->alloc_bytes != b->alloc_bytes)
		return a->alloc_bytes < b->alloc_bytes ? 1 : -1;
	return strcmp(a->where.function, b->where.function);
}

void rank_sites(analysis *a)
{
	double secs = (double)(a->duration_ns ? a->duration_ns : 1000000) / 1e9;
	a->ranked = xcalloc(a->nsites ? a->nsites : 1, sizeof *a->ranked);
	for (size_t i = 0; i < a->nsites; i++) {
		classify(&a->sites[i], secs);
		a->ranked[i] = i;
	}
	sort_ctx = a;
	qsort(a->ranked, a->nsites, sizeof *a->ranked, by_rank);
	for (size_t i = 0; i < a->nsites; i++)
		a->sites[a->ranked[i]].rank = (int)i + 1;
}
