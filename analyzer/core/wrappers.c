/* wrappers.c - the wrapper rules (see wrappers.h). */
#define _GNU_SOURCE
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "psruntime.h"
#include "uthash.h"
#include "wrappers.h"

/* Namespaces of the C++ runtime's own code, wherever it was compiled
 * (after a return type, but not in a Rust impl's <app::T as std::..>), and
 * the allocator shims of Rust programs (plain, or __rustc::). Rust's
 * standard library (alloc, core, std) is told by its mangled names
 * (an_frame.runtime, from the symbolizer). Vec growth (finish_grow),
 * format! (format_inner), String and Box are then charged to the
 * program's code that asked. */
static const char *const runtime_names =
	"^([^(<]* )?(std|__gnu_cxx|__cxxabiv1)::"
	"|^(__rustc::)?__(rust|rdl|rg)_(alloc|alloc_zeroed|realloc)$";

/* The runtime's own allocator entries: a site that calls one of them
 * allocates, and needs no "via" (a site that calls setlocale or strdup
 * does). */
static const char *const allocator_entries =
	"^(operator new|operator delete|(__rustc::)?__(rust|rdl|rg)_|"
	"alloc::alloc::|<alloc::alloc::Global as |"
	"(__libc_|__)?(malloc|calloc|realloc|reallocarray|memalign|"
	"posix_memalign|aligned_alloc|valloc|pvalloc)$)"
	"|^([^(<]* )?(std::allocator|std::__new_allocator|"
	"__gnu_cxx::new_allocator|std::allocator_traits)<.*>::allocate\\(";

/* An obstack's functions that allocate its chunks (glibc's, or a copy
 * compiled into the program: libiberty's in gcc) */
static const char *const obstack_chunks = "^_obstack_(begin|begin_1|newchunk)$";

/* Code inlined from a runtime's headers or sources into the program's
 * module: C++'s library headers, Rust's standard library (its debug
 * lines name /rustc/<commit>/library/alloc/src/...). */
static int runtime_file(const char *file)
{
	return file && (!strncmp(file, "/usr/include/c++/", 17) ||
			(!strncmp(file, "/rustc/", 7) &&
			 strstr(file, "/library/")));
}

/* Well-known allocation wrappers (docs/ranking.md lists them). */
static const char *const known_wrappers[] = {
	"^(operator new|operator delete)",
	"^(x|do_x)(malloc|mallocz|calloc|realloc|strdup|strndup|memdup|memdupz|"
	"zalloc|asprintf)$",
	"^g_(malloc|malloc0|realloc|try_malloc|try_malloc0|try_realloc|"
	"memdup|memdup2|strdup|strndup|new|slice_alloc|slice_alloc0)",
	"^(PyMem_|_PyMem_|PyObject_Malloc|PyObject_Calloc|PyObject_Realloc|"
	"_PyObject_Malloc|_PyObject_Calloc|_PyObject_Realloc)",
	"^sqlite3(Malloc|MallocZero|_malloc|_malloc64|_realloc|_realloc64|"
	"Realloc|DbMalloc|DbMallocRaw|DbMallocRawNN|DbMallocZero|DbRealloc|"
	"DbReallocOrFree|MemMalloc|MemRealloc|DbStrDup|DbStrNDup)$",
	"^Perl_safesys(malloc|calloc|realloc)$",
	"^_obstack_(begin|begin_1|newchunk)$",
	"^(zmalloc|zcalloc|zrealloc|ztrymalloc|ztrycalloc|ztryrealloc|"
	"zmalloc_usable|zcalloc_usable|zrealloc_usable|ztrymalloc_usable|"
	"ztrycalloc_usable|ztryrealloc_usable|zstrdup|zmalloc_no_tcache)$",
	"^ngx_(alloc|calloc|memalign|palloc|pnalloc|pcalloc|pmemalign|"
	"create_temp_buf|array_create|array_push|array_push_n|list_create|"
	"list_push|pstrdup)$",
	"^(je_|tc_|mi_)?(malloc|calloc|realloc|free|memalign|posix_memalign|"
	"aligned_alloc)$",
};

