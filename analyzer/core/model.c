/* model.c - from validated profiles to every metric the views print (see
 * model.h for the definitions, docs/ranking.md for the user's version).
 *
 * Order of work, in two passes over the files. First, file by file: the
 * filters, the stacks symbolized (each distinct address of a file looked
 * up once) with their counts summed. Then, once every stack is known:
 * the wrapper rules pick each stack's site. Second, file by file again:
 * the file's entries folded into sites, stacks, threads, its process and
 * the timeline, and what each site's peak needs from the file (peaks.c's
 * rules, below). Last, what needs every file: peaks across threads and
 * processes, lifetime percentiles, the rates. Nothing in the two passes
 * looks at another file, so a stream of files (o->stream) is read one
 * at a time, twice, and only the model and one file are in memory.
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

/* The frames of every stack and the stacks' arrays of pointers to
 * them, in chunks freed with the analysis. */
struct an_frame_chunk {
	struct an_frame_chunk *next;
	size_t used, bytes; /* used: bytes of data[] */
	uint64_t data[];
};

/* ---- helpers -------------------------------------------------------------- */

const char *frame_label(char *buf, size_t len, const an_frame *f)
{
	if (f->file) {
		const char *base = strrchr(f->file, '/');
		snprintf(buf, len, "%s (%s:%u)", f->function,
			 base ? base + 1 : f->file, f->line);
	} else {
		/* the call address, unless the name is that address already:
		 * sites without a line are keyed by it (site_for), so two
		 * calls in one function named by the symbol table alone are
		 * two rows, which the name by itself would not tell apart */
		char at[32];
		snprintf(at, sizeof at, "+0x%llx", (unsigned long long)f->offset);
		size_t n = strlen(f->function), k = strlen(at);
		if (n >= k && !strcmp(f->function + n - k, at))
			snprintf(buf, len, "%s", f->function);
		else
			snprintf(buf, len, "%s at 0x%llx", f->function,
				 (unsigned long long)f->offset);
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


/* ---- loading: what is kept from one file to the next ---------------------- */

/* The resolved addresses of one file: (ip, map epoch) -> what the
 * symbolizer found, so each distinct address of a file is looked up once
 * however many stacks pass through it (open addressing). */
struct ip_slot {
	uint64_t ip;
	const sym_loc *loc;
	uint32_t epoch;
	unsigned char used;
};

struct ip_table {
	struct ip_slot *slots;
	size_t cap, n;
};

/* Stacks of several files with the same frames (o->stream): the k-th
 * stack of each file with these frames is the same stack of the model,
 * so one file's stacks never merge and a file's stacks stay apart. */
struct frames_group {
	uint64_t hash;
	uint32_t last_file;    /* 1 + the file that used the group last */
	uint32_t used_in_file; /* how many of that file's stacks it matched */
	uint32_t first;        /* a->stacks index of the first such stack */
	uint32_t nmore;
	uint32_t *more;        /* ... of the second, third, ... */
};

/* One contributor to a peak across threads: bounds on its own peak and
 * the wall-clock window in which its blocks can be live. */
struct contrib {
	an_peak p;
	uint64_t from, to;
};

/* Most stacks and sites have one contributor: it needs no allocation. */
struct contribs {
	struct contrib one;
	struct contrib *more; /* the second, third, ... */
	uint32_t n, cap;      /* cap: of more */
};

/* The contributors of a stack with two or more. */
struct stack_more {
	size_t stack; /* a->stacks index */
	struct contribs c;
	UT_hash_handle hh;
};

static const struct contrib *contrib_at(const struct contribs *c, size_t i)
{
	return i ? &c->more[i - 1] : &c->one;
}

/* A lifetime histogram bucket of one file, as an interval of ns. */
struct life_span {
	double lo, hi;
	uint64_t count;
};

struct spans {
	struct life_span *v;
	size_t n, cap;
};

/* What a site allocated and freed in one timeline bin. */
struct site_step {
	size_t site, bin;
	uint64_t allocs, alloc_bytes, frees, free_bytes;
};

struct addr_seen {
	uint64_t key[2]; /* module pointer, ip */
	UT_hash_handle hh;
};

/* The state of one load across its files and passes. */
struct build {
	analysis *a;
	const an_opts *o;
	int merge;               /* o->stream: merge stacks across files */
	/* per file (in the order kept): stack id -> 1 + a->stacks index */
	uint32_t **pos;
	size_t *npos;
	size_t nfiles, capfiles;
	/* per stack */
	size_t capstacks;
	uint32_t *first_file;    /* the file it was first seen in */
	unsigned char *merged;   /* stacks of several files are in it */
	unsigned char *want_peak; /* o->stream: the stacks whose peak is
				   * computed (AN_SITE_STACK_PEAKS per site) */
	/* o->stream: stacks by their frames */
	struct frames_group *groups;
	size_t ngroups, capgroups;
	uint32_t *group_slots;   /* 1 + groups index; open addressing */
	size_t group_cap;
	an_frame *scratch;       /* the stack being expanded */
	size_t capscratch;
	/* every distinct frame of the model, once (stacks point at them):
	 * open addressing, frame_cap a power of two */
	const an_frame **frame_slots;
	size_t frame_cap, nframes;
	const sym_loc *locs[256]; /* what each address of it names (a stack
				   * has at most 256: the reader's bound) */
	struct addr_seen *seen;  /* distinct code addresses */
	/* the run, from the files' headers */
	unsigned __int128 max_end; /* latest start + duration (realtime) */
	uint64_t min_start;
	uint32_t min_interval_ms;
	/* every process's parent and span (realtime), sorted by parent
	 * before the second pass: the children a process waited for */
	struct proc_span *procs;
	size_t nprocs, capprocs;
	/* of the file being folded, per snapshot interval, the time some
	 * child of its process ran (child_cover) */
	uint64_t *cover;
	size_t capcover;
	/* what the second pass gathers for the end */
	struct contribs *site_contribs, run;
	/* per stack, its peak's contributors: how many (2: two or more, in
	 * stack_more), and the first one's window (its bounds wait in
	 * an_stack.peak until finish) */
	unsigned char *stack_ncontribs;
	uint64_t (*stack_window)[2];
	struct stack_more *stack_more;
	struct spans *spans;
	/* per (site, bin), open addressing (site SIZE_MAX: empty), as
	 * many as the sites' bins, not as the entries' steps */
	struct site_step *steps;
	size_t nsteps, capsteps;
	size_t capthreads;
};

static void build_init(struct build *b, analysis *a, const an_opts *o,
		       int merge)
{
	memset(b, 0, sizeof *b);
	b->a = a;
	b->o = o;
	b->merge = merge;
	b->min_start = UINT64_MAX;
}

static void build_free(struct build *b)
{
	for (size_t i = 0; i < b->nfiles; i++)
		free(b->pos[i]);
	free(b->pos);
	free(b->npos);
	free(b->procs);
	free(b->cover);
	free(b->first_file);
	free(b->merged);
	free(b->want_peak);
	for (size_t i = 0; i < b->ngroups; i++)
		free(b->groups[i].more);
	free(b->groups);
	free(b->group_slots);
	free(b->scratch);
	free(b->frame_slots);
	struct addr_seen *x, *tmp;
	HASH_ITER(hh, b->seen, x, tmp) {
		HASH_DEL(b->seen, x);
		free(x);
	}
	size_t nsites = b->a->nsites;
	for (size_t i = 0; b->site_contribs && i < nsites; i++)
		free(b->site_contribs[i].more);
	free(b->site_contribs);
	free(b->stack_ncontribs);
	free(b->stack_window);
	struct stack_more *m, *mtmp;
	HASH_ITER(hh, b->stack_more, m, mtmp) {
		HASH_DEL(b->stack_more, m);
		free(m->c.more);
		free(m);
	}
	free(b->run.more);
	for (size_t i = 0; b->spans && i < nsites; i++)
		free(b->spans[i].v);
	free(b->spans);
	free(b->steps);
	memset(b, 0, sizeof *b);
}

/* The stack of file fi (in the order kept) with id, or NULL. */
static an_stack *stack_of(const struct build *b, size_t fi, uint32_t id)
{
	if (id >= b->npos[fi] || !b->pos[fi][id])
		return NULL;
	return &b->a->stacks[b->pos[fi][id] - 1];
}

/* size bytes (a multiple of 8) that live as long as the analysis. */
static void *model_alloc(analysis *a, size_t size)
{
	struct an_frame_chunk *c = a->frame_chunks;
	if (!c || c->bytes - sizeof *c - c->used < size) {
		/* 1 MiB to start with, then larger (pages not yet used take
		 * no memory) */
		size_t bytes = (size_t)1 << 20;
		if (c && c->bytes < (64u << 20))
			bytes = 2 * c->bytes;
		else if (c)
			bytes = c->bytes;
		while (bytes < sizeof *c + size)
			bytes *= 2;
		c = xmalloc(bytes);
		c->used = 0;
		c->bytes = bytes;
		c->next = a->frame_chunks;
		a->frame_chunks = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += size;
	return p;
}

/* ---- symbols ---------------------------------------------------------------------- */

/* The entry for the module named module among the unsymbolized ones,
 * made (with what the symbolizer found for it) if new. */
static an_unsymbolized *unsymbolized_for(analysis *a, const char *module,
					 const pf_file *f, uint64_t ip,
					 uint32_t epoch)
{
	for (size_t m = 0; m < a->nunsymbolized; m++)
		if (!strcmp(a->unsymbolized[m].module, module))
			return &a->unsymbolized[m];
	if (!f)
		return NULL;
	a->unsymbolized = xrealloc(a->unsymbolized, (a->nunsymbolized + 1) *
							     sizeof *a->unsymbolized);
	an_unsymbolized *u = &a->unsymbolized[a->nunsymbolized++];
	memset(u, 0, sizeof *u);
	u->module = module;
	const pf_module *pm = pf_module_for(f, ip, epoch);
	u->status = pm ? sym_module_status(a->sym, pm)
		       : "no module maps the address";
	return u;
}

/* Counts a code address (a frame that is no inlined callee) the first
 * time any stack of any file shows it: distinct addresses with and
 * without names, per module. */
static void cover_address(struct build *b, const pf_file *f, uint32_t epoch,
			  const char *module, uint64_t ip, int symbolized)
{
	analysis *a = b->a;
	uint64_t key[2] = { (uint64_t)(uintptr_t)module, ip };
	struct addr_seen *x;
	HASH_FIND(hh, b->seen, key, sizeof key, x);
	if (x)
		return;
	x = xcalloc(1, sizeof *x);
	memcpy(x->key, key, sizeof key);
	HASH_ADD(hh, b->seen, key, sizeof x->key, x);
	a->frames++;
	if (symbolized)
		return;
	an_unsymbolized *u = unsymbolized_for(a, module, f, ip, epoch);
	u->frames++;
	a->unsymbolized_frames++;
}

/* The allocations whose site has no name, per module. */
static void site_coverage(analysis *a)
{
	for (size_t i = 0; i < a->nstacks; i++) {
		const an_stack *st = &a->stacks[i];
		const an_frame *f = st->all[st->nskipped];
		if (f->inlined || f->symbolized)
			continue;
		an_unsymbolized *u = unsymbolized_for(a, f->module, NULL, 0, 0);
		if (u)
			u->allocs = sat_add(u->allocs, st->allocs);
	}
}

/* ---- stacks ----------------------------------------------------------------- */

/* What file f's address ip at map epoch names, looked up once per file;
 * the first time any file shows it, it is counted (cover_address). */
static const sym_loc *resolve_ip(struct build *b, struct ip_table *t,
				 const pf_file *f, uint64_t ip, uint32_t epoch)
{
	if (2 * (t->n + 1) > t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		struct ip_slot *slots = xcalloc(cap, sizeof *slots);
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->slots[i].used)
				continue;
			size_t h = pf_mix64(t->slots[i].ip ^ (uint64_t)t->slots[i].epoch << 48);
			while (slots[h & (cap - 1)].used)
				h++;
			slots[h & (cap - 1)] = t->slots[i];
		}
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	size_t h = pf_mix64(ip ^ (uint64_t)epoch << 48);
	for (;; h++) {
		struct ip_slot *x = &t->slots[h & (t->cap - 1)];
		if (!x->used)
			break;
		if (x->ip == ip && x->epoch == epoch)
			return x->loc;
	}
	const sym_loc *loc = sym_lookup(b->a->sym, f, ip, epoch);
	t->slots[h & (t->cap - 1)] = (struct ip_slot){ ip, loc, epoch, 1 };
	t->n++;
	for (unsigned k = 0; k < loc->nframes; k++)
		if (!loc->frames[k].inlined)
			cover_address(b, f, epoch, loc->module, ip, loc->resolved);
	return loc;
}

/* Symbolizes stack s of file f, every frame with the inlined ones
 * expanded, into b->scratch. Returns how many frames. */
static unsigned expand_stack(struct build *b, struct ip_table *t,
			     const pf_file *f, const pf_stack *s)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < s->depth; i++) {
		b->locs[i] = resolve_ip(b, t, f, s->ips[i], s->map_epoch);
		n += b->locs[i]->nframes;
	}
	unsigned total = n ? n : 1;
	if (total > b->capscratch) {
		b->capscratch = 2 * total + 64;
		b->scratch = xrealloc(b->scratch,
				      b->capscratch * sizeof *b->scratch);
	}
	an_frame *out = b->scratch;
	n = 0;
	for (uint32_t i = 0; i < s->depth; i++) {
		const sym_loc *loc = b->locs[i];
		for (unsigned k = 0; k < loc->nframes; k++)
			out[n++] = (an_frame){
				.function = loc->frames[k].function,
				.file = loc->frames[k].file,
				.line = loc->frames[k].line,
				.module = loc->module,
				.ip = s->ips[i],
				.offset = loc->offset,
				.ip_index = i,
				.inlined = loc->frames[k].inlined,
				.symbolized = loc->resolved,
				.runtime = (unsigned char)loc->frames[k].runtime,
			};
	}
	if (!n) { /* an empty stack (nothing above the allocator) */
		out[n++] = (an_frame){ .function = "[no stack]", .module = "?" };
		cover_address(b, f, s->map_epoch, "?", 0, 0);
	}
	return n;
}

