/* model.c - from validated profiles to every metric the views print (see
 * model.h for the definitions, docs/ranking.md for the user's version).
 *
 * Order of work: read the files; symbolize every stack; sum each stack's
 * entries; let the wrapper rules pick each stack's site; fold stacks into
 * sites, threads into processes, processes into the run; then the peaks
 * (peaks.c's rules, below), lifetimes, the timeline and the rates.
 *
 * Peaks. A peak is the most blocks live at the same moment, which no sum
 * of peaks gives. On one thread it is exact when the preload counted the
 * site's blocks in one node (every stack of the site has the site's
 * return address among its candidates, and no other site shares that
 * node): the node's peak is the site's. Otherwise the thread's peak lies
 * between the largest and the sum of its parts. Across threads and
 * processes: exact with --site-peak (a shared counter per node); else at
 * least the largest thread's peak, and at most the largest sum of the
 * per-thread upper bounds over threads whose blocks can be live at the
 * same time: a thread's blocks live from its first allocation until its
 * latest free when all were freed, else until its process ended.
 */
#define _GNU_SOURCE
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "model.h"
#include "progress.h"
#include "uthash.h"
#include "wrappers.h"

struct an_site_index {
	char *key;
	size_t pos;
	UT_hash_handle hh;
};

/* ---- helpers -------------------------------------------------------------- */

const char *frame_label(char *buf, size_t len, const an_frame *f)
{
	if (f->file) {
		const char *base = strrchr(f->file, '/');
		snprintf(buf, len, "%s (%s:%u)", f->function,
			 base ? base + 1 : f->file, f->line);
	} else if (!f->symbolized || strchr(f->function, '+')) {
		/* the call address, unless the name is that address already */
		char at[32];
		snprintf(at, sizeof at, "+0x%llx", (unsigned long long)f->offset);
		size_t n = strlen(f->function), k = strlen(at);
		if (n >= k && !strcmp(f->function + n - k, at))
			snprintf(buf, len, "%s", f->function);
		else
			snprintf(buf, len, "%s at 0x%llx", f->function,
				 (unsigned long long)f->offset);
	} else {
		snprintf(buf, len, "%s", f->function);
	}
	return buf;
}

uint64_t stack_value(const an_stack *st, const char *index)
{
	if (!strcmp(index, "alloc_space"))
		return st->alloc_bytes;
	if (!strcmp(index, "inuse_objects"))
		return st->allocs - st->frees;
	if (!strcmp(index, "inuse_space"))
		return st->alloc_bytes - st->free_bytes;
	return st->allocs;
}

static double ticks_ns(const pf_file *f, uint64_t ticks)
{
	return pf_ticks_to_ns(f, (double)ticks);
}

/* A double as an unsigned 64-bit count, clamped: a file's tick rate and
 * times are untrusted, and a conversion out of range is undefined. */
static uint64_t to_u64(double v)
{
	if (!(v > 0))
		return 0;
	if (v >= 18446744073709551615.0)
		return UINT64_MAX;
	return (uint64_t)v;
}

/* Saturating arithmetic: totals of untrusted files must not wrap. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* ---- stacks ----------------------------------------------------------------- */

/* Symbolizes one stack into every frame, inlined frames expanded. */
static void expand_stack(analysis *a, an_stack *as)
{
	const pf_stack *s = as->stack;
	unsigned cap = s->depth + 4, n = 0;
	an_frame *frames = xcalloc(cap, sizeof *frames);
	for (uint32_t i = 0; i < s->depth; i++) {
		const sym_loc *loc = sym_lookup(a->sym, as->file, s->ips[i],
						s->map_epoch);
		for (unsigned k = 0; k < loc->nframes; k++) {
			if (n == cap) {
				cap *= 2;
				frames = xrealloc(frames, cap * sizeof *frames);
			}
			frames[n++] = (an_frame){
				.function = loc->frames[k].function,
				.file = loc->frames[k].file,
				.line = loc->frames[k].line,
				.module = loc->module,
				.ip = s->ips[i],
				.offset = loc->offset,
				.ip_index = i,
				.inlined = loc->frames[k].inlined,
				.symbolized = loc->resolved,
			};
		}
	}
	if (!n) /* an empty stack (nothing above the allocator) */
		frames[n++] = (an_frame){ .function = "[no stack]", .module = "?" };
	as->all = frames;
	as->nall = n;
}

/* Sums the entries of every stack (scaled for sampling). */
static void sum_stacks(analysis *a, size_t **pos_of_file)
{
	for (size_t i = 0; i < a->nstacks; i++) {
		a->stacks[i].size_min = UINT64_MAX;
		a->stacks[i].size_max = 0;
	}
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		uint64_t k = pf_scale(f);
		for (size_t i = 0; i < f->nentries; i++) {
			const pf_entry *e = &f->entries[i];
			an_stack *st = &a->stacks[pos_of_file[fi][e->stack_id]];
			st->allocs = sat_add(st->allocs, sat_mul(e->allocs, k));
			st->alloc_bytes = sat_add(st->alloc_bytes,
						  sat_mul(e->alloc_bytes, k));
			st->frees = sat_add(st->frees, sat_mul(e->frees, k));
			st->free_bytes = sat_add(st->free_bytes,
						 sat_mul(e->free_bytes, k));
			if (e->allocs && e->size_min < st->size_min)
				st->size_min = e->size_min;
			if (e->size_max > st->size_max)
				st->size_max = e->size_max;
		}
	}
	for (size_t i = 0; i < a->nstacks; i++)
		if (a->stacks[i].size_min == UINT64_MAX)
			a->stacks[i].size_min = 0;
}

/* ---- sites ------------------------------------------------------------------ */

static size_t site_for(analysis *a, const an_stack *st)
{
	const an_frame *f = &st->frames[0];
	/* Without a line, the call address keeps two calls in one function
	 * apart. */
	char *key = f->file ? xasprintf("%s\t%s\t%u\t%s", f->function, f->file,
					f->line, f->module)
			    : xasprintf("%s\t\t0\t%s\t%llx", f->function, f->module,
					(unsigned long long)f->offset);
	struct an_site_index *ix;
	HASH_FIND_STR(a->site_index, key, ix);
	if (ix) {
		free(key);
		return ix->pos;
	}
	a->sites = xrealloc(a->sites, (a->nsites + 1) * sizeof *a->sites);
	an_site *s = &a->sites[a->nsites];
	memset(s, 0, sizeof *s);
	s->where = *f;
	s->via = st->via;
	s->size_min = UINT64_MAX;
	s->first_alloc_ns = UINT64_MAX;
	ix = xmalloc(sizeof *ix);
	ix->key = key;
	ix->pos = a->nsites++;
	HASH_ADD_KEYPTR(hh, a->site_index, ix->key, strlen(ix->key), ix);
	return ix->pos;
}

static void add_stack_to_site(an_site *s, an_stack *st, size_t stack)
{
	if ((s->nstacks & (s->nstacks - 1)) == 0) { /* 0, 1, 2, 4, ... */
		size_t cap = s->nstacks ? s->nstacks * 2 : 1;
		s->stacks = xrealloc(s->stacks, cap * sizeof *s->stacks);
		s->stack_allocs = xrealloc(s->stack_allocs,
					   cap * sizeof *s->stack_allocs);
	}
	s->stacks[s->nstacks] = stack;
	s->stack_allocs[s->nstacks++] = st->allocs;
	st->site_slot = s->nstacks;
}