struct an_wrappers {
	regex_t runtime, allocator, obstack;
	regex_t *res;      /* known names (unless no_auto), then --wrapper */
	size_t nres;
	int structural;    /* the structural rule is on */
	const char *const *decided; /* its verdicts over every stack */
	char **found;      /* what it found, NULL-terminated */
	size_t nfound;
};

an_wrappers *wrappers_new(const an_opts *o)
{
	an_wrappers *w = xcalloc(1, sizeof *w);
	size_t nknown = o && o->no_auto_wrappers
				? 0
				: sizeof known_wrappers / sizeof *known_wrappers;
	size_t nuser = o ? (size_t)o->nwrappers : 0;
	w->structural = !(o && o->no_auto_wrappers);
	if (w->structural && o && o->decided_wrappers) {
		w->structural = 0;
		w->decided = o->decided_wrappers;
	}
	regcomp(&w->runtime, runtime_names, REG_EXTENDED | REG_NOSUB);
	regcomp(&w->allocator, allocator_entries, REG_EXTENDED | REG_NOSUB);
	regcomp(&w->obstack, obstack_chunks, REG_EXTENDED | REG_NOSUB);
	w->res = xcalloc(nknown + nuser + 1, sizeof *w->res);
	for (size_t i = 0; i < nknown + nuser; i++) {
		const char *re = i < nknown ? known_wrappers[i]
					    : o->wrappers[i - nknown];
		int rc = regcomp(&w->res[i], re, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char msg[256];
			regerror(rc, &w->res[i], msg, sizeof msg);
			fprintf(stderr, "poolscout: --wrapper '%s': %s\n", re, msg);
			wrappers_free(w);
			return NULL;
		}
		w->nres = i + 1;
	}
	w->found = xcalloc(1, sizeof *w->found);
	return w;
}

void wrappers_free(an_wrappers *w)
{
	if (!w)
		return;
	regfree(&w->runtime);
	regfree(&w->allocator);
	regfree(&w->obstack);
	for (size_t i = 0; i < w->nres; i++)
		regfree(&w->res[i]);
	free(w->res);
	for (size_t i = 0; i < w->nfound; i++)
		free(w->found[i]);
	free(w->found);
	free(w);
}

const char *const *wrappers_found(const an_wrappers *w)
{
	return (const char *const *)w->found;
}

/* Adds key to what the structural rule found (NULL-terminated). */
static void add_found(an_wrappers *w, const char *key)
{
	w->found = xrealloc(w->found, (w->nfound + 2) * sizeof *w->found);
	w->found[w->nfound++] = xstrdup(key);
	w->found[w->nfound] = NULL;
}

/* Every distinct function of the stacks (module and name), interned once:
 * its fixed-rule verdict, its structural mark, and what the structural
 * rule counts for it in a round. */
struct caller {
	struct caller_key {
		const struct fn *fn;
		unsigned line;
		uint64_t offset; /* without a line: the call address */
	} key;
	uint64_t size_min, size_max;
	uint64_t allocs; /* the site's allocations from this call site */
	UT_hash_handle hh;
};

struct fn {
	uint32_t id;         /* its index in frame_info.fns */
	char *key;           /* "module\tfunction" */
	const char *name;
	int runtime;         /* the runtime's own code (never named "via") */
	int fixed;           /* a wrapper by the fixed rules */
	int wrapper;         /* found by the structural rule */
	uint64_t allocs_in;  /* allocations whose stack passes through it */
	uint64_t allocs_site; /* ... where it is the site */
	uint64_t allocs_inside; /* ... where a wrapper calls it (internals) */
	size_t last_stack;   /* count each stack once in allocs_in */
	/* the frees of stacks where it is a site candidate, and of those
	 * the ones made while it ran (inner_evidence): owns, when its
	 * blocks mostly die inside it */
	uint64_t frees_seen, frees_inside;
	size_t last_free_stack;
	int owns;
	struct caller *callers;
	size_t ncallers;
	uint64_t calls[WRAPPER_MAX_CALLS + 1]; /* its distinct call addresses */
	size_t ncalls;
	UT_hash_handle hh;
};