/* Frames equal but for the return address (which differs between
 * processes that load the same code elsewhere). */
static int same_frame(const an_frame *x, const an_frame *y)
{
	return x->function == y->function && x->file == y->file &&
	       x->line == y->line && x->module == y->module &&
	       x->offset == y->offset && x->ip_index == y->ip_index &&
	       x->inlined == y->inlined && x->symbolized == y->symbolized;
}

static int same_frames(const an_frame *const *x, const an_frame *y,
		       unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!same_frame(x[i], &y[i]))
			return 0;
	return 1;
}

static uint64_t frame_hash(const an_frame *f)
{
	uint64_t h = pf_mix64((uint64_t)(uintptr_t)f->function ^ f->ip * 31 ^
			   (uint64_t)f->ip_index << 48);
	return pf_mix64(h ^ f->offset ^ (uint64_t)f->line << 32 ^
		     (uint64_t)(uintptr_t)f->file * 7 ^
		     (uint64_t)(uintptr_t)f->module * 13 ^
		     (uint64_t)f->inlined << 62 ^ (uint64_t)f->symbolized << 63);
}

/* The model's copy of frame f: one for all frames alike. */
static const an_frame *intern_frame(struct build *b, const an_frame *f)
{
	if (2 * (b->nframes + 1) > b->frame_cap) {
		size_t cap = b->frame_cap ? 2 * b->frame_cap : 1024;
		const an_frame **slots = xcalloc(cap, sizeof *slots);
		for (size_t i = 0; i < b->frame_cap; i++) {
			const an_frame *x = b->frame_slots[i];
			if (!x)
				continue;
			size_t h = frame_hash(x);
			while (slots[h & (cap - 1)])
				h++;
			slots[h & (cap - 1)] = x;
		}
		free(b->frame_slots);
		b->frame_slots = slots;
		b->frame_cap = cap;
	}
	size_t h = frame_hash(f);
	for (;; h++) {
		const an_frame *x = b->frame_slots[h & (b->frame_cap - 1)];
		if (!x)
			break;
		if (x->ip == f->ip && same_frame(x, f))
			return x;
	}
	an_frame *copy = model_alloc(b->a, sizeof *copy);
	*copy = *f;
	b->frame_slots[h & (b->frame_cap - 1)] = copy;
	b->nframes++;
	return copy;
}

static uint64_t frames_hash(const an_frame *f, unsigned n)
{
	uint64_t h = n;
	for (unsigned i = 0; i < n; i++)
		h = pf_mix64(h ^ (uint64_t)(uintptr_t)f[i].function ^
			  f[i].offset * 31 ^ (uint64_t)f[i].line << 40);
	return h;
}

static void groups_grow(struct build *b)
{
	size_t cap = b->group_cap ? 2 * b->group_cap : 1024;
	uint32_t *slots = xcalloc(cap, sizeof *slots);
	for (size_t g = 0; g < b->ngroups; g++) {
		size_t h = b->groups[g].hash;
		while (slots[h & (cap - 1)])
			h++;
		slots[h & (cap - 1)] = (uint32_t)(g + 1);
	}
	free(b->group_slots);
	b->group_slots = slots;
	b->group_cap = cap;
}

/* o->stream: the stack of the model that the stack of file fi just
 * expanded into b->scratch (n frames) joins, or SIZE_MAX when it is new;
 * then *group says where to record it. */
static size_t merged_stack(struct build *b, size_t fi, unsigned n,
			   size_t *group)
{
	if (2 * (b->ngroups + 1) > b->group_cap)
		groups_grow(b);
	uint64_t hash = frames_hash(b->scratch, n);
	size_t h = hash;
	struct frames_group *g = NULL;
	for (;; h++) {
		uint32_t slot = b->group_slots[h & (b->group_cap - 1)];
		if (!slot)
			break;
		struct frames_group *x = &b->groups[slot - 1];
		const an_stack *first = &b->a->stacks[x->first];
		if (x->hash == hash && first->nall == n &&
		    same_frames(first->all, b->scratch, n)) {
			g = x;
			break;
		}
	}
	if (!g) {
		if (b->ngroups == b->capgroups) {
			b->capgroups = b->capgroups ? 2 * b->capgroups : 1024;
			b->groups = xrealloc(b->groups,
					     b->capgroups * sizeof *b->groups);
		}
		g = &b->groups[b->ngroups];
		memset(g, 0, sizeof *g);
		g->hash = hash;
		g->first = UINT32_MAX;
		b->group_slots[h & (b->group_cap - 1)] = (uint32_t)++b->ngroups;
	}
	*group = (size_t)(g - b->groups);
	if (g->last_file != fi + 1) {
		g->last_file = (uint32_t)(fi + 1);
		g->used_in_file = 0;
	}
	uint32_t k = g->used_in_file++;
	if (k == 0)
		return g->first == UINT32_MAX ? SIZE_MAX : g->first;
	return k - 1 < g->nmore ? g->more[k - 1] : SIZE_MAX;
}

/* Records a->stacks index idx as the used_in_file-th stack of group. */
static void group_add(struct build *b, size_t group, size_t idx)
{
	struct frames_group *g = &b->groups[group];
	if (g->used_in_file == 1) {
		g->first = (uint32_t)idx;
		return;
	}
	g->more = xrealloc(g->more, (g->nmore + 1) * sizeof *g->more);
	g->more[g->nmore++] = (uint32_t)idx;
}

/* Room for n stacks in the model. */
static void stacks_reserve(struct build *b, size_t n)
{
	analysis *a = b->a;
	if (n <= b->capstacks)
		return;
	b->capstacks = n;
	a->stacks = xrealloc(a->stacks, n * sizeof *a->stacks);
	b->first_file = xrealloc(b->first_file, n * sizeof *b->first_file);
	b->merged = xrealloc(b->merged, n * sizeof *b->merged);
}

/* A new stack of the model for stack s of file fi, with the n frames
 * in b->scratch. */
static size_t new_stack(struct build *b, size_t fi, pf_file *f, pf_stack *s,
			unsigned n)
{
	analysis *a = b->a;
	if (a->nstacks == b->capstacks)
		stacks_reserve(b, b->capstacks ? 2 * b->capstacks : 1024);
	size_t idx = a->nstacks++;
	if (a->nstacks >= UINT32_MAX) {
		fprintf(stderr, "poolscout: more than %u stacks\n", UINT32_MAX - 1);
		exit(1);
	}
	an_stack *st = &a->stacks[idx];
	memset(st, 0, sizeof *st);
	st->file = f;
	st->stack = s;
	const an_frame **all = model_alloc(a, n * sizeof *all);
	for (unsigned i = 0; i < n; i++)
		all[i] = intern_frame(b, &b->scratch[i]);
	st->all = all;
	st->nall = n;
	st->size_min = UINT64_MAX;
	b->first_file[idx] = (uint32_t)fi;
	b->merged[idx] = 0;
	if (b->merge) /* the model keeps the first file's stack */
		f->stacks[s->id] = NULL;
	return idx;
}

/* Sampled: an entry's recorded allocations as independent draws would
 * count them for the variance of its estimate. Each allocation is drawn
 * alone, but a realloc chain is recorded whole or not at all (a realloc
 * of a block not recorded is not either): its L steps here are one draw
 * of weight L, adding L^2 instead of L. The lengths of single chains are
 * not kept, so each growth step stands for the mean chain (the steps of
 * the chains that ended here over their number; while none has ended,
 * the longest): exact when the chains are alike, above the truth when a
 * chain also grew at another entry. */