/* Wall-clock ns since the run's start of a time t_ns into file f. */
static uint64_t wall(const analysis *a, const pf_file *f, uint64_t t_ns)
{
	uint64_t start = f->start_real_ns >= a->start_real_ns
				 ? f->start_real_ns - a->start_real_ns
				 : 0;
	return sat_add(start, t_ns);
}

/* A time the file gives in ticks + 1, in run wall-clock ns: no later than
 * the process's end (an untrusted file may say otherwise). */
static uint64_t tick_time(const analysis *a, const pf_file *f,
			  uint64_t ticks_plus1)
{
	uint64_t t = to_u64(ticks_ns(f, ticks_plus1 - 1));
	return wall(a, f, t < f->duration_ns ? t : f->duration_ns);
}

/* The first and latest allocation of entry e, in run wall-clock ns; a
 * version 1 file knows neither: its whole run. */
static void entry_times(const analysis *a, const pf_file *f, const pf_entry *e,
			uint64_t *first, uint64_t *last)
{
	if (e->first_alloc_ticks) {
		*first = tick_time(a, f, e->first_alloc_ticks);
		*last = tick_time(a, f, e->last_alloc_ticks);
	} else {
		*first = wall(a, f, 0);
		*last = wall(a, f, f->duration_ns);
	}
}

/* Adds one entry's counters to its site. */
static void add_entry(analysis *a, const pf_file *f, const pf_entry *e,
		      an_site *s)
{
	uint64_t k = pf_scale(f);
	/* each allocation recorded with probability 1/k, independently: the
	 * estimate k * n has variance n k^2 (1 - 1/k); summed here, rooted
	 * and scaled to a 95% half-width once all entries are in */
	if (k > 1)
		s->allocs_error95 += (double)e->allocs * (double)k * (double)k *
				     (1.0 - 1.0 / (double)k);
	s->allocs = sat_add(s->allocs, sat_mul(e->allocs, k));
	s->alloc_bytes = sat_add(s->alloc_bytes, sat_mul(e->alloc_bytes, k));
	s->frees = sat_add(s->frees, sat_mul(e->frees, k));
	s->free_bytes = sat_add(s->free_bytes, sat_mul(e->free_bytes, k));
	s->xfrees = sat_add(s->xfrees, sat_mul(e->xfrees, k));
	s->xfree_bytes = sat_add(s->xfree_bytes, sat_mul(e->xfree_bytes, k));
	if (e->allocs && e->size_min < s->size_min)
		s->size_min = e->size_min;
	if (e->size_max > s->size_max)
		s->size_max = e->size_max;
	for (unsigned b = 0; b < PS_HIST_BUCKETS; b++)
		s->size_hist[b] = sat_add(s->size_hist[b],
					  sat_mul(e->size_hist[b], k));
	s->realloc_grows = sat_add(s->realloc_grows, sat_mul(e->realloc_grows, k));
	s->chains_ended = sat_add(s->chains_ended, sat_mul(e->chains_ended, k));
	s->chain_steps_sum = sat_add(s->chain_steps_sum,
				     sat_mul(e->chain_steps_sum, k));
	if (e->chain_steps_max > s->chain_steps_max)
		s->chain_steps_max = e->chain_steps_max;
	if (e->chain_final_size_max > s->chain_final_size_max)
		s->chain_final_size_max = e->chain_final_size_max;
	if (e->allocs) {
		uint64_t first, last;
		entry_times(a, f, e, &first, &last);
		if (first < s->first_alloc_ns)
			s->first_alloc_ns = first;
		if (last > s->last_alloc_ns)
			s->last_alloc_ns = last;
	}
}

/* ---- peaks ------------------------------------------------------------------- */

/* One contributor to a peak across threads: bounds on its own peak and
 * the wall-clock window in which its blocks can be live. */
struct contrib {
	an_peak p;
	uint64_t from, to;
};

struct contribs {
	struct contrib *v;
	size_t n, cap;
};

static void contrib_add(struct contribs *c, const an_peak *p, uint64_t from,
			uint64_t to)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->v = xrealloc(c->v, c->cap * sizeof *c->v);
	}
	c->v[c->n++] = (struct contrib){ *p, from, to };
}

struct event {
	uint64_t t;
	int end; /* starts sort before ends at the same time: closed windows */
	uint64_t objects, bytes;
};

static int by_time(const void *pa, const void *pb)
{
	const struct event *a = pa, *b = pb;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return a->end - b->end;
}

/* The peak across contributors: at least the largest lower bound, at
 * most the largest sum of upper bounds of contributors whose windows
 * overlap; clamped to what was allocated at all. */
static an_peak combine(const struct contribs *c, uint64_t allocs,
		       uint64_t alloc_bytes)
{
	an_peak p = { 0 };
	struct event *ev = xcalloc(2 * c->n + 1, sizeof *ev);
	for (size_t i = 0; i < c->n; i++) {
		const struct contrib *x = &c->v[i];
		if (x->p.lo > p.lo)
			p.lo = x->p.lo;
		if (x->p.bytes_lo > p.bytes_lo)
			p.bytes_lo = x->p.bytes_lo;
		ev[2 * i] = (struct event){ x->from, 0, x->p.hi, x->p.bytes_hi };
		ev[2 * i + 1] = (struct event){ x->to, 1, x->p.hi, x->p.bytes_hi };
	}
	qsort(ev, 2 * c->n, sizeof *ev, by_time);
	uint64_t objects = 0, bytes = 0;
	for (size_t i = 0; i < 2 * c->n; i++) {
		if (ev[i].end) {
			objects -= ev[i].objects;
			bytes -= ev[i].bytes;
			continue;
		}
		objects = sat_add(objects, ev[i].objects);
		bytes = sat_add(bytes, ev[i].bytes);
		if (objects > p.hi)
			p.hi = objects;
		if (bytes > p.bytes_hi)
			p.bytes_hi = bytes;
	}
	free(ev);
	if (p.hi > allocs)
		p.hi = allocs;
	if (p.bytes_hi > alloc_bytes)
		p.bytes_hi = alloc_bytes;
	if (p.lo > p.hi)
		p.lo = p.hi;
	if (p.bytes_lo > p.bytes_hi)
		p.bytes_lo = p.bytes_hi;
	return p;
}

/* The window of a group of one thread's entries: from the first
 * allocation to the latest free when every block was freed, else to the
 * process's end (its blocks die with it). */
struct window {
	uint64_t from, to, last_free;
	int all_freed, any;
};

static void window_add(struct window *w, const analysis *a, const pf_file *f,
		       const pf_entry *e)
{
	if (!e->allocs)
		return;
	uint64_t first, last;
	entry_times(a, f, e, &first, &last);
	if (!w->any) {
		w->from = first;
		w->all_freed = 1;
		w->any = 1;
	}
	if (first < w->from)
		w->from = first;
	uint64_t freed = e->last_free_ticks
				 ? tick_time(a, f, e->last_free_ticks)
				 : wall(a, f, f->duration_ns);
	if (freed > w->last_free)
		w->last_free = freed;
	if (e->frees != e->allocs)
		w->all_freed = 0;
}

