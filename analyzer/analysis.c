/* analysis.c - from validated profiles to symbolized stacks and merged
 * sites (see analysis.h). */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "commands.h"
#include "memory.h"
#include "uthash.h"

struct an_site_index {
	char *key;
	size_t pos;
	UT_hash_handle hh;
};

/* Function names that are allocator wrappers wherever they are defined
 * (docs/ranking.md lists them). */
static const char *const default_wrappers[] = {
	"^(operator new|operator delete)",
	"^([^(]* )?(std|__gnu_cxx|__cxxabiv1)::",
	"^x(malloc|calloc|realloc|strdup|strndup|memdup|zalloc|asprintf)$",
	"^g_(malloc|malloc0|realloc|try_malloc|try_malloc0|try_realloc|"
	"memdup|memdup2|strdup|strndup|new|slice_alloc|slice_alloc0)",
	"^(PyMem_|_PyMem_|PyObject_Malloc|PyObject_Calloc|PyObject_Realloc|"
	"_PyObject_Malloc|_PyObject_Calloc|_PyObject_Realloc)",
	"^sqlite3(Malloc|MallocZero|_malloc|_malloc64|_realloc|_realloc64|"
	"Realloc|DbMalloc|DbMallocRaw|DbMallocRawNN|DbMallocZero|DbRealloc|"
	"DbReallocOrFree|MemMalloc|MemRealloc|DbStrDup|DbStrNDup)",
	"^(je_|tc_|mi_)?(malloc|calloc|realloc|free|memalign|posix_memalign|"
	"aligned_alloc)$",
};

/* Modules whose frames are the runtime, never the site. */
static int runtime_module(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	static const char *const prefixes[] = {
		"libc.so", "libc-", "libstdc++.so", "libgcc_s.so",
		"ld-linux", "libpoolscout.so", "libtcmalloc", "libjemalloc",
		"libmimalloc", "libm.so",
	};
	for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
		if (!strncmp(base, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

static int is_wrapper(const analysis *a, const an_frame *f)
{
	if (runtime_module(f->module))
		return 1;
	if (f->file && !strncmp(f->file, "/usr/include/c++/", 17))
		return 1;
	for (size_t i = 0; i < a->nwrappers; i++)
		if (!regexec(&a->wrappers[i], f->function, 0, NULL, 0))
			return 1;
	return 0;
}

const char *frame_label(char *buf, size_t len, const an_frame *f)
{
	if (f->file) {
		const char *base = strrchr(f->file, '/');
		snprintf(buf, len, "%s (%s:%u)", f->function,
			 base ? base + 1 : f->file, f->line);
	} else {
		snprintf(buf, len, "%s", f->function);
	}
	return buf;
}

int view_opts_parse(view_opts *o, int argc, char **argv, const char *cmd,
		    int allow_top_flags)
{
	int i;
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "--")) {
			i++;
			break;
		}
		if (arg[0] != '-' || !arg[1])
			break;
		if (!strcmp(arg, "--json")) {
			o->json = 1;
		} else if (!strcmp(arg, "--html") && !strcmp(cmd, "report")) {
			if (i + 1 >= argc)
				return usage_error("%s: --html needs a file name", cmd);
			o->html = argv[++i];
		} else if (!strcmp(arg, "-n")) {
			char *end;
			if (i + 1 >= argc)
				return usage_error("%s: -n needs a number", cmd);
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 1000000)
				return usage_error("%s: -n expects 1..1000000, got '%s'",
						   cmd, argv[i]);
			o->limit = (int)n;
		} else if (!strcmp(arg, "--wrapper")) {
			if (i + 1 >= argc)
				return usage_error("%s: --wrapper needs a regular "
						   "expression", cmd);
			if (o->nwrappers == 32)
				return usage_error("%s: at most 32 --wrapper", cmd);
			o->wrappers[o->nwrappers++] = argv[++i];
		} else if (allow_top_flags &&
			   (!strcmp(arg, "--alloc_objects") ||
			    !strcmp(arg, "--alloc_space") ||
			    !strcmp(arg, "--inuse_objects") ||
			    !strcmp(arg, "--inuse_space"))) {
			o->sample_index = arg + 2;
		} else if (allow_top_flags && !strcmp(arg, "--cum")) {
			o->cum = 1;
		} else if (allow_top_flags && !strcmp(arg, "--lines")) {
			o->lines = 1;
		} else {
			return usage_error("%s: unknown option '%s'", cmd, arg);
		}
	}
	o->files = argv + i;
	o->nfiles = argc - i;
	if (!o->nfiles)
		return usage_error("%s: no profile given", cmd);
	return 0;
}