static double entry_var_units(const pf_file *f, const pf_entry *e)
{
	double n = (double)e->allocs;
	if (!e->has_reallocs || !e->allocs)
		return n;
	pf_reallocs r;
	pf_entry_reallocs(f, e, &r);
	double steps = (double)(r.grows < e->allocs ? r.grows : e->allocs);
	double mean = r.chains_ended ? (double)r.chain_steps_sum /
					       (double)r.chains_ended
				     : (double)r.chain_steps_max;
	if (mean < 1)
		mean = 1;
	return n - steps + steps * mean;
}

/* First pass over file f (the fi-th kept): its stacks into the model,
 * and their counts. */
static void add_file_stacks(struct build *b, size_t fi, pf_file *f)
{
	uint32_t *pos = xcalloc(f->nstacks ? f->nstacks : 1, sizeof *pos);
	b->pos[fi] = pos;
	b->npos[fi] = f->nstacks;
	struct ip_table ips = { 0 };
	/* ids are dense: the last one says how many (nstacks has room) */
	progress_begin("symbolizing stacks", f->last_stack_id + (size_t)1 <
						     f->nstacks
					     ? f->last_stack_id + (size_t)1
					     : f->nstacks);
	for (size_t i = 0; i < f->nstacks; i++) {
		progress_tick(i);
		pf_stack *s = f->stacks[i];
		if (!s)
			continue;
		unsigned n = expand_stack(b, &ips, f, s);
		size_t group = 0, idx = SIZE_MAX;
		if (b->merge)
			idx = merged_stack(b, fi, n, &group);
		if (idx == SIZE_MAX) {
			idx = new_stack(b, fi, f, s, n);
			if (b->merge)
				group_add(b, group, idx);
		} else {
			b->merged[idx] = 1;
		}
		pos[i] = (uint32_t)(idx + 1);
	}
	progress_end();
	free(ips.slots);

	/* the counts of every stack (scaled for sampling) */
	uint64_t k = pf_scale(f);
	for (size_t i = 0; i < f->nentries; i++) {
		const pf_entry *e = &f->entries[i];
		an_stack *st = stack_of(b, fi, e->stack_id);
		if (!st)
			continue;
		st->allocs = sat_add(st->allocs, sat_mul(e->allocs, k));
		if (k > 1)
			st->allocs_var += entry_var_units(f, e) * (double)k;
		st->alloc_bytes = sat_add(st->alloc_bytes, sat_mul(e->alloc_bytes, k));
		st->frees = sat_add(st->frees, sat_mul(e->frees, k));
		st->free_bytes = sat_add(st->free_bytes, sat_mul(e->free_bytes, k));
		if (e->allocs && e->size_min < st->size_min)
			st->size_min = e->size_min;
		if (e->size_max > st->size_max)
			st->size_max = e->size_max;
		if (e->has_inner) {
			uint64_t inner[PF_INNER_VALUES];
			pf_entry_inner_frees(f, e, inner);
			for (unsigned c = 0; c < PF_INNER_VALUES; c++)
				st->inner_frees[c] = sat_add(st->inner_frees[c],
							     sat_mul(inner[c], k));
		}
	}
}

/* Whether the glib at path (a loader's name, libglib-2.0.so.0) still
 * has its own slice allocator: glib 2.76 made g_slice_alloc a malloc.
 * The version is the name the link leads to here
 * (libglib-2.0.so.0.7400.6: 2.74); not found here (a profile read on
 * another machine), it is taken to be older, as Debian 12's is. */
static int glib_has_gslice(const char *path)
{
	char *real = realpath(path, NULL);
	const char *name = real ? strrchr(real, '/') : NULL;
	unsigned minor;
	int old = !name || sscanf(name, "/libglib-2.0.so.0.%u", &minor) != 1 ||
		  minor / 100 < 76;
	free(real);
	return old;
}

/* A process of the run: its parent, and its span in realtime ns. */
struct proc_span {
	uint32_t pid, ppid;
	uint64_t from, to;
};

static int by_parent(const void *x, const void *y)
{
	const struct proc_span *p = x, *q = y;
	if (p->ppid != q->ppid)
		return p->ppid < q->ppid ? -1 : 1;
	return p->from < q->from ? -1 : p->from > q->from;
}

/* What the run takes from file f's header (the first pass). */
static void add_file_header(struct build *b, const pf_file *f)
{
	analysis *a = b->a;
	if (b->nprocs == b->capprocs) {
		b->capprocs = b->capprocs ? 2 * b->capprocs : 64;
		b->procs = xrealloc(b->procs, b->capprocs * sizeof *b->procs);
	}
	b->procs[b->nprocs++] = (struct proc_span){
		f->pid, f->ppid, f->start_real_ns,
		sat_add(f->start_real_ns, f->duration_ns) };
	if (!f->complete)
		a->partial = 1;
	if (f->sample_every > a->sample_every)
		a->sample_every = f->sample_every;
	unsigned __int128 end = (unsigned __int128)f->start_real_ns + f->duration_ns;
	if (end > b->max_end)
		b->max_end = end;
	if (f->start_real_ns < b->min_start)
		b->min_start = f->start_real_ns;
	if (!b->min_interval_ms || f->interval_ms < b->min_interval_ms)
		b->min_interval_ms = f->interval_ms;
	a->work_units = sat_add(a->work_units, f->work_units);
	for (size_t m = 0; m < f->nmodules; m++) {
		const char *path = f->modules[m].path;
		const char *base = path ? strrchr(path, '/') : NULL;
		base = base ? base + 1 : path;
		if (!base)
			continue;
		/* unless PYTHONMALLOC sent every object to malloc */
		a->pymalloc |= !(f->flags & PS_PROC_FLAG_NO_PYMALLOC) &&
			       (!strncmp(base, "python3", 7) ||
				!strncmp(base, "libpython3", 10));
		/* php8.2, php-fpm8.2, php-cgi, libphp.so; unless
		 * USE_ZEND_ALLOC=0 sent every value to malloc */
		a->zend_mm |= !(f->flags & PS_PROC_FLAG_NO_ZEND_MM) &&
			      (!strncmp(base, "php", 3) ||
			       !strncmp(base, "libphp", 6));
		/* tclsh8.6, libtcl8.6.so, libtcl9.0.so */
		a->tcl_alloc |= !strncmp(base, "tclsh", 5) ||
				!strncmp(base, "libtcl8", 7) ||
				!strncmp(base, "libtcl9", 7);
		/* ruby3.1, libruby-3.1.so.3.1 */
		a->ruby_heap |= !strncmp(base, "ruby", 4) ||
				!strncmp(base, "libruby", 7);
		/* unless G_SLICE=always-malloc sent every slice to malloc */
		if (!a->gslice && !(f->flags & PS_PROC_FLAG_NO_GSLICE) &&
		    !strncmp(base, "libglib-2.0.so", 14))
			a->gslice = glib_has_gslice(path);
	}
}

/* Room for the fi-th kept file. */
static void build_add_file(struct build *b)
{
	if (b->nfiles == b->capfiles) {
		b->capfiles = b->capfiles ? 2 * b->capfiles : 16;
		b->pos = xrealloc(b->pos, b->capfiles * sizeof *b->pos);
		b->npos = xrealloc(b->npos, b->capfiles * sizeof *b->npos);
	}
	b->pos[b->nfiles] = NULL;
	b->npos[b->nfiles] = 0;
	b->nfiles++;
}

/* The run's start and length from the headers of the files kept. */
static void run_span(struct build *b)
{
	analysis *a = b->a;
	a->start_real_ns = b->min_start == UINT64_MAX ? 0 : b->min_start;
	a->duration_ns = 0;
	if (b->nfiles) {
		unsigned __int128 d = b->max_end - a->start_real_ns;
		a->duration_ns = d > UINT64_MAX ? UINT64_MAX : (uint64_t)d;
	}
	/* a time window is the run the views see */
	if (a->window_ns)
		a->duration_ns = a->window_ns;
}

/* ---- sites ------------------------------------------------------------------ */

static size_t site_for(analysis *a, const an_stack *st)
{
	const an_frame *f = st->frames[0];
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
	if ((a->nsites & (a->nsites - 1)) == 0) /* 0, 1, 2, 4, ... */
		a->sites = xrealloc(a->sites, (a->nsites ? 2 * a->nsites : 1) *
						      sizeof *a->sites);
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
	if (s->nstacks == 1) {
		s->via_runtime = st->via_runtime;
		s->obstack = st->obstack;
		s->obstack_allocs = st->allocs;
	} else {
		if (s->via_runtime && (!st->via_runtime ||
				       strcmp(s->via_runtime, st->via_runtime)))
			s->via_runtime = NULL;
		if (!st->obstack) {
			s->obstack = NULL;
		} else if (s->obstack && st->allocs > s->obstack_allocs) {
			s->obstack = st->obstack;
			s->obstack_allocs = st->allocs;
		}
	}
	if (st->site_callers_short)
		s->callers_short = st->site_callers_short;
}

/* o->stream: a stack of many files would gather a peak contributor from
 * each; only the stacks a view shows under their site need a peak: the
 * AN_SITE_STACK_PEAKS with the most allocations (ties: the first). */
static void pick_stack_peaks(struct build *b)
{
	analysis *a = b->a;
	b->want_peak = xcalloc(a->nstacks + 1, 1);
	for (size_t si = 0; si < a->nsites; si++) {
		const an_site *s = &a->sites[si];
		size_t top[AN_SITE_STACK_PEAKS], n = 0;
		for (size_t i = 0; i < s->nstacks; i++) {
			/* insert i among the largest so far, after equals */
			size_t at = n;
			while (at > 0 &&
			       s->stack_allocs[top[at - 1]] < s->stack_allocs[i])
				at--;
			if (at == AN_SITE_STACK_PEAKS)
				continue;
			if (n < AN_SITE_STACK_PEAKS)
				n++;
			memmove(top + at + 1, top + at, (n - 1 - at) * sizeof *top);
			top[at] = i;
		}
		for (size_t k = 0; k < n; k++)
			b->want_peak[s->stacks[top[k]]] = 1;
	}
}

/* Between the passes: every stack is known with its counts; the wrapper
 * rules pick the sites, and the second pass gets its tables. */