static uint64_t window_end(const struct window *w, const analysis *a,
			   const pf_file *f)
{
	uint64_t end = wall(a, f, f->duration_ns);
	return w->all_freed && w->last_free < end ? w->last_free : end;
}

/* Per file: for every node address, the one site whose site frame every
 * stack with that address among its candidates points at (clean), or
 * SIZE_MAX when stacks of other sites (or other frames) count in it. */
struct node_owner {
	uint64_t ip;
	size_t site;
	UT_hash_handle hh;
};

static int in_candidates(const pf_stack *s, uint32_t index)
{
	return index >= s->cand_start && index < s->cand_start + s->cand_count;
}

static struct node_owner *node_owners(const analysis *a, const pf_file *f)
{
	struct node_owner *table = NULL;
	for (size_t i = 0; i < a->nstacks; i++) {
		const an_stack *st = &a->stacks[i];
		if (st->file != f)
			continue;
		const pf_stack *s = st->stack;
		uint32_t site_index = st->frames[0].ip_index;
		for (uint32_t c = s->cand_start; c < s->cand_start + s->cand_count;
		     c++) {
			uint64_t ip = s->ips[c];
			/* it counts for this site only through the site frame */
			int mine = c == site_index ||
				   (ip == s->ips[site_index] &&
				    in_candidates(s, site_index));
			struct node_owner *o;
			HASH_FIND(hh, table, &ip, sizeof ip, o);
			if (!o) {
				o = xcalloc(1, sizeof *o);
				o->ip = ip;
				o->site = mine ? st->site : SIZE_MAX;
				HASH_ADD(hh, table, ip, sizeof o->ip, o);
			} else if (!mine || o->site != st->site) {
				o->site = SIZE_MAX;
			}
		}
	}
	return table;
}

static void free_owners(struct node_owner **table)
{
	struct node_owner *o, *tmp;
	HASH_ITER(hh, *table, o, tmp) {
		HASH_DEL(*table, o);
		free(o);
	}
}

/* The site's node addresses in file f: one per stack (its site frame's
 * return address), deduplicated into ips (cap n). Returns how many, or
 * -1 when some stack's site frame is not among its candidates. */
static int site_nodes(const analysis *a, const an_site *s, const pf_file *f,
		      uint64_t *ips, int n)
{
	int k = 0;
	for (size_t i = 0; i < s->nstacks; i++) {
		const an_stack *st = &a->stacks[s->stacks[i]];
		if (st->file != f)
			continue;
		uint32_t idx = st->frames[0].ip_index;
		if (!in_candidates(st->stack, idx))
			return -1;
		uint64_t ip = st->stack->ips[idx];
		int seen = 0;
		for (int j = 0; j < k; j++)
			seen |= ips[j] == ip;
		if (seen)
			continue;
		if (k == n)
			return -1;
		ips[k++] = ip;
	}
	return k;
}

/* The peak of a group of entries of one thread (or, thread 0, of all
 * threads with --site-peak) given the nodes that count them: exact with
 * one clean node, else bounded by the entries and the nodes. */
static an_peak group_peak(const pf_file *f, uint32_t thread,
			  const pf_entry *const *entries, size_t n,
			  const uint64_t *ips, int nips,
			  struct node_owner *owners, size_t site, uint64_t k)
{
	an_peak p = { 0 };
	uint64_t hi = 0, bytes_hi = 0;
	for (size_t i = 0; i < n; i++) {
		const pf_entry *e = entries[i];
		uint64_t bytes = f->version >= 2
					 ? e->peak_bytes
					 : sat_mul(e->peak_live, e->size_max);
		if (thread) {
			if (e->peak_live > p.lo)
				p.lo = e->peak_live;
			if (f->version >= 2 && bytes > p.bytes_lo)
				p.bytes_lo = bytes;
		}
		hi = sat_add(hi, e->peak_live);
		bytes_hi = sat_add(bytes_hi, bytes);
	}
	if (nips > 0 && (thread || (f->flags & PS_PROC_FLAG_SITE_PEAK))) {
		uint64_t sum = 0, bsum = 0;
		int found = 1;
		for (int j = 0; j < nips; j++) {
			const pf_node_peak *np = pf_node_peak_find(f, thread, ips[j]);
			if (!np) {
				found = 0;
				break;
			}
			sum = sat_add(sum, np->peak);
			bsum = sat_add(bsum, np->peak_bytes);
			struct node_owner *o = NULL;
			HASH_FIND(hh, owners, &ips[j], sizeof ips[j], o);
			if (o && o->site == site) {
				if (np->peak > p.lo)
					p.lo = np->peak;
				if (np->peak_bytes > p.bytes_lo)
					p.bytes_lo = np->peak_bytes;
			}
		}
		if (found) {
			if (sum < hi)
				hi = sum;
			if (bsum < bytes_hi)
				bytes_hi = bsum;
		}
	}
	p.hi = hi;
	p.bytes_hi = bytes_hi;
	if (p.lo > p.hi)
		p.lo = p.hi;
	if (p.bytes_lo > p.bytes_hi)
		p.bytes_lo = p.bytes_hi;
	p.lo = sat_mul(p.lo, k);
	p.hi = sat_mul(p.hi, k);
	p.bytes_lo = sat_mul(p.bytes_lo, k);
	p.bytes_hi = sat_mul(p.bytes_hi, k);
	return p;
}

static void peak_max(an_peak *into, const an_peak *p)
{
	if (p->lo > into->lo)
		into->lo = p->lo;
	if (p->hi > into->hi)
		into->hi = p->hi;
	if (p->bytes_lo > into->bytes_lo)
		into->bytes_lo = p->bytes_lo;
	if (p->bytes_hi > into->bytes_hi)
		into->bytes_hi = p->bytes_hi;
}

#define MAX_SITE_NODES 16

/* An entry of one file with the site and thread it belongs to. */
struct tagged {
	size_t site;
	uint32_t thread;
	const pf_entry *e;
};

static int by_site_thread(const void *pa, const void *pb)
{
	const struct tagged *a = pa, *b = pb;
	if (a->site != b->site)
		return a->site < b->site ? -1 : 1;
	if (a->thread != b->thread)
		return a->thread < b->thread ? -1 : 1;
	return 0;
}

/* The entries of file f with allocations, grouped by (site, thread). */
static struct tagged *tag_entries(const analysis *a, const pf_file *f,
				  size_t *const pos, size_t *n)
{
	struct tagged *v = xcalloc(f->nentries + 1, sizeof *v);
	*n = 0;
	for (size_t i = 0; i < f->nentries; i++) {
		const pf_entry *e = &f->entries[i];
		if (!e->allocs)
			continue;
		v[(*n)++] = (struct tagged){ a->stacks[pos[e->stack_id]].site,
					     e->thread_index, e };
	}
	qsort(v, *n, sizeof *v, by_site_thread);
	return v;
}

