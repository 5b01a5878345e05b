/* reader.c - reads and validates a poolscout profile (include/psformat.h,
 * docs/format.md) into a pf_file.
 *
 * The input is untrusted: every length, count and id is bounded by what
 * the file could hold, every record's crc32 is checked, and the counter
 * relations the writer guarantees (xfrees <= frees <= allocs, cumulative
 * counters never going down, entries naming stacks and threads declared
 * before them) are enforced. A violation is an error naming the file, the
 * offset and what was expected. The one tolerated defect is a file that
 * simply stops (the process was killed mid-write): it reads up to the last
 * whole record and is marked partial.
 *
 * A version 4 profile that stopped cleanly ends with a TOTALS record; the
 * full read checks it against the entries, and pf_read_totals() reads it
 * alone, from the end of the file, for `poolscout record`'s summary.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "memory.h"
#include "profile.h"
#include "progress.h"
#include "uthash.h"

struct pf_module_index {
	uint32_t id;
	size_t pos;
	UT_hash_handle hh;
};

struct pf_node_index {
	uint64_t key[2]; /* thread index, ip */
	size_t pos;
	UT_hash_handle hh;
};

/* Version 3's frame tree, kept while the file is read: a STACKS record
 * gives a stack as its innermost frame, and its return addresses are the
 * path from there to the root. */
struct frames {
	uint32_t *parent; /* 0: outermost */
	uint64_t *ip;
	size_t n, cap;    /* frame ids 1..n; [0] unused */
};

struct cur {
	const uint8_t *p, *end, *base;
	const char *name;
	char *err;
	size_t errlen;
	int failed;
	uint64_t id_cap; /* no id can exceed this in a file of this size */
	uint32_t version;
	struct frames frames;
	/* inside a DEFLATE record: its file offset, and the inflated bytes
	 * before base (error messages name both) */
	int inflated;
	size_t deflate_at, inflated_before;
	uint64_t allocs; /* every entry's allocations, as read so far */
};