/* A frame's (name, module) strings by address: the symbolizer hands out
 * one pair per code address, so most lookups stop here. */
struct fn_ref {
	const char *ptrs[2];
	struct fn *fn;
	UT_hash_handle hh;
};

/* Each distinct frame of the stacks as the rules see it: its function
 * and its fixed-rule verdict. The model's stacks share their frames, so
 * this is by frame, not by stack (stacks are many, frames few). */
struct frame_slot {
	const an_frame *frame; /* NULL: empty */
	uint32_t code;         /* fn id << 1 | a wrapper by the fixed rules */
};

struct frame_info {
	struct frame_slot *slots; /* open addressing, cap a power of two */
	size_t cap, n;
	struct fn **fns;     /* by id */
	size_t nfns, capfns;
	struct fn *table;
	struct fn_ref *refs;
};

static size_t frame_ptr_hash(const an_frame *f)
{
	return (size_t)(((uint64_t)(uintptr_t)f >> 3) * 0x9e3779b97f4a7c15ULL >> 17);
}

/* The slot of frame f: its own, or the empty one where it would go. */
static struct frame_slot *frame_slot(const struct frame_info *fi,
				     const an_frame *f)
{
	for (size_t h = frame_ptr_hash(f);; h++) {
		struct frame_slot *x = &fi->slots[h & (fi->cap - 1)];
		if (!x->frame || x->frame == f)
			return x;
	}
}

/* The function of frame k of stack st. */
static struct fn *fn_at(const struct frame_info *fi, const an_stack *st,
			unsigned k)
{
	return fi->fns[frame_slot(fi, st->all[k])->code >> 1];
}

/* Whether frame k of stack st is a wrapper by the fixed rules. */
static int fixed_at(const struct frame_info *fi, const an_stack *st,
		    unsigned k)
{
	return frame_slot(fi, st->all[k])->code & 1;
}

static struct fn *intern(an_wrappers *w, struct frame_info *fi,
			 const an_frame *f)
{
	const char *ptrs[2] = { f->function, f->module };
	struct fn_ref *r;
	HASH_FIND(hh, fi->refs, ptrs, sizeof ptrs, r);
	if (r)
		return r->fn;
	char *key = xasprintf("%s\t%s", f->module, f->function);
	struct fn *fn;
	HASH_FIND_STR(fi->table, key, fn);
	if (fn) {
		free(key);
	} else {
		fn = xcalloc(1, sizeof *fn);
		if (fi->nfns == fi->capfns) {
			fi->capfns = fi->capfns ? 2 * fi->capfns : 256;
			fi->fns = xrealloc(fi->fns, fi->capfns * sizeof *fi->fns);
		}
		fn->id = (uint32_t)fi->nfns;
		fi->fns[fi->nfns++] = fn;
		fn->key = key;
		fn->name = f->function;
		fn->runtime = ps_runtime_module(f->module) || f->runtime ||
			      !regexec(&w->runtime, f->function, 0, NULL, 0);
		fn->fixed = fn->runtime;
		for (size_t i = 0; !fn->fixed && i < w->nres; i++)
			fn->fixed = !regexec(&w->res[i], f->function, 0, NULL, 0);
		for (size_t i = 0; !fn->fixed && w->decided && w->decided[i]; i++)
			if (!strcmp(w->decided[i], key)) {
				fn->wrapper = 1;
				add_found(w, key);
				break;
			}
		HASH_ADD_KEYPTR(hh, fi->table, fn->key, strlen(fn->key), fn);
	}
	r = xcalloc(1, sizeof *r);
	memcpy(r->ptrs, ptrs, sizeof ptrs);
	r->fn = fn;
	HASH_ADD(hh, fi->refs, ptrs, sizeof r->ptrs, r);
	return fn;
}

/* Whether frame k of stack st is skipped on the way to its site: a
 * wrapper, by the fixed rules or the structural one. */