static int compile_wrappers(analysis *a, const view_opts *o)
{
	size_t n = sizeof default_wrappers / sizeof *default_wrappers;
	a->wrappers = xcalloc(n + (size_t)o->nwrappers, sizeof *a->wrappers);
	for (size_t i = 0; i < n + (size_t)o->nwrappers; i++) {
		const char *re = i < n ? default_wrappers[i]
				       : o->wrappers[i - n];
		int rc = regcomp(&a->wrappers[i], re, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char msg[256];
			regerror(rc, &a->wrappers[i], msg, sizeof msg);
			a->nwrappers = i;
			return usage_error("--wrapper '%s': %s", re, msg);
		}
		a->nwrappers = i + 1;
	}
	return 0;
}

/* Symbolizes one stack into frames (inlined frames expanded). */
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
				.inlined = loc->frames[k].inlined,
			};
		}
	}
	unsigned skip = 0;
	while (skip < n && is_wrapper(a, &frames[skip]))
		skip++;
	if (skip == n) /* all runtime: the leaf is the best we have */
		skip = 0;
	as->frames = frames;
	as->nframes = n;
	as->nskipped = skip;
	memmove(frames, frames + skip, (n - skip) * sizeof *frames);
	as->nframes = n - skip;
	if (!as->nframes) {
		/* An empty stack (the depth cap was 0 frames above us). */
		as->frames[0] = (an_frame){ "[no stack]", NULL, 0, "?", 0, 0 };
		as->nframes = 1;
	}
}

static size_t site_for(analysis *a, const an_frame *f)
{
	char *key = xasprintf("%s\t%s\t%u\t%s", f->function,
			      f->file ? f->file : "", f->line, f->module);
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
	s->size_min = UINT64_MAX;
	ix = xmalloc(sizeof *ix);
	ix->key = key;
	ix->pos = a->nsites++;
	HASH_ADD_KEYPTR(hh, a->site_index, ix->key, strlen(ix->key), ix);
	return ix->pos;
}

/* Adds allocs to the site's count for stack st (its list grows by
 * doubling; the stack remembers its slot, so this is O(1)). */
static void add_stack_to_site(an_site *s, an_stack *st, size_t stack,
			      uint64_t allocs)
{
	if (st->site_slot) {
		s->stack_allocs[st->site_slot - 1] += allocs;
		return;
	}
	if ((s->nstacks & (s->nstacks - 1)) == 0) { /* 0, 1, 2, 4, ... */
		size_t cap = s->nstacks ? s->nstacks * 2 : 1;
		s->stacks = xrealloc(s->stacks, cap * sizeof *s->stacks);
		s->stack_allocs = xrealloc(s->stack_allocs,
					   cap * sizeof *s->stack_allocs);
	}
	s->stacks[s->nstacks] = stack;
	s->stack_allocs[s->nstacks++] = allocs;
	st->site_slot = s->nstacks;
}

static void add_entry(analysis *a, const pf_file *f, const pf_entry *e,
		      size_t stack_pos)
{
	an_stack *st = &a->stacks[stack_pos];
	an_site *s = &a->sites[st->site];
	uint64_t k = pf_scale(f);
	st->allocs += e->allocs * k;
	st->alloc_bytes += e->alloc_bytes * k;
	st->frees += e->frees * k;
	st->free_bytes += e->free_bytes * k;
	double secs = (double)(f->duration_ns ? f->duration_ns : 1000000) / 1e9;
	s->allocs += e->allocs * k;
	s->alloc_bytes += e->alloc_bytes * k;
	s->frees += e->frees * k;
	s->free_bytes += e->free_bytes * k;
	s->xfrees += e->xfrees * k;
	s->xfree_bytes += e->xfree_bytes * k;
	s->rate_per_s += (double)(e->allocs * k) / secs;
	s->bytes_per_s += (double)(e->alloc_bytes * k) / secs;
	if (e->allocs && e->size_min < s->size_min)
		s->size_min = e->size_min;
	if (e->size_max > s->size_max)
		s->size_max = e->size_max;
	for (unsigned b = 0; b < PS_HIST_BUCKETS; b++) {
		s->size_hist[b] += e->size_hist[b] * k;
		if (!e->life_hist[b])
			continue;
		double ns = pf_ticks_to_ns(f, (double)ps_hist_bucket_low(b));
		s->life_hist_ns[ps_hist_bucket((uint64_t)ns)] +=
			e->life_hist[b] * k;
	}
	if (e->peak_live * k > s->thread_peak_live)
		s->thread_peak_live = e->peak_live * k;
	/* Without exact site-wide peaks: the sum of per-thread peaks, exact
	 * when one thread allocates from the site, an upper bound otherwise. */
	if (!(f->flags & PS_PROC_FLAG_SITE_PEAK))
		s->peak_live += e->peak_live * k;
	else
		s->peak_exact = 1;
	if (e->allocs)
		s->alloc_threads++;
	s->realloc_grows += e->realloc_grows * k;
	s->chains_ended += e->chains_ended * k;
	s->chain_steps_sum += e->chain_steps_sum * k;
	if (e->chain_steps_max > s->chain_steps_max)
		s->chain_steps_max = e->chain_steps_max;
	if (e->chain_final_size_max > s->chain_final_size_max)
		s->chain_final_size_max = e->chain_final_size_max;
	add_stack_to_site(s, st, stack_pos, e->allocs * k);
}

