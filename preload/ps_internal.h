/* ps_internal.h - what the preload's modules share, grouped by the file that
 * defines it, so this header reads as an index of libpoolscout.so.
 *
 * The preload never allocates through the allocator it hooks: its memory
 * comes from mmap-backed arenas (arena.c), its hash tables are uthash tables
 * given that arena, its output buffers are mmap'd. Every hook sets a
 * thread-local recursion guard so allocations made by libc or libunwind on
 * our behalf pass straight to the real allocator.
 *
 * Data model: a ps_stack is an interned call stack (process-wide); a
 * ps_thread is one thread's table; a ps_entry holds the counters of one
 * (stack, thread) pair. Entries and stacks are appended to lock-free lists
 * that the writer thread walks to emit snapshots.
 */
#ifndef POOLSCOUT_PS_INTERNAL_H
#define POOLSCOUT_PS_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "psformat.h"
#include "ps_uthash.h"

#define PS_EXPORT __attribute__((visibility("default")))
#define PS_LIKELY(x) __builtin_expect(!!(x), 1)
#define PS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PS_TLS __attribute__((tls_model("initial-exec")))
#define PS_STRINGIFY_(x) #x
#define PS_STRINGIFY(x) PS_STRINGIFY_(x)

/* Relaxed atomics: owner-only counters are written with relaxed stores (no
 * lock prefix) and read by the writer thread with relaxed loads; counters
 * that any thread may change use read-modify-write. */