static void fail(struct cur *c, const uint8_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct cur *c, const uint8_t *at, const char *fmt, ...)
{
	if (c->failed)
		return;
	c->failed = 1;
	int n = c->inflated
		? snprintf(c->err, c->errlen,
			   "%s: offset %zu (deflated record, inflated byte %zu): ",
			   c->name, c->deflate_at,
			   c->inflated_before + (size_t)(at - c->base))
		: snprintf(c->err, c->errlen, "%s: offset %zu: ", c->name,
			   (size_t)(at - c->base));
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static uint64_t get(struct cur *c, const char *what)
{
	uint64_t v = 0;
	if (c->failed)
		return 0;
	const uint8_t *at = c->p;
	if (ps_varint_get(&c->p, c->end, &v)) {
		fail(c, at, "expected %s (a varint) inside the record", what);
		return 0;
	}
	return v;
}

/* A varint that must lie in [lo, hi]. */
static uint64_t get_range(struct cur *c, const char *what, uint64_t lo,
			  uint64_t hi)
{
	const uint8_t *at = c->p;
	uint64_t v = get(c, what);
	if (!c->failed && (v < lo || v > hi))
		fail(c, at, "expected %s in %llu..%llu, found %llu", what,
		     (unsigned long long)lo, (unsigned long long)hi,
		     (unsigned long long)v);
	return v;
}

/* A length-prefixed string; returns a NUL-terminated copy. */
static char *get_str(struct cur *c, const char *what)
{
	const uint8_t *at = c->p;
	uint64_t n = get(c, what);
	if (c->failed)
		return xstrdup("");
	if (n > (uint64_t)(c->end - c->p)) {
		fail(c, at, "expected %s of %llu bytes, but the record has %zu left",
		     what, (unsigned long long)n, (size_t)(c->end - c->p));
		return xstrdup("");
	}
	char *s = xmalloc(n + 1);
	memcpy(s, c->p, n);
	s[n] = 0;
	c->p += n;
	return s;
}

/* ---- per record ---------------------------------------------------------- */

static void read_process(struct cur *c, pf_file *f)
{
	f->pid = (uint32_t)get_range(c, "pid", 1, UINT32_MAX);
	f->ppid = (uint32_t)get_range(c, "ppid", 0, UINT32_MAX);
	f->flags = (uint32_t)get(c, "flags");
	f->start_real_ns = get(c, "start realtime");
	f->start_mono_ns = get(c, "start monotonic time");
	f->interval_ms = (uint32_t)get_range(c, "interval_ms", 1, 3600000);
	f->depth = (uint32_t)get_range(c, "depth", 1, 256);
	f->sample_every = (uint32_t)get_range(c, "sample rate", 1, 1u << 30);
	f->exe = get_str(c, "executable path");
	f->comm = get_str(c, "command name");
	const uint8_t *at = c->p;
	uint64_t argc = get(c, "argument count");
	if (!c->failed && argc > (uint64_t)(c->end - c->p)) {
		fail(c, at, "expected at most %zu arguments, found %llu",
		     (size_t)(c->end - c->p), (unsigned long long)argc);
		return;
	}
	f->argc = (uint32_t)argc;
	f->argv = xcalloc(argc + 1, sizeof *f->argv);
	for (uint64_t i = 0; i < argc && !c->failed; i++)
		f->argv[i] = get_str(c, "argument");
}

/* The module declared with id, or NULL. Modules sit in f->modules in the
 * order they were read (the memory a file takes is what it declares, not
 * its largest id); an index finds them by id. */
static pf_module *module_by_id(const pf_file *f, uint32_t id)
{
	struct pf_module_index *ix;
	HASH_FIND(hh, f->module_index, &id, sizeof id, ix);
	return ix ? &f->modules[ix->pos] : NULL;
}

/* Ids of modules, frames and stacks are written in turn (version 2 on):
 * 1 when id is the next one, want; else fails at at and returns 0. */
static int id_in_turn(struct cur *c, const uint8_t *at, const char *what,
		      uint64_t id, uint64_t want)
{
	if (id == want)
		return 1;
	fail(c, at, "expected %s id %llu (ids follow one another), found %llu",
	     what, (unsigned long long)want, (unsigned long long)id);
	return 0;
}

static void read_module(struct cur *c, pf_file *f)
{
	const uint8_t *at = c->p;
	uint32_t id = (uint32_t)get_range(c, "module id", 1, c->id_cap);
	if (c->failed)
		return;
	/* version 2 writes ids in order: each new one is the next */
	if (c->version >= 2 && !id_in_turn(c, at, "module", id, f->nmodules + 1))
		return;
	if (module_by_id(f, id)) {
		fail(c, at, "expected a new module id, found %u again", id);
		return;
	}
	if (f->nmodules == f->capmodules) {
		f->capmodules = f->capmodules ? f->capmodules * 2 : 16;
		f->modules = xrealloc(f->modules, f->capmodules * sizeof *f->modules);
	}
	pf_module *m = &f->modules[f->nmodules];
	memset(m, 0, sizeof *m);
	m->load_epoch = (uint32_t)get_range(c, "load epoch", 0, UINT32_MAX);
	m->base = get(c, "load address");
	m->path = get_str(c, "module path");
	f->nmodules++; /* from here pf_free frees the path */
	at = c->p;
	uint64_t blen = get_range(c, "build-id length", 0, sizeof m->build_id);
	if (!c->failed && blen > (uint64_t)(c->end - c->p))
		fail(c, at, "expected a %llu-byte build-id inside the record",
		     (unsigned long long)blen);
	if (c->failed)
		return;
	memcpy(m->build_id, c->p, blen);
	m->build_id_len = (uint32_t)blen;
	c->p += blen;
	m->nseg = (uint32_t)get_range(c, "segment count", 0, 8);
	m->lo = UINT64_MAX;
	for (uint32_t i = 0; i < m->nseg && !c->failed; i++) {
		struct pf_segment *s = &m->seg[i];
		s->vaddr = get(c, "segment address");
		s->memsz = get(c, "segment size");
		s->offset = get(c, "segment file offset");
		s->flags = (uint32_t)get(c, "segment flags");
		uint64_t lo = m->base + s->vaddr;
		if (lo < m->lo)
			m->lo = lo;
		if (lo + s->memsz > m->hi)
			m->hi = lo + s->memsz;
	}
	if (!m->nseg)
		m->lo = m->hi = 0;
	if (c->failed)
		return;
	m->id = id; /* last: marks the slot as filled */
	struct pf_module_index *ix = xmalloc(sizeof *ix);
	ix->id = id;
	ix->pos = f->nmodules - 1;
	HASH_ADD(hh, f->module_index, id, sizeof ix->id, ix);
}

static void read_module_unload(struct cur *c, pf_file *f)
{
	const uint8_t *at = c->p;
	uint32_t id = (uint32_t)get(c, "module id");
	uint32_t epoch = (uint32_t)get_range(c, "unload epoch", 1, UINT32_MAX);
	if (c->failed)
		return;
	pf_module *m = module_by_id(f, id);
	if (!m) {
		fail(c, at, "expected the id of a module declared before, found %u",
		     id);
		return;
	}
	m->unload_epoch = epoch;
}

/* Makes room for stack id in f->stacks. */
static void stacks_reserve(pf_file *f, uint32_t id)
{
	if (id < f->nstacks)
		return;
	size_t n = f->nstacks ? f->nstacks : 64;
	while (n <= id)
		n *= 2;
	f->stacks = xrealloc(f->stacks, n * sizeof *f->stacks);
	memset(f->stacks + f->nstacks, 0, (n - f->nstacks) * sizeof *f->stacks);
	f->nstacks = n;
}

/* A stack of depth return addresses, all 0, in one allocation. */
static pf_stack *stack_new(uint32_t depth)
{
	pf_stack *s = xcalloc(1, sizeof *s + depth * sizeof *s->ips);
	s->depth = depth;
	s->ips = (uint64_t *)(s + 1);
	return s;
}

static void read_stack(struct cur *c, pf_file *f)
{
	const uint8_t *at = c->p;
	uint32_t id = (uint32_t)get_range(c, "stack id", 1, c->id_cap);
	if (c->failed)
		return;
	if (c->version >= 2 &&
	    !id_in_turn(c, at, "stack", id, (uint64_t)f->last_stack_id + 1))
		return;
	if (id < f->nstacks && f->stacks[id]) {
		fail(c, at, "expected a new stack id, found %u again", id);
		return;
	}
	uint32_t epoch = (uint32_t)get_range(c, "map epoch", 0, UINT32_MAX);
	uint32_t depth = (uint32_t)get_range(c, "stack depth", 0, 256);
	if (c->failed)
		return;
	stacks_reserve(f, id);
	pf_stack *s = stack_new(depth);
	s->id = id;
	s->map_epoch = epoch;
	for (uint32_t i = 0; i < depth && !c->failed; i++)
		s->ips[i] = get(c, "return address");
	f->last_stack_id = id;
	if (c->version >= 2) {
		s->cand_start = (uint32_t)get_range(c, "first site candidate", 0,
						    depth);
		s->cand_count = (uint32_t)get_range(c, "site candidate count", 0,
						    depth - s->cand_start);
	}
	f->stacks[id] = s;
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Bounds a count read from the record by the bytes that could encode it. */
static uint64_t get_count(struct cur *c, const char *what, size_t min_bytes);

/* FRAMES (v3): n frames, each (id - parent, its address as a zigzag
 * difference from its parent's). */
static void read_frames(struct cur *c, pf_file *f)
{
	(void)f;
	struct frames *fr = &c->frames;
	const uint8_t *at = c->p;
	uint64_t first = get(c, "first frame id");
	if (c->failed || !id_in_turn(c, at, "frame", first, fr->n + 1))
		return;
	uint64_t n = get_count(c, "frame count", 2);
	if (!c->failed && n > UINT32_MAX - fr->n) {
		fail(c, at, "expected at most %llu more frames",
		     (unsigned long long)(UINT32_MAX - fr->n));
		return;
	}
	if (c->failed)
		return;
	if (fr->n + n + 1 > fr->cap) {
		size_t cap = fr->cap ? fr->cap : 1024;
		while (cap < fr->n + n + 1)
			cap *= 2;
		fr->parent = xrealloc(fr->parent, cap * sizeof *fr->parent);
		fr->ip = xrealloc(fr->ip, cap * sizeof *fr->ip);
		fr->cap = cap;
		fr->parent[0] = 0;
		fr->ip[0] = 0;
	}
	for (uint64_t i = 0; i < n && !c->failed; i++) {
		uint64_t id = fr->n + 1;
		uint64_t back = get_range(c, "frame parent distance", 1, id);
		uint64_t delta = get(c, "frame address");
		if (c->failed)
			return;
		uint32_t parent = (uint32_t)(id - back);
		fr->parent[id] = parent;
		fr->ip[id] = fr->ip[parent] + (uint64_t)unzigzag(delta);
		fr->n = id;
	}
}

/* STACKS (v3): n stacks, each (innermost frame as a zigzag difference
 * from the previous one's, map epoch, site candidates). */
static void read_stacks(struct cur *c, pf_file *f)
{
	const uint8_t *at = c->p;
	uint64_t first = get(c, "first stack id");
	if (c->failed ||
	    !id_in_turn(c, at, "stack", first, (uint64_t)f->last_stack_id + 1))
		return;
	uint64_t n = get_count(c, "stack count", 4);
	if (!c->failed && n > UINT32_MAX - 1 - f->last_stack_id)
		fail(c, at, "expected fewer stacks");
	uint64_t ips[256];
	int64_t frame = 0;
	for (uint64_t i = 0; i < n && !c->failed; i++) {
		at = c->p;
		frame += unzigzag(get(c, "innermost frame"));
		uint32_t epoch = (uint32_t)get_range(c, "map epoch", 0, UINT32_MAX);
		if (c->failed)
			return;
		if (frame < 0 || (uint64_t)frame > c->frames.n) {
			fail(c, at, "expected a frame declared before (0..%zu), "
				    "found %lld", c->frames.n, (long long)frame);
			return;
		}
		uint32_t depth = 0;
		for (uint32_t fid = (uint32_t)frame; fid; fid = c->frames.parent[fid]) {
			if (depth == 256) {
				fail(c, at, "expected a stack of at most 256 frames");
				return;
			}
			ips[depth++] = c->frames.ip[fid];
		}
		uint32_t cand_start = (uint32_t)get_range(c, "first site candidate",
							  0, depth);
		uint32_t cand_count = (uint32_t)get_range(c, "site candidate count",
							  0, depth - cand_start);
		if (c->failed)
			return;
		uint32_t id = f->last_stack_id + 1;
		stacks_reserve(f, id);
		pf_stack *s = stack_new(depth);
		s->id = id;
		s->map_epoch = epoch;
		memcpy(s->ips, ips, depth * sizeof *ips);
		s->cand_start = cand_start;
		s->cand_count = cand_count;
		f->stacks[id] = s;
		f->last_stack_id = id;
	}
}

static pf_thread *thread_at(pf_file *f, uint64_t index)
{
	return index && index < f->nthreads ? f->threads[index] : NULL;
}

static void read_thread(struct cur *c, pf_file *f)
{
	const uint8_t *at = c->p;
	uint32_t index = (uint32_t)get_range(c, "thread index", 1, c->id_cap);
	if (!c->failed && c->version >= 2 && index > f->last_thread_index + 1) {
		fail(c, at, "expected thread index at most %u (new threads come "
			    "in order), found %u", f->last_thread_index + 1, index);
		return;
	}
	if (index > f->last_thread_index)
		f->last_thread_index = index;
	uint32_t tid = (uint32_t)get_range(c, "tid", 1, UINT32_MAX);
	char *name = get_str(c, "thread name");
	uint64_t start = get(c, "thread start");
	uint64_t end = get(c, "thread end");
	uint64_t ended = get_range(c, "thread ended flag", 0, 1);
	if (c->failed) {
		free(name);
		return;
	}
	if (index >= f->nthreads) {
		size_t n = f->nthreads ? f->nthreads : 16;
		while (n <= index)
			n *= 2;
		f->threads = xrealloc(f->threads, n * sizeof *f->threads);
		memset(f->threads + f->nthreads, 0,
		       (n - f->nthreads) * sizeof *f->threads);
		f->nthreads = n;
	}
	pf_thread *t = f->threads[index];
	if (!t)
		t = f->threads[index] = xcalloc(1, sizeof *t);
	t->index = index;
	t->tid = tid;
	snprintf(t->name, sizeof t->name, "%s", name);
	t->start_ns = start;
	t->end_ns = end;
	t->ended = (int)ended;
	free(name);
}

/* The histograms and realloc counts of one entry as read, as pf_entry
 * keeps them. */
struct extras {
	uint64_t size_buckets, life_buckets;
	int has_reallocs, has_inner;
	unsigned n; /* values[0, n): the histograms' counts, the size's
		     * then the lifetime's, then the realloc counts, then the
		     * inner frees */
	uint64_t values[2 * PS_HIST_BUCKETS + PF_REALLOC_VALUES +
			PF_INNER_VALUES];
};

/* Reads a histogram into h: its buckets into *buckets, their counts
 * after h's values (a bucket of count 0 is no bucket). */
static void read_hist(struct cur *c, struct extras *h, uint64_t *buckets,
		      const char *what)
{
	uint64_t n = get_range(c, what, 0, PS_HIST_BUCKETS);
	int last = -1;
	for (uint64_t i = 0; i < n && !c->failed; i++) {
		const uint8_t *at = c->p;
		uint64_t b = get_range(c, "histogram bucket", 0,
				       PS_HIST_BUCKETS - 1);
		uint64_t count = get(c, "histogram count");
		if (c->failed)
			return;
		if ((int)b <= last) {
			fail(c, at, "expected histogram buckets in increasing order");
			return;
		}
		last = (int)b;
		if (!count)
			continue;
		*buckets |= (uint64_t)1 << b;
		h->values[h->n++] = count;
	}
}

static size_t entry_hash(uint32_t thread_index, uint32_t stack_id)
{
	return (size_t)pf_mix64((uint64_t)thread_index << 32 | stack_id);
}

/* The slot of (thread_index, stack_id) in f->entry_slots: its entry's,
 * or the empty one where it would go. The table has room. */
static uint32_t *entry_slot(const pf_file *f, uint32_t thread_index,
			    uint32_t stack_id)
{
	size_t mask = f->entry_slot_cap - 1;
	for (size_t h = entry_hash(thread_index, stack_id);; h++) {
		uint32_t *slot = &f->entry_slots[h & mask];
		if (!*slot)
			return slot;
		const pf_entry *e = &f->entries[*slot - 1];
		if (e->thread_index == thread_index && e->stack_id == stack_id)
			return slot;
	}
}

/* Indexes entries[0, nentries) afresh, in a table of room for twice
 * as many. */
static void entry_index_build(pf_file *f)
{
	size_t cap = 256;
	while (cap < 2 * (f->nentries + 1))
		cap *= 2;
	free(f->entry_slots);
	f->entry_slots = xcalloc(cap, sizeof *f->entry_slots);
	f->entry_slot_cap = cap;
	for (size_t i = 0; i < f->nentries; i++) {
		const pf_entry *e = &f->entries[i];
		*entry_slot(f, e->thread_index, e->stack_id) = (uint32_t)(i + 1);
	}
}

/* The entry of (thread_index, stack_id), made if new; NULL (the error
 * set) when the file has more than the index can count. */
static pf_entry *entry_get(struct cur *c, const uint8_t *at, pf_file *f,
			   uint32_t thread_index, uint32_t stack_id)
{
	if (f->entry_slots) {
		uint32_t pos = *entry_slot(f, thread_index, stack_id);
		if (pos)
			return &f->entries[pos - 1];
	}
	if (f->nentries >= UINT32_MAX - 1) {
		fail(c, at, "expected fewer than %u entries", UINT32_MAX - 1);
		return NULL;
	}
	if (2 * (f->nentries + 1) > f->entry_slot_cap)
		entry_index_build(f);
	if (f->nentries == f->capentries) {
		f->capentries = f->capentries ? f->capentries * 2 : 256;
		f->entries = xrealloc(f->entries,
				      f->capentries * sizeof *f->entries);
	}
	pf_entry *e = &f->entries[f->nentries];
	memset(e, 0, sizeof *e);
	e->thread_index = thread_index;
	e->stack_id = stack_id;
	*entry_slot(f, thread_index, stack_id) = (uint32_t)++f->nentries;
	return e;
}

/* Reads the realloc counts of an entry with these flags into h (after
 * its histograms): the growth fields (PS_ENT_HAS_REALLOC), then the
 * blocks resized (PS_ENT_V5_RESIZED, version 5), which must add up with
 * the frees: grown <= resized <= frees, a size for the grown ones. */
static void read_reallocs(struct cur *c, struct extras *h, uint64_t flags,
			  uint64_t frees)
{
	uint64_t r[PF_REALLOC_VALUES] = { 0 };
	if (flags & PS_ENT_HAS_REALLOC) {
		r[0] = get(c, "realloc growth count");
		r[1] = get(c, "realloc chains ended");
		r[2] = get(c, "realloc steps sum");
		r[3] = get(c, "realloc steps max");
		r[4] = get(c, "realloc final size");
	}
	if ((flags & PS_ENT_V5_RESIZED) && c->version >= 5) {
		const uint8_t *at = c->p;
		r[5] = get(c, "blocks resized by realloc");
		r[6] = get(c, "blocks grown by realloc");
		r[7] = get(c, "largest size grown to");
		if (!c->failed && (r[5] > frees || r[6] > r[5] || !r[6] != !r[7])) {
			fail(c, at, "expected resized blocks that add up (grown <= "
				    "resized <= frees, a size for the grown)");
			return;
		}
	}
	uint64_t any = 0;
	for (unsigned i = 0; i < PF_REALLOC_VALUES; i++)
		any |= r[i];
	if (!any)
		return;
	h->has_reallocs = 1;
	memcpy(h->values + h->n, r, sizeof r);
	h->n += PF_REALLOC_VALUES;
}

/* Reads the checked frees of an entry with these flags
 * (PS_ENT_V6_INNER_FREES, version 6) into h, after its realloc counts:
 * by the candidate running, then with none; together no more than its
 * frees by its own thread. */
static void read_inner_frees(struct cur *c, struct extras *h, uint64_t flags,
			     uint64_t own_frees)
{
	if (!(flags & PS_ENT_V6_INNER_FREES) || c->version < 6)
		return;
	const uint8_t *at = c->p;
	uint64_t v[PF_INNER_VALUES], sum = 0, any = 0;
	for (unsigned k = 0; k < PF_INNER_VALUES; k++) {
		v[k] = get(c, "frees inside a site candidate");
		sum = sum + v[k] < sum ? UINT64_MAX : sum + v[k];
		any |= v[k];
	}
	if (c->failed)
		return;
	if (sum > own_frees) {
		fail(c, at, "expected frees inside site candidates that add up "
			    "to no more than the entry's own frees (%llu > %llu)",
		     (unsigned long long)sum, (unsigned long long)own_frees);
		return;
	}
	if (!any)
		return;
	h->has_inner = 1;
	memcpy(h->values + h->n, v, sizeof v);
	h->n += PF_INNER_VALUES;
}

/* Makes h the extras of entry e, in place when they fit in its room in
 * f->extras, else in new room (twice as much as before, so an entry
 * whose histograms keep growing leaves little behind). */
static void entry_set_extras(pf_file *f, pf_entry *e, const struct extras *h)
{
	e->size_buckets = h->size_buckets;
	e->life_buckets = h->life_buckets;
	e->has_reallocs = (uint16_t)h->has_reallocs;
	e->has_inner = (uint16_t)h->has_inner;
	if (h->n > e->extra_cap) {
		uint32_t most = sizeof h->values / sizeof h->values[0];
		uint32_t cap = 2 * e->extra_cap > h->n ? 2 * e->extra_cap : h->n;
		if (cap > most)
			cap = most;
		if (f->capextras - f->nextras < cap) {
			size_t want = f->capextras ? 2 * f->capextras : 1024;
			while (want - f->nextras < cap)
				want *= 2;
			f->extras = xrealloc(f->extras, want * sizeof *f->extras);
			f->capextras = want;
		}
		e->extra_at = f->nextras;
		e->extra_cap = cap;
		f->nextras += cap;
	}
	if (h->n)
		memcpy(f->extras + e->extra_at, h->values, h->n * sizeof *h->values);
}

void pf_entry_hists(const pf_file *f, const pf_entry *e, uint64_t *size_hist,
		    uint64_t *life_hist)
{
	const uint64_t *count = e->extra_cap ? f->extras + e->extra_at : NULL;
	if (size_hist)
		memset(size_hist, 0, PS_HIST_BUCKETS * sizeof *size_hist);
	if (life_hist)
		memset(life_hist, 0, PS_HIST_BUCKETS * sizeof *life_hist);
	for (uint64_t m = e->size_buckets; m; m &= m - 1, count++)
		if (size_hist)
			size_hist[__builtin_ctzll(m)] = *count;
	for (uint64_t m = e->life_buckets; m && life_hist; m &= m - 1, count++)
		life_hist[__builtin_ctzll(m)] = *count;
}

void pf_entry_reallocs(const pf_file *f, const pf_entry *e, pf_reallocs *r)
{
	memset(r, 0, sizeof *r);
	if (!e->has_reallocs)
		return;
	const uint64_t *v = f->extras + e->extra_at +
			    __builtin_popcountll(e->size_buckets) +
			    __builtin_popcountll(e->life_buckets);
	r->grows = v[0];
	r->chains_ended = v[1];
	r->chain_steps_sum = v[2];
	r->chain_steps_max = v[3];
	r->chain_final_size_max = v[4];
	r->resized = v[5];
	r->resized_grown = v[6];
	r->resized_size_max = v[7];
}

void pf_entry_inner_frees(const pf_file *f, const pf_entry *e,
			  uint64_t inner[PF_INNER_VALUES])
{
	memset(inner, 0, PF_INNER_VALUES * sizeof *inner);
	if (!e->has_inner)
		return;
	const uint64_t *v = f->extras + e->extra_at +
			    __builtin_popcountll(e->size_buckets) +
			    __builtin_popcountll(e->life_buckets) +
			    (e->has_reallocs ? PF_REALLOC_VALUES : 0);
	memcpy(inner, v, PF_INNER_VALUES * sizeof *inner);
}

void pf_filter_entries(pf_file *f, int (*keep)(pf_entry *e, void *arg),
		       void *arg)
{
	for (size_t t = 0; t < f->nthreads; t++) {
		pf_thread *th = f->threads[t];
		if (th)
			th->allocs = th->alloc_bytes = th->frees = th->free_bytes =
				th->xfrees = 0;
	}
	size_t n = 0;
	for (size_t i = 0; i < f->nentries; i++) {
		pf_entry *e = &f->entries[i];
		if (!keep(e, arg)) {
			free(e->steps);
			continue;
		}
		f->entries[n] = *e;
		e = &f->entries[n++];
		pf_thread *th = e->thread_index < f->nthreads
					? f->threads[e->thread_index]
					: NULL;
		if (th) {
			th->allocs += e->allocs;
			th->alloc_bytes += e->alloc_bytes;
			th->frees += e->frees;
			th->free_bytes += e->free_bytes;
			th->xfrees += e->xfrees;
		}
	}
	f->nentries = n;
	entry_index_build(f);
}

void pf_drop_stack(pf_file *f, uint32_t id)
{
	if (id < f->nstacks && f->stacks[id]) {
		free(f->stacks[id]);
		f->stacks[id] = NULL;
	}
}

void pf_drop_thread(pf_file *f, uint32_t index)
{
	if (index < f->nthreads && f->threads[index]) {
		free(f->threads[index]->ticks);
		free(f->threads[index]);
		f->threads[index] = NULL;
	}
}

pf_entry *pf_entry_find(const pf_file *f, uint32_t thread_index,
			uint32_t stack_id)
{
	if (!f->entry_slots)
		return NULL;
	uint32_t pos = *entry_slot(f, thread_index, stack_id);
	return pos ? &f->entries[pos - 1] : NULL;
}

/* Adds d (its snapshot: snap) to thread t's history. */
static void add_tick(pf_thread *t, uint32_t snap, pf_tick d)
{
	if (!d.allocs && !d.bytes && !d.frees && !d.free_bytes && !d.rec_ns &&
	    !d.busy_ns && !d.cpu_ns)
		return;
	if (t->nticks && t->ticks[t->nticks - 1].snapshot == snap) {
		pf_tick *k = &t->ticks[t->nticks - 1];
		k->allocs += d.allocs;
		k->bytes += d.bytes;
		k->frees += d.frees;
		k->free_bytes += d.free_bytes;
		k->rec_ns += d.rec_ns;
		k->busy_ns += d.busy_ns;
		k->cpu_ns += d.cpu_ns;
		return;
	}
	if (t->nticks == t->capticks) {
		t->capticks = t->capticks ? t->capticks * 2 : 16;
		t->ticks = xrealloc(t->ticks, t->capticks * sizeof *t->ticks);
	}
	d.snapshot = snap;
	t->ticks[t->nticks++] = d;
}

static void add_step(pf_entry *e, uint32_t snap, const pf_entry *n)
{
	if (n->allocs == e->allocs && n->frees == e->frees)
		return;
	if (e->nsteps == UINT32_MAX)
		return; /* more snapshots than a file can hold */
	if (e->nsteps == e->capsteps) {
		/* most entries change in one snapshot, or a few */
		e->capsteps = e->capsteps ? 2 * e->capsteps : 1;
		if (e->capsteps < e->nsteps) /* wrapped */
			e->capsteps = UINT32_MAX;
		e->steps = xrealloc(e->steps, e->capsteps * sizeof *e->steps);
	}
	e->steps[e->nsteps++] = (pf_step){
		.snapshot = snap,
		.allocs = n->allocs - e->allocs,
		.alloc_bytes = n->alloc_bytes - e->alloc_bytes,
		.frees = n->frees - e->frees,
		.free_bytes = n->free_bytes - e->free_bytes,
	};
}

/* The thread and stack an entry names, checked: NULL when not declared
 * (the error set). */
static pf_thread *entry_owner(struct cur *c, pf_file *f, const uint8_t *at,
			      uint32_t ti, uint32_t si)
{
	pf_thread *t = thread_at(f, ti);
	if (!t) {
		fail(c, at, "expected a thread declared before, found index %u", ti);
		return NULL;
	}
	if (!si || si >= f->nstacks || !f->stacks[si]) {
		fail(c, at, "expected a stack declared before, found id %u", si);
		return NULL;
	}
	return t;
}

/* Checks the entry n of thread t (index ti), stack si, read at `at`, and
 * makes it the latest of (ti, si): the counts must add up and never go
 * down. */
static void merge_entry(struct cur *c, pf_file *f, uint32_t snap,
			const uint8_t *at, pf_thread *t, uint32_t ti,
			uint32_t si, pf_entry n, const struct extras *h)
{
	if (n.xfrees > n.frees || n.frees > n.allocs ||
	    n.xfree_bytes > n.free_bytes || n.free_bytes > n.alloc_bytes ||
	    n.peak_live > n.allocs || n.peak_bytes > n.alloc_bytes ||
	    (n.allocs && n.size_min > n.size_max)) {
		fail(c, at, "expected counts that add up (cross-thread frees <= "
			    "frees <= allocations, peak <= allocations, min size <= max) "
			    "for thread %u stack %u", ti, si);
		return;
	}
	if (c->version >= 2 &&
	    (!n.allocs != !n.first_alloc_ticks ||
	     !n.allocs != !n.last_alloc_ticks ||
	     n.first_alloc_ticks > n.last_alloc_ticks ||
	     !n.frees != !n.last_free_ticks)) {
		fail(c, at, "expected allocation and free times that match the "
			    "counts (first <= latest, set once counted) for thread "
			    "%u stack %u", ti, si);
		return;
	}
	pf_entry *e = entry_get(c, at, f, ti, si);
	if (!e)
		return;
	if (n.allocs < e->allocs || n.frees < e->frees ||
	    n.alloc_bytes < e->alloc_bytes || n.xfrees < e->xfrees) {
		fail(c, at, "expected cumulative counters that never decrease "
			    "for thread %u stack %u", ti, si);
		return;
	}
	c->allocs += n.allocs - e->allocs;
	add_tick(t, snap, (pf_tick){ .allocs = n.allocs - e->allocs,
				     .bytes = n.alloc_bytes - e->alloc_bytes,
				     .frees = n.frees - e->frees,
				     .free_bytes = n.free_bytes - e->free_bytes });
	add_step(e, snap, &n);
	t->allocs += n.allocs - e->allocs;
	t->alloc_bytes += n.alloc_bytes - e->alloc_bytes;
	t->frees += n.frees - e->frees;
	t->free_bytes += n.free_bytes - e->free_bytes;
	t->xfrees += n.xfrees - e->xfrees;
	n.thread_index = ti;
	n.stack_id = si;
	n.steps = e->steps;
	n.nsteps = e->nsteps;
	n.capsteps = e->capsteps;
	n.extra_at = e->extra_at;
	n.extra_cap = e->extra_cap;
	*e = n;
	entry_set_extras(f, e, h);
}


static void read_entry(struct cur *c, pf_file *f, uint32_t snap)
{
	const uint8_t *at = c->p;
	uint32_t ti = (uint32_t)get(c, "thread index");
	uint32_t si = (uint32_t)get(c, "stack id");
	if (c->failed)
		return;
	pf_thread *t = entry_owner(c, f, at, ti, si);
	if (!t)
		return;
	pf_entry n;
	memset(&n, 0, sizeof n);
	struct extras h;
	h.size_buckets = h.life_buckets = 0;
	h.has_reallocs = h.has_inner = 0;
	h.n = 0;
	uint64_t flags = get(c, "entry flags");
	n.allocs = get(c, "allocations");
	n.alloc_bytes = get(c, "allocated bytes");
	n.frees = get(c, "frees");
	n.free_bytes = get(c, "freed bytes");
	n.xfrees = get(c, "cross-thread frees");
	n.xfree_bytes = get(c, "cross-thread freed bytes");
	n.size_min = get(c, "smallest size");
	n.size_max = get(c, "largest size");
	n.peak_live = get(c, "peak live");
	if (c->version >= 2) {
		n.peak_bytes = get(c, "peak live bytes");
		n.first_alloc_ticks = get(c, "first allocation time");
		n.last_alloc_ticks = get(c, "latest allocation time");
		n.last_free_ticks = get(c, "latest free time");
	}
	if (flags & PS_ENT_HAS_HIST) {
		read_hist(c, &h, &h.size_buckets, "size histogram length");
		read_hist(c, &h, &h.life_buckets, "lifetime histogram length");
	}
	read_reallocs(c, &h, flags, n.frees);
	if (!c->failed)
		merge_entry(c, f, snap, at, t, ti, si, n, &h);
}

/* Where the previous entry of an ENTRIES record left off (its entries
 * are written as differences from it). */
struct entry_ctx {
	uint64_t thread, stack, first_alloc;
};

static uint64_t add_signed(uint64_t base, int64_t d)
{
	return base + (uint64_t)d;
}

/* An entry of an ENTRIES record (v3): see docs/format.md. */
static void read_entry_v3(struct cur *c, pf_file *f, uint32_t snap,
			  struct entry_ctx *x)
{
	const uint8_t *at = c->p;
	uint64_t ti = add_signed(x->thread, unzigzag(get(c, "thread index")));
	uint64_t si = add_signed(x->stack, unzigzag(get(c, "stack id")));
	if (c->failed)
		return;
	x->thread = ti;
	x->stack = si;
	if (ti > UINT32_MAX || si > UINT32_MAX) {
		fail(c, at, "expected a thread index and a stack id of 32 bits");
		return;
	}
	pf_thread *t = entry_owner(c, f, at, (uint32_t)ti, (uint32_t)si);
	if (!t)
		return;
	pf_entry n;
	memset(&n, 0, sizeof n);
	struct extras h;
	h.size_buckets = h.life_buckets = 0;
	h.has_reallocs = h.has_inner = 0;
	h.n = 0;
	uint64_t flags = get(c, "entry flags");
	n.allocs = get(c, "allocations");
	n.frees = get(c, "frees");
	if (flags & PS_ENT_V3_XFREES)
		n.xfrees = get(c, "cross-thread frees");
	if (flags & PS_ENT_V3_ONE_SIZE) {
		/* every block of one size: the bytes follow from the counts
		 * (which must add up before they are multiplied) */
		uint64_t size = get(c, "size");
		if (!c->failed && (n.xfrees > n.frees || n.frees > n.allocs ||
				   (size && n.allocs > UINT64_MAX / size))) {
			fail(c, at, "expected counts that add up (cross-thread "
				    "frees <= frees <= allocations) for thread %llu "
				    "stack %llu", (unsigned long long)ti,
			     (unsigned long long)si);
			return;
		}
		n.size_min = n.size_max = size;
		n.alloc_bytes = n.allocs * size;
		n.free_bytes = n.frees * size;
		n.xfree_bytes = n.xfrees * size;
	} else {
		n.alloc_bytes = get(c, "allocated bytes");
		n.free_bytes = get(c, "freed bytes");
		if (flags & PS_ENT_V3_XFREES)
			n.xfree_bytes = get(c, "cross-thread freed bytes");
		n.size_min = get(c, "smallest size");
		n.size_max = get(c, "largest size");
	}
	const uint8_t *gap_at = c->p;
	uint64_t gap = get(c, "allocations beyond the peak");
	if (!c->failed && gap > n.allocs) {
		fail(c, gap_at, "expected the allocations beyond the peak to be "
				"at most the allocations");
		return;
	}
	n.peak_live = n.allocs - gap;
	if (flags & PS_ENT_V3_ONE_SIZE)
		n.peak_bytes = n.peak_live * n.size_min;
	else
		n.peak_bytes = get(c, "peak live bytes");
	if (n.allocs) {
		n.first_alloc_ticks = add_signed(x->first_alloc,
						 unzigzag(get(c, "first allocation time")));
		x->first_alloc = n.first_alloc_ticks;
		uint64_t span = get(c, "latest allocation time");
		n.last_alloc_ticks = n.first_alloc_ticks + span;
		if (!c->failed && (!n.first_alloc_ticks ||
				   n.last_alloc_ticks < n.first_alloc_ticks)) {
			fail(c, at, "expected allocation and free times that match "
				    "the counts (first <= latest, set once counted) "
				    "for thread %llu stack %llu",
			     (unsigned long long)ti, (unsigned long long)si);
			return;
		}
	}
	if (n.frees) {
		n.last_free_ticks = add_signed(n.last_alloc_ticks,
					       unzigzag(get(c, "latest free time")));
		if (!c->failed && !n.last_free_ticks) {
			fail(c, at, "expected allocation and free times that match "
				    "the counts (first <= latest, set once counted) "
				    "for thread %llu stack %llu",
			     (unsigned long long)ti, (unsigned long long)si);
			return;
		}
	}
	if (flags & PS_ENT_V3_ONE_SIZE) {
		if (n.allocs) {
			h.size_buckets = (uint64_t)1 << ps_hist_bucket(n.size_min);
			h.values[h.n++] = n.allocs;
		}
	} else if (flags & PS_ENT_HAS_HIST) {
		read_hist(c, &h, &h.size_buckets, "size histogram length");
	}
	if (flags & PS_ENT_HAS_HIST)
		read_hist(c, &h, &h.life_buckets, "lifetime histogram length");
	read_reallocs(c, &h, flags, n.frees);
	read_inner_frees(c, &h, flags, n.frees - n.xfrees);
	if (!c->failed)
		merge_entry(c, f, snap, at, t, (uint32_t)ti, (uint32_t)si, n, &h);
}

/* Bounds a count read from the record by the bytes that could encode it. */
static uint64_t get_count(struct cur *c, const char *what, size_t min_bytes)
{
	const uint8_t *at = c->p;
	uint64_t n = get(c, what);
	if (!c->failed && n > (uint64_t)(c->end - c->p) / min_bytes)
		fail(c, at, "expected %s of at most %zu, found %llu", what,
		     (size_t)(c->end - c->p) / min_bytes, (unsigned long long)n);
	return n;
}

/* Records the latest peak of node (thread_index, ip). */
static void node_peak_set(pf_file *f, uint32_t thread_index, uint64_t ip,
			  uint64_t peak, uint64_t peak_bytes)
{
	uint64_t key[2] = { thread_index, ip };
	struct pf_node_index *ix;
	HASH_FIND(hh, f->node_index, key, sizeof key, ix);
	if (ix) {
		f->node_peaks[ix->pos].peak = peak;
		f->node_peaks[ix->pos].peak_bytes = peak_bytes;
		return;
	}
	if (f->nnode_peaks == f->capnode_peaks) {
		f->capnode_peaks = f->capnode_peaks ? f->capnode_peaks * 2 : 64;
		f->node_peaks = xrealloc(f->node_peaks, f->capnode_peaks *
							      sizeof *f->node_peaks);
	}
	f->node_peaks[f->nnode_peaks] =
		(pf_node_peak){ .thread_index = thread_index, .ip = ip,
				.peak = peak, .peak_bytes = peak_bytes };
	ix = xmalloc(sizeof *ix);
	ix->key[0] = key[0];
	ix->key[1] = key[1];
	ix->pos = f->nnode_peaks++;
	HASH_ADD(hh, f->node_index, key, sizeof ix->key, ix);
}

const pf_node_peak *pf_node_peak_find(const pf_file *f, uint32_t thread_index,
				      uint64_t ip)
{
	uint64_t key[2] = { thread_index, ip };
	struct pf_node_index *ix;
	HASH_FIND(hh, f->node_index, key, sizeof key, ix);
	return ix ? &f->node_peaks[ix->pos] : NULL;
}

/* Whether thread t's cumulative time (what: "recording", "busy",
 * "on-CPU"), read
 * at at, is at least the value before; else fails. */
static int not_less(struct cur *c, const uint8_t *at, const pf_thread *t,
		    const char *what, uint64_t now, uint64_t before)
{
	if (now >= before)
		return 1;
	fail(c, at, "expected thread %u's %s time to be at least the %llu ns "
		    "of before, found %llu",
	     t->index, what, (unsigned long long)before,
	     (unsigned long long)now);
	return 0;
}

static void read_snapshot(struct cur *c, pf_file *f)
{
	pf_snap s;
	s.seq = get(c, "snapshot sequence");
	s.t_ns = get(c, "snapshot time");
	s.tick_hz = get(c, "tick rate");
	s.work_units = get(c, "units of work");
	if (c->failed)
		return;
	if (f->nsnaps == f->capsnaps) {
		f->capsnaps = f->capsnaps ? f->capsnaps * 2 : 64;
		f->snaps = xrealloc(f->snaps, f->capsnaps * sizeof *f->snaps);
	}
	uint32_t snap = (uint32_t)f->nsnaps;
	f->snaps[f->nsnaps++] = s;

	/* an entry without histograms: 12 fields, 16 from version 2 */
	uint64_t n = get_count(c, "entry count", c->version >= 2 ? 16 : 12);
	for (uint64_t i = 0; i < n && !c->failed; i++)
		read_entry(c, f, snap);
	n = get_count(c, "stack peak count", 2);
	for (uint64_t i = 0; i < n && !c->failed; i++) {
		const uint8_t *at = c->p;
		uint64_t id = get(c, "stack id");
		uint64_t peak = get(c, "stack peak live");
		if (c->failed)
			return;
		if (!id || id >= f->nstacks || !f->stacks[id]) {
			fail(c, at, "expected a stack declared before, found id %llu",
			     (unsigned long long)id);
			return;
		}
		f->stacks[id]->peak_live = peak;
	}
	n = get_count(c, "thread total count",
		      c->version >= 9 ? 6 : c->version >= 8 ? 5 : 3);
	for (uint64_t i = 0; i < n && !c->failed; i++) {
		const uint8_t *at = c->p;
		uint64_t ti = get(c, "thread index");
		uint64_t unknown = get(c, "unknown frees");
		uint64_t unrecorded = get(c, "unrecorded allocations");
		const uint8_t *rec_at = c->p;
		uint64_t rec_ns = c->version >= 8 ? get(c, "recording time") : 0;
		const uint8_t *busy_at = c->p;
		uint64_t busy_ns = c->version >= 8 ? get(c, "busy time") : 0;
		const uint8_t *cpu_at = c->p;
		uint64_t cpu_ns = c->version >= 9 ? get(c, "on-CPU time") : 0;
		pf_thread *t = thread_at(f, ti);
		if (c->failed)
			return;
		if (!t) {
			fail(c, at, "expected a thread declared before, found index %llu",
			     (unsigned long long)ti);
			return;
		}
		if (!not_less(c, rec_at, t, "recording", rec_ns, t->rec_ns) ||
		    !not_less(c, busy_at, t, "busy", busy_ns, t->busy_ns) ||
		    !not_less(c, cpu_at, t, "on-CPU", cpu_ns, t->cpu_ns))
			return;
		t->unknown_frees = unknown;
		t->unrecorded_allocs = unrecorded;
		if (c->version >= 8) {
			add_tick(t, snap, (pf_tick){ .rec_ns = rec_ns - t->rec_ns,
						     .busy_ns = busy_ns - t->busy_ns,
						     .cpu_ns = cpu_ns - t->cpu_ns });
			t->rec_ns = rec_ns;
			t->busy_ns = busy_ns;
			t->cpu_ns = cpu_ns;
		}
	}
	if (c->version >= 2) {
		n = get_count(c, "node peak count", 4);
		for (uint64_t i = 0; i < n && !c->failed; i++) {
			const uint8_t *at = c->p;
			uint64_t ti = get(c, "thread index");
			uint64_t ip = get(c, "node address");
			uint64_t peak = get(c, "node peak live");
			uint64_t bytes = get(c, "node peak live bytes");
			if (c->failed)
				return;
			if (!thread_at(f, ti)) {
				fail(c, at, "expected a thread declared before, "
					    "found index %llu",
				     (unsigned long long)ti);
				return;
			}
			node_peak_set(f, (uint32_t)ti, ip, peak, bytes);
		}
		n = get_count(c, "all-thread node peak count", 3);
		for (uint64_t i = 0; i < n && !c->failed; i++) {
			uint64_t ip = get(c, "node address");
			uint64_t peak = get(c, "node peak live");
			uint64_t bytes = get(c, "node peak live bytes");
			if (!c->failed)
				node_peak_set(f, 0, ip, peak, bytes);
		}
	}
	if (!c->failed) {
		f->duration_ns = s.t_ns;
		if (s.tick_hz)
			f->tick_hz = s.tick_hz;
		f->work_units = s.work_units;
	}
}

/* ENTRIES (v3): more entries of the latest snapshot, each written as
 * differences from the one before. */
static void read_entries(struct cur *c, pf_file *f)
{
	if (!f->nsnaps) {
		fail(c, c->p, "expected a SNAPSHOT record before its entries");
		return;
	}
	struct entry_ctx x = { 0, 0, 0 };
	uint64_t n = get_count(c, "entry count", 7);
	for (uint64_t i = 0; i < n && !c->failed; i++)
		read_entry_v3(c, f, (uint32_t)(f->nsnaps - 1), &x);
}

static void read_end(struct cur *c, pf_file *f)
{
	f->end_reason = (uint32_t)get_range(c, "end reason", 1,
					     c->version >= 7 ? PS_END_REASON_MAX
							     : PS_END_REASON_MAX_V6);
	f->end_t_ns = get(c, "end time");
	if (f->end_reason == PS_END_SIGNAL)
		f->end_signal = (uint32_t)get_range(c, "end signal", 1,
						     PS_END_SIGNAL_MAX);
	if (f->end_t_ns > f->duration_ns)
		f->duration_ns = f->end_t_ns;
}

/* ---- the file ------------------------------------------------------------ */

static const char *const type_names[] = {
	"", "PROCESS", "MODULE", "MODULE_UNLOAD", "STACK", "THREAD",
	"SNAPSHOT", "END", "FRAMES", "STACKS", "DEFLATE", "ENTRIES", "TOTALS",
};

/* Reads the payload [p, p + len) of one record of type (not DEFLATE),
 * checking that nothing is left over. */
static void read_payload(struct cur *c, pf_file *f, uint32_t type,
			 const uint8_t *p, uint32_t len)
{
	c->p = p;
	c->end = p + len;
	switch (type) {
	case PS_REC_PROCESS: read_process(c, f); break;
	case PS_REC_MODULE: read_module(c, f); break;
	case PS_REC_MODULE_UNLOAD: read_module_unload(c, f); break;
	case PS_REC_STACK: read_stack(c, f); break;
	case PS_REC_THREAD: read_thread(c, f); break;
	case PS_REC_SNAPSHOT: read_snapshot(c, f); break;
	case PS_REC_END: read_end(c, f); break;
	case PS_REC_FRAMES: read_frames(c, f); break;
	case PS_REC_ENTRIES: read_entries(c, f); break;
	case PS_REC_STACKS: read_stacks(c, f); break;
	}
	if (!c->failed && c->p != c->end)
		fail(c, c->p, "expected the %s record to end here (%zu bytes left)",
		     type_names[type], (size_t)(c->end - c->p));
}

/* Checks the frame of the record at rec (its type, length and crc32 are
 * there; the caller made sure of its length); returns its type, or 0. */
static uint32_t check_record(struct cur *c, const uint8_t *rec, uint32_t len)
{
	uint32_t type = ps_get_u32le(rec);
	uint32_t want = ps_get_u32le(rec + 8 + len);
	uint32_t got = (uint32_t)crc32(0L, rec, 8 + len);
	if (want != got) {
		fail(c, rec, "expected crc32 %08x for the %s record, found %08x",
		     got, type <= PS_REC_TYPE_MAX ? type_names[type] : "?", want);
		return 0;
	}
	return type;
}

/* The inflater of a version 3 file: one raw deflate stream across its
 * DEFLATE records, each of which must inflate to whole records. Records
 * are read as soon as they are whole, so memory stays at one record. */
struct inflater {
	z_stream zs;
	int ready;
	uint8_t *out;
	size_t len, cap;      /* bytes of a record not yet whole */
	size_t total;         /* inflated bytes so far */
};

/* Reads the whole records at the front of in->out; keeps the rest. */
static void read_inflated(struct cur *c, pf_file *f, struct inflater *in,
			  uint32_t *last_type)
{
	size_t off = 0;
	c->inflated = 1;
	c->base = in->out;
	c->inflated_before = in->total - in->len;
	while (!c->failed && in->len - off >= PS_RECORD_OVERHEAD) {
		const uint8_t *rec = in->out + off;
		uint32_t type = ps_get_u32le(rec);
		uint32_t len = ps_get_u32le(rec + 4);
		if (!type || type > PS_REC_TYPE_MAX || type == PS_REC_PROCESS ||
		    type == PS_REC_DEFLATE || type == PS_REC_TOTALS) {
			fail(c, rec, "expected a record type 2..%d other than "
				     "DEFLATE and TOTALS inside a deflated record, "
				     "found %u", PS_REC_TYPE_MAX, type);
			break;
		}
		if (len > PS_RECORD_MAX_PAYLOAD) {
			fail(c, rec + 4, "expected a record length up to %u, found %u",
			     PS_RECORD_MAX_PAYLOAD, len);
			break;
		}
		if ((uint64_t)len + PS_RECORD_OVERHEAD > in->len - off)
			break; /* the rest comes with more input */
		if (!check_record(c, rec, len))
			break;
		read_payload(c, f, type, rec + 8, len);
		*last_type = type;
		off += PS_RECORD_OVERHEAD + len;
	}
	memmove(in->out, in->out + off, in->len - off);
	in->len -= off;
	c->inflated = 0;
}

/* A DEFLATE record: inflates its payload and reads the records in it. */
static void read_deflate(struct cur *c, pf_file *f, struct inflater *in,
			 const uint8_t *rec, const uint8_t *p, uint32_t len,
			 uint32_t *last_type)
{
	const uint8_t *saved_base = c->base;
	if (!in->ready) {
		memset(&in->zs, 0, sizeof in->zs);
		if (inflateInit2(&in->zs, -15) != Z_OK) {
			fail(c, rec, "expected to inflate the deflated record "
				     "(out of memory)");
			return;
		}
		in->ready = 1;
	}
	c->deflate_at = (size_t)(rec - saved_base);
	in->zs.next_in = (Bytef *)p;
	in->zs.avail_in = len;
	int rc = Z_OK;
	while (!c->failed && (in->zs.avail_in || rc == Z_OK)) {
		/* room for the record being inflated, then 1 MiB more */
		if (in->cap - in->len < (1u << 20)) {
			in->cap = in->len + (2u << 20);
			in->out = xrealloc(in->out, in->cap);
		}
		in->zs.next_out = in->out + in->len;
		in->zs.avail_out = (uInt)(in->cap - in->len);
		rc = inflate(&in->zs, Z_SYNC_FLUSH);
		size_t got = (size_t)(in->zs.next_out - (in->out + in->len));
		in->len += got;
		in->total += got;
		if (rc == Z_STREAM_END && in->zs.avail_in) {
			c->base = saved_base;
			fail(c, rec, "expected nothing after the end of the "
				     "deflated stream");
			break;
		}
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
			c->base = saved_base;
			fail(c, rec, "expected a valid deflated stream (%s)",
			     in->zs.msg ? in->zs.msg : "zlib error");
			break;
		}
		read_inflated(c, f, in, last_type);
		if (rc != Z_OK || (!in->zs.avail_in && in->zs.avail_out))
			break;
	}
	c->base = saved_base;
	if (!c->failed && in->len)
		fail(c, rec, "expected the deflated record to hold whole records "
			     "(%zu bytes of one left over)", in->len);
}

static void inflater_free(struct inflater *in)
{
	if (in->ready)
		inflateEnd(&in->zs);
	free(in->out);
}

/* A TOTALS record (v4) at rec, of payload length len, after a record of
 * last_type: it must follow an END, have its fixed size, and say what the
 * file read so far holds (its offset, the record before it, the PROCESS
 * record's pid and sample rate, the entries' allocations). */
static void read_totals(struct cur *c, const pf_file *f, const uint8_t *rec,
			uint32_t len, uint32_t last_type)
{
	if (last_type != PS_REC_END) {
		fail(c, rec, "expected a TOTALS record only right after an END "
			     "record, found it after %s", type_names[last_type]);
		return;
	}
	if (len != PS_TOTALS_PAYLOAD) {
		fail(c, rec + 4, "expected a TOTALS payload of %u bytes, found %u",
		     PS_TOTALS_PAYLOAD, len);
		return;
	}
	struct ps_totals t;
	ps_totals_get(rec + 8, &t);
	size_t at = (size_t)(rec - c->base);
	uint32_t prev_crc = ps_get_u32le(rec - 4);
	if (t.offset != at)
		fail(c, rec + 8, "expected the TOTALS record's own offset, %zu, "
				 "found %llu", at, (unsigned long long)t.offset);
	else if (t.allocs != c->allocs)
		fail(c, rec + 16, "expected the TOTALS record's allocations to be "
				  "%llu (what the entries add up to), found %llu",
		     (unsigned long long)c->allocs,
		     (unsigned long long)t.allocs);
	else if (t.pid != f->pid || t.sample_every != f->sample_every)
		fail(c, rec + 24, "expected the PROCESS record's pid %u and sample "
				  "rate %u in the TOTALS record, found %u and %u",
		     f->pid, f->sample_every, t.pid, t.sample_every);
	else if (t.prev_crc != prev_crc)
		fail(c, rec + 32, "expected the crc32 of the record before, %08x, "
				  "in the TOTALS record, found %08x",
		     prev_crc, t.prev_crc);
}

/* Gives back the room the tables of f grew into but do not use. */
static void trim(pf_file *f)
{
	size_t nstacks = f->nstacks;
	while (nstacks && !f->stacks[nstacks - 1])
		nstacks--;
	if (nstacks < f->nstacks) {
		f->stacks = xrealloc(f->stacks, (nstacks ? nstacks : 1) *
							sizeof *f->stacks);
		f->nstacks = nstacks;
	}
	if (f->nentries && f->nentries < f->capentries) {
		f->entries = xrealloc(f->entries, f->nentries * sizeof *f->entries);
		f->capentries = f->nentries;
	}
	if (f->nextras && f->nextras < f->capextras) {
		f->extras = xrealloc(f->extras, f->nextras * sizeof *f->extras);
		f->capextras = f->nextras;
	}
}

pf_file *pf_read_mem(const char *name, const uint8_t *data, size_t size,
		     char *err, size_t errlen)
{
	struct cur c = { .base = data, .name = name, .err = err,
			 .errlen = errlen };
	struct inflater in = { .ready = 0 };
	pf_file *f = xcalloc(1, sizeof *f);
	int reading = 0; /* a progress step is open */
	f->path = xstrdup(name);
	f->file_size = size;
	f->tick_hz = 1000000000;
	c.id_cap = size / 8 + 1;

	if (size < PS_FORMAT_HEADER_SIZE ||
	    memcmp(data, PS_FORMAT_MAGIC, PS_FORMAT_MAGIC_LEN)) {
		c.p = data;
		fail(&c, data, "expected the poolscout magic \"PSCOUT\\r\\n\": "
			       "not a poolscout profile");
		goto error;
	}
	uint32_t version = ps_get_u32le(data + 8);
	uint32_t hsize = ps_get_u32le(data + 12);
	if (version < PS_FORMAT_VERSION_MIN || version > PS_FORMAT_VERSION) {
		fail(&c, data + 8, "expected format version %u..%u, found %u",
		     PS_FORMAT_VERSION_MIN, PS_FORMAT_VERSION, version);
		goto error;
	}
	c.version = f->version = version;
	/* version 2's ids follow one another, so the records bound them;
	 * version 1 wrote the newest first: bounded by what the file could
	 * hold (which a cut-short version 1 file may exceed) */
	if (version >= 2)
		c.id_cap = UINT32_MAX;
	if (hsize < PS_FORMAT_HEADER_SIZE || hsize > size) {
		fail(&c, data + 12, "expected a header size of 16..%zu, found %u",
		     size, hsize);
		goto error;
	}

	size_t off = hsize;
	uint32_t last_type = 0;
	f->good_size = off;
	progress_begin("reading bytes", size);
	reading = 1;
	while (off < size) {
		progress_tick(off);
		const uint8_t *rec = data + off;
		if (size - off < PS_RECORD_OVERHEAD) {
			snprintf(f->partial_why, sizeof f->partial_why,
				 "record header at offset %zu cut short", off);
			break;
		}
		uint32_t type = ps_get_u32le(rec);
		uint32_t len = ps_get_u32le(rec + 4);
		uint32_t max_type = version >= 4   ? PS_REC_TYPE_MAX
				    : version >= 3 ? PS_REC_ENTRIES
						   : PS_REC_END;
		if (!type || type > max_type) {
			fail(&c, rec, "expected a record type 1..%u, found %u",
			     max_type, type);
			goto error;
		}
		if (len > PS_RECORD_MAX_PAYLOAD) {
			fail(&c, rec + 4, "expected a record length up to %u, found %u",
			     PS_RECORD_MAX_PAYLOAD, len);
			goto error;
		}
		if ((uint64_t)len + PS_RECORD_OVERHEAD > size - off) {
			snprintf(f->partial_why, sizeof f->partial_why,
				 "%s record at offset %zu (%u bytes) cut short at "
				 "end of file", type_names[type], off, len);
			break;
		}
		if (!check_record(&c, rec, len))
			goto error;
		if (!last_type && type != PS_REC_PROCESS) {
			fail(&c, rec, "expected a PROCESS record first, found %s",
			     type_names[type]);
			goto error;
		}
		if (last_type && type == PS_REC_PROCESS) {
			fail(&c, rec, "expected one PROCESS record, found another");
			goto error;
		}
		if (type == PS_REC_DEFLATE) {
			read_deflate(&c, f, &in, rec, rec + 8, len, &last_type);
		} else if (type == PS_REC_TOTALS) {
			read_totals(&c, f, rec, len, last_type);
			last_type = type;
		} else {
			read_payload(&c, f, type, rec + 8, len);
			last_type = type;
		}
		if (c.failed)
			goto error;
		off += PS_RECORD_OVERHEAD + len;
		f->good_size = off;
	}
	progress_end();
	reading = 0;
	if (!last_type) {
		c.p = data + off;
		fail(&c, data + off, "expected a PROCESS record; the file ends first");
		goto error;
	}
	/* a TOTALS record follows an END */
	f->complete = last_type == PS_REC_END || last_type == PS_REC_TOTALS;
	if (!f->complete && !f->partial_why[0])
		snprintf(f->partial_why, sizeof f->partial_why,
			 f->nsnaps ? "no END record after offset %zu: the process "
				     "was killed or is still running"
				   : "no snapshot and no END record after offset "
				     "%zu: the process was killed before its "
				     "first snapshot, or is still running",
			 off);
	inflater_free(&in);
	free(c.frames.parent);
	free(c.frames.ip);
	trim(f);
	return f;
error:
	if (reading)
		progress_end();
	inflater_free(&in);
	free(c.frames.parent);
	free(c.frames.ip);
	pf_free(f);
	return NULL;
}

void pf_warn_partial(const pf_file *f)
{
	if (f->nsnaps)
		fprintf(stderr, "poolscout: %s: partial profile (%s); reading "
			"up to the last snapshot\n", f->path, f->partial_why);
	else
		fprintf(stderr, "poolscout: %s: partial profile (%s): it holds "
			"no counts; what the process allocated is not known\n",
			f->path, f->partial_why);
}

pf_file *pf_read(const char *path, char *err, size_t errlen)
{
	return pf_read_upto(path, SIZE_MAX, err, errlen);
}

pf_file *pf_read_upto(const char *path, size_t limit, char *err,
		      size_t errlen)
{
	/* O_NONBLOCK: opening a FIFO without a writer (or a device) would
	 * block; such a file is rejected below without ever being read. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: offset 0: expected a regular file, "
			 "found %s", path,
			 S_ISFIFO(st.st_mode) ? "a FIFO" :
			 S_ISDIR(st.st_mode) ? "a directory" :
			 S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" :
			 S_ISSOCK(st.st_mode) ? "a socket" : "something else");
		close(fd);
		return NULL;
	}
	size_t size = (size_t)st.st_size;
	if (size > limit)
		size = limit;
	const uint8_t *data = (const uint8_t *)"";
	if (size) {
		data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (data == MAP_FAILED) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 strerror(errno));
			close(fd);
			return NULL;
		}
	}
	close(fd);
	pf_file *f = pf_read_mem(path, data, size, err, errlen);
	if (size)
		munmap((void *)data, size);
	return f;
}

/* ---- the totals at the end ---------------------------------------------- */

/* The smallest file that can end in a TOTALS record: a header, a record
 * before it (at least its crc32 is read), the record. */
#define TOTALS_FILE_MIN \
	(PS_FORMAT_HEADER_SIZE + PS_RECORD_OVERHEAD + PS_TOTALS_RECORD_SIZE)
/* What is read from the end: the crc32 of the record before, the record. */
#define TOTALS_TAIL (4 + PS_TOTALS_RECORD_SIZE)

/* Whether a file of size bytes, whose header is head and whose last
 * TOTALS_TAIL bytes are tail, ends with a TOTALS record of its own: a
 * version 4 header, the record's type, length and crc32, its offset field
 * naming where it stands, the crc32 of the record before it, a pid and a
 * sample rate PROCESS could hold. Fills t; 0 or -ENODATA. */
static int totals_at_end(const uint8_t *head, const uint8_t *tail,
			 uint64_t size, struct ps_totals *t)
{
	const uint8_t *rec = tail + 4;
	if (size < TOTALS_FILE_MIN ||
	    memcmp(head, PS_FORMAT_MAGIC, PS_FORMAT_MAGIC_LEN) ||
	    ps_get_u32le(head + 8) < 4 ||
	    ps_get_u32le(head + 8) > PS_FORMAT_VERSION ||
	    ps_get_u32le(rec) != PS_REC_TOTALS ||
	    ps_get_u32le(rec + 4) != PS_TOTALS_PAYLOAD ||
	    ps_get_u32le(rec + 8 + PS_TOTALS_PAYLOAD) !=
		    (uint32_t)crc32(0L, rec, 8 + PS_TOTALS_PAYLOAD))
		return -ENODATA;
	ps_totals_get(rec + 8, t);
	if (t->offset != size - PS_TOTALS_RECORD_SIZE ||
	    t->prev_crc != ps_get_u32le(tail) || !t->pid ||
	    !t->sample_every || t->sample_every > (1u << 30))
		return -ENODATA;
	return 0;
}

int pf_read_totals_mem(const uint8_t *data, size_t size, struct ps_totals *t)
{
	if (size < TOTALS_FILE_MIN)
		return -ENODATA;
	return totals_at_end(data, data + size - TOTALS_TAIL, size, t);
}

/* pread() of exactly n bytes at off: 0 or -errno (-ENODATA when short). */
static int pread_all(int fd, uint8_t *buf, size_t n, off_t off)
{
	while (n) {
		ssize_t got = pread(fd, buf, n, off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -ENODATA;
		buf += got;
		n -= (size_t)got;
		off += got;
	}
	return 0;
}

int pf_read_totals(const char *path, struct ps_totals *t)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	uint8_t head[PS_FORMAT_HEADER_SIZE], tail[TOTALS_TAIL];
	int rc = -ENODATA;
	if (fstat(fd, &st))
		rc = -errno;
	else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size >= TOTALS_FILE_MIN &&
		 !(rc = pread_all(fd, head, sizeof head, 0)) &&
		 !(rc = pread_all(fd, tail, sizeof tail,
				  st.st_size - (off_t)sizeof tail)))
		rc = totals_at_end(head, tail, (uint64_t)st.st_size, t);
	close(fd);
	return rc;
}

void pf_free(pf_file *f)
{
	if (!f)
		return;
	free(f->path);
	free(f->exe);
	free(f->comm);
	for (uint32_t i = 0; f->argv && i < f->argc; i++)
		free(f->argv[i]);
	free(f->argv);
	for (size_t i = 0; i < f->nmodules; i++)
		free(f->modules[i].path);
	free(f->modules);
	struct pf_module_index *mx, *mtmp;
	HASH_ITER(hh, f->module_index, mx, mtmp) {
		HASH_DEL(f->module_index, mx);
		free(mx);
	}
	for (size_t i = 0; i < f->nstacks; i++) {
		if (f->stacks[i]) {
			free(f->stacks[i]);
		}
	}
	free(f->stacks);
	for (size_t i = 0; i < f->nthreads; i++) {
		if (f->threads[i]) {
			free(f->threads[i]->ticks);
			free(f->threads[i]);
		}
	}
	free(f->threads);
	free(f->entry_slots);
	for (size_t i = 0; i < f->nentries; i++)
		free(f->entries[i].steps);
	free(f->entries);
	free(f->extras);
	free(f->snaps);
	struct pf_node_index *nx, *ntmp;
	HASH_ITER(hh, f->node_index, nx, ntmp) {
		HASH_DEL(f->node_index, nx);
		free(nx);
	}
	free(f->node_peaks);
	free(f);
}

void pf_release_bulk(pf_file *f)
{
	for (size_t i = 0; i < f->nstacks; i++) {
		if (f->stacks[i]) {
			free(f->stacks[i]);
		}
	}
	free(f->stacks);
	f->stacks = NULL;
	f->nstacks = 0;
	free(f->entry_slots);
	f->entry_slots = NULL;
	f->entry_slot_cap = 0;
	for (size_t i = 0; i < f->nentries; i++)
		free(f->entries[i].steps);
	free(f->entries);
	f->entries = NULL;
	f->nentries = f->capentries = 0;
	free(f->extras);
	f->extras = NULL;
	f->nextras = f->capextras = 0;
	struct pf_node_index *nx, *ntmp;
	HASH_ITER(hh, f->node_index, nx, ntmp) {
		HASH_DEL(f->node_index, nx);
		free(nx);
	}
	free(f->node_peaks);
	f->node_peaks = NULL;
	f->nnode_peaks = f->capnode_peaks = 0;
	for (size_t i = 0; i < f->nmodules; i++)
		free(f->modules[i].path);
	free(f->modules);
	f->modules = NULL;
	f->nmodules = f->capmodules = 0;
	struct pf_module_index *mx, *mtmp;
	HASH_ITER(hh, f->module_index, mx, mtmp) {
		HASH_DEL(f->module_index, mx);
		free(mx);
	}
	if (f->nsnaps) {
		f->snaps = xrealloc(f->snaps, f->nsnaps * sizeof *f->snaps);
		f->capsnaps = f->nsnaps;
	}
	for (size_t i = 0; i < f->nthreads; i++) {
		pf_thread *t = f->threads[i];
		if (t && t->nticks) {
			t->ticks = xrealloc(t->ticks, t->nticks * sizeof *t->ticks);
			t->capticks = t->nticks;
		}
	}
}

int pf_set_load(pf_set *set, char **paths, int npaths)
{
	char err[1024];
	progress_begin("reading profiles", (size_t)npaths);
	for (int i = 0; i < npaths; i++) {
		progress_tick((size_t)i);
		pf_file *f = pf_read(paths[i], err, sizeof err);
		if (!f) {
			progress_end();
			fprintf(stderr, "poolscout: %s\n", err);
			return -1;
		}
		if (!f->complete)
			pf_warn_partial(f);
		set->files = xrealloc(set->files,
				      (set->nfiles + 1) * sizeof *set->files);
		set->files[set->nfiles++] = f;
	}
	progress_end();
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **pf_list_dir(const char *dir)
{
	size_t n = 0;
	char **names = xcalloc(1, sizeof *names);
	DIR *d = opendir(dir);
	if (!d)
		return names;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 7 || strcmp(de->d_name + len - 7, ".pscout"))
			continue;
		names = xrealloc(names, (n + 2) * sizeof *names);
		names[n++] = xstrdup(de->d_name);
		names[n] = NULL;
	}
	closedir(d);
	qsort(names, n, sizeof *names, compare_names);
	return names;
}

