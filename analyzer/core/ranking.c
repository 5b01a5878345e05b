/* ranking.c - which remedy each site needs, why, what it would save, and
 * the order of the report. docs/ranking.md explains every rule and number
 * here; keep the two in step.
 *
 * The score is the allocator calls per second of the run the remedy would
 * remove. Bytes never raise a score, so a site that is merely big does not
 * rank: long-lived or rare allocations are `none` whatever they hold. The
 * numbers come from the model (model.h); nothing is computed here but the
 * decision and what it saves.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "ranking.h"
#include "wrappers.h"
#include "units.h"

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
	if (s->nreasons == (int)(sizeof s->reasons / sizeof s->reasons[0]))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reasons[s->nreasons++], sizeof s->reasons[0], fmt, ap);
	va_end(ap);
}

/* A caveat on the whole site (maybe a wrapper, a library's code): the
 * first reason, before what classify() found; when the site has no room
 * left, its last reason (the least) gives way. */
static void caveat(an_site *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void caveat(an_site *s, const char *fmt, ...)
{
	int cap = (int)(sizeof s->reasons / sizeof s->reasons[0]);
	int keep = s->nreasons < cap ? s->nreasons : cap - 1;
	memmove(s->reasons[1], s->reasons[0], (size_t)keep * sizeof s->reasons[0]);
	s->nreasons = keep + 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reasons[0], sizeof s->reasons[0], fmt, ap);
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

/* "N" for an exact peak, "L..H" for a bounded one. */
static const char *fmt_peak(char *buf, const an_peak *p)
{
	if (an_peak_exact(p))
		snprintf(buf, 48, "%llu", (unsigned long long)p->hi);
	else
		snprintf(buf, 48, "%llu..%llu", (unsigned long long)p->lo,
			 (unsigned long long)p->hi);
	return buf;
}

/* Makes s a presize site: reserve the larger of final_size and its
 * largest request once, saving the steps reallocs of its allocations. */
static void presize(an_site *s, uint64_t steps, uint64_t final_size)
{
	s->remedy = REMEDY_PRESIZE;
	s->reserve_bytes = final_size > s->size_max ? final_size : s->size_max;
	s->saved_calls_per_s = (double)steps * s->rate_run_per_s /
			       (double)s->allocs;
	s->saved_bytes_per_s = s->bytes_run_per_s;
}

/* The part of a pool site's blocks that its keeper stacks make: stacks
 * that free fewer than RETAINED_RATIO of their blocks (a program's
 * objects kept for good, made through the same function as its
 * temporaries: redis's createObject). */
struct keepers {
	size_t stacks;          /* keeper stacks */
	uint64_t allocs, inuse; /* their allocations, live at the end */
	uint64_t other_allocs, other_bytes; /* the other stacks' */
	uint64_t other_size_min, other_size_max; /* their sizes' range */
	an_peak other;          /* the other stacks' blocks live at once */
};

/* Fills k for s and returns 1 when its pool should leave keeper stacks
 * out: some stacks keep their blocks and some free theirs, every stack
 * has its peak (a streamed model has only a few), and what the keepers
 * still hold at the end is half the site's peak or more (else they do
 * not change the pool's size much). The others' peak: at least each
 * one's own, and at least the site's peak less what the keepers can
 * hold at once; at most the sum of their own peaks, and the site's. */
static int find_keepers(const analysis *a, const an_site *s, struct keepers *k)
{
	memset(k, 0, sizeof *k);
	k->other_size_min = UINT64_MAX;
	uint64_t keepers_peak_hi = 0, others_hi = 0;
	for (size_t i = 0; i < s->nstacks; i++) {
		const an_stack *st = &a->stacks[s->stacks[i]];
		if (!st->allocs)
			continue;
		if (!st->peak.hi)
			return 0;
		if ((double)st->frees < RETAINED_RATIO * (double)st->allocs) {
			k->stacks++;
			k->allocs = sat_add(k->allocs, st->allocs);
			k->inuse = sat_add(k->inuse, st->allocs - st->frees);
			keepers_peak_hi = sat_add(keepers_peak_hi, st->peak.hi);
		} else {
			k->other_allocs = sat_add(k->other_allocs, st->allocs);
			k->other_bytes = sat_add(k->other_bytes, st->alloc_bytes);
			if (st->size_min < k->other_size_min)
				k->other_size_min = st->size_min;
			if (st->size_max > k->other_size_max)
				k->other_size_max = st->size_max;
			others_hi = sat_add(others_hi, st->peak.hi);
			if (st->peak.lo > k->other.lo)
				k->other.lo = st->peak.lo;
		}
	}
	if (!k->stacks || !k->other_allocs || 2 * k->inuse < s->peak.lo)
		return 0;
	if (s->peak.lo > keepers_peak_hi &&
	    s->peak.lo - keepers_peak_hi > k->other.lo)
		k->other.lo = s->peak.lo - keepers_peak_hi;
	k->other.hi = others_hi < s->peak.hi ? others_hi : s->peak.hi;
	if (k->other.hi < k->other.lo)
		k->other.hi = k->other.lo;
	return 1;
}

/* Lifetimes are as recorded, and the recording lengthens them as it does
 * the run: a block kept to the end of a run the recording made 10x longer
 * lives 10x longer than without it (trial 7: apt-cache's 33k blocks
 * "live longer than 1.02 s" in a 0.65 s program). The rules on lifetimes
 * take the program's own share of the run, what the rates are per second
 * of (docs/usage.md, "Rates"); 1 when no recording time is known. */
static double own_share(const analysis *an)
{
	if (!an->duration_ns || !an->rec_ns || an->rec_ns >= an->duration_ns)
		return 1;
	return (double)(an->duration_ns - an->rec_ns) / (double)an->duration_ns;
}

/* The keepers' sentence: their blocks are no remedy's (remedies say it
 * beside theirs; why: why not). */
static void keepers_reason(an_site *s, const struct keepers *k,
			   const char *why)
{
	char a[48], b[48];
	reason(s, "%s of them come from %zu stack%s that keep%s them (%s still "
		  "live at the end): %s, leave them to malloc",
	       fmt_count(a, (double)k->allocs), k->stacks,
	       k->stacks == 1 ? "" : "s", k->stacks == 1 ? "s" : "",
	       fmt_count(b, (double)k->inuse), why);
}

/* A remedy that serves the other stacks only: its savings are their
 * part of the site's rates (calls by allocations, bytes by bytes). */
static void others_share(an_site *s, const struct keepers *k)
{
	s->saved_calls_per_s *= (double)k->other_allocs / (double)s->allocs;
	s->saved_bytes_per_s *= s->alloc_bytes ? (double)k->other_bytes /
						 (double)s->alloc_bytes
					       : 0;
}

static void classify(const analysis *an, an_site *s)
{
	char a[48], b[48], c[48], d[48];
	double freed = s->allocs ? (double)s->frees / (double)s->allocs : 0;
	double own = own_share(an);
	double p50_lo = (double)s->lifetime_p50.lo_ns * own;
	s->remedy = REMEDY_NONE;
	s->nreasons = 0;
	s->pool_size = s->pool_size_max = s->reserve_bytes = 0;
	s->saved_calls_per_s = s->saved_bytes_per_s = 0;

	/* sampled: how close the estimated count is (95%), on every reason
	 * that states it */
	char est[48] = "";
	if (s->allocs_error95 > 0)
		snprintf(est, sizeof est, " (+-%.1f%%)",
			 100.0 * s->allocs_error95 / (double)s->allocs);
	if (s->allocs < RARE_ALLOCS || s->rate_run_per_s < RARE_RATE) {
		reason(s, "rare: %s%s allocation%s (%s over the run) - not "
			  "worth a pool",
		       fmt_count(a, (double)s->allocs), est,
		       s->allocs == 1 ? "" : "s", fmt_rate(b, s->rate_run_per_s));
		return;
	}
	/* Every stack of it is the runtime's (or wrappers') code to the
	 * depth cap: the program's code that called it went unrecorded, and
	 * no remedy applies to a library's insides (trial 8: glibc's regcomp
	 * recursion, re_node_set_merge "presize") */
	if (s->cut_runtime_allocs && s->cut_runtime_allocs >= s->allocs) {
		reason(s, "its stacks are the runtime's or wrappers' code up to "
			  "the depth cap (--depth %u): the code that called it "
			  "went unrecorded; record with a larger --depth",
		       an->cut_depth);
		return;
	}
	if ((double)s->realloc_grows >= PRESIZE_SHARE * (double)s->allocs) {
		presize(s, s->realloc_grows, s->chain_final_size_max);
		if (s->chains_ended == 1)
			reason(s, "realloc growth chain: %s of %s allocations grow "
				  "a block, one object grown %llu times",
			       fmt_count(a, (double)s->realloc_grows),
			       fmt_count(b, (double)s->allocs),
			       (unsigned long long)s->chain_steps_max);
		else if (s->chains_ended)
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
		    p50_lo < LONG_LIVED_NS)
			reason(s, "and they are short-lived (p50 < %s): keep grown "
				  "buffers in a per-thread cache to drop the other "
				  "%s allocations too",
			       fmt_ns_up(a, s->lifetime_p50.hi_ns),
			       fmt_count(b, (double)first));
		return;
	}
	/* The site's blocks are grown by a realloc elsewhere and live on
	 * there: the one allocation of the final size belongs here. */
	if ((double)s->resized_grown >= PRESIZE_SHARE * (double)s->allocs) {
		presize(s, s->resized_grown, s->resized_size_max);
		char how[96] = "that size at once";
		if (s->resized_size_max < s->size_max) /* larger requests */
			snprintf(how, sizeof how, "at least that at once "
						  "(requests reach %s)",
				 fmt_bytes(d, (double)s->size_max));
		reason(s, "grown later: %s of %s blocks are then grown by realloc "
			  "(and live on), to at most %s: allocate %s",
		       fmt_count(a, (double)s->resized_grown),
		       fmt_count(b, (double)s->allocs),
		       fmt_bytes(c, (double)s->resized_size_max), how);
		return;
	}
	/* More than half of them are resized by realloc elsewhere (shrunk, or
	 * grown by fewer than half) and live on there: their life here ends at the
	 * realloc, and a pool or an arena cannot hand out blocks that are
	 * passed to realloc (graphviz's edge lists, made with 5 slots and
	 * shrunk to 2 by the first append). The size they end at belongs here. */
	if ((double)s->resized > PRESIZE_SHARE * (double)s->allocs) {
		presize(s, s->resized, 0);
		/* shrunk sizes are not recorded: the realloc's site has them */
		s->reserve_bytes = 0;
		reason(s, "resized later: %s of %s blocks are then resized by "
			  "realloc (%s grown) and live on there, so no pool or "
			  "arena can hand them out: allocate the size they end "
			  "at once",
		       fmt_count(a, (double)s->resized),
		       fmt_count(b, (double)s->allocs),
		       fmt_count(c, (double)s->resized_grown));
		return;
	}
	if (freed < RETAINED_RATIO) {
		reason(s, "long-lived: %.0f%% of %s%s allocations still live at "
			  "end",
		       100 * (1 - freed), fmt_count(a, (double)s->allocs), est);
		return;
	}
	if (p50_lo >= LONG_LIVED_NS) {
		if (own < 1)
			reason(s, "long-lived: half live longer than %s of the "
				  "program's own time (%s as recorded)",
			       fmt_ns_down(a, p50_lo),
			       fmt_ns_down(b, (double)s->lifetime_p50.lo_ns));
		else
			reason(s, "long-lived: half live longer than %s",
			       fmt_ns_down(a, (double)s->lifetime_p50.lo_ns));
		return;
	}
	char procs[48] = "";
	if (s->alloc_procs > 1)
		snprintf(procs, sizeof procs, " in %u processes", s->alloc_procs);
	reason(s, "%s%s allocations of %s..%s on %u thread%s%s (%s while active, "
		  "peak %s; %s/s churned over the run)",
	       fmt_count(a, (double)s->allocs), est,
	       fmt_bytes(b, (double)s->size_min),
	       fmt_bytes(c, (double)s->size_max), s->alloc_threads,
	       s->alloc_threads == 1 ? "" : "s", procs, fmt_rate(d, s->rate_per_s),
	       fmt_rate((char[48]){ 0 }, s->rate_peak_per_s),
	       fmt_bytes((char[48]){ 0 }, s->bytes_run_per_s));
	if (own <= LIFETIME_AS_RECORDED)
		reason(s, "lifetime p50 < %s, p99 < %s as recorded, some %s "
			  "and %s of the program's own time; %.0f%% freed",
		       fmt_ns_up(a, (double)s->lifetime_p50.hi_ns),
		       fmt_ns_up(b, (double)s->lifetime_p99.hi_ns),
		       fmt_ns_up(c, (double)s->lifetime_p50.hi_ns * own),
		       fmt_ns_up(d, (double)s->lifetime_p99.hi_ns * own),
		       100 * freed);
	else
		reason(s, "lifetime p50 < %s, p99 < %s; %.0f%% freed",
		       fmt_ns_up(a, (double)s->lifetime_p50.hi_ns),
		       fmt_ns_up(b, (double)s->lifetime_p99.hi_ns), 100 * freed);
	/* a block resized by realloc ends here but its data lives on */
	if (s->resized)
		reason(s, "%s of them resized by realloc (%s grown): those "
			  "live on as the realloc's blocks",
		       fmt_count(a, (double)s->resized),
		       fmt_count(b, (double)s->resized_grown));
	/* Sampled 1 in N, a thread's peak is known only between its
	 * recorded blocks' and N times that: none of the recorded ones met
	 * another on a thread, over enough of them that overlaps would have
	 * shown (the exact run's stack sites are otherwise all "pools of
	 * 1..64") */
	uint64_t every = an->sample_every > 1 ? an->sample_every : 1;
	/* Stacks that keep their blocks (exact counts only): those blocks
	 * stay with malloc whatever the remedy, so the sizes and the live
	 * blocks the remedies below weigh are the other stacks' (trial 9:
	 * one kept 4 KiB block, a stdio buffer, made tcpdump's 15 B
	 * temporaries "sizes spread 273x", and a stack site a pool) */
	struct keepers k;
	int kept_apart = s->allocs_error95 <= 0 && find_keepers(an, s, &k);
	uint64_t size_min = kept_apart ? k.other_size_min : s->size_min;
	uint64_t size_max = kept_apart ? k.other_size_max : s->size_max;
	double spread = (double)size_max / (double)(size_min ? size_min : 1);
	uint64_t live_on_thread = kept_apart && k.other.hi < s->thread_peak.hi
					  ? k.other.hi
					  : s->thread_peak.hi;
	int few_live = every == 1 ? live_on_thread <= STACK_MAX_LIVE
				  : s->thread_peak.lo <= 1 &&
					    (double)s->allocs >=
						    STACK_SAMPLED_POWER * (double)every *
							    (double)every;
	if (size_max <= STACK_MAX_SIZE && few_live && s->xfrees == 0 &&
	    (double)s->lifetime_p99.hi_ns * own <= STACK_MAX_P99_NS &&
	    (double)s->resized <= STACK_MAX_RESIZED * (double)s->allocs) {
		s->remedy = REMEDY_STACK;
		char live[128];
		if (every == 1)
			snprintf(live, sizeof live, ": never more than %llu live "
						    "on a thread",
				 (unsigned long long)live_on_thread);
		else
			snprintf(live, sizeof live, ", by the sample: no recorded "
						    "block met another on a "
						    "thread, of some %s recorded",
				 fmt_count(a, (double)s->allocs / (double)every));
		reason(s, "tiny and freed before the next one%s, never freed by "
			  "another thread - use a stack buffer or a local%s%s",
		       live,
		       s->resized ? ", with a heap copy for the few resized" : "",
		       every == 1 ? "" : " (record without --sample to be sure)");
		s->saved_calls_per_s = s->rate_run_per_s;
		s->saved_bytes_per_s = s->bytes_run_per_s;
		if (kept_apart) {
			keepers_reason(s, &k, "they outlive their functions");
			others_share(s, &k);
		}
		return;
	}
	uint64_t peak = s->peak.lo;
	/* Piling up is in one process (an arena serves one): the process
	 * whose blocks piled up most, its peak against its allocations;
	 * every process's peaks added would be no moment's. */
	int in_procs = s->alloc_procs > 1;
	/* Sampled, the peak is the recorded blocks' own: scaled as the
	 * counts it is set against are (its estimate; lua's tables, 779
	 * recorded and all live at once, are 779 x 64 of 49.9k, a pile-up,
	 * not 779 of 49.9k) */
	uint64_t recorded = in_procs ? s->pile_peak : peak;
	uint64_t pile = sat_mul(recorded, every);
	uint64_t pile_of = in_procs ? s->pile_allocs : s->allocs;
	/* "Surely at least 64 live at once" needs more, sampled, than the
	 * scaled peak: one recorded block scales to 64 whatever the truth
	 * (trial 7: cc1's sites with one block live at a time read "1..64
	 * live at once", an arena). It takes the estimate's 95% lower
	 * bound, N x (k - 1.96 sqrt k) for k recorded at once: 6 at 1 in
	 * 64 are 76, 5 are 39. */
	uint64_t sure = pile;
	if (every > 1) {
		double lo = (double)recorded - AN_Z95 * sqrt((double)recorded);
		sure = lo > 0 ? (uint64_t)(lo * (double)every) : 0;
	}
	/* Of the blocks live at the peak, at least this many die later (at
	 * most what is live at the end does not): a site whose peak is the
	 * long-lived part of a mixed population (redis's createObject: the
	 * database's objects among temporaries) does not pile up and die
	 * together. */
	uint64_t died = pile > s->inuse_objects ? pile - s->inuse_objects : 0;
	uint64_t died_sure = sure > s->inuse_objects ? sure - s->inuse_objects : 0;
	int piles_up = died_sure >= ARENA_MIN_LIVE &&
		       (double)died >= ARENA_PILE_UP * (double)pile_of;
	/* Sizes spread widely, many live at once in one process: an arena,
	 * if those many die (the same count: a peak that is the long-lived
	 * part, gawk's array keys among 190k temporaries, would keep every
	 * block of the run in an arena freed only at its end). */
	int arena = piles_up ||
		    (spread > ARENA_SPREAD && died_sure >= ARENA_MIN_LIVE);
	/* An obstack's chunks pile up and die together because the obstack
	 * is an arena already (trial 7: cc1's sbr_vector, "allocate them
	 * from an arena" via _obstack_newchunk; trial 8: dpkg's nfmalloc
	 * through glibc's own _obstack_newchunk) */
	if (arena && s->obstack) {
		reason(s, "its blocks are an obstack's chunks (through %s), an "
			  "arena already: they pile up and go together by design",
		       s->obstack);
		return;
	}
	if (arena) {
		s->remedy = REMEDY_ARENA;
		if (piles_up && in_procs)
			reason(s, "they pile up and die together: %s of its %s "
				  "live at once in one process, so a pool would "
				  "never reuse one - allocate them from an arena "
				  "freed in one go",
			       fmt_count(a, (double)pile),
			       fmt_count(b, (double)pile_of));
		else if (piles_up)
			reason(s, "they pile up and die together: %s of %s live "
				  "at once, so a pool would never reuse one - "
				  "allocate them from an arena freed in one go",
			       fmt_peak(a, &s->peak),
			       fmt_count(b, (double)s->allocs));
		else if (in_procs)
			reason(s, "sizes vary %.0fx with %s live at once in one "
				  "process: allocate them from an arena freed in "
				  "one go",
			       spread, fmt_count(a, (double)pile));
		else
			reason(s, "sizes vary %.0fx with %s live at once: "
				  "allocate them from an arena freed in one go",
			       spread, fmt_peak(a, &s->peak));
		s->saved_calls_per_s = s->rate_run_per_s;
		s->saved_bytes_per_s = s->bytes_run_per_s;
		return;
	}
	s->remedy = REMEDY_POOL;
	int shared = s->xfree_ratio > SHARED_POOL_RATIO;
	/* Threads that each allocate little (short-lived ones): caches of
	 * their own would keep about as many objects as they hand out, and
	 * be reused little; caches that return to a shared pool keep one
	 * peak's worth for all of them. */
	uint64_t thread_kept = sat_mul(s->thread_peak.lo ? s->thread_peak.lo : 1,
				       s->alloc_threads);
	int few_each = !shared && s->alloc_threads > 1 && s->alloc_procs <= 1 &&
		       !an_peak_exact(&s->peak) &&
		       thread_kept >= s->allocs / 2 + s->allocs % 2 &&
		       (s->peak.lo ? s->peak.lo : 1) < thread_kept;
	if (few_each)
		shared = 1;
	if (s->allocs_error95 > 0)
		reason(s, "sampled: each peak below runs from the recorded "
			  "blocks' own to that scaled up; record without "
			  "--sample for the pool's exact size");
	/* A per-thread cache holds what one thread has live; a shared pool
	 * what all threads have. Its size is a peak, never a sum of peaks:
	 * with the exact peak, that peak; with only bounds, the lower one
	 * (blocks surely live at one moment), the upper one (what the
	 * threads' or stacks' own peaks add up to, were they to coincide)
	 * said beside it as pool_size_max. */
	const an_peak *p = s->alloc_threads <= 1 || an_peak_exact(&s->peak) ||
					   shared
				   ? &s->peak
				   : &s->thread_peak;
	/* Processes (of a tree, or runs side by side) cannot share a pool:
	 * each has its own, the size of the most one process had live (with
	 * one thread each, that is also the per-thread cache). */
	int per_proc = s->alloc_procs > 1 &&
		       (p == &s->peak || s->alloc_threads == s->alloc_procs);
	if (per_proc)
		p = &s->proc_peak;
	/* A site-wide pool leaves the keeper stacks' blocks to malloc:
	 * sized by the others' peak, it saves their allocations only. */
	int split = p == &s->peak && kept_apart;
	if (split)
		p = &k.other;
	s->pool_size = p->lo ? p->lo : 1;
	s->pool_size_max = p->hi > s->pool_size ? p->hi : s->pool_size;
	/* sampled, a peak's upper end is the recorded blocks' peak scaled
	 * by N: its most, not an estimate (one recorded block may stand for
	 * one live), nor peaks that may coincide */
	char scaled[64] = "";
	if (s->allocs_error95 > 0)
		snprintf(scaled, sizeof scaled,
			 "if each block recorded at once stood for %u",
			 an->sample_every);
	if (split) {
		keepers_reason(s, &k, "no pool gets those back");
		if (an_peak_exact(p))
			reason(s, "the other stacks' %s: at most %llu live at "
				  "once: a pool of %llu serves them",
			       fmt_count(a, (double)k.other_allocs),
			       (unsigned long long)p->hi,
			       (unsigned long long)s->pool_size);
		else
			reason(s, "the other stacks' %s: %s live at once: a "
				  "pool of at least %llu (surely live at once), "
				  "%llu if their peaks coincided",
			       fmt_count(a, (double)k.other_allocs),
			       fmt_peak(b, p), (unsigned long long)s->pool_size,
			       (unsigned long long)s->pool_size_max);
	} else if (per_proc) {
		if (an_peak_exact(p))
			reason(s, "at most %llu live at once in one process (%s "
				  "across its %u processes, which cannot share a "
				  "pool): a pool of %llu object%s in each serves "
				  "every request",
			       (unsigned long long)p->hi, fmt_peak(a, &s->peak),
			       s->alloc_procs, (unsigned long long)s->pool_size,
			       s->pool_size == 1 ? "" : "s");
		else
			reason(s, "%s live at once in one process (%u processes, "
				  "which cannot share a pool): a pool of at least "
				  "%llu (surely live at once) in each, %llu %s",
			       fmt_peak(a, p), s->alloc_procs,
			       (unsigned long long)s->pool_size,
			       (unsigned long long)s->pool_size_max,
			       *scaled ? scaled
				       : "if its threads' or stacks' peaks "
					 "coincided");
	} else if (an_peak_exact(p) && p == &s->peak)
		reason(s, "at most %llu live at once (%s on one thread, %u "
			  "thread%s): a pool of %llu object%s serves every "
			  "request",
		       (unsigned long long)s->peak.hi,
		       fmt_peak(a, &s->thread_peak), s->alloc_threads,
		       s->alloc_threads == 1 ? "" : "s",
		       (unsigned long long)s->pool_size,
		       s->pool_size == 1 ? "" : "s");
	else if (an_peak_exact(p))
		reason(s, "at most %s live at once on one thread, %s across its "
			  "%u threads: a per-thread cache of %llu object%s "
			  "serves every request",
		       fmt_peak(a, &s->thread_peak), fmt_peak(b, &s->peak),
		       s->alloc_threads, (unsigned long long)s->pool_size,
		       s->pool_size == 1 ? "" : "s");
	else {
		/* why the upper end may be more than the lower */
		const char *why = *scaled
					  ? scaled
				  : p == &s->thread_peak || s->alloc_threads <= 1
					  ? s->peak_uncounted == PEAK_PAST_CANDIDATES
						    ? "if its stacks' peaks coincided (it "
						      "is called deeper than the frames "
						      "whose peaks are counted)"
					    : s->peak_uncounted == PEAK_MANY_NODES
						    ? "if its stacks' peaks coincided "
						      "(called from too many places to "
						      "count)"
						    : "if its stacks' peaks coincided"
					  : "if the threads' peaks coincided "
					    "(record --site-peak measures it)";
		char across[96] = "";
		if (p == &s->thread_peak)
			snprintf(across, sizeof across,
				 " on one thread, %s across its %u threads",
				 fmt_peak(b, &s->peak), s->alloc_threads);
		else if (s->alloc_threads > 1)
			snprintf(across, sizeof across, " across its %u threads",
				 s->alloc_threads);
		reason(s, "%s live at once%s: a %s of at least %llu (surely "
			  "live at once), %llu %s",
		       fmt_peak(a, p), across,
		       p == &s->thread_peak ? "per-thread cache" : "pool",
		       (unsigned long long)s->pool_size,
		       (unsigned long long)s->pool_size_max, why);
	}
	if (few_each)
		reason(s, "%u threads, %s allocations each: caches of their own "
			  "would keep %llu objects for %s handed out; caches that "
			  "return to a shared pool",
		       s->alloc_threads,
		       fmt_count(a, (double)s->allocs / s->alloc_threads),
		       (unsigned long long)thread_kept,
		       fmt_count(b, (double)s->allocs));
	else if (shared)
		reason(s, "%.0f%% freed by another thread: a shared pool (or "
			  "per-thread caches that return to a shared one)",
		       100 * s->xfree_ratio);
	else
		reason(s, "%.0f%% freed by another thread: a per-thread cache "
			  "needs no lock",
		       100 * s->xfree_ratio);
	/* long-lived blocks among short-lived ones: those the pool's size
	 * counts but never gets back */
	if (!split && s->inuse_objects && 2 * s->inuse_objects >= s->pool_size)
		reason(s, "%s still live at the end (long-lived ones among the "
			  "short-lived): the pool's size counts them, and they "
			  "never come back",
		       fmt_count(a, (double)s->inuse_objects));
	if (spread > SPREAD_WARN)
		reason(s, "sizes spread %.0fx (99%% <= %s, max %s): cap what the "
			  "pool takes back, or big buffers stay pinned",
		       spread, fmt_bytes(a, (double)size_pct(s, 0.99)),
		       fmt_bytes(b, (double)size_max));
	uint64_t kept = s->pool_size * (p == &s->thread_peak ? s->alloc_threads
					: per_proc		? s->alloc_procs
								: 1);
	uint64_t served = split ? k.other_allocs : s->allocs;
	double reused = 1.0 - (double)kept / (double)served;
	if (reused < 0)
		reused = 0;
	s->saved_calls_per_s = s->rate_run_per_s * reused;
	s->saved_bytes_per_s = s->bytes_run_per_s * reused;
	if (split)
		others_share(s, &k);
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

/* name as an anchored extended regex matching only itself, into out;
 * 0 when it does not fit. */
static int literal_regex(char *out, size_t cap, const char *name)
{
	size_t n = 0;
	if (cap < 3)
		return 0;
	out[n++] = '^';
	for (const char *p = name; *p; p++) {
		if (n + 4 > cap)
			return 0;
		if (strchr(".[]{}()\\*+?^$|", *p))
			out[n++] = '\\';
		out[n++] = *p;
	}
	out[n++] = '$';
	out[n] = 0;
	return 1;
}

/* Sampled: a site with everything of a wrapper but one caller (wrappers.c)
 * may be a wrapper whose rarest caller no sample caught; then its
 * callers are the sites. Said, with how to find out. */
static void maybe_wrapper(const analysis *a, an_site *s)
{
	if (a->sample_every <= 1 || !s->callers_short)
		return;
	char re[96], how[128] = "pass its name to --wrapper";
	if (literal_regex(re, sizeof re,
			  s->where.function ? s->where.function : ""))
		snprintf(how, sizeof how, "pass --wrapper '%s'", re);
	caveat(s, "sampled: maybe a wrapper, with callers unrecorded: reached "
		  "from %u callers (a wrapper has %d); record without --sample, "
		  "or %s, to see its callers as the sites",
	       s->callers_short, WRAPPER_MIN_CALLERS, how);
}

/* Whether module is a shared library installed with the system (lib*.so*
 * under /lib, /lib64, /usr/lib, /usr/lib64): code the program calls, not
 * its own. */
static int system_library(const char *module)
{
	if (!module)
		return 0;
	const char *base = strrchr(module, '/');
	base = base ? base + 1 : module;
	return (!strncmp(module, "/lib/", 5) || !strncmp(module, "/lib64/", 7) ||
		!strncmp(module, "/usr/lib/", 9) ||
		!strncmp(module, "/usr/lib64/", 11)) &&
	       !strncmp(base, "lib", 3) && strstr(base, ".so");
}

/* A site in a system library (glib's g_print through g_strdup_vprintf,
 * a libcrypto constructor): its remedy is the library's to apply; the
 * program decides how often it calls in. Said, with the first frame of
 * the site's busiest stack in the program's own code. */
static void library_site(const analysis *a, an_site *s)
{
	if (!system_library(s->where.module))
		return;
	const an_stack *busiest = NULL;
	for (size_t i = 0; i < s->nstacks; i++) {
		const an_stack *st = &a->stacks[s->stacks[i]];
		if (!busiest || st->allocs > busiest->allocs)
			busiest = st;
	}
	if (!busiest)
		return;
	const char *lib = strrchr(s->where.module, '/') + 1;
	for (unsigned k = 1; k < busiest->nframes; k++) {
		const an_frame *f = busiest->frames[k];
		if (system_library(f->module))
			continue;
		caveat(s, "in %s, a library: the remedy is its own; the "
			  "program decides how often it runs (its busiest path "
			  "leaves the library at %s)",
		       lib, f->function ? f->function : "?");
		return;
	}
}

void rank_sites(analysis *a)
{
	a->ranked = xcalloc(a->nsites ? a->nsites : 1, sizeof *a->ranked);
	for (size_t i = 0; i < a->nsites; i++) {
		classify(a, &a->sites[i]);
		maybe_wrapper(a, &a->sites[i]);
		library_site(a, &a->sites[i]);
		a->ranked[i] = i;
	}
	sort_ctx = a;
	qsort(a->ranked, a->nsites, sizeof *a->ranked, by_rank);
	for (size_t i = 0; i < a->nsites; i++)
		a->sites[a->ranked[i]].rank = (int)i + 1;
}
