/* profile.h - one profile file as the analyzer holds it in memory, after
 * reader.c has validated it. Counters are the latest cumulative values per
 * (thread, stack) entry; the snapshot series keeps what the timeline views
 * need (per-thread counts per interval). Several files (a process tree, a
 * server's workers) are kept side by side in a pf_set and merged by views.
 */
#ifndef POOLSCOUT_PROFILE_H
#define POOLSCOUT_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "psformat.h"

typedef struct pf_module {
	uint32_t id, load_epoch, unload_epoch; /* unload 0: never unloaded */
	uint64_t base;
	char *path;
	uint8_t build_id[64];
	uint32_t build_id_len;
	uint32_t nseg;
	struct pf_segment {
		uint64_t vaddr, memsz, offset;
		uint32_t flags;
	} seg[8];
	uint64_t lo, hi; /* mapped address range */
} pf_module;

typedef struct pf_stack {
	uint32_t id, map_epoch, depth;
	uint64_t *ips; /* return addresses, leaf first; they follow the
			* struct in its allocation: free(stack) frees both */
	uint64_t peak_live; /* --site-peak: all-thread peak of objects live */
	/* ips[cand_start, cand_start + cand_count) are the site candidates
	 * the preload counted live blocks for (version 2; 0 0 before) */
	uint32_t cand_start, cand_count;
} pf_stack;

/* The peak of a site-candidate node: the most blocks live at once among
 * those allocated (by one thread, or by all with --site-peak) from every
 * stack that has ip among its candidates; ip 0 stands for every stack. */
typedef struct pf_node_peak {
	uint32_t thread_index; /* 0: all threads (--site-peak) */
	uint64_t ip;
	uint64_t peak, peak_bytes;
} pf_node_peak;

/* What one entry changed in one snapshot interval. */
typedef struct pf_step {
	uint32_t snapshot; /* index into pf_file.snaps */
	uint64_t allocs, alloc_bytes, frees, free_bytes;
} pf_step;

/* Allocations in one snapshot interval of one thread, and the frees in it
 * of blocks the thread allocated (free_bytes: their size). */
typedef struct pf_tick {
	uint32_t snapshot; /* index into pf_file.snaps */
	uint64_t allocs, bytes, frees, free_bytes;
	uint64_t rec_ns; /* (v8) the recording's own time on the thread */
	uint64_t busy_ns; /* (v8) the time it ran or was ready to run (0:
			   * not read) */
	uint64_t cpu_ns;  /* (v9) of that, the time it ran (0: not read) */
} pf_tick;

typedef struct pf_thread {
	uint32_t index;
	uint32_t tid;
	char name[17];
	uint64_t start_ns, end_ns; /* since process start; end 0: running */
	int ended;
	uint64_t unknown_frees, unrecorded_allocs;
	/* (v8) the time the recording itself took on this thread so far,
	 * estimated by the preload (docs/format.md) */
	uint64_t rec_ns;
	uint64_t busy_ns; /* (v8) the time it ran or was ready to run, as
			   * last read */
	uint64_t cpu_ns;  /* (v9) of that, the time it ran */
	/* cumulative totals of this thread's entries */
	uint64_t allocs, alloc_bytes, frees, free_bytes, xfrees;
	pf_tick *ticks;
	size_t nticks, capticks;
} pf_thread;

typedef struct pf_entry {
	uint32_t thread_index, stack_id;
	uint64_t allocs, alloc_bytes, frees, free_bytes, xfrees, xfree_bytes;
	uint64_t size_min, size_max, peak_live;
	uint64_t peak_bytes; /* version 2 */
	/* The size and lifetime (in ticks; see pf_file.tick_hz) histograms,
	 * sparse: bit b of a mask says bucket b is not 0. */
	uint64_t size_buckets, life_buckets;
	/* ticks since the process start, plus one; 0: never (version 1
	 * files have none of them) */
	uint64_t first_alloc_ticks, last_alloc_ticks, last_free_ticks;
	/* What most entries have little or none of, in f->extras from
	 * extra_at (room for extra_cap values): the counts of the
	 * histograms' buckets, the size's then the lifetime's, in bucket
	 * order (most entries use one to three of the PS_HIST_BUCKETS), then
	 * with has_reallocs the realloc counts, then with has_inner the
	 * frees inside site candidates. pf_entry_hists(),
	 * pf_entry_reallocs() and pf_entry_inner_frees() read them. */
	uint64_t extra_at;
	/* the entry's history, one step per snapshot that listed it */
	pf_step *steps;
	uint32_t nsteps, capsteps;
	uint32_t extra_cap;
	uint16_t has_reallocs; /* some realloc count is not 0 */
	uint16_t has_inner;    /* some inner free count is not 0 (v6) */
} pf_entry;