static void build_sites(struct build *b)
{
	analysis *a = b->a;
	/* a stack without allocations keeps size_min UINT64_MAX: the
	 * wrapper rules pass over it, and nothing else reads it */
	wrappers_apply(a->wrappers, a->stacks, a->nstacks);
	/* a site frame's strings are the symbolizer's, one copy per address:
	 * most stacks find their site by those pointers, not by text */
	struct site_ref {
		struct {
			const char *function, *file, *module;
			uint64_t offset;
			unsigned line;
		} key;
		size_t site;
		UT_hash_handle hh;
	} *refs = NULL, *r, *tmp;
	for (size_t i = 0; i < a->nstacks; i++) {
		an_stack *st = &a->stacks[i];
		const an_frame *f = st->frames[0];
		struct site_ref probe;
		memset(&probe.key, 0, sizeof probe.key);
		probe.key.function = f->function;
		probe.key.file = f->file;
		probe.key.module = f->module;
		probe.key.offset = f->file ? 0 : f->offset;
		probe.key.line = f->line;
		HASH_FIND(hh, refs, &probe.key, sizeof probe.key, r);
		if (!r) {
			r = xmalloc(sizeof *r);
			r->key = probe.key;
			r->site = site_for(a, st);
			HASH_ADD(hh, refs, key, sizeof r->key, r);
		}
		st->site = r->site;
		add_stack_to_site(&a->sites[st->site], st, i);
		/* cut at the cap with nothing of the program's above its
		 * site: the site may be a wrapper (or the runtime's own code)
		 * whose callers went unrecorded */
		if ((st->nframes == 1 || st->site_fallback) && st->stack &&
		    st->file->depth && st->stack->depth >= st->file->depth &&
		    st->allocs) {
			a->cut_allocs = sat_add(a->cut_allocs, st->allocs);
			an_site *s = &a->sites[st->site];
			if (st->site_fallback)
				s->cut_runtime_allocs =
					sat_add(s->cut_runtime_allocs, st->allocs);
			if (!a->cut_depth || st->file->depth < a->cut_depth)
				a->cut_depth = st->file->depth;
		}
	}
	HASH_ITER(hh, refs, r, tmp) {
		HASH_DEL(refs, r);
		free(r);
	}
	site_coverage(a);
	if (b->merge)
		pick_stack_peaks(b);
	b->site_contribs = xcalloc(a->nsites + 1, sizeof *b->site_contribs);
	b->stack_ncontribs = xcalloc(a->nstacks + 1, sizeof *b->stack_ncontribs);
	b->stack_window = xcalloc(a->nstacks + 1, sizeof *b->stack_window);
	b->spans = xcalloc(a->nsites + 1, sizeof *b->spans);

	/* the processes by parent, for child_cover */
	if (b->nprocs)
		qsort(b->procs, b->nprocs, sizeof *b->procs, by_parent);

	/* the timeline's bins: the finest snapshot interval of the files */
	an_timeline *tl = &a->timeline;
	uint32_t interval_ms = b->min_interval_ms;
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
	tl->rec_ns = xcalloc(tl->nbins, sizeof *tl->rec_ns);
}

/* Wall-clock ns since the run's start of a time t_ns into file f. */
static uint64_t wall_from(uint64_t run_start, const pf_file *f, uint64_t t_ns)
{
	uint64_t start = f->start_real_ns >= run_start
				 ? f->start_real_ns - run_start
				 : 0;
	return sat_add(start, t_ns);
}