/* Peaks, thread peaks and thread counts of every site. */
static void site_peaks(analysis *a, size_t **pos_of_file)
{
	struct contribs *all = xcalloc(a->nsites ? a->nsites : 1, sizeof *all);
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		struct node_owner *owners = node_owners(a, f);
		uint64_t k = pf_scale(f);
		size_t n;
		struct tagged *v = tag_entries(a, f, pos_of_file[fi], &n);
		const pf_entry **group = xcalloc(n + 1, sizeof *group);
		for (size_t i = 0; i < n;) {
			size_t si = v[i].site, file_first = i;
			an_site *s = &a->sites[si];
			uint64_t ips[MAX_SITE_NODES];
			int nips = site_nodes(a, s, f, ips, MAX_SITE_NODES);
			struct contribs mine = { 0 };
			struct window fw = { 0 };
			while (i < n && v[i].site == si) {
				uint32_t t = v[i].thread;
				size_t g = 0;
				struct window w = { 0 };
				for (; i < n && v[i].site == si && v[i].thread == t; i++) {
					group[g++] = v[i].e;
					window_add(&w, a, f, v[i].e);
					window_add(&fw, a, f, v[i].e);
				}
				s->alloc_threads++;
				an_peak p = group_peak(f, t, group, g, ips, nips,
						       owners, si, k);
				peak_max(&s->thread_peak, &p);
				contrib_add(&mine, &p, w.from, window_end(&w, a, f));
			}
			/* --site-peak: the all-thread count of the site's one
			 * clean node is exact and stands for every thread */
			const pf_node_peak *np =
				(f->flags & PS_PROC_FLAG_SITE_PEAK) && nips == 1
					? pf_node_peak_find(f, 0, ips[0])
					: NULL;
			struct node_owner *o = NULL;
			if (np)
				HASH_FIND(hh, owners, &ips[0], sizeof ips[0], o);
			if (np && o && o->site == si) {
				an_peak p = { sat_mul(np->peak, k), sat_mul(np->peak, k),
					      sat_mul(np->peak_bytes, k),
					      sat_mul(np->peak_bytes, k) };
				contrib_add(&all[si], &p, fw.from,
					    window_end(&fw, a, f));
			} else {
				for (size_t c = 0; c < mine.n; c++)
					contrib_add(&all[si], &mine.v[c].p,
						    mine.v[c].from, mine.v[c].to);
			}
			free(mine.v);
			(void)file_first;
		}
		free(group);
		free(v);
		free_owners(&owners);
	}
	for (size_t si = 0; si < a->nsites; si++) {
		an_site *s = &a->sites[si];
		s->peak = combine(&all[si], s->allocs, s->alloc_bytes);
		free(all[si].v);
	}
	free(all);
}

/* Peaks of every stack across its threads: each (stack, thread) entry's
 * own peak is exact; --site-peak adds the exact all-thread one. */
static void stack_peaks(analysis *a, size_t **pos_of_file)
{
	struct contribs *all = xcalloc(a->nstacks ? a->nstacks : 1, sizeof *all);
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		uint64_t k = pf_scale(f);
		for (size_t i = 0; i < f->nentries; i++) {
			const pf_entry *e = &f->entries[i];
			if (!e->allocs)
				continue;
			struct window w = { 0 };
			window_add(&w, a, f, e);
			uint64_t bytes = f->version >= 2
						 ? e->peak_bytes
						 : sat_mul(e->peak_live, e->size_max);
			an_peak p = { sat_mul(e->peak_live, k), sat_mul(e->peak_live, k),
				      f->version >= 2 ? sat_mul(bytes, k) : 0,
				      sat_mul(bytes, k) };
			contrib_add(&all[pos_of_file[fi][e->stack_id]], &p, w.from,
				    window_end(&w, a, f));
		}
	}
	for (size_t i = 0; i < a->nstacks; i++) {
		an_stack *st = &a->stacks[i];
		st->peak = combine(&all[i], st->allocs, st->alloc_bytes);
		const pf_file *f = st->file;
		if ((f->flags & PS_PROC_FLAG_SITE_PEAK) && st->stack->peak_live &&
		    all[i].n) {
			/* exact for this file; other files' stacks are apart */
			uint64_t exact = sat_mul(st->stack->peak_live, pf_scale(f));
			if (exact >= st->peak.lo && exact <= st->peak.hi)
				st->peak.lo = st->peak.hi = exact;
		}
		free(all[i].v);
	}
	free(all);
}

/* What a thread's entries add up to, gathered in one pass. */
struct thread_acc {
	struct window w;
	uint64_t lo, hi, blo, bhi, first, last;
};

/* Threads, processes and the run's totals and peak. */
static void thread_and_process_metrics(analysis *a)
{
	struct contribs run = { 0 };
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		uint64_t k = pf_scale(f);
		an_process *pr = &a->processes[fi];
		pr->file = f;
		pr->start_ns = wall(a, f, 0);
		struct contribs threads = { 0 };
		struct window fw = { 0 };
		struct thread_acc *acc = xcalloc(f->nthreads + 1, sizeof *acc);
		for (size_t i = 0; i < f->nentries; i++) {
			const pf_entry *e = &f->entries[i];
			pr->allocs = sat_add(pr->allocs, sat_mul(e->allocs, k));
			pr->alloc_bytes = sat_add(pr->alloc_bytes,
						  sat_mul(e->alloc_bytes, k));
			pr->frees = sat_add(pr->frees, sat_mul(e->frees, k));
			pr->free_bytes = sat_add(pr->free_bytes, sat_mul(e->free_bytes, k));
			pr->xfrees = sat_add(pr->xfrees, sat_mul(e->xfrees, k));
			if (!e->allocs || e->thread_index >= f->nthreads)
				continue;
			struct thread_acc *t = &acc[e->thread_index];
			if (!t->w.any)
				t->first = UINT64_MAX;
			window_add(&t->w, a, f, e);
			window_add(&fw, a, f, e);
			uint64_t b = f->version >= 2 ? e->peak_bytes
						     : sat_mul(e->peak_live, e->size_max);
			if (e->peak_live > t->lo)
				t->lo = e->peak_live;
			if (f->version >= 2 && b > t->blo)
				t->blo = b;
			t->hi = sat_add(t->hi, e->peak_live);
			t->bhi = sat_add(t->bhi, b);
			uint64_t ef, el;
			entry_times(a, f, e, &ef, &el);
			if (ef < t->first)
				t->first = ef;
			if (el > t->last)
				t->last = el;
		}
		for (size_t ti = 0; ti < f->nthreads; ti++) {
			const pf_thread *th = f->threads[ti];
			if (!th)
				continue;
			a->threads = xrealloc(a->threads, (a->nthreads + 1) *
								  sizeof *a->threads);
			an_thread *at = &a->threads[a->nthreads++];
			memset(at, 0, sizeof *at);
			at->file = f;
			at->thread = th;
			at->allocs = sat_mul(th->allocs, k);
			at->alloc_bytes = sat_mul(th->alloc_bytes, k);
			at->frees = sat_mul(th->frees, k);
			at->free_bytes = sat_mul(th->free_bytes, k);
			at->xfrees = sat_mul(th->xfrees, k);
			pr->nthreads++;
			pr->unknown_frees = sat_add(pr->unknown_frees, th->unknown_frees);
			pr->unrecorded_allocs = sat_add(pr->unrecorded_allocs,
							th->unrecorded_allocs);
			struct thread_acc *t = &acc[ti];
			if (!t->w.any)
				continue;
			/* the thread's total node (address 0) is exact */
			const pf_node_peak *np = pf_node_peak_find(f, th->index, 0);
			if (np && np->peak >= t->lo && np->peak <= t->hi) {
				t->lo = t->hi = np->peak;
				t->blo = t->bhi = np->peak_bytes;
			}
			at->peak = (an_peak){ sat_mul(t->lo, k), sat_mul(t->hi, k),
					      sat_mul(t->blo, k), sat_mul(t->bhi, k) };
			at->first_alloc_ns = t->first - pr->start_ns;
			at->last_alloc_ns = t->last - pr->start_ns;
			double window = (double)(t->last - t->first);
			at->rate_per_s = (double)at->allocs /
					 ((window > 1e6 ? window : 1e6) / 1e9);
			contrib_add(&threads, &at->peak, t->w.from,
				    window_end(&t->w, a, f));
		}
		free(acc);
		pr->peak = combine(&threads, pr->allocs, pr->alloc_bytes);
		const pf_node_peak *np = (f->flags & PS_PROC_FLAG_SITE_PEAK)
						 ? pf_node_peak_find(f, 0, 0)
						 : NULL;
		if (np) {
			uint64_t p = sat_mul(np->peak, k), b = sat_mul(np->peak_bytes, k);
			if (p >= pr->peak.lo && p <= pr->peak.hi)
				pr->peak.lo = pr->peak.hi = p;
			if (b >= pr->peak.bytes_lo && b <= pr->peak.bytes_hi)
				pr->peak.bytes_lo = pr->peak.bytes_hi = b;
		}
		free(threads.v);
		if (fw.any)
			contrib_add(&run, &pr->peak, fw.from, window_end(&fw, a, f));
		a->allocs = sat_add(a->allocs, pr->allocs);
		a->alloc_bytes = sat_add(a->alloc_bytes, pr->alloc_bytes);
		a->frees = sat_add(a->frees, pr->frees);
		a->free_bytes = sat_add(a->free_bytes, pr->free_bytes);
		a->xfrees = sat_add(a->xfrees, pr->xfrees);
	}
	a->inuse_objects = a->allocs - a->frees;
	a->inuse_space = a->alloc_bytes - a->free_bytes;
	a->peak = combine(&run, a->allocs, a->alloc_bytes);
	free(run.v);
}