static int skipped_at(const struct frame_info *fi, const an_stack *st,
		      unsigned k)
{
	return fixed_at(fi, st, k) || fn_at(fi, st, k)->wrapper;
}

/* Where each stack's site is under the current rules: the first frame
 * that is no wrapper (the leaf when every frame is one). */
static unsigned site_index(const an_stack *st, const struct frame_info *fi)
{
	unsigned k = 0;
	while (k < st->nall && skipped_at(fi, st, k))
		k++;
	return k < st->nall ? k : 0;
}

static void add_caller(struct fn *s, const struct fn *caller_fn,
		       const an_frame *caller, const an_stack *st)
{
	struct caller_key key;
	memset(&key, 0, sizeof key);
	if (caller) {
		key.fn = caller_fn;
		key.line = caller->line;
		key.offset = caller->file ? 0 : caller->offset;
	}
	struct caller *c;
	HASH_FIND(hh, s->callers, &key, sizeof key, c);
	if (!c) {
		c = xcalloc(1, sizeof *c);
		c->key = key;
		c->size_min = st->size_min;
		c->size_max = st->size_max;
		c->allocs = st->allocs;
		HASH_ADD(hh, s->callers, key, sizeof c->key, c);
		s->ncallers++;
		return;
	}
	c->allocs += st->allocs;
	if (st->size_min < c->size_min)
		c->size_min = st->size_min;
	if (st->size_max > c->size_max)
		c->size_max = st->size_max;
}

static void add_call(struct fn *s, uint64_t ip)
{
	for (size_t i = 0; i < s->ncalls; i++)
		if (s->calls[i] == ip)
			return;
	if (s->ncalls <= WRAPPER_MAX_CALLS)
		s->calls[s->ncalls++] = ip;
}

/* Different callers get different sizes: not a constructor of one type. */
static int sizes_vary(const struct fn *s)
{
	const struct caller *first = s->callers;
	for (const struct caller *c = first; c; c = c->hh.next)
		if (c->size_min != first->size_min ||
		    c->size_max != first->size_max)
			return 1;
	return 0;
}

static void reset_stats(struct fn *table)
{
	for (struct fn *f = table; f; f = f->hh.next) {
		struct caller *c, *ct;
		HASH_ITER(hh, f->callers, c, ct) {
			HASH_DEL(f->callers, c);
			free(c);
		}
		f->ncallers = f->ncalls = 0;
		f->allocs_in = f->allocs_site = f->allocs_inside = 0;
		f->last_stack = SIZE_MAX;
	}
}

/* Which functions use their blocks themselves: over the stacks where a
 * function is one of the site candidates the preload watched (its own
 * frame, not a function inlined into another at that address), the
 * checked frees made while it still ran, against all their checked
 * frees. Each stack counts once per function, at its innermost frame
 * there. */
static void inner_evidence(const an_stack *stacks, size_t n,
			   struct frame_info *fi)
{
	for (size_t i = 0; i < fi->nfns; i++)
		fi->fns[i]->last_free_stack = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		const an_stack *st = &stacks[i];
		uint64_t checked = 0;
		for (unsigned c = 0; c < PF_INNER_VALUES; c++)
			checked += st->inner_frees[c];
		if (!checked || !st->stack)
			continue;
		uint32_t first = st->stack->cand_start;
		uint32_t count = st->stack->cand_count < PF_INNER_VALUES - 1
					 ? st->stack->cand_count
					 : PF_INNER_VALUES - 1;
		for (unsigned j = 0; j < st->nall; j++) {
			const an_frame *f = st->all[j];
			if (f->inlined || f->ip_index < first ||
			    f->ip_index - first >= count)
				continue;
			struct fn *fn = fn_at(fi, st, j);
			if (fn->last_free_stack == i)
				continue;
			fn->last_free_stack = i;
			/* running at a free: it, or a candidate it called */
			uint64_t inside = 0;
			for (unsigned c = 0; c <= f->ip_index - first; c++)
				inside += st->inner_frees[c];
			fn->frees_seen += checked;
			fn->frees_inside += inside;
		}
	}
	for (size_t i = 0; i < fi->nfns; i++) {
		struct fn *fn = fi->fns[i];
		fn->owns = fn->frees_inside &&
			   (double)fn->frees_inside >=
				   WRAPPER_OWN_SHARE * (double)fn->frees_seen;
	}
}

