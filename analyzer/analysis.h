/* analysis.h - the model every view works from: the stacks of one or more
 * profiles, symbolized and with allocator wrapper frames removed, and the
 * allocation *sites* they lead to, with counters merged across files and
 * threads and scaled for sampling.
 *
 * A site is the code location that called into the allocator once wrapper
 * frames are skipped: the C and C++ runtimes (libc, libstdc++, libgcc_s,
 * the loader, the preload), inlined std:: allocator and container code,
 * well-known wrappers (xmalloc, g_malloc, PyMem_Malloc, ...) and the
 * user's --wrapper patterns.
 */
#ifndef POOLSCOUT_ANALYSIS_H
#define POOLSCOUT_ANALYSIS_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "symbolize.h"

typedef struct an_frame {
	const char *function;
	const char *file; /* may be NULL */
	unsigned line;
	const char *module;
	uint64_t ip;      /* the return address this frame was resolved from */
	int inlined;      /* inlined into the next frame (same ip) */
} an_frame;

/* One recorded stack of one file, symbolized, wrapper frames removed. */
typedef struct an_stack {
	const pf_file *file;
	const pf_stack *stack;
	an_frame *frames; /* leaf (the site) first */
	unsigned nframes;
	unsigned nskipped; /* wrapper frames removed from the leaf end */
	size_t site;       /* index into analysis.sites */
	size_t site_slot;  /* 1 + its index in the site's stack list; 0: none */
	/* counters summed over threads, scaled for sampling */
	uint64_t allocs, alloc_bytes, frees, free_bytes;
} an_stack;

enum remedy { REMEDY_POOL, REMEDY_PRESIZE, REMEDY_STACK, REMEDY_ARENA,
	      REMEDY_NONE };

typedef struct an_site {
	an_frame where; /* function, file, line, module of the site */
	uint64_t allocs, alloc_bytes, frees, free_bytes, xfrees, xfree_bytes;
	uint64_t size_min, size_max;
	uint64_t size_hist[PS_HIST_BUCKETS];
	uint64_t life_hist_ns[PS_HIST_BUCKETS]; /* log2 buckets of ns */
	uint64_t peak_live;          /* sum of its stacks' site-wide peaks */
	uint64_t thread_peak_live;   /* largest peak on any one thread */
	int peak_exact;              /* peak_live measured across threads */
	unsigned alloc_threads;      /* threads that allocate here */
	uint64_t realloc_grows, chains_ended, chain_steps_sum,
		chain_steps_max, chain_final_size_max;
	double rate_per_s;           /* allocations per second of run time */
	double bytes_per_s;
	size_t *stacks;              /* indexes into analysis.stacks */
	uint64_t *stack_allocs;
	size_t nstacks;
	/* filled by rank_sites() */
	enum remedy remedy;
	char reasons[6][200];
	int nreasons;
	double saved_calls_per_s, saved_bytes_per_s;
	uint64_t pool_size;          /* objects to keep (pool) */
	uint64_t reserve_bytes;      /* capacity to reserve (presize) */
	double lifetime_p50_ns, lifetime_p99_ns;
	double xfree_ratio;
	int rank;
} an_site;

typedef struct analysis {
	pf_set *set;
	sym_ctx *sym;
	an_stack *stacks;
	size_t nstacks;
	an_site *sites;
	size_t nsites;
	size_t *ranked; /* site indexes in rank order, after rank_sites() */
	struct an_site_index *site_index;
	regex_t *wrappers;
	size_t nwrappers;
	/* totals over every file */
	uint64_t allocs, alloc_bytes, frees, free_bytes, xfrees;
	uint64_t duration_ns;   /* longest file */
	uint64_t work_units;
	size_t nthreads;
	int partial;            /* some file was cut short */
	uint32_t sample_every;  /* largest sampling rate among the files */
} analysis;

/* Options shared by the views that read profiles. */
typedef struct view_opts {
	int json;
	const char *html;        /* report --html OUT: the page's path */
	int limit;               /* -n; 0: the view's default */
	const char *wrappers[32];
	int nwrappers;
	const char *sample_index; /* top: alloc_objects, ... */
	int cum, lines;
	char **files;
	int nfiles;
} view_opts;

/* Parses the options common to the views (-n, --json, --wrapper, the top
 * flags, and report's --html OUT); the rest of argv are files. Returns 0, or 2 after printing
 * a usage message. */
int view_opts_parse(view_opts *o, int argc, char **argv, const char *cmd,
		    int allow_top_flags);

/* Loads the files, symbolizes every stack, builds sites. Returns 0, or 2
 * after printing what was wrong with which input. */
int analysis_load(analysis *a, const view_opts *o);
void analysis_free(analysis *a);

/* Lifetime percentile (0..1) of a site, as the upper bound of the log2 ns
 * bucket that holds it; 0 when nothing was freed. */
double site_lifetime_pct(const an_site *s, double pct);
/* Classifies and scores every site and fills a->ranked (best first). */
void rank_sites(analysis *a);
const char *remedy_name(enum remedy r);
/* "function (file:line)" into buf. */
const char *frame_label(char *buf, size_t len, const an_frame *f);

#endif