/* ---- lifetimes ---------------------------------------------------------------- */

/* A lifetime histogram bucket of one file, as an interval of ns. */
struct life_span {
	double lo, hi;
	uint64_t count;
};

static int by_lo(const void *pa, const void *pb)
{
	const struct life_span *a = pa, *b = pb;
	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static int by_hi(const void *pa, const void *pb)
{
	const struct life_span *a = pa, *b = pb;
	return a->hi < b->hi ? -1 : a->hi > b->hi;
}

/* The interval [lo, hi) that holds the value of rank ceil(p * total):
 * sorted by lower edges, the edge where the count reaches the rank is a
 * lower bound; sorted by upper edges, likewise an upper bound. */
static an_pct percentile(struct life_span *v, size_t n, uint64_t total, double p)
{
	an_pct r = { 0, 0 };
	if (!total)
		return r;
	double rank = ceil(p * (double)total);
	if (rank < 1)
		rank = 1;
	double run = 0;
	qsort(v, n, sizeof *v, by_lo);
	for (size_t i = 0; i < n; i++) {
		run += (double)v[i].count;
		if (run >= rank) {
			r.lo_ns = v[i].lo;
			break;
		}
	}
	run = 0;
	qsort(v, n, sizeof *v, by_hi);
	for (size_t i = 0; i < n; i++) {
		run += (double)v[i].count;
		if (run >= rank) {
			r.hi_ns = v[i].hi;
			break;
		}
	}
	return r;
}

/* Bucket b of a tick histogram holds [2^b, 2^(b+1)) ticks (bucket 0 also
 * 0 and 1, the last one everything above). */
static struct life_span tick_bucket_ns(const pf_file *f, unsigned b)
{
	double lo = b ? ldexp(1.0, (int)b) : 0;
	double hi = b == PS_HIST_BUCKETS - 1 ? INFINITY : ldexp(1.0, (int)b + 1);
	return (struct life_span){ ticks_ns(f, (uint64_t)lo),
				   isinf(hi) ? INFINITY : pf_ticks_to_ns(f, hi), 0 };
}

/* Every site's lifetime buckets, as ns intervals, from its entries. */
static void site_lifetimes(analysis *a, size_t **pos_of_file)
{
	struct spans {
		struct life_span *v;
		size_t n, cap;
	} *sp = xcalloc(a->nsites + 1, sizeof *sp);
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		uint64_t k = pf_scale(f);
		for (size_t i = 0; i < f->nentries; i++) {
			const pf_entry *e = &f->entries[i];
			size_t si = a->stacks[pos_of_file[fi][e->stack_id]].site;
			struct spans *x = &sp[si];
			for (unsigned b = 0; b < PS_HIST_BUCKETS; b++) {
				if (!e->life_hist[b])
					continue;
				if (x->n == x->cap) {
					x->cap = x->cap ? x->cap * 2 : 8;
					x->v = xrealloc(x->v, x->cap * sizeof *x->v);
				}
				x->v[x->n] = tick_bucket_ns(f, b);
				x->v[x->n++].count = sat_mul(e->life_hist[b], k);
				a->sites[si].lifetimes = sat_add(
					a->sites[si].lifetimes,
					sat_mul(e->life_hist[b], k));
			}
		}
	}
	for (size_t si = 0; si < a->nsites; si++) {
		an_site *s = &a->sites[si];
		s->lifetime_p50 = percentile(sp[si].v, sp[si].n, s->lifetimes, 0.50);
		s->lifetime_p99 = percentile(sp[si].v, sp[si].n, s->lifetimes, 0.99);
		free(sp[si].v);
	}
	free(sp);
}

/* ---- the timeline and the rates ------------------------------------------------ */

/* The bin of the snapshot interval that ends at snapshot j of file f: the
 * bin holding the interval's middle. */
static size_t step_bin(const analysis *a, const pf_file *f, uint32_t j)
{
	uint64_t end = f->snaps[j].t_ns;
	uint64_t begin = j ? f->snaps[j - 1].t_ns : 0;
	uint64_t mid = wall(a, f, begin + (end - begin) / 2);
	size_t bin = (size_t)(mid / a->timeline.bin_ns);
	return bin < a->timeline.nbins ? bin : a->timeline.nbins - 1;
}

/* Length of bin i (the last one may be cut by the run's end), >= 1 ms. */
static double bin_seconds(const analysis *a, size_t i)
{
	uint64_t start = (uint64_t)i * a->timeline.bin_ns;
	uint64_t len = a->timeline.bin_ns;
	if (start + len > a->duration_ns)
		len = a->duration_ns > start ? a->duration_ns - start : 0;
	return (double)(len > 1000000 ? len : 1000000) / 1e9;
}