/* The structural rule's figures of every function (allocs_in, _site,
 * _inside, callers, calls) over the stacks, for the marks as they are. */
static void count_round(const an_stack *stacks, size_t n,
			struct frame_info *fi)
{
	reset_stats(fi->table);
	for (size_t i = 0; i < n; i++) {
		const an_stack *st = &stacks[i];
		if (!st->allocs)
			continue;
		unsigned k = site_index(st, fi);
		struct fn *s = fn_at(fi, st, k);
		s->allocs_site += st->allocs;
		int up = k + 1 < st->nall;
		add_caller(s, up ? fn_at(fi, st, k + 1) : NULL,
			   up ? st->all[k + 1] : NULL, st);
		add_call(s, st->all[k]->offset); /* not ip: load addresses differ */
		/* called by a wrapper, one or two frames up: its internals */
		for (unsigned j = k + 1; j <= k + WRAPPER_INSIDE && j < st->nall; j++) {
			const struct fn *above = fn_at(fi, st, j);
			if (above->wrapper || (above->fixed && !above->runtime)) {
				s->allocs_inside += st->allocs;
				break;
			}
		}
		/* every function the stack passes through, once */
		for (unsigned j = 0; j < st->nall; j++) {
			struct fn *t = fn_at(fi, st, j);
			if (fixed_at(fi, st, j) || t->last_stack == i)
				continue;
			t->last_stack = i;
			t->allocs_in += st->allocs;
		}
	}
}

/* What a wrapper and a link of a wrapper chain both are (figures of
 * count_round): its blocks do not die inside it, it is the site in
 * nearly all the allocations through it, and it calls the allocator from
 * few places. */
static int passes_blocks_on(const struct fn *s)
{
	return !s->owns && s->allocs_site &&
	       (double)s->allocs_site >= WRAPPER_SITE_SHARE * (double)s->allocs_in &&
	       s->ncalls <= WRAPPER_MAX_CALLS;
}

/* Everything the structural rule asks of a wrapper but its number of
 * callers. */
static int wrapper_shape(const struct fn *s)
{
	return passes_blocks_on(s) && sizes_vary(s);
}

/* One round of the structural rule; returns how many functions it newly
 * marked as wrappers. */
static size_t structural_round(an_wrappers *w, an_stack *stacks, size_t n,
			       struct frame_info *fi)
{
	count_round(stacks, n, fi);
	size_t added = 0;
	for (struct fn *s = fi->table; s; s = s->hh.next) {
		/* the internals of a wrapper: it is the site nearly only where
		 * a wrapper called it (sqlite3Malloc -> mallocWithAlarm ->
		 * sqlite3MemMalloc) */
		if (s->owns) /* its blocks die inside it: never a wrapper */
			continue;
		int inside = s->allocs_site &&
			     (double)s->allocs_inside >=
				     WRAPPER_SITE_SHARE * (double)s->allocs_in;
		if (!s->wrapper && inside) {
			s->wrapper = 1;
			add_found(w, s->key);
			added++;
			continue;
		}
		if (s->wrapper || s->ncallers < WRAPPER_MIN_CALLERS ||
		    !wrapper_shape(s))
			continue;
		s->wrapper = 1;
		add_found(w, s->key);
		added++;
	}
	return added;
}

/* A link of a wrapper chain, as the last round counted it: everything a
 * wrapper is but for its callers, too few (a helper only the public
 * wrapper calls: do_xmalloc under xmalloc, libiberty's call_chunkfun
 * under the obstack functions), and one caller at least. Its callers
 * decide (see wrappers_apply). */
static int chain_link(const struct fn *s)
{
	return !s->wrapper && !s->runtime && passes_blocks_on(s) &&
	       s->ncallers >= 1 && s->ncallers < WRAPPER_MIN_CALLERS;
}

