/* model.h - the metrics model: every number a view prints is defined and
 * computed here, once, from the validated profiles (profile.h).
 *
 * Loading builds, for one or more profiles (a process tree, a server's
 * workers): the symbolized stacks with allocator wrapper frames removed
 * (wrappers.h), the allocation *sites* they lead to, one record per
 * thread and per process, the totals, and a timeline over wall-clock
 * time. Views (the commands), ranking, diff and exports only select and
 * format these numbers; none of them computes a metric of its own.
 *
 * Definitions (docs/ranking.md explains them for users):
 *   alloc_objects, alloc_space   allocations and bytes (scaled by N for
 *                                profiles recorded 1 in N)
 *   inuse_objects, inuse_space   allocated minus freed: live at the end
 *   peak                         the most blocks live at the same moment,
 *                                exact where the profile allows it, else
 *                                a lower and an upper bound (an_peak)
 *   alloc_threads                distinct threads that allocated there
 *   lifetimes                    intervals in ns that hold the true
 *                                lifetimes (an_lifetimes)
 *   rates                        over the site's active window (its
 *                                first to its latest allocation), the
 *                                highest one-interval rate of the
 *                                timeline, and over the whole run
 *   run                          wall-clock span of all profiles, from
 *                                the earliest start to the latest end
 */
#ifndef POOLSCOUT_MODEL_H
#define POOLSCOUT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "symbolize.h"

/* The most blocks (and bytes) live at once: lo <= true peak <= hi. The
 * two peaks need not fall at the same moment. */
typedef struct an_peak {
	uint64_t lo, hi;
	uint64_t bytes_lo, bytes_hi;
} an_peak;

/* Saturating arithmetic: totals of untrusted files must not wrap. */
static inline uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static inline uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static inline int an_peak_exact(const an_peak *p)
{
	return p->lo == p->hi;
}

/* Standard deviations on each side of a normal estimate that hold 95% of
 * it: every "95% error" a view prints is AN_Z95 times a standard
 * deviation. */
#define AN_Z95 1.96

/* A lifetime percentile lies in [lo_ns, hi_ns). */
typedef struct an_pct {
	double lo_ns, hi_ns;
} an_pct;

typedef struct an_frame {
	const char *function; /* name, or "module+0xSTART" without symbols */
	const char *file;     /* may be NULL */
	const char *module;
	uint64_t ip;          /* the return address it was resolved from */
	uint64_t offset;      /* ip - 1 within the module's ELF image */
	unsigned line;
	uint16_t ip_index;    /* position of ip in the recorded stack (a
			       * stack has at most 256) */
	unsigned char inlined;    /* inlined into the next frame (same ip) */
	unsigned char symbolized; /* a name was found for it */
	unsigned char runtime;    /* a language runtime's code by its symbol
				   * (sym_frame.runtime) */
} an_frame;

/* A process shorter than this (its profile's span) is a short one; from
 * AN_SHORT_PROCESSES of them the header says what their start and exit
 * under the preload do to the rates (present.c). */
#define AN_SHORT_PROCESS_NS 50000000ull
#define AN_SHORT_PROCESSES 10

/* With an_opts.stream, only the stacks of a site with the most
 * allocations have their peak (the rest have 0): this many per site, the
 * ones site_top_stacks() (present.h) lists first. */
#define AN_SITE_STACK_PEAKS 3

/* One recorded stack of one file, symbolized. With an_opts.stream, the
 * k-th stack of each file with the same frames (return addresses aside)
 * is one stack: file and stack are then the first file's. Its frames are
 * the model's: stacks that pass through the same frame (same return
 * address at the same depth, same function) point at the same one. */