#define PS_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define PS_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define PS_OWN_ADD(p, v) PS_STORE((p), PS_LOAD(p) + (v))
#define PS_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* Raises *p to v if v is larger (any thread). */
static inline void ps_atomic_max(uint64_t *p, uint64_t v)
{
	uint64_t cur = PS_LOAD(p);
	while (v > cur && !__atomic_compare_exchange_n(p, &cur, v, 1,
						       __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
}

/* A test-and-test-and-set lock that yields after a short spin. Zero is
 * unlocked, so a fork child resets it by storing zero; it never allocates. */
typedef struct {
	int locked;
} ps_lock_t;

static inline void ps_lock_acquire(ps_lock_t *l)
{
	unsigned spins = 0;
	for (;;) {
		if (!__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
			return;
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) {
			if (++spins < 128)
				__builtin_ia32_pause();
			else
				sched_yield();
		}
	}
}

static inline void ps_lock_release(ps_lock_t *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

/* ---- options.c --------------------------------------------------------- */
struct ps_options {
	char out_dir[4096];
	unsigned interval_ms;
	unsigned depth;
	unsigned sample_every; /* 1 = every allocation */
	int children;
	unsigned file_mode;
	int site_peak; /* exact all-thread peak per stack (a shared counter) */
	int unwinder;  /* enum ps_unwinder: how stacks are captured */
	int keep_deepbind; /* leave RTLD_DEEPBIND on dlopen (see hooks.c) */
};
/* POOLSCOUT_UNWIND: fast (unwind.c, libunwind where it cannot prove a
 * frame), libunwind (unw_backtrace only), check (both on every capture,
 * mismatches counted and reported at exit; records libunwind's). */
enum ps_unwinder { PS_UNWINDER_FAST, PS_UNWINDER_LIBUNWIND, PS_UNWINDER_CHECK };
extern struct ps_options ps_opt;
/* Reads every POOLSCOUT_* variable from envp into ps_opt; warns once per bad
 * value on stderr and keeps the default. Allocation-free. */
void ps_options_load(char **envp);
/* The process environment, allocation-free and usable before libc has
 * set environ (then read once from /proc/self/environ). */
char **ps_environ(void);
/* Looks a variable up in envp without allocating; NULL when absent. */
const char *ps_env_get(char **envp, const char *name);
/* Writes "poolscout: <message>\n" to stderr without allocating. */
void ps_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- arena.c ------------------------------------------------------------ */
/* Returns zeroed memory from the internal mmap arena, or NULL when the
 * system is out of memory. Thread-safe; never calls malloc. */
void *ps_arena_alloc(size_t size);
/* Gives back memory from ps_arena_alloc of the same size; it is reused for
 * requests of the same size class. */
void ps_arena_free(void *p, size_t size);
/* In a fork child: forget everything (the parent's chunks are unmapped). */
void ps_arena_reset_child(void);
void ps_arena_lock(void);
void ps_arena_unlock(void);

/* ---- clock.c ------------------------------------------------------------ */
/* A cheap monotonic tick counter (the TSC on x86-64, else nanoseconds). */
uint64_t ps_ticks(void);
uint64_t ps_mono_ns(void);
uint64_t ps_real_ns(void);

typedef struct ps_thread ps_thread;

/* ---- stacks.c ------------------------------------------------------------ */
#define PS_MAX_DEPTH 256
typedef struct ps_stack {
	UT_hash_handle hh;
	struct ps_stack *next_all; /* append-only list, newest first */
	uint32_t id;               /* 1-based, in order of interning */
	uint32_t depth;
	uint32_t map_epoch;        /* module-map epoch the IPs belong to */
	uint16_t cand_start;       /* first frame outside the runtime */
	uint16_t cand_count;       /* site candidates from there (nodes.c) */
	uint64_t hash;
	uint64_t peak_written;     /* writer-only: peak in the last snapshot */
	/* Written by every thread that allocates or frees from this stack:
	 * on a cache line of its own, so the IPs that per-thread lookups
	 * compare against are not invalidated by these writes. */
	uint64_t live __attribute__((aligned(64))); /* live now, all threads */
	uint64_t peak_live;        /* the most ever live at once */
	uintptr_t ips[] __attribute__((aligned(64))); /* leaf first */
} ps_stack;

/* Captures the caller's stack, dropping poolscout's own frames. Returns the
 * number of return addresses written to ips (at most ps_opt.depth; ips
 * must hold PS_MAX_DEPTH + 16). t is the caller's table. */
int ps_stack_capture(ps_thread *t, uintptr_t *ips);
/* Before fork: waits until no thread is inside libunwind, and keeps them
 * out until ps_stacks_fork_done(). */
void ps_stacks_fork_quiesce(void);
void ps_stacks_fork_done(void);
/* Hash of an IP array. */
uint64_t ps_stack_hash(const uintptr_t *ips, int depth);
/* Interns ips into the process-wide table; returns the record (kept until
 * a fork child resets) or NULL when out of memory. Thread-safe. */
ps_stack *ps_stack_intern(const uintptr_t *ips, int depth, uint64_t hash);
/* Newest interned stack (walk next_all for the rest); acquire ordering. */
ps_stack *ps_stacks_newest(void);
/* Records where our own code lives so capture can skip it. */
void ps_stacks_init(void);
void ps_stacks_reset_child(void);
void ps_stacks_lock(void);
void ps_stacks_unlock(void);

/* ---- modules.c ---------------------------------------------------------- */
typedef struct ps_module {
	struct ps_module *next_all;
	uint32_t id;             /* 1-based */
	uint32_t load_epoch;
	uint32_t unload_epoch;   /* 0 while loaded */
	int written;             /* writer-only: MODULE record written */
	int unload_written;      /* writer-only */
	int present;             /* scratch mark while re-reading the map */
	uintptr_t base;          /* load bias (dlpi_addr) */
	uintptr_t lo, hi;        /* lowest and highest mapped address */
	int runtime;             /* psruntime.h: never holds a site */
	uint32_t nseg;
	struct {
		uintptr_t vaddr, memsz, offset;
		uint32_t flags;
	} seg[8];                /* PT_LOAD segments (first 8) */
	uint8_t build_id[64];
	uint32_t build_id_len;
	char path[1024];
} ps_module;

/* Re-reads the module map if dlopen/dlclose changed it since the last look;
 * returns the current map epoch. Thread-safe (module lock). */
uint32_t ps_modules_refresh(void);
ps_module *ps_modules_newest(void);
/* Whether ip lies in a loaded runtime module (psruntime.h). Lock-free;
 * called when a stack is interned. */
int ps_modules_ip_is_runtime(uintptr_t ip);
void ps_modules_reset_child(void);
void ps_modules_lock(void);
void ps_modules_unlock(void);

/* ---- nodes.c ------------------------------------------------------------ */

/* How many frames of a stack, from the first one outside the runtime, may
 * be its allocation site (the analyzer decides which, offline). */
#define PS_SITE_CANDIDATES 4

/* All threads' live blocks through one site candidate (--site-peak). */
typedef struct ps_gnode {
	UT_hash_handle hh;
	uintptr_t ip;              /* 0: the whole process */
	struct ps_gnode *next_all;
	uint64_t peak_written, peak_bytes_written; /* writer-only */
	uint64_t live __attribute__((aligned(64))); /* any thread, atomic */
	uint64_t live_bytes, peak, peak_bytes;      /* same */
} ps_gnode;

/* One thread's live blocks through one site candidate: the blocks it
 * allocated from every stack that has ip among its candidates, or (ip 0)
 * from every stack. Its peak is exact for that thread: only the owner's
 * allocations raise the count, and each one compares. */
typedef struct ps_node {
	UT_hash_handle hh;          /* the owner's node table, keyed by ip */
	struct ps_node *next_all;   /* the owner's append-only list */
	uintptr_t ip;
	uint64_t live, live_bytes;  /* owner: + per allocation, - per own free */
	uint64_t xfrees, xfree_bytes; /* frees by other threads: atomic */
	uint64_t peak, peak_bytes;  /* owner: most live at once */
	uint64_t peak_written, peak_bytes_written; /* writer-only */
	ps_gnode *global;           /* with --site-peak, else NULL */
} ps_node;

/* The node of thread t for ip (0: t's total), created on first use, or
 * NULL when out of memory. Called by t itself with the guard held. */
ps_node *ps_node_get(ps_thread *t, uintptr_t ip);
/* The process-wide counterpart of ip (--site-peak), or NULL. */
ps_gnode *ps_gnode_get(uintptr_t ip);
ps_gnode *ps_gnodes_newest(void);
/* Counts an allocation of size bytes through n (owner). */
static inline void ps_node_alloc(ps_node *n, uint64_t size)
{
	uint64_t live = PS_LOAD(&n->live) + 1;
	uint64_t bytes = PS_LOAD(&n->live_bytes) + size;
	PS_STORE(&n->live, live);
	PS_STORE(&n->live_bytes, bytes);
	live -= __atomic_load_n(&n->xfrees, __ATOMIC_ACQUIRE);
	bytes -= __atomic_load_n(&n->xfree_bytes, __ATOMIC_ACQUIRE);
	if (live > PS_LOAD(&n->peak))
		PS_STORE(&n->peak, live);
	if (bytes > PS_LOAD(&n->peak_bytes))
		PS_STORE(&n->peak_bytes, bytes);
	if (n->global) {
		ps_atomic_max(&n->global->peak,
			      PS_ADD(&n->global->live, 1) + 1);
		ps_atomic_max(&n->global->peak_bytes,
			      PS_ADD(&n->global->live_bytes, size) + size);
	}
}
/* Counts the free of a block of size bytes allocated through n; own: by
 * its owner. */
static inline void ps_node_free(ps_node *n, uint64_t size, int own)
{
	if (own) {
		PS_STORE(&n->live, PS_LOAD(&n->live) - 1);
		PS_STORE(&n->live_bytes, PS_LOAD(&n->live_bytes) - size);
	} else {
		__atomic_fetch_add(&n->xfree_bytes, size, __ATOMIC_RELAXED);
		__atomic_fetch_add(&n->xfrees, 1, __ATOMIC_RELEASE);
	}
	if (n->global) {
		__atomic_fetch_sub(&n->global->live, 1, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&n->global->live_bytes, size,
				   __ATOMIC_RELAXED);
	}
}
void ps_nodes_reset_child(void);
void ps_nodes_lock(void);
void ps_nodes_unlock(void);

/* ---- threads.c ------------------------------------------------------------ */

/* Counters of one (stack, thread) pair. "own" fields are changed only by the
 * allocating thread; the others by whichever thread frees. */
typedef struct ps_entry {
	UT_hash_handle hh;          /* owner's table, keyed by the stack IPs */
	struct ps_entry *next_all;  /* the thread's append-only entry list */
	ps_stack *stack;
	ps_thread *thread;
	uint32_t touched;           /* set on change; the writer clears it */
	uint32_t live_id;           /* livetab.c's id for it, 0 before use */
	/* own */
	uint64_t allocs, alloc_bytes;
	uint64_t size_min, size_max;
	uint64_t peak_live;         /* most objects live at once, this thread */
	uint64_t peak_bytes;        /* most bytes live at once, this thread */
	uint64_t realloc_grows;     /* allocations that grew a block by realloc */
	uint64_t size_hist[PS_HIST_BUCKETS];
	/* frees of this entry's blocks by the allocating thread: own */
	uint64_t own_frees, own_free_bytes;
	uint64_t own_life_hist[PS_HIST_BUCKETS]; /* ticks, malloc to free */
	/* frees by any other thread: atomic read-modify-write */
	uint64_t xfrees, xfree_bytes;
	uint64_t x_life_hist[PS_HIST_BUCKETS];
	uint64_t chains_ended, chain_steps_sum, chain_steps_max,
		chain_final_size_max;
	/* times (ps_ticks) of the first and the latest allocation (own),
	 * and of the latest free by any thread (a plain store: racing
	 * frees may leave the other one's time, nanoseconds apart) */
	uint64_t first_alloc_ticks, last_alloc_ticks, last_free_ticks;
	/* the site candidates and the thread's total, all counting this
	 * entry's blocks (nodes.c) */
	uint32_t nnodes;
	ps_node *nodes[PS_SITE_CANDIDATES + 1];
} ps_entry;

struct ps_thread {
	struct ps_thread *next_all; /* process-wide list, newest first */
	uint32_t index;             /* 1-based, in order of first allocation */
	pid_t tid;
	pthread_t pthread;
	ps_entry *table;            /* owner-only uthash head */
	ps_entry *entries;          /* append-only list for the writer */
	ps_node *node_table;        /* owner-only uthash head (nodes.c) */
	ps_node *nodes;             /* append-only list for the writer */
	uint64_t start_ns, end_ns;  /* CLOCK_MONOTONIC; end 0 while alive */
	char name[16];
	uint32_t info_dirty;        /* identity changed: rewrite THREAD */
	uint64_t unknown_frees;     /* frees of blocks we never saw allocated */
	uint64_t unrecorded_allocs; /* allocations made inside a hook */
	uint64_t totals_written[2];  /* writer-only: last values written */
	int in_unwind;               /* inside libunwind (see stacks.c) */
};

/* The calling thread's table (created on first use), or NULL when out of
 * memory. Called with the recursion guard held. */
ps_thread *ps_thread_self(void);
/* Finds or creates the entry for stack ips in the caller's table t. */
ps_entry *ps_thread_entry(ps_thread *t, const uintptr_t *ips, int depth);
ps_thread *ps_threads_newest(void);
/* Sets the name of thread pt (pthread_setname_np). */
void ps_threads_set_name(pthread_t pt, const char *name);
/* Reads thread tid's comm from /proc into t->name; allocation-free. The
 * caller marks t's identity for rewriting (info_dirty) if it needs to. */
void ps_thread_read_name(ps_thread *t, pid_t tid);
/* Copies t's name (16 bytes, NUL-terminated) to out; any thread. */
void ps_thread_copy_name(ps_thread *t, char *out);
void ps_threads_init(void);
void ps_threads_lock(void);
void ps_threads_unlock(void);
void ps_threads_reset_child(void);

/* ---- account.c (what an allocation or a free changes) ------------------ */
struct ps_live;
/* Charges the allocation of p (size bytes) to the caller's stack and
 * thread and records p as live. chain_steps: how many times this object
 * was grown by realloc so far; grew: this allocation is such a step. */
void ps_account_alloc(void *p, size_t size, uint64_t chain_steps, int grew);
/* Charges the free of p to the entry that allocated it (or counts an
 * unknown free). Must run before the real free. */
void ps_account_free(void *p);
/* Counts the free of a block that was never recorded (allocated before
 * profiling started, in a parent before fork, or inside a hook). */
void ps_account_unknown_free(void);
/* Charges the end of the block described by r. chain_continues: the block
 * lives on as a realloc result, so its growth chain has not ended. */
void ps_account_release(const struct ps_live *r, int chain_continues);

/* ---- sample.c (--sample N) --------------------------------------------- */
/* Sets up the recorded-block filter when sampling is on. */
void ps_sample_init(void);
/* Allocations to skip before the next recorded one (geometric, mean
 * N - 1), from the calling thread's own random stream. */
uint32_t ps_sample_skip(void);
/* The filter of recorded blocks: mark on insert, unmark on removal;
 * maybe() is 0 only for a block that was certainly not recorded.
 * Lock-free, signal-safe. */
void ps_sample_mark(uintptr_t p);
void ps_sample_unmark(uintptr_t p);
#define PS_SAMPLE_FILTER_BITS 20
extern uint8_t *ps_sample_filter;
static inline size_t ps_sample_slot(uintptr_t p)
{
	return (size_t)((uint64_t)(p >> 3) * 0x9e3779b97f4a7c15ull >>
			(64 - PS_SAMPLE_FILTER_BITS));
}
static inline int ps_sample_maybe(uintptr_t p)
{
	return !ps_sample_filter ||
	       __atomic_load_n(&ps_sample_filter[ps_sample_slot(p)],
			       __ATOMIC_ACQUIRE) != 0;
}
void ps_sample_reset_child(void);

/* ---- livetab.c --------------------------------------------------------- */
/* A live block, as given to the table and given back, exactly (the table
 * keeps it in 16 bytes: livetab.c). */
struct ps_live {
	uintptr_t ptr;
	ps_entry *entry;
	uint64_t size;
	uint64_t birth_ticks;
	uint64_t chain_steps; /* realloc growth steps in this object's history */
};
/* Records a live block (replacing any record of the same address). Returns
 * 0, or -ENOMEM. Thread-safe (sharded locks); rec->entry must be an entry
 * whose memory stays (its id is given on first use). */
int ps_livetab_insert(const struct ps_live *rec);
/* Removes p, copying its record to out; returns 1 if found, else 0.
 * Thread-safe. */
int ps_livetab_remove(uintptr_t p, struct ps_live *out);
/* From now on the live blocks of entry `from` come back as `to`'s (for
 * folding a finished thread's entries into others). Returns 0, or
 * -ENOENT when `from` never had a block recorded by id (then none is
 * redirected; ids run out after 2^27 entries). Lock-free; a free running
 * at the same moment may still get `from`, so its memory must outlive
 * such frees. */
int ps_livetab_entry_moved(ps_entry *from, ps_entry *to);
struct ps_livetab_stats {
	uint64_t blocks;      /* live now */
	uint64_t leaves;      /* regions with a leaf (some kept empty) */
	uint64_t leaf_bytes;  /* the leaves' capacity */
	uint64_t chunk_bytes; /* mapped for leaves (free and carved included) */
	uint64_t resizes;     /* leaves moved to another class */
	uint64_t nodes;       /* bottom nodes (1 MiB of address space each) */
};
/* Sums the shards' counters (takes each shard's lock in turn). */
void ps_livetab_stats(struct ps_livetab_stats *out);
void ps_livetab_lock_all(void);
void ps_livetab_unlock_all(void);
void ps_livetab_reset_child(void);

/* ---- writer.c ------------------------------------------------------------ */
/* Opens this process's profile and writes the PROCESS record. Returns 0, or
 * -errno after printing one warning. */
int ps_writer_open(void);
/* Marks now as the start of this process's profile (its clock's zero):
 * at initialisation, and in a fork child at the fork. */
void ps_writer_mark_start(void);
/* Starts the background snapshot thread if it is not running, unless the
 * caller is the main thread: a single-threaded process gets no thread. */
void ps_writer_start(void);
/* From the hooks, with the guard held: in a process without a writer
 * thread, writes a snapshot when one is due. */
void ps_writer_poll(void);
/* Writes one snapshot; with end_reason != 0 also the END record. Called
 * with the recursion guard held; serialised by the writer lock. */
void ps_writer_snapshot(int end_reason);
/* Stops for good and deletes the profile written so far (this process
 * turned out not to be profilable). */
void ps_writer_abandon(void);
void ps_writer_lock(void);
void ps_writer_unlock(void);
void ps_writer_reset_child(void);
/* The main thread ended through pthread_exit: exit when the rest do. */
void ps_writer_main_thread_exited(void);

/* ---- hooks.c ------------------------------------------------------------ */
/* ps_tls.guard when nothing must be counted, not even as "unrecorded": in
 * a vfork child (it runs on its parent's thread and memory), and around
 * the allocator calls an operator new hook makes on its caller's behalf. */
#define PS_GUARD_SILENT (1 << 20)
struct ps_tls {
	int guard;            /* inside a hook: nested calls pass through */
	uint32_t generation;  /* process generation the table belongs to */
	ps_thread *thread;    /* this thread's table */
	uint32_t sample_countdown;
	uint64_t rng;          /* sample.c's random stream */
};
extern __thread struct ps_tls ps_tls PS_TLS;
extern uint32_t ps_generation; /* bumped in every fork child */
extern int ps_recording;       /* 1 between init and the end record */
extern pid_t ps_pid;
extern uint64_t ps_work_units; /* poolscout_mark_work() total */
extern int ps_forked;          /* this process is a profiled fork child */

struct ps_real {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*memalign)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	size_t (*malloc_usable_size)(void *);
};
extern struct ps_real ps_real;

#endif