struct site_step {
	size_t site, bin;
	uint64_t allocs, alloc_bytes, frees, free_bytes;
};

static int by_site_bin(const void *pa, const void *pb)
{
	const struct site_step *a = pa, *b = pb;
	if (a->site != b->site)
		return a->site < b->site ? -1 : 1;
	return a->bin < b->bin ? -1 : a->bin > b->bin;
}

static void timeline_and_rates(analysis *a, size_t **pos_of_file)
{
	an_timeline *tl = &a->timeline;
	uint32_t interval_ms = 0;
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		uint32_t ms = a->set->files[fi]->interval_ms;
		if (!interval_ms || ms < interval_ms)
			interval_ms = ms;
	}
	tl->bin_ns = (uint64_t)(interval_ms ? interval_ms : 100) * 1000000u;
	tl->nbins = (size_t)(a->duration_ns / tl->bin_ns) + 1;
	if (tl->nbins > 1000000) { /* a run of days at 1 ms: coarser bins */
		tl->bin_ns = a->duration_ns / 1000000 + 1;
		tl->nbins = (size_t)(a->duration_ns / tl->bin_ns) + 1;
	}
	tl->allocs = xcalloc(tl->nbins, sizeof *tl->allocs);
	tl->alloc_bytes = xcalloc(tl->nbins, sizeof *tl->alloc_bytes);
	tl->frees = xcalloc(tl->nbins, sizeof *tl->frees);
	tl->free_bytes = xcalloc(tl->nbins, sizeof *tl->free_bytes);

	size_t nsteps = 0, cap = 1024;
	struct site_step *steps = xcalloc(cap, sizeof *steps);
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		uint64_t k = pf_scale(f);
		for (size_t i = 0; i < f->nentries; i++) {
			const pf_entry *e = &f->entries[i];
			size_t site = a->stacks[pos_of_file[fi][e->stack_id]].site;
			for (size_t j = 0; j < e->nsteps; j++) {
				const pf_step *p = &e->steps[j];
				size_t bin = step_bin(a, f, p->snapshot);
				struct site_step x = {
					site, bin, sat_mul(p->allocs, k),
					sat_mul(p->alloc_bytes, k), sat_mul(p->frees, k),
					sat_mul(p->free_bytes, k)
				};
				tl->allocs[bin] = sat_add(tl->allocs[bin], x.allocs);
				tl->alloc_bytes[bin] = sat_add(tl->alloc_bytes[bin],
							       x.alloc_bytes);
				tl->frees[bin] = sat_add(tl->frees[bin], x.frees);
				tl->free_bytes[bin] = sat_add(tl->free_bytes[bin],
							      x.free_bytes);
				if (nsteps == cap)
					steps = xrealloc(steps, (cap *= 2) * sizeof *steps);
				steps[nsteps++] = x;
			}
		}
	}
	/* the bin after which the most bytes were in use */
	uint64_t inuse = 0, best = 0;
	tl->peak_bin = 0;
	for (size_t i = 0; i < tl->nbins; i++) {
		inuse += tl->alloc_bytes[i] - tl->free_bytes[i];
		if (inuse > best) {
			best = inuse;
			tl->peak_bin = i;
		}
	}
	/* per site: the busiest bin, and what was live after the peak bin */
	qsort(steps, nsteps, sizeof *steps, by_site_bin);
	for (size_t i = 0; i < nsteps;) {
		an_site *s = &a->sites[steps[i].site];
		size_t site = steps[i].site;
		while (i < nsteps && steps[i].site == site) {
			size_t bin = steps[i].bin;
			uint64_t allocs = 0;
			for (; i < nsteps && steps[i].site == site &&
			       steps[i].bin == bin; i++) {
				allocs += steps[i].allocs;
				if (bin <= tl->peak_bin) {
					s->live_at_peak_objects +=
						steps[i].allocs - steps[i].frees;
					s->live_at_peak_space +=
						steps[i].alloc_bytes - steps[i].free_bytes;
				}
			}
			double rate = (double)allocs / bin_seconds(a, bin);
			if (rate > s->rate_peak_per_s)
				s->rate_peak_per_s = rate;
		}
	}
	free(steps);

	double run_s = (double)(a->duration_ns > 1000000 ? a->duration_ns
							 : 1000000) / 1e9;
	for (size_t i = 0; i < a->nsites; i++) {
		an_site *s = &a->sites[i];
		if (s->first_alloc_ns == UINT64_MAX)
			s->first_alloc_ns = s->last_alloc_ns = 0;
		double window = (double)(s->last_alloc_ns - s->first_alloc_ns);
		s->rate_per_s = (double)s->allocs /
				((window > 1e6 ? window : 1e6) / 1e9);
		s->rate_run_per_s = (double)s->allocs / run_s;
		s->bytes_run_per_s = (double)s->alloc_bytes / run_s;
		/* some stretch of the window is at least as busy as the
		 * window's average, whatever the bins' alignment */
		if (s->rate_peak_per_s < s->rate_per_s)
			s->rate_peak_per_s = s->rate_per_s;
	}
}

/* ---- symbols ---------------------------------------------------------------------- */

struct addr_seen {
	uint64_t key[2]; /* module pointer, ip */
	UT_hash_handle hh;
};

/* Counts distinct addresses with and without names per module, and the
 * allocations whose site has no name. */
static void symbol_coverage(analysis *a)
{
	struct addr_seen *seen = NULL;
	for (size_t i = 0; i < a->nstacks; i++) {
		const an_stack *st = &a->stacks[i];
		for (unsigned k = 0; k < st->nall; k++) {
			const an_frame *f = &st->all[k];
			if (f->inlined)
				continue;
			uint64_t key[2] = { (uint64_t)(uintptr_t)f->module, f->ip };
			struct addr_seen *x;
			HASH_FIND(hh, seen, key, sizeof key, x);
			int fresh = !x;
			if (fresh) {
				x = xcalloc(1, sizeof *x);
				memcpy(x->key, key, sizeof key);
				HASH_ADD(hh, seen, key, sizeof x->key, x);
				a->frames++;
			}
			int site_frame = k == st->nskipped;
			if (f->symbolized || (!fresh && !site_frame))
				continue;
			an_unsymbolized *u = NULL;
			for (size_t m = 0; m < a->nunsymbolized; m++)
				if (!strcmp(a->unsymbolized[m].module, f->module))
					u = &a->unsymbolized[m];
			if (!u) {
				a->unsymbolized = xrealloc(
					a->unsymbolized,
					(a->nunsymbolized + 1) * sizeof *a->unsymbolized);
				u = &a->unsymbolized[a->nunsymbolized++];
				memset(u, 0, sizeof *u);
				u->module = f->module;
				const pf_module *pm = pf_module_for(
					st->file, f->ip, st->stack->map_epoch);
				u->status = pm ? sym_module_status(a->sym, pm)
					       : "no module maps the address";
			}
			if (fresh) {
				u->frames++;
				a->unsymbolized_frames++;
			}
			if (site_frame)
				u->allocs = sat_add(u->allocs, st->allocs);
		}
	}
	struct addr_seen *x, *tmp;
	HASH_ITER(hh, seen, x, tmp) {
		HASH_DEL(seen, x);
		free(x);
	}
}