typedef struct pf_snap {
	uint64_t seq, t_ns, tick_hz, work_units;
} pf_snap;

typedef struct pf_file {
	char *path;
	/* PROCESS */
	uint32_t pid, ppid, flags;
	uint64_t start_real_ns, start_mono_ns;
	uint32_t interval_ms, depth, sample_every;
	char *exe, *comm;
	char **argv;
	uint32_t argc;
	/* tables */
	pf_module *modules;     /* in the order read; id 0: a failed record */
	size_t nmodules, capmodules;
	struct pf_module_index *module_index; /* id -> modules[i] */
	pf_stack **stacks; /* indexed by id (0 unused) */
	size_t nstacks;
	uint32_t last_stack_id, last_thread_index; /* the largest declared */
	pf_thread **threads; /* indexed by thread index (0 unused) */
	size_t nthreads;
	pf_entry *entries;
	size_t nentries, capentries;
	/* (thread, stack) -> 1 + i of entries[i], 0 for none: open
	 * addressing, entry_slot_cap a power of two */
	uint32_t *entry_slots;
	size_t entry_slot_cap;
	uint64_t *extras; /* what entries keep apart (pf_entry.extra_at) */
	size_t nextras, capextras;
	pf_snap *snaps;
	size_t nsnaps, capsnaps;
	/* latest node peaks, one per (thread, ip) */
	pf_node_peak *node_peaks;
	size_t nnode_peaks, capnode_peaks;
	struct pf_node_index *node_index;
	uint32_t version;
	/* end state */
	int complete;      /* the last record is an END */
	uint32_t end_reason;
	uint32_t end_signal; /* PS_END_SIGNAL: the signal's number */
	uint64_t end_t_ns;
	uint64_t duration_ns; /* time of the last snapshot or END */
	uint64_t tick_hz;     /* from the last snapshot */
	uint64_t work_units;
	uint64_t file_size;
	uint64_t good_size;   /* bytes up to the last record read */
	char partial_why[256]; /* why the file stops early, when it does */
} pf_file;

typedef struct pf_set {
	pf_file **files;
	size_t nfiles;
} pf_set;

/* Reads and validates the profile at path. Returns the file, or NULL with
 * a one-line message "PATH: offset N: expected ..." in err. A file cut
 * short (crash, SIGKILL) is returned with complete = 0 and partial_why set;
 * corruption anywhere else is an error. The caller frees with pf_free(). */
pf_file *pf_read(const char *path, char *err, size_t errlen);
/* Says on stderr, once per file read, that f was cut short and why (the
 * caller checked !f->complete). */
void pf_warn_partial(const pf_file *f);
/* Same, reading at most the first limit bytes of the file (a file still
 * being written reads as it was when an earlier read stopped). */
pf_file *pf_read_upto(const char *path, size_t limit, char *err,
		      size_t errlen);
/* Same, from memory (used by the fuzzer); name is used in messages. */
pf_file *pf_read_mem(const char *name, const uint8_t *data, size_t size,
		     char *err, size_t errlen);
void pf_free(pf_file *f);

/* The TOTALS record a version 4 profile that stopped cleanly ends with,
 * read from the end of the file at path without reading the rest (two
 * small reads): what record's summary needs, at the same cost for any
 * profile. Returns 0 and fills t, -ENODATA when the file does not end
 * with a TOTALS record of its own (an older version, a process killed or
 * still running, a torn or foreign tail: then only pf_read() can say),
 * or -errno when it cannot be read. Only the record itself is checked:
 * pf_read() also checks it against the entries, and rejects a file whose
 * TOTALS record disagrees with them. */