static uint64_t wall(const analysis *a, const pf_file *f, uint64_t t_ns)
{
	return wall_from(a->start_real_ns, f, t_ns);
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
	 * estimate k * n has variance n k^2 (1 - 1/k), with a realloc
	 * chain's steps as one draw (entry_var_units); summed here, rooted
	 * and scaled to a 95% half-width once all entries are in */
	if (k > 1)
		s->allocs_error95 += entry_var_units(f, e) * (double)k *
				     (double)k * (1.0 - 1.0 / (double)k);
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
	if (e->size_buckets) {
		uint64_t size_hist[PS_HIST_BUCKETS];
		pf_entry_hists(f, e, size_hist, NULL);
		for (unsigned b = 0; b < PS_HIST_BUCKETS; b++)
			if (size_hist[b])
				s->size_hist[b] = sat_add(s->size_hist[b],
							  sat_mul(size_hist[b], k));
	}
	if (e->has_reallocs) {
		pf_reallocs r;
		pf_entry_reallocs(f, e, &r);
		s->realloc_grows = sat_add(s->realloc_grows, sat_mul(r.grows, k));
		s->chains_ended = sat_add(s->chains_ended,
					  sat_mul(r.chains_ended, k));
		s->chain_steps_sum = sat_add(s->chain_steps_sum,
					     sat_mul(r.chain_steps_sum, k));
		if (r.chain_steps_max > s->chain_steps_max)
			s->chain_steps_max = r.chain_steps_max;
		if (r.chain_final_size_max > s->chain_final_size_max)
			s->chain_final_size_max = r.chain_final_size_max;
		s->resized = sat_add(s->resized, sat_mul(r.resized, k));
		s->resized_grown = sat_add(s->resized_grown,
					   sat_mul(r.resized_grown, k));
		if (r.resized_size_max > s->resized_size_max)
			s->resized_size_max = r.resized_size_max;
	}
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

static void contrib_add(struct contribs *c, const an_peak *p, uint64_t from,
			uint64_t to)
{
	struct contrib x = { *p, from, to };
	if (!c->n) {
		c->one = x;
		c->n = 1;
		return;
	}
	if (c->n - 1 == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 3;
		c->more = xrealloc(c->more, c->cap * sizeof *c->more);
	}
	c->more[c->n++ - 1] = x;
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
	if (c->n == 1 && c->one.from <= c->one.to) { /* the usual case */
		p = c->one.p;
	} else if (c->n) {
		struct event *ev = xcalloc(2 * c->n + 1, sizeof *ev);
		for (size_t i = 0; i < c->n; i++) {
			const struct contrib *x = contrib_at(c, i);
			if (x->p.lo > p.lo)
				p.lo = x->p.lo;
			if (x->p.bytes_lo > p.bytes_lo)
				p.bytes_lo = x->p.bytes_lo;
			ev[2 * i] = (struct event){ x->from, 0, x->p.hi,
						    x->p.bytes_hi };
			ev[2 * i + 1] = (struct event){ x->to, 1, x->p.hi,
							x->p.bytes_hi };
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
	}
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

static struct node_owner *node_owners(const struct build *b, size_t fi,
				      const pf_file *f)
{
	struct node_owner *table = NULL;
	for (size_t id = 0; id < f->nstacks; id++) {
		const pf_stack *s = f->stacks[id];
		const an_stack *st = s ? stack_of(b, fi, (uint32_t)id) : NULL;
		if (!st)
			continue;
		uint32_t site_index = st->frames[0]->ip_index;
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

#define MAX_SITE_NODES 16

/* A site's node addresses in one file: one per stack (its site frame's
 * return address), deduplicated; nips -1 when some stack's site frame is
 * not among its candidates, -2 when there are more than MAX_SITE_NODES. */
struct site_nodes {
	size_t site;
	int nips;
	uint64_t ips[MAX_SITE_NODES];
};

struct site_ip {
	size_t site;
	uint64_t ip;
	int outside; /* the site frame is no candidate */
};

static int by_site_ip(const void *pa, const void *pb)
{
	const struct site_ip *a = pa, *b = pb;
	if (a->site != b->site)
		return a->site < b->site ? -1 : 1;
	return a->ip < b->ip ? -1 : a->ip > b->ip;
}

/* The node addresses of every site with stacks in file fi, by site. */
static struct site_nodes *file_site_nodes(const struct build *b, size_t fi,
					  const pf_file *f, size_t *count)
{
	struct site_ip *v = xcalloc(f->nstacks + 1, sizeof *v);
	size_t n = 0;
	for (size_t id = 0; id < f->nstacks; id++) {
		const pf_stack *s = f->stacks[id];
		const an_stack *st = s ? stack_of(b, fi, (uint32_t)id) : NULL;
		if (!st)
			continue;
		uint32_t idx = st->frames[0]->ip_index;
		int outside = !in_candidates(s, idx);
		v[n++] = (struct site_ip){ st->site, outside ? 0 : s->ips[idx],
					   outside };
	}
	qsort(v, n, sizeof *v, by_site_ip);
	size_t nsites = 0;
	for (size_t i = 0; i < n; i++)
		nsites += !i || v[i].site != v[i - 1].site;
	struct site_nodes *out = xcalloc(nsites + 1, sizeof *out);
	size_t k = 0;
	for (size_t i = 0; i < n;) {
		struct site_nodes *x = &out[k++];
		x->site = v[i].site;
		x->nips = 0;
		for (; i < n && v[i].site == x->site; i++) {
			if (x->nips < 0)
				continue;
			if (v[i].outside) {
				x->nips = -1;
				continue;
			}
			if (x->nips && x->ips[x->nips - 1] == v[i].ip)
				continue;
			if (x->nips == MAX_SITE_NODES)
				x->nips = -2;
			else
				x->ips[x->nips++] = v[i].ip;
		}
	}
	free(v);
	*count = k;
	return out;
}

/* A peak counted on the recorded blocks, for the run: sampled 1 in k,
 * only the upper end is scaled (k times the recorded: an estimate, not
 * a bound); the recorded blocks were truly live at once, so the lower
 * end stays theirs. A sampled peak is never exact, then: 2 blocks live
 * at a time, 1 in 64 recorded, is "1..64", not "exactly 64". */
static an_peak scaled_peak(uint64_t lo, uint64_t hi, uint64_t bytes_lo,
			   uint64_t bytes_hi, uint64_t k)
{
	if (k <= 1)
		return (an_peak){ lo, hi, bytes_lo, bytes_hi };
	return (an_peak){ lo, sat_mul(hi, k), bytes_lo, sat_mul(bytes_hi, k) };
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
	return scaled_peak(p.lo, p.hi, p.bytes_lo, p.bytes_hi, k);
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
	return a->e < b->e ? -1 : a->e > b->e;
}

/* What file fi adds to the peaks, thread peaks and thread counts of its
 * sites. */
static void fold_site_peaks(struct build *b, size_t fi, const pf_file *f)
{
	analysis *a = b->a;
	struct node_owner *owners = node_owners(b, fi, f);
	size_t nnodes;
	struct site_nodes *nodes = file_site_nodes(b, fi, f, &nnodes);
	uint64_t k = pf_scale(f);
	/* the entries with allocations, grouped by (site, thread) */
	struct tagged *v = xcalloc(f->nentries + 1, sizeof *v);
	size_t n = 0;
	for (size_t i = 0; i < f->nentries; i++) {
		const pf_entry *e = &f->entries[i];
		const an_stack *st = stack_of(b, fi, e->stack_id);
		if (e->allocs && st)
			v[n++] = (struct tagged){ st->site, e->thread_index, e };
	}
	qsort(v, n, sizeof *v, by_site_thread);
	const pf_entry **group = xcalloc(n + 1, sizeof *group);
	size_t node = 0;
	for (size_t i = 0; i < n;) {
		size_t si = v[i].site;
		an_site *s = &a->sites[si];
		while (node < nnodes && nodes[node].site < si)
			node++;
		const uint64_t *ips = node < nnodes ? nodes[node].ips : NULL;
		int nips = node < nnodes && nodes[node].site == si
				   ? nodes[node].nips
				   : 0;
		if (nips == -1)
			s->peak_uncounted = PEAK_PAST_CANDIDATES;
		else if (nips == -2 && s->peak_uncounted != PEAK_PAST_CANDIDATES)
			s->peak_uncounted = PEAK_MANY_NODES;
		struct contribs mine = { 0 };
		struct window fw = { 0 };
		uint64_t proc_allocs = 0;
		while (i < n && v[i].site == si) {
			uint32_t t = v[i].thread;
			size_t g = 0;
			struct window w = { 0 };
			for (; i < n && v[i].site == si && v[i].thread == t; i++) {
				proc_allocs = sat_add(proc_allocs,
						      sat_mul(v[i].e->allocs, k));
				group[g++] = v[i].e;
				window_add(&w, a, f, v[i].e);
				window_add(&fw, a, f, v[i].e);
			}
			s->alloc_threads++;
			an_peak p = group_peak(f, t, group, g, ips, nips, owners,
					       si, k);
			peak_max(&s->thread_peak, &p);
			contrib_add(&mine, &p, w.from, window_end(&w, a, f));
		}
		/* --site-peak: the all-thread count of the site's one clean
		 * node is exact and stands for every thread */
		const pf_node_peak *np = (f->flags & PS_PROC_FLAG_SITE_PEAK) &&
							 nips == 1
						 ? pf_node_peak_find(f, 0, ips[0])
						 : NULL;
		struct node_owner *o = NULL;
		if (np)
			HASH_FIND(hh, owners, &ips[0], sizeof ips[0], o);
		/* the process's own peak: a pool serves one process */
		an_peak pp;
		if (np && o && o->site == si) {
			pp = scaled_peak(np->peak, np->peak, np->peak_bytes,
					 np->peak_bytes, k);
			contrib_add(&b->site_contribs[si], &pp, fw.from,
				    window_end(&fw, a, f));
		} else {
			for (size_t c = 0; c < mine.n; c++) {
				const struct contrib *x = contrib_at(&mine, c);
				contrib_add(&b->site_contribs[si], &x->p, x->from,
					    x->to);
			}
			pp = combine(&mine, s->allocs, s->alloc_bytes);
		}
		peak_max(&s->proc_peak, &pp);
		/* piled up most: the larger share of its allocations live at
		 * once (pp.lo / proc_allocs, compared crosswise) */
		if (proc_allocs && (!s->pile_allocs ||
				    (double)pp.lo * (double)s->pile_allocs >
					    (double)s->pile_peak * (double)proc_allocs)) {
			s->pile_peak = pp.lo;
			s->pile_allocs = proc_allocs;
		}
		s->alloc_procs++;
		free(mine.more);
	}
	free(group);
	free(v);
	free(nodes);
	free_owners(&owners);
}

/* What a thread's entries add up to, gathered in one pass. */
struct thread_acc {
	struct window w;
	uint64_t lo, hi, blo, bhi, first, last;
};

/* ---- the recording's own time ----------------------------------------------- */

/* Seconds of the program's own time in a span of span_ns of which the
 * recording took rec_ns: at least 1% of the span (rec is an estimate),
 * and 1 ms. */
static double own_seconds(double span_ns, double rec_ns)
{
	double own = span_ns - rec_ns;
	if (own < span_ns / 100)
		own = span_ns / 100;
	return (own > 1e6 ? own : 1e6) / 1e9;
}

/* Where file f's snapshot interval j (the one ending at snapshot j)
 * starts, in its ns. */
static uint64_t interval_start(const pf_file *f, uint32_t j)
{
	return j ? f->snaps[j - 1].t_ns : 0;
}

/* The part of thread th's life in the snapshot interval of tick tk, in
 * file f's ns: [*from, *to]. */
static void tick_span(const pf_file *f, const pf_thread *th, const pf_tick *tk,
		      uint64_t *from, uint64_t *to)
{
	uint64_t born = th->start_ns;
	uint64_t died = th->ended && th->end_ns ? th->end_ns : UINT64_MAX;
	*from = interval_start(f, tk->snapshot);
	*to = f->snaps[tk->snapshot].t_ns;
	if (*from < born && born <= *to)
		*from = born;
	if (*to > died && died >= *from)
		*to = died;
}

/* The time tick tk's thread was busy, running or ready to run, in its
 * life in the interval, len ns: at most len (a read of 0: not known, as
 * if busy throughout). */
static uint64_t tick_busy(const pf_tick *tk, uint64_t len)
{
	return tk->busy_ns && tk->busy_ns < len ? tk->busy_ns : len;
}

/* Of tick tk's busy time busy (tick_busy), the time the thread ran: not
 * waiting for a CPU (0 read: not known, as if it ran throughout). */
static uint64_t tick_ran(const pf_tick *tk, uint64_t busy)
{
	return tk->cpu_ns && tk->cpu_ns < busy ? tk->cpu_ns : busy;
}

/* Of tick tk's recording time, what made the thread's run longer: none of
 * it the time the thread slept could have taken (a thread that sleeps to
 * a deadline, or waits for input, waits less instead), but for cover ns
 * of it when a child of its process ran (a parent waits for its child,
 * which its recording only put off: make, a shell), none of it more than
 * the time it was busy (tick_busy). */
static uint64_t tick_slowed(const pf_tick *tk, uint64_t len, uint64_t cover)
{
	uint64_t busy = tick_busy(tk, len);
	uint64_t rec = tk->rec_ns < busy ? tk->rec_ns : busy;
	uint64_t idle = len - busy;
	idle = idle > cover ? idle - cover : 0;
	return rec > idle ? rec - idle : 0;
}

/* The time some child of file f's process ran in each of f's snapshot
 * intervals, into b->cover: the union of the spans of the run's
 * processes whose parent is f's and that started within f's span (a
 * process id used again later is another's), cut to each interval. */
static void child_cover(struct build *b, const pf_file *f)
{
	if (b->capcover < f->nsnaps + 1) {
		b->capcover = f->nsnaps + 1;
		b->cover = xrealloc(b->cover, b->capcover * sizeof *b->cover);
	}
	memset(b->cover, 0, (f->nsnaps + 1) * sizeof *b->cover);
	uint64_t start = f->start_real_ns, end = sat_add(start, f->duration_ns);
	/* the first process whose parent is f's */
	size_t lo = 0, hi = b->nprocs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->procs[mid].ppid < f->pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t j = 0;
	uint64_t seg_from = 0, seg_to = 0;
	for (size_t i = lo;; i++) {
		int more = i < b->nprocs && b->procs[i].ppid == f->pid;
		const struct proc_span *c = more ? &b->procs[i] : NULL;
		if (c && (c->pid == f->pid || c->from < start || c->from > end))
			continue;
		if (c && seg_to && c->from <= seg_to) { /* overlaps: merge */
			if (c->to > seg_to)
				seg_to = c->to;
			continue;
		}
		/* the merged segment [seg_from, seg_to) into the intervals */
		while (seg_to > seg_from && j < f->nsnaps) {
			uint64_t from = sat_add(start, interval_start(f, j));
			uint64_t to = sat_add(start, f->snaps[j].t_ns);
			uint64_t in_lo = seg_from > from ? seg_from : from;
			uint64_t in_hi = seg_to < to ? seg_to : to;
			if (in_hi > in_lo)
				b->cover[j] += in_hi - in_lo;
			if (to > seg_to)
				break; /* the next segment may fall here too */
			j++;
		}
		if (!c)
			break;
		seg_from = c->from;
		seg_to = c->to > c->from ? c->to : c->from + 1;
	}
}

/* What thread th's recording added to its run between run wall times t0
 * and t1: each snapshot interval's part (tick_slowed) spread evenly over
 * the thread's life in it. */
static double thread_rec_between(const analysis *a, const pf_file *f,
				 const pf_thread *th, const uint64_t *cover,
				 uint64_t t0, uint64_t t1)
{
	double sum = 0;
	for (size_t x = 0; x < th->nticks; x++) {
		const pf_tick *tk = &th->ticks[x];
		if (!tk->rec_ns)
			continue;
		uint64_t from, to;
		tick_span(f, th, tk, &from, &to);
		uint64_t lo = wall(a, f, from), hi = wall(a, f, to);
		if (hi <= lo) /* an instant: nothing to add to */
			continue;
		double slowed = (double)tick_slowed(tk, to - from,
						    cover[tk->snapshot]);
		uint64_t in_lo = lo > t0 ? lo : t0, in_hi = hi < t1 ? hi : t1;
		if (in_hi > in_lo)
			sum += slowed * (double)(in_hi - in_lo) / (double)(hi - lo);
	}
	return sum;
}

static size_t step_bin(const analysis *a, const pf_file *f, uint32_t j);

/* What the recording added to file f's run, into the timeline. In each
 * snapshot interval (of length L), the most of two views: the most one
 * thread's recording added to its own run (tick_slowed: threads that
 * record side by side slow the run once), and the process's as one
 * timeline of work: its threads' recording (each at most its busy time)
 * less the time none of them was busy (L less their busy time, when that
 * is under L), over the threads' parallelism (the time they ran over L,
 * when over 1: not their busy time, which counts the time each waited
 * in the run queue for a CPU another one held). Threads that take turns
 * (a lock, Python's GIL, more threads than CPUs) each wait while another
 * records: one timeline, their sum; threads running side by side: their
 * parallelism shares it out. The time a child of the process ran is not
 * time nobody was busy (child_cover). A file's interval goes to the bin
 * its allocations go to (step_bin); per bin, the most of any one file
 * (processes side by side). */
static void fold_file_rec(analysis *a, const pf_file *f, const uint64_t *cover)
{
	an_timeline *tl = &a->timeline;
	if (!f->nsnaps)
		return;
	double *rec = xcalloc(4 * f->nsnaps, sizeof *rec);
	double *busy = rec + f->nsnaps, *ran = busy + f->nsnaps;
	double *most = ran + f->nsnaps;
	for (size_t ti = 0; ti < f->nthreads; ti++) {
		const pf_thread *th = f->threads[ti];
		for (size_t x = 0; th && x < th->nticks; x++) {
			const pf_tick *tk = &th->ticks[x];
			if (!tk->rec_ns)
				continue;
			uint64_t from, to;
			tick_span(f, th, tk, &from, &to);
			uint64_t len = to > from ? to - from : 0;
			uint64_t b = tick_busy(tk, len);
			uint32_t j = tk->snapshot;
			rec[j] += (double)(tk->rec_ns < b ? tk->rec_ns : b);
			busy[j] += (double)b;
			ran[j] += (double)tick_ran(tk, b);
			double own = (double)tick_slowed(tk, len, cover[j]);
			if (own > most[j])
				most[j] = own;
		}
	}
	size_t bin = SIZE_MAX;
	double sum = 0;
	for (uint32_t j = 0; j <= f->nsnaps; j++) {
		size_t next = j < f->nsnaps ? step_bin(a, f, j) : SIZE_MAX;
		if (next != bin) {
			if (bin != SIZE_MAX && sum > (double)tl->rec_ns[bin])
				tl->rec_ns[bin] = to_u64(sum);
			bin = next;
			sum = 0;
		}
		if (j == f->nsnaps || !rec[j])
			continue;
		double len = (double)(f->snaps[j].t_ns - interval_start(f, j));
		double idle = busy[j] < len ? len - busy[j] : 0;
		idle = idle > (double)cover[j] ? idle - (double)cover[j] : 0;
		double parallel = len > 0 && ran[j] > len ? ran[j] / len : 1;
		double whole = rec[j] > idle ? (rec[j] - idle) / parallel : 0;
		double slowed = whole > most[j] ? whole : most[j];
		sum += slowed < len ? slowed : len;
	}
	free(rec);
}

/* File fi's threads and process, and what it adds to the run's totals
 * and peak. */
static void fold_threads(struct build *b, size_t fi, const pf_file *f)
{
	analysis *a = b->a;
	uint64_t k = pf_scale(f);
	an_process *pr = &a->processes[fi];
	pr->file = f;
	pr->start_ns = wall(a, f, 0);
	if (f->duration_ns < AN_SHORT_PROCESS_NS)
		a->short_procs++;
	child_cover(b, f);
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
		uint64_t bytes = f->version >= 2 ? e->peak_bytes
						 : sat_mul(e->peak_live, e->size_max);
		if (e->peak_live > t->lo)
			t->lo = e->peak_live;
		if (f->version >= 2 && bytes > t->blo)
			t->blo = bytes;
		t->hi = sat_add(t->hi, e->peak_live);
		t->bhi = sat_add(t->bhi, bytes);
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
		if (a->nthreads == b->capthreads) {
			b->capthreads = b->capthreads ? 2 * b->capthreads : 16;
			a->threads = xrealloc(a->threads,
					      b->capthreads * sizeof *a->threads);
		}
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
		at->rec_ns = th->rec_ns;
		pr->rec_ns = sat_add(pr->rec_ns, th->rec_ns);
		struct thread_acc *t = &acc[ti];
		if (!t->w.any)
			continue;
		/* the thread's total node (address 0) is exact */
		const pf_node_peak *np = pf_node_peak_find(f, th->index, 0);
		if (np && np->peak >= t->lo && np->peak <= t->hi) {
			t->lo = t->hi = np->peak;
			t->blo = t->bhi = np->peak_bytes;
		}
		at->peak = scaled_peak(t->lo, t->hi, t->blo, t->bhi, k);
		at->first_alloc_ns = t->first - pr->start_ns;
		at->last_alloc_ns = t->last - pr->start_ns;
		at->rate_per_s = (double)at->allocs /
				 own_seconds((double)(t->last - t->first),
					     thread_rec_between(a, f, th, b->cover,
								t->first,
								t->last));
		contrib_add(&threads, &at->peak, t->w.from, window_end(&t->w, a, f));
	}
	free(acc);
	if (a->timeline.rec_ns)
		fold_file_rec(a, f, b->cover);
	pr->peak = combine(&threads, pr->allocs, pr->alloc_bytes);
	/* the whole process's node: exact, unless sampled (then it counts
	 * the recorded blocks only) */
	const pf_node_peak *np = (f->flags & PS_PROC_FLAG_SITE_PEAK) && k <= 1
					 ? pf_node_peak_find(f, 0, 0)
					 : NULL;
	if (np) {
		if (np->peak >= pr->peak.lo && np->peak <= pr->peak.hi)
			pr->peak.lo = pr->peak.hi = np->peak;
		if (np->peak_bytes >= pr->peak.bytes_lo &&
		    np->peak_bytes <= pr->peak.bytes_hi)
			pr->peak.bytes_lo = pr->peak.bytes_hi = np->peak_bytes;
	}
	/* the blocks still live at the end were live at once: the peak is
	 * at least that many (unsampled, and over the whole run: a time
	 * window's counts are no moment's) */
	if (k <= 1 && !(b->o && (b->o->from_ns || b->o->to_ns)) &&
	    pr->frees <= pr->allocs && pr->free_bytes <= pr->alloc_bytes) {
		uint64_t live = pr->allocs - pr->frees;
		uint64_t live_bytes = pr->alloc_bytes - pr->free_bytes;
		if (live > pr->peak.lo && live <= pr->peak.hi)
			pr->peak.lo = live;
		if (live_bytes > pr->peak.bytes_lo &&
		    live_bytes <= pr->peak.bytes_hi)
			pr->peak.bytes_lo = live_bytes;
	}
	free(threads.more);
	if (fw.any)
		contrib_add(&b->run, &pr->peak, fw.from, window_end(&fw, a, f));
	a->allocs = sat_add(a->allocs, pr->allocs);
	a->alloc_bytes = sat_add(a->alloc_bytes, pr->alloc_bytes);
	a->frees = sat_add(a->frees, pr->frees);
	a->free_bytes = sat_add(a->free_bytes, pr->free_bytes);
	a->xfrees = sat_add(a->xfrees, pr->xfrees);
}

/* ---- lifetimes ---------------------------------------------------------------- */

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

/* One site's lifetimes in one bucket of one file. */
struct site_bucket {
	size_t site;
	unsigned bucket;
	uint64_t count;
};

static int by_site_bucket(const void *pa, const void *pb)
{
	const struct site_bucket *a = pa, *b = pb;
	if (a->site != b->site)
		return a->site < b->site ? -1 : 1;
	return (a->bucket > b->bucket) - (a->bucket < b->bucket);
}

/* The lifetime buckets of file fi's sites, as ns intervals: one per site
 * and bucket of the file (the percentiles need no more). */
static void fold_lifetimes(struct build *b, size_t fi, const pf_file *f)
{
	analysis *a = b->a;
	uint64_t k = pf_scale(f);
	size_t n = 0, cap = 0;
	struct site_bucket *v = NULL;
	for (size_t i = 0; i < f->nentries; i++) {
		const pf_entry *e = &f->entries[i];
		const an_stack *st = stack_of(b, fi, e->stack_id);
		if (!st || !e->life_buckets)
			continue;
		uint64_t life_hist[PS_HIST_BUCKETS];
		pf_entry_hists(f, e, NULL, life_hist);
		for (unsigned bk = 0; bk < PS_HIST_BUCKETS; bk++) {
			if (!life_hist[bk])
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				v = xrealloc(v, cap * sizeof *v);
			}
			uint64_t count = sat_mul(life_hist[bk], k);
			v[n++] = (struct site_bucket){ st->site, bk, count };
			a->sites[st->site].lifetimes =
				sat_add(a->sites[st->site].lifetimes, count);
		}
	}
	if (n > 1)
		qsort(v, n, sizeof *v, by_site_bucket);
	for (size_t i = 0; i < n;) {
		size_t site = v[i].site;
		unsigned bk = v[i].bucket;
		uint64_t count = 0;
		for (; i < n && v[i].site == site && v[i].bucket == bk; i++)
			count = sat_add(count, v[i].count);
		struct spans *x = &b->spans[site];
		if (x->n == x->cap) {
			x->cap = x->cap ? x->cap * 2 : 8;
			x->v = xrealloc(x->v, x->cap * sizeof *x->v);
		}
		x->v[x->n] = tick_bucket_ns(f, bk);
		x->v[x->n++].count = count;
	}
	free(v);
}

/* ---- the timeline and the rates ------------------------------------------------ */

/* The bin of the snapshot interval that ends at snapshot j of file f: the
 * bin holding the interval's middle. */
static size_t step_bin(const analysis *a, const pf_file *f, uint32_t j)
{
	uint64_t end = f->snaps[j].t_ns;
	uint64_t begin = interval_start(f, j);
	uint64_t mid = wall(a, f, begin + (end - begin) / 2);
	size_t bin = (size_t)(mid / a->timeline.bin_ns);
	return bin < a->timeline.nbins ? bin : a->timeline.nbins - 1;
}

/* Length of bin i: the last one may be cut by the run's end. */
static uint64_t bin_len_ns(const analysis *a, size_t i)
{
	uint64_t start = (uint64_t)i * a->timeline.bin_ns;
	uint64_t len = a->timeline.bin_ns;
	if (start + len > a->duration_ns)
		len = a->duration_ns > start ? a->duration_ns - start : 0;
	return len;
}

/* The recording's time in the run before wall time t: cum[i] is the
 * bins' before bin i, the bin of t prorated. */
static double run_rec_until(const analysis *a, const uint64_t *cum, uint64_t t)
{
	const an_timeline *tl = &a->timeline;
	size_t i = (size_t)(t / tl->bin_ns);
	if (i >= tl->nbins)
		return (double)cum[tl->nbins];
	uint64_t len = bin_len_ns(a, i), into = t - (uint64_t)i * tl->bin_ns;
	double part = into < len ? (double)into / (double)len : 1.0;
	return (double)cum[i] + part * (double)(cum[i + 1] - cum[i]);
}

static size_t site_step_hash(size_t site, size_t bin)
{
	return (size_t)pf_mix64((uint64_t)site * 0x9e3779b97f4a7c15ULL ^ bin);
}

/* The sums of (site, bin), made (all 0) if new. */
static struct site_step *site_step_at(struct build *b, size_t site, size_t bin)
{
	if (2 * (b->nsteps + 1) > b->capsteps) {
		size_t cap = b->capsteps ? 2 * b->capsteps : 1024;
		struct site_step *slots = xmalloc(cap * sizeof *slots);
		for (size_t i = 0; i < cap; i++)
			slots[i].site = SIZE_MAX;
		for (size_t i = 0; i < b->capsteps; i++) {
			if (b->steps[i].site == SIZE_MAX)
				continue;
			size_t h = site_step_hash(b->steps[i].site, b->steps[i].bin);
			while (slots[h & (cap - 1)].site != SIZE_MAX)
				h++;
			slots[h & (cap - 1)] = b->steps[i];
		}
		free(b->steps);
		b->steps = slots;
		b->capsteps = cap;
	}
	size_t h = site_step_hash(site, bin);
	for (;; h++) {
		struct site_step *x = &b->steps[h & (b->capsteps - 1)];
		if (x->site == SIZE_MAX) {
			*x = (struct site_step){ site, bin, 0, 0, 0, 0 };
			b->nsteps++;
			return x;
		}
		if (x->site == site && x->bin == bin)
			return x;
	}
}

/* File fi's entries' histories into the timeline, and per site and bin. */
static void fold_timeline(struct build *b, size_t fi, const pf_file *f)
{
	analysis *a = b->a;
	an_timeline *tl = &a->timeline;
	uint64_t k = pf_scale(f);
	for (size_t i = 0; i < f->nentries; i++) {
		const pf_entry *e = &f->entries[i];
		const an_stack *st = stack_of(b, fi, e->stack_id);
		if (!st)
			continue;
		for (size_t j = 0; j < e->nsteps; j++) {
			const pf_step *p = &e->steps[j];
			size_t bin = step_bin(a, f, p->snapshot);
			uint64_t allocs = sat_mul(p->allocs, k);
			uint64_t alloc_bytes = sat_mul(p->alloc_bytes, k);
			uint64_t frees = sat_mul(p->frees, k);
			uint64_t free_bytes = sat_mul(p->free_bytes, k);
			tl->allocs[bin] = sat_add(tl->allocs[bin], allocs);
			tl->alloc_bytes[bin] = sat_add(tl->alloc_bytes[bin],
						       alloc_bytes);
			tl->frees[bin] = sat_add(tl->frees[bin], frees);
			tl->free_bytes[bin] = sat_add(tl->free_bytes[bin],
						      free_bytes);
			/* wrapping sums, as the rates and live counts take them */
			struct site_step *x = site_step_at(b, st->site, bin);
			x->allocs += allocs;
			x->alloc_bytes += alloc_bytes;
			x->frees += frees;
			x->free_bytes += free_bytes;
		}
	}
}

/* Adds a contributor to the peak of stack i: the first one waits in the
 * stack itself (most stacks have one: one thread, one file). */
static void stack_contrib_add(struct build *b, size_t i, const an_peak *p,
			      uint64_t from, uint64_t to)
{
	an_stack *st = &b->a->stacks[i];
	struct stack_more *m;
	if (!b->stack_ncontribs[i]) {
		st->peak = *p;
		b->stack_window[i][0] = from;
		b->stack_window[i][1] = to;
		b->stack_ncontribs[i] = 1;
		return;
	}
	if (b->stack_ncontribs[i] == 1) {
		m = xcalloc(1, sizeof *m);
		m->stack = i;
		contrib_add(&m->c, &st->peak, b->stack_window[i][0],
			    b->stack_window[i][1]);
		HASH_ADD(hh, b->stack_more, stack, sizeof m->stack, m);
		b->stack_ncontribs[i] = 2;
	} else {
		HASH_FIND(hh, b->stack_more, &i, sizeof i, m);
	}
	contrib_add(&m->c, p, from, to);
}

/* Second pass over file f (the fi-th kept): everything it adds. */
static void fold_file(struct build *b, size_t fi, const pf_file *f)
{
	analysis *a = b->a;
	fold_threads(b, fi, f);
	if (b->o && b->o->processes_only)
		return;
	uint64_t k = pf_scale(f);
	progress_begin("folding entries", f->nentries);
	for (size_t i = 0; i < f->nentries; i++) {
		progress_tick(i);
		const pf_entry *e = &f->entries[i];
		an_stack *st = stack_of(b, fi, e->stack_id);
		if (!st)
			continue;
		add_entry(a, f, e, &a->sites[st->site]);
		if (!e->allocs || (b->want_peak && !b->want_peak[st - a->stacks]))
			continue;
		/* the stack's peak across its threads: each (stack, thread)
		 * entry's own peak is exact */
		struct window w = { 0 };
		window_add(&w, a, f, e);
		uint64_t bytes = f->version >= 2 ? e->peak_bytes
						 : sat_mul(e->peak_live, e->size_max);
		an_peak p = scaled_peak(e->peak_live, e->peak_live,
					f->version >= 2 ? bytes : 0, bytes, k);
		stack_contrib_add(b, (size_t)(st - a->stacks), &p, w.from,
				  window_end(&w, a, f));
	}
	progress_end();
	fold_lifetimes(b, fi, f);
	fold_site_peaks(b, fi, f);
	fold_timeline(b, fi, f);
}

/* After the second pass: what needs every file. */
static void finish(struct build *b)
{
	analysis *a = b->a;
	a->inuse_objects = a->allocs - a->frees;
	a->inuse_space = a->alloc_bytes - a->free_bytes;
	a->peak = combine(&b->run, a->allocs, a->alloc_bytes);
	if (b->o && b->o->processes_only)
		return;
	for (size_t si = 0; si < a->nsites; si++) {
		an_site *s = &a->sites[si];
		if (s->size_min == UINT64_MAX)
			s->size_min = 0;
		s->inuse_objects = s->allocs - s->frees;
		s->inuse_space = s->alloc_bytes - s->free_bytes;
		s->xfree_ratio = s->frees ? (double)s->xfrees / (double)s->frees : 0;
		s->allocs_error95 = AN_Z95 * sqrt(s->allocs_error95);
		struct spans *x = &b->spans[si];
		s->lifetime_p50 = percentile(x->v, x->n, s->lifetimes, 0.50);
		s->lifetime_p99 = percentile(x->v, x->n, s->lifetimes, 0.99);
		s->peak = combine(&b->site_contribs[si], s->allocs, s->alloc_bytes);
	}
	for (size_t i = 0; i < a->nstacks; i++) {
		an_stack *st = &a->stacks[i];
		struct contribs one = { .n = 0 };
		const struct contribs *c = &one;
		if (b->stack_ncontribs[i] == 1) {
			one.one = (struct contrib){ st->peak, b->stack_window[i][0],
						    b->stack_window[i][1] };
			one.n = 1;
		} else if (b->stack_ncontribs[i]) {
			struct stack_more *m;
			HASH_FIND(hh, b->stack_more, &i, sizeof i, m);
			c = &m->c;
		}
		st->peak = combine(c, st->allocs, st->alloc_bytes);
		const pf_file *f = st->file;
		if ((f->flags & PS_PROC_FLAG_SITE_PEAK) && st->stack->peak_live &&
		    c->n && !b->merged[i] && pf_scale(f) <= 1) {
			/* exact for this file; other files' stacks are apart */
			uint64_t exact = st->stack->peak_live;
			if (exact >= st->peak.lo && exact <= st->peak.hi)
				st->peak.lo = st->peak.hi = exact;
		}
	}

	/* the bin after which the most bytes were in use */
	an_timeline *tl = &a->timeline;
	uint64_t inuse = 0, best = 0;
	tl->peak_bin = 0;
	for (size_t i = 0; i < tl->nbins; i++) {
		inuse += tl->alloc_bytes[i] - tl->free_bytes[i];
		if (inuse > best) {
			best = inuse;
			tl->peak_bin = i;
		}
	}
	/* the recording's time: a bin's at most 99% of it; the run's their
	 * sum, cum its running total */
	uint64_t *cum = xcalloc(tl->nbins + 1, sizeof *cum);
	for (size_t i = 0; i < tl->nbins; i++) {
		uint64_t len = bin_len_ns(a, i);
		if (tl->rec_ns[i] > len - len / 100)
			tl->rec_ns[i] = len - len / 100;
		cum[i + 1] = cum[i] + tl->rec_ns[i];
	}
	a->rec_ns = cum[tl->nbins];
	double run_share = a->duration_ns ? (double)a->rec_ns /
						    (double)a->duration_ns
					  : 0;
	/* per site: the busiest bin, and what was live after the peak bin */
	for (size_t i = 0; i < b->capsteps; i++) {
		const struct site_step *x = &b->steps[i];
		if (x->site == SIZE_MAX)
			continue;
		an_site *s = &a->sites[x->site];
		if (x->bin <= tl->peak_bin) {
			s->live_at_peak_objects += x->allocs - x->frees;
			s->live_at_peak_space += x->alloc_bytes - x->free_bytes;
		}
		/* a bin's own time at the run's share: one bin's estimate
		 * is too noisy for a peak, which picks the highest */
		double len = (double)bin_len_ns(a, x->bin);
		double rate = (double)x->allocs /
			      own_seconds(len, len * run_share);
		if (rate > s->rate_peak_per_s)
			s->rate_peak_per_s = rate;
	}
	double run_s = own_seconds((double)a->duration_ns, (double)a->rec_ns);
	for (size_t i = 0; i < a->nsites; i++) {
		an_site *s = &a->sites[i];
		if (s->first_alloc_ns == UINT64_MAX)
			s->first_alloc_ns = s->last_alloc_ns = 0;
		s->rate_per_s = (double)s->allocs /
				own_seconds((double)(s->last_alloc_ns -
						     s->first_alloc_ns),
					    run_rec_until(a, cum, s->last_alloc_ns) -
						    run_rec_until(a, cum,
								  s->first_alloc_ns));
		s->rate_run_per_s = (double)s->allocs / run_s;
		s->bytes_run_per_s = (double)s->alloc_bytes / run_s;
		/* some stretch of the window is at least as busy as the
		 * window's average, whatever the bins' alignment */
		if (s->rate_peak_per_s < s->rate_per_s)
			s->rate_peak_per_s = s->rate_per_s;
	}
	free(cum);
}

/* ---- filters ------------------------------------------------------------------------ */

/* The filters of an_opts, compiled once and applied to each file. */
struct filters {
	const an_opts *o;
	int active;
	regex_t focus, ignore;
	int has_focus, has_ignore;
	uint64_t start;              /* the run's start before filtering:
				      * the time window is in it */
	uint64_t seen_from, seen_to; /* the intervals kept, in the run */
	size_t threads_kept;         /* with --thread: threads it matched */
};

struct entry_filter {
	const pf_file *f;
	const an_opts *o;
	struct filters *fs;
	const unsigned char *stack_kept; /* by stack id */
	const unsigned char *thread_kept; /* by thread index */
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
	uint64_t start = x->fs->start;
	pf_entry w = *e;
	w.allocs = w.alloc_bytes = w.frees = w.free_bytes = 0;
	uint64_t first_ns = UINT64_MAX, last_ns = 0; /* of the kept steps */
	size_t n = 0;
	for (size_t i = 0; i < e->nsteps; i++) {
		const pf_step *st = &e->steps[i];
		uint64_t end = x->f->snaps[st->snapshot].t_ns;
		uint64_t begin = st->snapshot ? x->f->snaps[st->snapshot - 1].t_ns : 0;
		uint64_t mid = wall_from(start, x->f, begin + (end - begin) / 2);
		if (mid < x->o->from_ns || mid >= to)
			continue;
		if (wall_from(start, x->f, begin) < x->fs->seen_from)
			x->fs->seen_from = wall_from(start, x->f, begin);
		if (wall_from(start, x->f, end) > x->fs->seen_to)
			x->fs->seen_to = wall_from(start, x->f, end);
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

/* Compiles the filters of o and says in a->filter_text what they are.
 * Returns 0, or 2 after printing what is wrong with an expression. */
static int filters_begin(analysis *a, struct filters *fs, const an_opts *o)
{
	memset(fs, 0, sizeof *fs);
	fs->o = o;
	fs->seen_from = UINT64_MAX;
	if (!o || (!o->pid && !o->thread && !o->from_ns && !o->to_ns &&
		   !o->focus && !o->ignore))
		return 0;
	if (o->focus && compile_filter(&fs->focus, o->focus, "--focus"))
		return 2;
	fs->has_focus = !!o->focus;
	if (o->ignore && compile_filter(&fs->ignore, o->ignore, "--ignore"))
		return 2;
	fs->has_ignore = !!o->ignore;
	fs->active = 1;
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
	return 0;
}

static void filters_free(struct filters *fs)
{
	if (fs->has_focus)
		regfree(&fs->focus);
	if (fs->has_ignore)
		regfree(&fs->ignore);
	fs->has_focus = fs->has_ignore = 0;
}

/* Applies the filters to file f: returns 0 when it is another process's
 * (the caller drops it), else drops its other threads, its stacks
 * without (or with) a matching frame, and its counts outside the time
 * window, so every metric after this is of what is left. */
static int filter_file(analysis *a, struct filters *fs, pf_file *f)
{
	const an_opts *o = fs->o;
	if (!fs->active)
		return 1;
	if (o->pid && f->pid != o->pid)
		return 0;
	unsigned char *stack_kept = xcalloc(f->nstacks + 1, 1);
	unsigned char *thread_kept = xcalloc(f->nthreads + 1, 1);
	for (size_t i = 0; i < f->nstacks; i++)
		stack_kept[i] = f->stacks[i] &&
				(!o->focus || stack_matches(a, f, f->stacks[i], &fs->focus)) &&
				(!o->ignore || !stack_matches(a, f, f->stacks[i], &fs->ignore));
	for (size_t i = 0; i < f->nthreads; i++) {
		thread_kept[i] = f->threads[i] &&
				 (!o->thread || thread_matches(f->threads[i], o->thread));
		fs->threads_kept += thread_kept[i];
	}
	struct entry_filter x = { f, o, fs, stack_kept, thread_kept };
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
	return 1;
}

/* After every file went through filter_file: nkept were kept. Returns
 * 0, or 2 after saying that none was. */
static int filters_end(analysis *a, struct filters *fs, size_t nkept)
{
	const an_opts *o = fs->o;
	if (!fs->active)
		return 0;
	/* a window is as fine as the snapshots: say which one was read */
	if ((o->from_ns || o->to_ns) && fs->seen_to > fs->seen_from) {
		size_t len = strlen(a->filter_text), cap = sizeof a->filter_text;
		a->window_ns = fs->seen_to - fs->seen_from;
		snprintf(a->filter_text + len, cap - len,
			 " (read as snapshots %.3g s..%.3g s)",
			 (double)fs->seen_from / 1e9, (double)fs->seen_to / 1e9);
	}
	if (!nkept) {
		fprintf(stderr, "poolscout: no profile of pid %u among the files "
				"given\n", o->pid);
		return 2;
	}
	if (o->thread && !fs->threads_kept) {
		fprintf(stderr, "poolscout: no thread named or numbered '%s' in "
				"the files given (poolscout threads lists them)\n",
			o->thread);
		return 2;
	}
	return 0;
}

/* ---- loading ------------------------------------------------------------------------ */

/* What every load starts with. Returns 0, or 2 after printing what is
 * wrong with a --wrapper or filter expression. */
static int load_begin(analysis *a, pf_set *set, const an_opts *o,
		      struct filters *fs)
{
	memset(a, 0, sizeof *a);
	memset(fs, 0, sizeof *fs);
	a->set = set;
	a->wrappers = wrappers_new(o);
	if (!a->wrappers)
		return 2;
	a->sym = sym_new();
	if (o && o->no_symbols)
		sym_offline(a->sym);
	a->sample_every = 1;
	return filters_begin(a, fs, o);
}

static int load_files(analysis *a, char **files, int nfiles, const an_opts *o)
{
	if (o && o->stream && !o->processes_only && nfiles > 1)
		return analysis_load_stream(a, files, nfiles, o);
	pf_set *set = xcalloc(1, sizeof *set);
	if (pf_set_load(set, files, nfiles)) {
		memset(a, 0, sizeof *a);
		a->set = set;
		return 2;
	}
	return analysis_load_set(a, set, o);
}

char **analysis_decide_wrappers(char **files, int nfiles, const an_opts *o,
				int *rc)
{
	an_opts all = *o;
	all.pid = 0;
	all.thread = all.focus = all.ignore = NULL;
	all.from_ns = all.to_ns = 0;
	all.decided_wrappers = NULL;
	all.wrappers_only = 1;
	analysis w;
	*rc = load_files(&w, files, nfiles, &all);
	if (*rc) {
		analysis_free(&w);
		return NULL;
	}
	const char *const *found = wrappers_found(w.wrappers);
	size_t n = 0;
	while (found[n])
		n++;
	char **decided = xcalloc(n + 1, sizeof *decided);
	for (size_t i = 0; i < n; i++)
		decided[i] = xstrdup(found[i]);
	analysis_free(&w);
	return decided;
}

void analysis_wrappers_free(char **decided)
{
	for (size_t i = 0; decided && decided[i]; i++)
		free(decided[i]);
	free(decided);
}

int analysis_load(analysis *a, char **files, int nfiles, const an_opts *o)
{
	/* A filter changes what the views see, never which function is a
	 * site: the structural wrapper rule decides over every recorded
	 * stack (a first load that stops once the sites are chosen), and
	 * the filtered load takes its verdicts. */
	int filtered = o && (o->pid || o->thread || o->from_ns || o->to_ns ||
			     o->focus || o->ignore);
	if (!filtered || o->no_auto_wrappers || o->processes_only ||
	    o->decided_wrappers)
		return load_files(a, files, nfiles, o);
	int rc;
	char **decided = analysis_decide_wrappers(files, nfiles, o, &rc);
	if (!decided)
		return rc;
	an_opts view = *o;
	view.decided_wrappers = (const char *const *)decided;
	rc = load_files(a, files, nfiles, &view);
	analysis_wrappers_free(decided);
	return rc;
}

int analysis_load_set(analysis *a, pf_set *set, const an_opts *o)
{
	struct filters fs;
	struct build b;
	int processes_only = o && o->processes_only;
	if (load_begin(a, set, o, &fs)) {
		filters_free(&fs);
		return 2;
	}
	fs.start = UINT64_MAX;
	for (size_t fi = 0; fi < set->nfiles; fi++)
		if (set->files[fi]->start_real_ns < fs.start)
			fs.start = set->files[fi]->start_real_ns;
	size_t kept = 0;
	for (size_t fi = 0; fi < set->nfiles; fi++) {
		if (filter_file(a, &fs, set->files[fi]))
			set->files[kept++] = set->files[fi];
		else
			pf_free(set->files[fi]);
	}
	set->nfiles = kept;
	int rc = filters_end(a, &fs, kept);
	filters_free(&fs);
	if (rc)
		return rc;

	build_init(&b, a, o, 0);
	a->processes = xcalloc(set->nfiles + 1, sizeof *a->processes);
	for (size_t fi = 0; fi < set->nfiles; fi++) {
		build_add_file(&b);
		add_file_header(&b, set->files[fi]);
	}
	run_span(&b);
	if (!processes_only) {
		/* every file is here: as many stacks as they have */
		size_t nstacks = 0;
		for (size_t fi = 0; fi < set->nfiles; fi++)
			for (size_t i = 0; i < set->files[fi]->nstacks; i++)
				nstacks += set->files[fi]->stacks[i] != NULL;
		stacks_reserve(&b, nstacks);
		for (size_t fi = 0; fi < set->nfiles; fi++)
			add_file_stacks(&b, fi, set->files[fi]);
		build_sites(&b);
		if (o && o->wrappers_only) {
			build_free(&b);
			return 0;
		}
	}
	for (size_t fi = 0; fi < set->nfiles; fi++)
		fold_file(&b, fi, set->files[fi]);
	finish(&b);
	build_free(&b);
	return 0;
}

int analysis_load_stream(analysis *a, char **paths, int npaths,
			 const an_opts *o)
{
	struct filters fs;
	struct build b;
	char err[1024];
	int rc = 2;
	size_t *kept_path = xcalloc((size_t)npaths + 1, sizeof *kept_path);
	size_t *kept_size = xcalloc((size_t)npaths + 1, sizeof *kept_size);
	build_init(&b, a, o, 1);
	if (load_begin(a, xcalloc(1, sizeof *a->set), o, &fs))
		goto out;
	b.a = a;
	a->owns_stacks = 1;
	/* a time window is in the run of every file given: their starts */
	fs.start = UINT64_MAX;
	for (int i = 0; o && (o->from_ns || o->to_ns) && i < npaths; i++) {
		pf_file *f = pf_read(paths[i], err, sizeof err);
		if (!f) {
			fprintf(stderr, "poolscout: %s\n", err);
			goto out;
		}
		if (f->start_real_ns < fs.start)
			fs.start = f->start_real_ns;
		pf_free(f);
	}

	/* first pass: the stacks */
	size_t nkept = 0;
	progress_begin("reading profiles", (size_t)npaths);
	for (int i = 0; i < npaths; i++) {
		progress_tick((size_t)i);
		pf_file *f = pf_read(paths[i], err, sizeof err);
		if (!f) {
			progress_end();
			fprintf(stderr, "poolscout: %s\n", err);
			goto out;
		}
		if (!f->complete)
			pf_warn_partial(f);
		if (filter_file(a, &fs, f)) {
			kept_path[nkept] = (size_t)i;
			kept_size[nkept] = f->good_size;
			build_add_file(&b);
			add_file_header(&b, f);
			add_file_stacks(&b, nkept++, f);
		}
		sym_forget_file(a->sym, f);
		pf_free(f);
	}
	progress_end();
	if (filters_end(a, &fs, nkept))
		goto out;
	run_span(&b);
	build_sites(&b);
	if (o && o->wrappers_only) {
		rc = 0;
		goto out;
	}

	/* second pass: everything else, each file kept without its bulk */
	a->processes = xcalloc(nkept + 1, sizeof *a->processes);
	a->set->files = xcalloc(nkept + 1, sizeof *a->set->files);
	progress_begin("folding profiles", nkept);
	for (size_t fi = 0; fi < nkept; fi++) {
		progress_tick(fi);
		const char *path = paths[kept_path[fi]];
		/* as much of the file as the first pass read */
		pf_file *f = pf_read_upto(path, kept_size[fi], err, sizeof err);
		if (f && !filter_file(a, &fs, f)) {
			pf_free(f);
			f = NULL;
			snprintf(err, sizeof err, "%s: changed while being read",
				 path);
		}
		if (!f) {
			progress_end();
			fprintf(stderr, "poolscout: %s\n", err);
			goto out;
		}
		fold_file(&b, fi, f);
		free(b.pos[fi]);
		b.pos[fi] = NULL;
		b.npos[fi] = 0;
		sym_forget_file(a->sym, f);
		pf_release_bulk(f);
		a->set->files[a->set->nfiles++] = f;
	}
	progress_end();
	for (size_t i = 0; i < a->nstacks; i++)
		a->stacks[i].file = a->set->files[b.first_file[i]];
	finish(&b);
	rc = 0;
out:
	/* a failed load leaves no stack pointing at a file it freed */
	for (size_t i = 0; rc && i < a->nstacks; i++)
		a->stacks[i].file = NULL;
	filters_free(&fs);
	build_free(&b);
	free(kept_path);
	free(kept_size);
	return rc;
}

void analysis_free(analysis *a)
{
	for (size_t i = 0; a->owns_stacks && i < a->nstacks; i++) {
		free((pf_stack *)a->stacks[i].stack);
	}
	free(a->stacks);
	while (a->frame_chunks) {
		struct an_frame_chunk *c = a->frame_chunks;
		a->frame_chunks = c->next;
		free(c);
	}
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
	free(a->timeline.rec_ns);
	wrappers_free(a->wrappers);
	sym_free(a->sym);
	if (a->set) {
		pf_set_free(a->set);
		free(a->set);
	}
	memset(a, 0, sizeof *a);
}