typedef struct an_stack {
	const pf_file *file;
	const pf_stack *stack;
	const an_frame **all;    /* every frame, leaf first */
	const an_frame **frames; /* all + nskipped: the site first */
	unsigned nall;
	unsigned nframes;
	unsigned nskipped;    /* wrapper frames removed from the leaf end */
	const char *via;      /* the wrapper the site called (not the
			       * runtime's), or NULL */
	/* without one, the runtime's function the site called when it is
	 * not an allocator's entry (setlocale, strdup, a C++ container's
	 * growth; not malloc or operator new), or NULL */
	const char *via_runtime;
	/* an obstack's function that allocates its chunks (_obstack_newchunk,
	 * _obstack_begin) between the site and the allocator, or calling the
	 * site (the obstack's chunk allocator), or NULL */
	const char *obstack;
	/* the site's function has a wrapper's shape but for one caller too
	 * few: how many callers it has (WRAPPER_MIN_CALLERS - 1), else 0 */
	unsigned site_callers_short;
	/* every frame is a wrapper's or the runtime's: the site is the
	 * innermost by default (wrappers.c) */
	unsigned char site_fallback;
	size_t site;          /* index into analysis.sites */
	size_t site_slot;     /* 1 + its index in the site's stack list */
	uint64_t allocs, alloc_bytes, frees, free_bytes;
	/* sampled: allocs with each realloc chain's steps weighted by the
	 * chain's length (model.c entry_var_units), scaled as allocs is:
	 * allocs_var / allocs is how much more the estimate varies than
	 * independent draws would (1 without chains) */
	double allocs_var;
	uint64_t size_min, size_max; /* UINT64_MAX, 0 without allocations */
	an_peak peak;         /* across threads */
	/* checked frees of a thread's latest block by the innermost of the
	 * stack's site candidates still running (stack->cand_start + k: the
	 * frame of that return address), then with none running
	 * (pf_entry_inner_frees) */
	uint64_t inner_frees[PF_INNER_VALUES];
} an_stack;

enum remedy { REMEDY_POOL, REMEDY_PRESIZE, REMEDY_STACK, REMEDY_ARENA,
	      REMEDY_NONE };

typedef struct an_site {
	an_frame where;      /* function, file, line, module of the site */
	const char *via;     /* the wrapper it calls, or NULL */
	const char *via_runtime; /* its stacks' via_runtime, when they all
				  * have the same one; else NULL */
	const char *obstack; /* its stacks' obstack, when they all have
			      * one (that of the stack with the most
			      * allocations); else NULL */
	uint64_t obstack_allocs; /* that stack's allocations */
	unsigned callers_short; /* its stacks' site_callers_short */
	/* allocations of its stacks cut at the depth cap whose every frame
	 * is a wrapper's or the runtime's (site_fallback): the program's
	 * code that called them went unrecorded */
	uint64_t cut_runtime_allocs;
	uint64_t allocs, alloc_bytes, frees, free_bytes, xfrees, xfree_bytes;
	uint64_t inuse_objects, inuse_space;
	/* sampled profiles: the half-width of the 95% interval around the
	 * estimated allocations, AN_Z95 standard deviations (0 when every
	 * allocation was counted) */
	double allocs_error95;
	uint64_t size_min, size_max;
	uint64_t size_hist[PS_HIST_BUCKETS];
	an_peak peak;        /* across all threads and processes */
	an_peak thread_peak; /* the most on any one thread */
	an_peak proc_peak;   /* the most in any one process */
	/* of the processes it allocated in, the one whose blocks piled up
	 * most (the surely-live peak, proc's .lo, against its allocations):
	 * that peak and its allocations; one process: its own */
	uint64_t pile_peak, pile_allocs;
	unsigned alloc_threads;
	unsigned alloc_procs; /* processes (profiles) it allocated in */
	/* why no node counted its blocks on a thread, so that its one-thread
	 * peak is only bounded: PEAK_PAST_CANDIDATES, some stack's site frame
	 * lies past the frames the recording counts peaks for (a wrapper
	 * chain deeper than they reach); PEAK_MANY_NODES, its stacks reach it
	 * through more call sites than a site's nodes are looked up for */
	enum { PEAK_COUNTED, PEAK_PAST_CANDIDATES, PEAK_MANY_NODES } peak_uncounted;
	uint64_t realloc_grows, chains_ended, chain_steps_sum,
		chain_steps_max, chain_final_size_max;
	/* its blocks that left it resized by realloc (their data lives on
	 * in the result), the grown ones, the largest size they grew to */
	uint64_t resized, resized_grown, resized_size_max;
	an_pct lifetime_p50, lifetime_p99;
	uint64_t lifetimes;  /* frees whose lifetime was measured */
	/* wall-clock ns since the run's start; active window of the site */
	uint64_t first_alloc_ns, last_alloc_ns;
	double rate_per_s;      /* allocations per second, active window */
	double rate_peak_per_s; /* the busiest timeline interval */
	double rate_run_per_s;  /* allocations per second of the run */
	double bytes_run_per_s;
	uint64_t live_at_peak_objects, live_at_peak_space; /* at the run's
							    * in-use peak */
	size_t *stacks;         /* indexes into analysis.stacks */
	uint64_t *stack_allocs;
	size_t nstacks;
	/* filled by rank_sites() (ranking.h) */
	enum remedy remedy;
	char reasons[7][288];
	int nreasons;
	double saved_calls_per_s, saved_bytes_per_s;
	uint64_t pool_size;     /* objects to keep (pool): a peak, never a sum */
	uint64_t pool_size_max; /* what the peak's upper bound would keep */
	uint64_t reserve_bytes; /* capacity to reserve (presize) */
	double xfree_ratio;
	int rank;
} an_site;