int pf_read_totals(const char *path, struct ps_totals *t);
/* Same, for the size bytes at data (the fuzzer, the tests). */
int pf_read_totals_mem(const uint8_t *data, size_t size, struct ps_totals *t);

/* Keeps the entries of f that keep() accepts (it may also change them:
 * counts trimmed to a time window) and frees the others' histories; the
 * entry index and the threads' totals follow. */
void pf_filter_entries(pf_file *f, int (*keep)(pf_entry *e, void *arg),
		       void *arg);
/* Frees the bulk of f once it has been folded into a model: its stacks,
 * entries (with their histories), node peaks and modules. What stays,
 * trimmed to fit: the process, the threads with their ticks, the
 * snapshots. */
void pf_release_bulk(pf_file *f);
/* Forgets stack id / thread index of f (no entry may refer to it). */
void pf_drop_stack(pf_file *f, uint32_t id);
void pf_drop_thread(pf_file *f, uint32_t index);

/* Reads every path into set; on the first error prints it and returns -1. */
int pf_set_load(pf_set *set, char **paths, int npaths);
void pf_set_free(pf_set *set);

/* The names (not paths) of the *.pscout files in dir, sorted, as a
 * NULL-terminated array; an empty array when dir cannot be read. Free with
 * pf_names_free(). */
char **pf_list_dir(const char *dir);
void pf_names_free(char **names);

/* Derived numbers. */
const char *pf_end_reason_name(uint32_t reason);
/* Converts ticks to nanoseconds with the file's measured tick rate. */
double pf_ticks_to_ns(const pf_file *f, double ticks);
/* The module containing ip for a stack captured at map epoch. */
const pf_module *pf_module_for(const pf_file *f, uint64_t ip, uint32_t epoch);
/* The node peak of (thread_index, ip), thread_index 0 for all threads;
 * NULL when the file has none. */
const pf_node_peak *pf_node_peak_find(const pf_file *f, uint32_t thread_index,
				      uint64_t ip);
/* Entry e's size and lifetime histograms, PS_HIST_BUCKETS counts each
 * (either may be NULL). */
void pf_entry_hists(const pf_file *f, const pf_entry *e, uint64_t *size_hist,
		    uint64_t *life_hist);
/* What an entry's reallocs did: growths in place or moved, chains of
 * reallocs of one block ended (freed), their steps, their final size;
 * and the entry's blocks that left it resized by realloc (version 5),
 * the grown ones, the largest size they grew to. */
typedef struct pf_reallocs {
	uint64_t grows, chains_ended, chain_steps_sum, chain_steps_max,
		chain_final_size_max;
	uint64_t resized, resized_grown, resized_size_max;
} pf_reallocs;
#define PF_REALLOC_VALUES 8 /* the fields of pf_reallocs */

/* Entry e's realloc counts (all 0 when it has none). */
void pf_entry_reallocs(const pf_file *f, const pf_entry *e, pf_reallocs *r);
/* Entry e's frees of its thread's latest block that the preload checked,
 * by which site candidate (0 .. PS_SITE_CANDIDATES-1, counted from the
 * stack's cand_start) was the innermost one still running, then those
 * with none running (version 6; all 0 without): a candidate running at
 * a free had the block die inside it, and so did every candidate
 * further out. */
#define PF_INNER_VALUES PS_ENT_INNER_FREES
void pf_entry_inner_frees(const pf_file *f, const pf_entry *e,
			  uint64_t inner[PF_INNER_VALUES]);
/* The entry for (thread, stack), or NULL. */
pf_entry *pf_entry_find(const pf_file *f, uint32_t thread_index,
			uint32_t stack_id);
/* A 64-bit mix (MurmurHash3's finalizer) for the analyzer's hash tables. */
static inline uint64_t pf_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Scale factor for sampled profiles (1 when exact). */
static inline uint64_t pf_scale(const pf_file *f)
{
	return f->sample_every ? f->sample_every : 1;
}

#endif
