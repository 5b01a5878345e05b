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

/* Namespaces of the C++ runtime's own code, wherever it was compiled. */
static const char *const runtime_names =
	"^([^(]* )?(std|__gnu_cxx|__cxxabiv1)::";

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
	"^(zmalloc|zcalloc|zrealloc|ztrymalloc|ztrycalloc|ztryrealloc|"
	"zmalloc_usable|zcalloc_usable|zrealloc_usable|ztrymalloc_usable|"
	"ztrycalloc_usable|ztryrealloc_usable|zstrdup|zmalloc_no_tcache)$",
	"^ngx_(alloc|calloc|memalign)$",
	"^(je_|tc_|mi_)?(malloc|calloc|realloc|free|memalign|posix_memalign|"
	"aligned_alloc)$",
};

struct an_wrappers {
	regex_t runtime;
	regex_t *res;      /* known names (unless no_auto), then --wrapper */
	size_t nres;
	int structural;    /* the structural rule is on */
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
	regcomp(&w->runtime, runtime_names, REG_EXTENDED | REG_NOSUB);
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

/* Frames of the runtime itself: its modules and its inlined code. */
static int runtime_frame(const an_wrappers *w, const an_frame *f)
{
	return ps_runtime_module(f->module) ||
	       (f->file && !strncmp(f->file, "/usr/include/c++/", 17)) ||
	       !regexec(&w->runtime, f->function, 0, NULL, 0);
}

int wrapper_fixed(const an_wrappers *w, const an_frame *f)
{
	if (runtime_frame(w, f))
		return 1;
	for (size_t i = 0; i < w->nres; i++)
		if (!regexec(&w->res[i], f->function, 0, NULL, 0))
			return 1;
	return 0;
}

static char *fn_key(const an_frame *f)
{
	return xasprintf("%s\t%s", f->module, f->function);
}

/* Every distinct function of the stacks, interned once, with its mark. */
struct fn {
	char *key;
	int wrapper; /* found by the structural rule */
	UT_hash_handle hh;
};

struct frame_info {
	struct fn ***fns;       /* per stack, per frame */
	unsigned char **fixed;  /* per frame: a wrapper by the fixed rules */
	struct fn *table;
};

/* Where each stack's site is under the current rules: the first frame
 * that is no wrapper (the leaf when every frame is one). */
static unsigned site_index(const an_stack *st, const struct frame_info *fi,
			   size_t i)
{
	unsigned k = 0;
	while (k < st->nall && (fi->fixed[i][k] || fi->fns[i][k]->wrapper))
		k++;
	return k < st->nall ? k : 0;
}

/* What the structural rule looks at, per function that is some stack's
 * site. */
struct caller {
	char *key;
	uint64_t size_min, size_max;
	UT_hash_handle hh;
};

struct fn_stats {
	char *key;
	const an_frame *frame; /* one of its frames, for the name */
	uint64_t allocs_in;    /* allocations whose stack passes through it */
	uint64_t allocs_site;  /* ... where it is the site */
	uint64_t last_stack;   /* count each stack once in allocs_in */
	struct caller *callers;
	size_t ncallers;
	uint64_t calls[WRAPPER_MAX_CALLS + 1]; /* its distinct call addresses */
	size_t ncalls;
	UT_hash_handle hh;
};

static struct fn_stats *stats_for(struct fn_stats **table, const an_frame *f)
{
	char *key = fn_key(f);
	struct fn_stats *s;
	HASH_FIND_STR(*table, key, s);
	if (s) {
		free(key);
		return s;
	}
	s = xcalloc(1, sizeof *s);
	s->key = key;
	s->frame = f;
	s->last_stack = UINT64_MAX;
	HASH_ADD_KEYPTR(hh, *table, s->key, strlen(s->key), s);
	return s;
}

static void add_caller(struct fn_stats *s, const an_frame *caller,
		       const an_stack *st)
{
	char *key = caller ? xasprintf("%s\t%s\t%s:%u\t%llx", caller->module,
				       caller->function,
				       caller->file ? caller->file : "",
				       caller->line,
				       caller->file ? 0ull
						    : (unsigned long long)caller->offset)
			   : xstrdup("(none)");
	struct caller *c;
	HASH_FIND_STR(s->callers, key, c);
	if (!c) {
		c = xcalloc(1, sizeof *c);
		c->key = key;
		c->size_min = st->size_min;
		c->size_max = st->size_max;
		HASH_ADD_KEYPTR(hh, s->callers, c->key, strlen(c->key), c);
		s->ncallers++;
		return;
	}
	free(key);
	if (st->size_min < c->size_min)
		c->size_min = st->size_min;
	if (st->size_max > c->size_max)
		c->size_max = st->size_max;
}

static void add_call(struct fn_stats *s, uint64_t ip)
{
	for (size_t i = 0; i < s->ncalls; i++)
		if (s->calls[i] == ip)
			return;
	if (s->ncalls <= WRAPPER_MAX_CALLS)
		s->calls[s->ncalls++] = ip;
}

/* Different callers get different sizes: not a constructor of one type. */
static int sizes_vary(const struct fn_stats *s)
{
	const struct caller *first = s->callers;
	for (const struct caller *c = first; c; c = c->hh.next)
		if (c->size_min != first->size_min ||
		    c->size_max != first->size_max)
			return 1;
	return 0;
}

static void free_stats(struct fn_stats **table)
{
	struct fn_stats *s, *tmp;
	HASH_ITER(hh, *table, s, tmp) {
		struct caller *c, *ct;
		HASH_ITER(hh, s->callers, c, ct) {
			HASH_DEL(s->callers, c);
			free(c->key);
			free(c);
		}
		HASH_DEL(*table, s);
		free(s->key);
		free(s);
	}
}

/* One round of the structural rule; returns how many functions it newly
 * marked as wrappers. */
static size_t structural_round(an_wrappers *w, an_stack *stacks, size_t n,
			       struct frame_info *fi)
{
	struct fn_stats *table = NULL;
	for (size_t i = 0; i < n; i++) {
		const an_stack *st = &stacks[i];
		if (!st->allocs)
			continue;
		unsigned k = site_index(st, fi, i);
		const an_frame *site = &st->all[k];
		struct fn_stats *s = stats_for(&table, site);
		s->allocs_site += st->allocs;
		add_caller(s, k + 1 < st->nall ? &st->all[k + 1] : NULL, st);
		add_call(s, site->ip);
		/* every function the stack passes through, once */
		for (unsigned j = 0; j < st->nall; j++) {
			if (fi->fixed[i][j])
				continue;
			struct fn_stats *t = stats_for(&table, &st->all[j]);
			if (t->last_stack != i) {
				t->last_stack = i;
				t->allocs_in += st->allocs;
			}
		}
	}
	size_t added = 0;
	struct fn_stats *s, *tmp;
	HASH_ITER(hh, table, s, tmp) {
		if (!s->allocs_site ||
		    (double)s->allocs_site <
			    WRAPPER_SITE_SHARE * (double)s->allocs_in ||
		    s->ncallers < WRAPPER_MIN_CALLERS ||
		    s->ncalls > WRAPPER_MAX_CALLS || !sizes_vary(s))
			continue;
		struct fn *f;
		HASH_FIND_STR(fi->table, s->key, f);
		f->wrapper = 1;
		w->found = xrealloc(w->found, (w->nfound + 2) * sizeof *w->found);
		w->found[w->nfound++] = xstrdup(s->key);
		w->found[w->nfound] = NULL;
		added++;
	}
	free_stats(&table);
	return added;
}

void wrappers_apply(an_wrappers *w, an_stack *stacks, size_t n)
{
	struct frame_info fi = { 0 };
	fi.fns = xcalloc(n ? n : 1, sizeof *fi.fns);
	fi.fixed = xcalloc(n ? n : 1, sizeof *fi.fixed);
	for (size_t i = 0; i < n; i++) {
		const an_stack *st = &stacks[i];
		fi.fixed[i] = xcalloc(st->nall + 1, 1);
		fi.fns[i] = xcalloc(st->nall + 1, sizeof *fi.fns[i]);
		for (unsigned k = 0; k < st->nall; k++) {
			fi.fixed[i][k] = (unsigned char)wrapper_fixed(w, &st->all[k]);
			char *key = fn_key(&st->all[k]);
			struct fn *f;
			HASH_FIND_STR(fi.table, key, f);
			if (f) {
				free(key);
			} else {
				f = xcalloc(1, sizeof *f);
				f->key = key;
				HASH_ADD_KEYPTR(hh, fi.table, f->key,
						strlen(f->key), f);
			}
			fi.fns[i][k] = f;
		}
	}
	/* A new wrapper moves sites up its callers, which may reveal a
	 * wrapper above it (xstrdup above xmalloc): repeat. */
	for (int round = 0; w->structural && round < 16; round++)
		if (!structural_round(w, stacks, n, &fi))
			break;
	for (size_t i = 0; i < n; i++) {
		an_stack *st = &stacks[i];
		unsigned k = site_index(st, &fi, i);
		st->nskipped = k;
		st->frames = st->all + k;
		st->nframes = st->nall - k;
		st->via = NULL;
		/* Name the wrapper the site called, unless it is the runtime
		 * (a call to malloc or operator new needs no "via"). */
		if (k && !runtime_frame(w, &st->all[k - 1]))
			st->via = st->all[k - 1].function;
		free(fi.fixed[i]);
		free(fi.fns[i]);
	}
	free(fi.fixed);
	free(fi.fns);
	struct fn *f, *tmp;
	HASH_ITER(hh, fi.table, f, tmp) {
		HASH_DEL(fi.table, f);
		free(f->key);
		free(f);
	}
}