void pf_names_free(char **names)
{
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

void pf_set_free(pf_set *set)
{
	for (size_t i = 0; i < set->nfiles; i++)
		pf_free(set->files[i]);
	free(set->files);
	set->files = NULL;
	set->nfiles = 0;
}

const char *pf_end_reason_name(uint32_t reason)
{
	switch (reason) {
	case PS_END_EXIT: return "exit";
	case PS_END_UNDERSCORE_EXIT: return "_exit";
	case PS_END_EXEC: return "exec";
	case PS_END_LAST_THREAD: return "last thread ended";
	case PS_END_SIGNAL: return "signal";
	}
	return "unknown";
}

double pf_ticks_to_ns(const pf_file *f, double ticks)
{
	return f->tick_hz ? ticks * 1e9 / (double)f->tick_hz : ticks;
}

const pf_module *pf_module_for(const pf_file *f, uint64_t ip, uint32_t epoch)
{
	const pf_module *best = NULL;
	for (size_t i = 0; i < f->nmodules; i++) {
		const pf_module *m = &f->modules[i];
		if (!m->id || ip < m->lo || ip >= m->hi)
			continue;
		if (m->load_epoch > epoch ||
		    (m->unload_epoch && m->unload_epoch <= epoch))
			continue;
		for (uint32_t s = 0; s < m->nseg; s++) {
			uint64_t lo = m->base + m->seg[s].vaddr;
			if (ip >= lo && ip < lo + m->seg[s].memsz)
				best = m;
		}
	}
	return best;
}