int analysis_load(analysis *a, const view_opts *o)
{
	memset(a, 0, sizeof *a);
	a->set = xcalloc(1, sizeof *a->set);
	if (compile_wrappers(a, o))
		return 2;
	if (pf_set_load(a->set, o->files, o->nfiles))
		return 2;
	a->sym = sym_new();
	a->sample_every = 1;

	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		if (!f->complete)
			a->partial = 1;
		if (f->sample_every > a->sample_every)
			a->sample_every = f->sample_every;
		if (f->duration_ns > a->duration_ns)
			a->duration_ns = f->duration_ns;
		a->work_units += f->work_units;
		for (size_t t = 0; t < f->nthreads; t++)
			a->nthreads += f->threads[t] != NULL;
		/* stack id -> position in a->stacks, for this file */
		size_t *pos = xcalloc(f->nstacks ? f->nstacks : 1, sizeof *pos);
		for (size_t i = 0; i < f->nstacks; i++) {
			if (!f->stacks[i])
				continue;
			a->stacks = xrealloc(a->stacks, (a->nstacks + 1) *
							       sizeof *a->stacks);
			an_stack *as = &a->stacks[a->nstacks];
			memset(as, 0, sizeof *as);
			as->file = f;
			as->stack = f->stacks[i];
			expand_stack(a, as);
			as->site = site_for(a, &as->frames[0]);
			if (f->flags & PS_PROC_FLAG_SITE_PEAK)
				a->sites[as->site].peak_live +=
					f->stacks[i]->peak_live * pf_scale(f);
			pos[i] = a->nstacks++;
		}
		for (size_t i = 0; i < f->nentries; i++) {
			const pf_entry *e = &f->entries[i];
			add_entry(a, f, e, pos[e->stack_id]);
			a->allocs += e->allocs * pf_scale(f);
			a->alloc_bytes += e->alloc_bytes * pf_scale(f);
			a->frees += e->frees * pf_scale(f);
			a->free_bytes += e->free_bytes * pf_scale(f);
			a->xfrees += e->xfrees * pf_scale(f);
		}
		free(pos);
	}
	for (size_t i = 0; i < a->nsites; i++)
		if (a->sites[i].size_min == UINT64_MAX)
			a->sites[i].size_min = 0;
	return 0;
}

void analysis_free(analysis *a)
{
	for (size_t i = 0; i < a->nstacks; i++)
		free(a->stacks[i].frames);
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
	for (size_t i = 0; i < a->nwrappers; i++)
		regfree(&a->wrappers[i]);
	free(a->wrappers);
	sym_free(a->sym);
	if (a->set) {
		pf_set_free(a->set);
		free(a->set);
	}
	memset(a, 0, sizeof *a);
}

double site_lifetime_pct(const an_site *s, double pct)
{
	uint64_t total = 0;
	for (unsigned b = 0; b < PS_HIST_BUCKETS; b++)
		total += s->life_hist_ns[b];
	if (!total)
		return 0;
	double want = pct * (double)total, run = 0;
	for (unsigned b = 0; b < PS_HIST_BUCKETS; b++) {
		run += (double)s->life_hist_ns[b];
		if (run >= want)
			return ldexp(1.0, (int)b + 1);
	}
	return ldexp(1.0, PS_HIST_BUCKETS);
}