/* One thread of one profile. */
typedef struct an_thread {
	const pf_file *file;
	const pf_thread *thread;
	uint64_t allocs, alloc_bytes, frees, free_bytes, xfrees;
	an_peak peak;        /* its own blocks live at once */
	uint64_t first_alloc_ns, last_alloc_ns; /* since its process start */
	uint64_t rec_ns;     /* the recording's own time on it (estimated) */
	double rate_per_s;   /* over its active window, less the recording's
			      * time in it */
} an_thread;

/* One profile (one process). */
typedef struct an_process {
	const pf_file *file;
	uint64_t start_ns;   /* wall-clock ns since the run's start */
	uint64_t allocs, alloc_bytes, frees, free_bytes, xfrees;
	uint64_t unknown_frees, unrecorded_allocs;
	uint64_t rec_ns;     /* its threads' recording time, summed */
	an_peak peak;
	unsigned nthreads;
} an_process;

/* A module whose frames could not be named. */
typedef struct an_unsymbolized {
	const char *module;
	const char *status; /* what the symbolizer found (symbolize.h) */
	uint64_t frames;    /* distinct addresses without a name */
	uint64_t allocs;    /* allocations whose site is such a frame */
} an_unsymbolized;

/* Totals over every profile, per timeline bin: what the run allocated
 * and freed in [start + i * bin_ns, start + (i + 1) * bin_ns). */
typedef struct an_timeline {
	uint64_t bin_ns;
	size_t nbins;
	uint64_t *allocs, *alloc_bytes, *frees, *free_bytes;
	/* the recording's own time in the bin: the most any one thread
	 * spent recording in it, at most 99% of the bin */
	uint64_t *rec_ns;
	size_t peak_bin;     /* the bin after which in-use bytes were highest */
} an_timeline;

typedef struct an_opts {
	const char *const *wrappers; /* --wrapper regular expressions */
	int nwrappers;
	int no_auto_wrappers;        /* --no-auto-wrappers */
	/* filters: what the views see; 0 or NULL when not given */
	uint32_t pid;                /* --pid: one process's profile */
	const char *thread;          /* --thread: a name, or a tid */
	uint64_t from_ns, to_ns;     /* --from, --to: in the run (to 0: end) */
	const char *focus, *ignore;  /* --focus, --ignore: stacks with (or
				      * without) a frame matching */
	int processes_only;          /* threads, processes and totals only:
				      * no symbols, stacks or sites (info) */
	int no_symbols;              /* open no file to name addresses
				      * (the fuzzer: paths are untrusted) */
	const char *const *decided_wrappers; /* NULL-terminated "module\t
				      * function" keys the structural rule
				      * found over every recorded stack
				      * (analysis_load does it, once, for
				      * a filtered view); the rule is then
				      * not run again on what is left */
	int wrappers_only;           /* stop once the sites are chosen */
	int stream;                  /* several files: read one at a time
				      * (twice), so memory holds the model
				      * and one file; stacks with the same
				      * frames in several files are one
				      * (an_stack), and the files in set
				      * keep no stacks, entries or modules
				      * (pf_release_bulk) */
} an_opts;