/* The functions calling link s that pass nearly all they allocate
 * (WRAPPER_SITE_SHARE) through it, as the last round counted them, into
 * out (room for s->ncallers); returns how many. */
static size_t pass_through_callers(const struct fn *s, const struct fn **out)
{
	size_t nc = 0;
	for (const struct caller *c = s->callers; c; c = c->hh.next) {
		const struct fn *g = c->key.fn;
		int seen = !g;
		for (size_t i = 0; i < nc && !seen; i++)
			seen = out[i] == g;
		if (seen)
			continue;
		uint64_t through = 0;
		for (const struct caller *d = s->callers; d; d = d->hh.next)
			if (d->key.fn == g)
				through += d->allocs;
		if ((double)through >= WRAPPER_SITE_SHARE * (double)g->allocs_in)
			out[nc++] = g;
	}
	return nc;
}

/* Wrapper chains: every link (chain_link) is tried as a wrapper at once,
 * in one round; a link stays one when a function that calls it and
 * passes nearly all its allocations through it then became a wrapper by
 * the rule itself (reached from enough call sites, not only as a
 * wrapper's internals): the chain is a wrapper as a whole. The try's
 * marks are taken back, the links kept are marked. The figures are the
 * last round's. Returns how many links were kept. */
static size_t chain_round(an_wrappers *w, an_stack *stacks, size_t n,
			  struct frame_info *fi)
{
	struct link {
		struct fn *fn;
		const struct fn **callers;
		size_t ncallers;
	} *links = NULL;
	size_t nlinks = 0;
	for (size_t i = 0; i < fi->nfns; i++) {
		struct fn *s = fi->fns[i];
		if (!chain_link(s))
			continue;
		const struct fn **callers = xcalloc(s->ncallers, sizeof *callers);
		size_t nc = pass_through_callers(s, callers);
		if (!nc) {
			free(callers);
			continue;
		}
		links = xrealloc(links, (nlinks + 1) * sizeof *links);
		links[nlinks++] = (struct link){ s, callers, nc };
	}
	size_t kept = 0;
	if (nlinks) {
		unsigned char *was = xcalloc(fi->nfns, 1);
		for (size_t i = 0; i < fi->nfns; i++)
			was[i] = (unsigned char)fi->fns[i]->wrapper;
		size_t found_before = w->nfound;
		for (size_t i = 0; i < nlinks; i++)
			links[i].fn->wrapper = 1;
		structural_round(w, stacks, n, fi);
		unsigned char *keep = xcalloc(nlinks, 1);
		for (size_t i = 0; i < nlinks; i++)
			for (size_t k = 0; k < links[i].ncallers && !keep[i]; k++)
				keep[i] = links[i].callers[k]->wrapper &&
					  links[i].callers[k]->ncallers >=
						  WRAPPER_MIN_CALLERS;
		for (size_t i = 0; i < fi->nfns; i++)
			fi->fns[i]->wrapper = was[i];
		while (w->nfound > found_before)
			free(w->found[--w->nfound]);
		if (w->found)
			w->found[w->nfound] = NULL;
		for (size_t i = 0; i < nlinks; i++)
			if (keep[i]) {
				links[i].fn->wrapper = 1;
				add_found(w, links[i].fn->key);
				kept++;
			}
		free(keep);
		free(was);
	}
	for (size_t i = 0; i < nlinks; i++)
		free(links[i].callers);
	free(links);
	return kept;
}

/* Structural rounds until one marks nothing (at most 16). Returns whether
 * it got there: then the last round's figures are those of the marks as
 * they are, which chain_round() reads. */
static int settle(an_wrappers *w, an_stack *stacks, size_t n,
		  struct frame_info *fi)
{
	for (int round = 0; round < 16; round++)
		if (!structural_round(w, stacks, n, fi))
			return 1;
	return 0;
}