/* ---- filters ------------------------------------------------------------------------ */

struct entry_filter {
	const pf_file *f;
	const analysis *a;
	const an_opts *o;
	const unsigned char *stack_kept; /* by stack id */
	const unsigned char *thread_kept; /* by thread index */
	uint64_t *seen_from, *seen_to;   /* the intervals kept, in the run */
};

/* Keeps an entry of a kept stack and thread; with a time window, trims
 * its counts to the snapshot intervals whose middle lies inside it (the
 * histograms, peaks and realloc counts stay the whole run's). */
static int keep_entry(pf_entry *e, void *arg)
{
	const struct entry_filter *x = arg;
	if (e->stack_id >= x->f->nstacks || !x->stack_kept[e->stack_id] ||
	    e->thread_index >= x->f->nthreads || !x->thread_kept[e->thread_index])
		return 0;
	if (!x->o->from_ns && !x->o->to_ns)
		return 1;
	uint64_t to = x->o->to_ns ? x->o->to_ns : UINT64_MAX;
	pf_entry w = *e;
	w.allocs = w.alloc_bytes = w.frees = w.free_bytes = 0;
	uint64_t first_ns = UINT64_MAX, last_ns = 0; /* of the kept steps */
	size_t n = 0;
	for (size_t i = 0; i < e->nsteps; i++) {
		const pf_step *st = &e->steps[i];
		uint64_t end = x->f->snaps[st->snapshot].t_ns;
		uint64_t begin = st->snapshot ? x->f->snaps[st->snapshot - 1].t_ns : 0;
		uint64_t mid = wall(x->a, x->f, begin + (end - begin) / 2);
		if (mid < x->o->from_ns || mid >= to)
			continue;
		if (wall(x->a, x->f, begin) < *x->seen_from)
			*x->seen_from = wall(x->a, x->f, begin);
		if (wall(x->a, x->f, end) > *x->seen_to)
			*x->seen_to = wall(x->a, x->f, end);
		if (begin < first_ns)
			first_ns = begin;
		if (end > last_ns)
			last_ns = end;
		w.allocs += st->allocs;
		w.alloc_bytes += st->alloc_bytes;
		w.frees += st->frees;
		w.free_bytes += st->free_bytes;
		e->steps[n++] = *st;
	}
	if (!w.allocs && !w.frees)
		return 0;
	w.nsteps = n;
	if (w.frees > w.allocs) /* frees of blocks from before the window */
		w.frees = w.allocs, w.free_bytes = w.alloc_bytes;
	if (w.xfrees > w.frees)
		w.xfrees = w.frees, w.xfree_bytes = w.free_bytes;
	if (w.peak_live > w.allocs)
		w.peak_live = w.allocs;
	/* the allocation times, kept inside the intervals read (ticks + 1) */
	double per_ns = (double)(x->f->tick_hz ? x->f->tick_hz : 1000000000) / 1e9;
	uint64_t lo = sat_add(to_u64((double)first_ns * per_ns), 1);
	uint64_t hi = sat_add(to_u64((double)last_ns * per_ns), 1);
	if (w.first_alloc_ticks < lo)
		w.first_alloc_ticks = lo;
	if (w.last_alloc_ticks > hi)
		w.last_alloc_ticks = hi;
	if (w.last_alloc_ticks < w.first_alloc_ticks)
		w.last_alloc_ticks = w.first_alloc_ticks;
	if (!w.allocs)
		w.first_alloc_ticks = w.last_alloc_ticks = 0;
	*e = w;
	return 1;
}

/* Whether any frame of stack s (every frame, wrappers too, as pprof's
 * focus does) has a function name matching re. */
static int stack_matches(analysis *a, const pf_file *f, const pf_stack *s,
			 const regex_t *re)
{
	for (uint32_t i = 0; i < s->depth; i++) {
		const sym_loc *loc = sym_lookup(a->sym, f, s->ips[i], s->map_epoch);
		for (unsigned k = 0; k < loc->nframes; k++)
			if (!regexec(re, loc->frames[k].function, 0, NULL, 0))
				return 1;
	}
	return 0;
}

static int compile_filter(regex_t *re, const char *text, const char *opt)
{
	int rc = regcomp(re, text, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char msg[256];
		regerror(rc, re, msg, sizeof msg);
		fprintf(stderr, "poolscout: %s '%s': %s\n", opt, text, msg);
		return 2;
	}
	return 0;
}

/* What --thread selects: a tid (all digits) or a thread name. */
static int thread_matches(const pf_thread *t, const char *want)
{
	char *end;
	unsigned long tid = strtoul(want, &end, 10);
	if (*want && !*end)
		return t->tid == tid;
	return !strcmp(t->name, want);
}

/* Applies the filters of o to the loaded files: drops other processes,
 * other threads, stacks without (or with) a matching frame, and counts
 * outside the time window, so every metric after this is of what is
 * left. Returns 0, or 2 after printing why (a bad expression, or nothing
 * left). */
static int apply_filters(analysis *a, const an_opts *o)
{
	if (!o || (!o->pid && !o->thread && !o->from_ns && !o->to_ns &&
		   !o->focus && !o->ignore))
		return 0;
	regex_t focus, ignore;
	if (o->focus && compile_filter(&focus, o->focus, "--focus"))
		return 2;
	if (o->ignore && compile_filter(&ignore, o->ignore, "--ignore")) {
		if (o->focus)
			regfree(&focus);
		return 2;
	}
	a->filtered = 1;
	int len = 0;
	char *t = a->filter_text;
	size_t cap = sizeof a->filter_text;
#define SAY(...) (len += snprintf(t + len, len < (int)cap ? cap - (size_t)len : 0, __VA_ARGS__))
	if (o->pid)
		SAY(" pid %u", o->pid);
	if (o->thread)
		SAY(" thread %s", o->thread);
	if (o->from_ns || o->to_ns)
		SAY(" time %.3g s..%s", (double)o->from_ns / 1e9,
		    o->to_ns ? "" : "end");
	if (o->to_ns)
		SAY("%.3g s", (double)o->to_ns / 1e9);
	if (o->focus)
		SAY(" focus /%s/", o->focus);
	if (o->ignore)
		SAY(" ignore /%s/", o->ignore);
#undef SAY
	size_t kept_files = 0;
	uint64_t seen_from = UINT64_MAX, seen_to = 0;
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		pf_file *f = a->set->files[fi];
		if (o->pid && f->pid != o->pid) {
			pf_free(f);
			continue;
		}
		a->set->files[kept_files++] = f;
		unsigned char *stack_kept = xcalloc(f->nstacks + 1, 1);
		unsigned char *thread_kept = xcalloc(f->nthreads + 1, 1);
		for (size_t i = 0; i < f->nstacks; i++)
			stack_kept[i] = f->stacks[i] &&
					(!o->focus || stack_matches(a, f, f->stacks[i], &focus)) &&
					(!o->ignore || !stack_matches(a, f, f->stacks[i], &ignore));
		for (size_t i = 0; i < f->nthreads; i++)
			thread_kept[i] = f->threads[i] &&
					 (!o->thread || thread_matches(f->threads[i], o->thread));
		struct entry_filter x = { f, a, o, stack_kept, thread_kept,
					  &seen_from, &seen_to };
		pf_filter_entries(f, keep_entry, &x);
		/* what no entry refers to any more goes too */
		unsigned char *used = xcalloc(f->nstacks + 1, 1);
		for (size_t i = 0; i < f->nentries; i++)
			used[f->entries[i].stack_id] = 1;
		for (size_t i = 0; i < f->nstacks; i++)
			if (!used[i])
				pf_drop_stack(f, (uint32_t)i);
		for (size_t i = 0; i < f->nthreads; i++)
			if (!thread_kept[i])
				pf_drop_thread(f, (uint32_t)i);
		free(used);
		free(stack_kept);
		free(thread_kept);
	}
	a->set->nfiles = kept_files;
	/* a window is as fine as the snapshots: say which one was read */
	if ((o->from_ns || o->to_ns) && seen_to > seen_from) {
		a->window_ns = seen_to - seen_from;
		snprintf(t + len, len < (int)cap ? cap - (size_t)len : 0,
			 " (read as snapshots %.3g s..%.3g s)",
			 (double)seen_from / 1e9, (double)seen_to / 1e9);
	}
	if (o->focus)
		regfree(&focus);
	if (o->ignore)
		regfree(&ignore);
	if (!kept_files) {
		fprintf(stderr, "poolscout: no profile of pid %u among the files "
				"given\n", o->pid);
		return 2;
	}
	return 0;
}