typedef struct analysis {
	pf_set *set;
	sym_ctx *sym;
	struct an_wrappers *wrappers;
	an_stack *stacks;
	size_t nstacks;
	an_site *sites;
	size_t nsites;
	size_t *ranked; /* site indexes in rank order, after rank_sites() */
	struct an_site_index *site_index;
	an_thread *threads;
	size_t nthreads;
	an_process *processes; /* one per file, in file order */
	an_unsymbolized *unsymbolized;
	size_t nunsymbolized;
	uint64_t unsymbolized_frames, frames; /* distinct addresses */
	an_timeline timeline;
	/* totals over every file */
	uint64_t allocs, alloc_bytes, frees, free_bytes, xfrees;
	uint64_t inuse_objects, inuse_space;
	an_peak peak;           /* the whole run's blocks live at once */
	uint64_t start_real_ns; /* the earliest profile's start (realtime) */
	uint64_t duration_ns;   /* the run: earliest start to latest end */
	/* of which the recording's own work, estimated: the sum of the
	 * timeline's rec_ns. The rates are per second of the rest, the
	 * program's own time (docs/usage.md, "Rates") */
	uint64_t rec_ns;
	uint64_t work_units;
	/* allocations whose stack ends at its file's depth cap with nothing
	 * of the program's above the site (the site its outermost frame, or
	 * every frame a wrapper's or the runtime's): that site may be a
	 * wrapper, or the runtime's code, whose callers went unrecorded;
	 * the smallest such cap */
	uint64_t cut_allocs;
	uint32_t cut_depth;
	/* processes of the run that lived under AN_SHORT_PROCESS_NS: the
	 * preload's start and exit in each are in no profile */
	size_t short_procs;
	int partial;            /* some file was cut short */
	int filtered;           /* a filter of an_opts was applied */
	uint64_t window_ns;     /* --from/--to: the snapshot intervals read */
	char filter_text[256];  /* what the filters were, for the header */
	uint32_t sample_every;  /* largest sampling rate among the files */
	int pymalloc;           /* a process ran CPython, whose small objects
				 * bypass malloc (pymalloc), without
				 * PYTHONMALLOC=malloc */
	int zend_mm;            /* a process ran PHP, whose objects come from
				 * its own allocator (Zend MM) */
	int tcl_alloc;          /* a process ran Tcl, whose objects come from
				 * its own per-thread caches */
	int ruby_heap;          /* a process ran Ruby, whose objects live in
				 * its own heap pages */
	int gslice;             /* a process loaded glib older than 2.76,
				 * whose GSlice serves g_slice_alloc from its
				 * own magazines (unless G_SLICE=always-malloc) */
	/* owned memory */
	struct an_frame_chunk *frame_chunks; /* every stack's frames and
					      * their pointers */
	int owns_stacks;        /* stacks' pf_stack are the model's */
} analysis;

/* Loads the profile files, symbolizes every stack, finds the sites and
 * computes every metric above (only the threads', processes' and totals
 * with o->processes_only). Returns 0, or 2 after printing on stderr
 * what was wrong with which input (or with a --wrapper expression). The
 * caller frees with analysis_free() in either case. */
int analysis_load(analysis *a, char **files, int nfiles, const an_opts *o);
/* What the structural wrapper rule finds over every recorded stack of
 * the files (o's filters left out): the NULL-terminated keys to give a
 * load as o->decided_wrappers, so that loads of parts of them (a
 * filtered view), or of the two sides of a diff, take one verdict per
 * function. NULL, with *rc 2, after printing what was wrong; free with
 * analysis_wrappers_free(). */
char **analysis_decide_wrappers(char **files, int nfiles, const an_opts *o,
				int *rc);
void analysis_wrappers_free(char **decided);
/* The same for profiles already read; a owns set from then on. */
int analysis_load_set(analysis *a, pf_set *set, const an_opts *o);
/* analysis_load with o->stream: each file is read, filtered and its
 * stacks added, then freed; then read again and folded into the model,
 * keeping only what set promises (an_opts.stream). Peak memory is the
 * model and the largest file. */
int analysis_load_stream(analysis *a, char **files, int nfiles,
			 const an_opts *o);
void analysis_free(analysis *a);

/* "function (file:line)" or, without line information (a stripped
 * function's "module+0xSTART", or a name from the symbol table alone),
 * "function at 0xOFFSET", the call's address, into buf. */
const char *frame_label(char *buf, size_t len, const an_frame *f);
/* The value of a stack for a pprof sample index: alloc_objects,
 * alloc_space, inuse_objects or inuse_space. */
uint64_t stack_value(const an_stack *st, const char *index);

#endif