/* Twice the room for fi's frames. */
static void frame_slots_grow(struct frame_info *fi)
{
	struct frame_slot *old = fi->slots;
	size_t oldcap = fi->cap;
	fi->cap *= 2;
	fi->slots = xcalloc(fi->cap, sizeof *fi->slots);
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].frame)
			*frame_slot(fi, old[i].frame) = old[i];
	free(old);
}

void wrappers_apply(an_wrappers *w, an_stack *stacks, size_t n)
{
	struct frame_info fi = { 0 };
	fi.cap = 1024;
	fi.slots = xcalloc(fi.cap, sizeof *fi.slots);
	for (size_t i = 0; i < n; i++) {
		const an_stack *st = &stacks[i];
		for (unsigned k = 0; k < st->nall; k++) {
			const an_frame *f = st->all[k];
			struct frame_slot *x = frame_slot(&fi, f);
			if (x->frame)
				continue;
			struct fn *fn = intern(w, &fi, f);
			int fixed = fn->fixed || runtime_file(f->file);
			x->frame = f;
			x->code = fn->id << 1 | (uint32_t)fixed;
			if (2 * ++fi.n > fi.cap)
				frame_slots_grow(&fi);
		}
	}
	/* A new wrapper moves sites up its callers, which may reveal a
	 * wrapper above it (xstrdup above xmalloc): repeat. Then chains: a
	 * link with too few callers of its own is a wrapper when the
	 * function above it then is one; each chain kept moves sites up
	 * again. */
	inner_evidence(stacks, n, &fi);
	int settled = w->structural && settle(w, stacks, n, &fi);
	for (int round = 0; w->structural && round < 8; round++) {
		if (!settled) /* the figures of the marks as they are */
			structural_round(w, stacks, n, &fi);
		if (!chain_round(w, stacks, n, &fi))
			break;
		settled = settle(w, stacks, n, &fi);
	}
	/* the figures of the final marks, for site_callers_short */
	if (w->structural)
		count_round(stacks, n, &fi);
	for (size_t i = 0; i < n; i++) {
		an_stack *st = &stacks[i];
		unsigned k = site_index(st, &fi);
		const struct fn *site = k < st->nall ? fn_at(&fi, st, k) : NULL;
		st->site_callers_short =
			w->structural && site && !site->wrapper && !site->runtime &&
					!site->fixed &&
					site->ncallers == WRAPPER_MIN_CALLERS - 1 &&
					wrapper_shape(site)
				? (unsigned)site->ncallers
				: 0;
		st->site_fallback = !k && st->nall && skipped_at(&fi, st, 0);
		st->nskipped = k;
		st->frames = st->all + k;
		st->nframes = st->nall - k;
		st->via = st->via_runtime = st->obstack = NULL;
		/* an obstack's chunk: its function anywhere below the site,
		 * whatever wrapper it allocates through, or the site's caller
		 * (the site is the obstack's chunk allocator); the program's
		 * copy (libiberty's) or libc's */
		for (unsigned j = 0; j <= k + 1 && j < st->nall && !st->obstack;
		     j++)
			if (j != k && st->all[j]->symbolized &&
			    !regexec(&w->obstack, st->all[j]->function, 0, NULL, 0))
				st->obstack = st->all[j]->function;
		/* Name the wrapper the site called; or the runtime's function,
		 * unless it is an allocator's entry (a call to malloc or
		 * operator new needs no "via"). */
		const an_frame *below = k ? st->all[k - 1] : NULL;
		if (!below)
			continue;
		if (!fn_at(&fi, st, k - 1)->runtime && !runtime_file(below->file))
			st->via = below->function;
		else if (below->symbolized &&
			 regexec(&w->allocator, below->function, 0, NULL, 0))
			st->via_runtime = below->function;
	}
	free(fi.slots);
	free(fi.fns);
	reset_stats(fi.table);
	struct fn *f, *tmp;
	HASH_ITER(hh, fi.table, f, tmp) {
		HASH_DEL(fi.table, f);
		free(f->key);
		free(f);
	}
	struct fn_ref *r, *rt;
	HASH_ITER(hh, fi.refs, r, rt) {
		HASH_DEL(fi.refs, r);
		free(r);
	}
}