/* ---- loading ------------------------------------------------------------------------ */

int analysis_load(analysis *a, char **files, int nfiles, const an_opts *o)
{
	pf_set *set = xcalloc(1, sizeof *set);
	if (pf_set_load(set, files, nfiles)) {
		memset(a, 0, sizeof *a);
		a->set = set;
		return 2;
	}
	return analysis_load_set(a, set, o);
}

int analysis_load_set(analysis *a, pf_set *set, const an_opts *o)
{
	memset(a, 0, sizeof *a);
	a->set = set;
	a->wrappers = wrappers_new(o);
	if (!a->wrappers)
		return 2;
	a->sym = sym_new();
	if (o && o->no_symbols)
		sym_offline(a->sym);
	a->sample_every = 1;
	a->start_real_ns = UINT64_MAX;
	for (size_t fi = 0; fi < a->set->nfiles; fi++)
		if (a->set->files[fi]->start_real_ns < a->start_real_ns)
			a->start_real_ns = a->set->files[fi]->start_real_ns;
	if (a->start_real_ns == UINT64_MAX)
		a->start_real_ns = 0;
	if (apply_filters(a, o))
		return 2;
	/* the run is what the filters left of it */
	a->start_real_ns = UINT64_MAX;
	for (size_t fi = 0; fi < a->set->nfiles; fi++)
		if (a->set->files[fi]->start_real_ns < a->start_real_ns)
			a->start_real_ns = a->set->files[fi]->start_real_ns;
	if (a->start_real_ns == UINT64_MAX)
		a->start_real_ns = 0;
	a->processes = xcalloc(a->set->nfiles + 1, sizeof *a->processes);

	/* stacks, symbolized; pos_of_file[f][stack id] -> a->stacks index */
	size_t **pos_of_file = xcalloc(a->set->nfiles + 1, sizeof *pos_of_file);
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		if (!f->complete)
			a->partial = 1;
		if (f->sample_every > a->sample_every)
			a->sample_every = f->sample_every;
		uint64_t end = wall(a, f, f->duration_ns);
		if (end > a->duration_ns)
			a->duration_ns = end;
		a->work_units = sat_add(a->work_units, f->work_units);
		pos_of_file[fi] = xcalloc(f->nstacks ? f->nstacks : 1,
					  sizeof *pos_of_file[fi]);
		if (o && o->processes_only)
			continue;
		progress_begin("symbolizing stacks", f->nstacks);
		for (size_t i = 0; i < f->nstacks; i++) {
			progress_tick(i);
			if (!f->stacks[i])
				continue;
			a->stacks = xrealloc(a->stacks, (a->nstacks + 1) *
							       sizeof *a->stacks);
			an_stack *as = &a->stacks[a->nstacks];
			memset(as, 0, sizeof *as);
			as->file = f;
			as->stack = f->stacks[i];
			expand_stack(a, as);
			pos_of_file[fi][i] = a->nstacks++;
		}
		progress_end();
	}
	/* a time window is the run the views see */
	if (a->window_ns)
		a->duration_ns = a->window_ns;
	if (o && o->processes_only) {
		thread_and_process_metrics(a);
		for (size_t fi = 0; fi < a->set->nfiles; fi++)
			free(pos_of_file[fi]);
		free(pos_of_file);
		return 0;
	}
	sum_stacks(a, pos_of_file);
	wrappers_apply(a->wrappers, a->stacks, a->nstacks);

	/* sites */
	for (size_t i = 0; i < a->nstacks; i++) {
		an_stack *st = &a->stacks[i];
		st->site = site_for(a, st);
		add_stack_to_site(&a->sites[st->site], st, i);
	}
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		for (size_t i = 0; i < f->nentries; i++) {
			const pf_entry *e = &f->entries[i];
			add_entry(a, f, e,
				  &a->sites[a->stacks[pos_of_file[fi][e->stack_id]].site]);
		}
	}
	for (size_t i = 0; i < a->nsites; i++) {
		an_site *s = &a->sites[i];
		if (s->size_min == UINT64_MAX)
			s->size_min = 0;
		s->inuse_objects = s->allocs - s->frees;
		s->inuse_space = s->alloc_bytes - s->free_bytes;
		s->xfree_ratio = s->frees ? (double)s->xfrees / (double)s->frees : 0;
		s->allocs_error95 = 1.96 * sqrt(s->allocs_error95);
	}
	site_lifetimes(a, pos_of_file);
	site_peaks(a, pos_of_file);
	stack_peaks(a, pos_of_file);
	thread_and_process_metrics(a);
	timeline_and_rates(a, pos_of_file);
	symbol_coverage(a);
	for (size_t fi = 0; fi < a->set->nfiles; fi++)
		free(pos_of_file[fi]);
	free(pos_of_file);
	return 0;
}

void analysis_free(analysis *a)
{
	for (size_t i = 0; i < a->nstacks; i++)
		free(a->stacks[i].all);
	free(a->stacks);
	for (size_t i = 0; i < a->nsites; i++) {
		free(a->sites[i].stacks);
		free(a->sites[i].stack_allocs);
	}
	free(a->sites);
	free(a->ranked);
	struct an_site_index *ix, *tmp;
	HASH_ITER(hh, a->site_index, ix, tmp) {
		HASH_DEL(a->site_index, ix);
		free(ix->key);
		free(ix);
	}
	free(a->threads);
	free(a->processes);
	free(a->unsymbolized);
	free(a->timeline.allocs);
	free(a->timeline.alloc_bytes);
	free(a->timeline.frees);
	free(a->timeline.free_bytes);
	wrappers_free(a->wrappers);
	sym_free(a->sym);
	if (a->set) {
		pf_set_free(a->set);
		free(a->set);
	}
	memset(a, 0, sizeof *a);
}
