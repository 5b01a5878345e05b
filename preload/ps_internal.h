/* ps_internal.h - what the preload's modules share, grouped by the file that
 * defines it, so this header reads as an index of libpoolscout.so.
 *
 * The preload never allocates through the allocator it hooks: its memory
 * comes from mmap-backed arenas (arena.c), its hash tables are its own
 * (ptrtable.c, and the stack table's in stacks.c), its output buffers are
 * mmap'd. Every hook sets a thread-local recursion guard so allocations
 * made by libc or libunwind on our behalf pass straight to the real
 * allocator.
 *
 * Data model: a ps_stack is an interned call stack (process-wide, its
 * frames shared with the stacks that have the same outer part); a
 * ps_thread is one thread's record and table; a ps_entry holds the
 * counters of one (stack, thread) pair. The writer thread walks them to
 * emit snapshots.
 *
 * Layering: calls go one way. hooks.c -> account.c (what an allocation
 * changes) -> the tables: stacks.c (capture and the stack table), livetab.c,
 * nodes.c, threads.c (the thread registry and entries), with ptrtable.c and
 * arena.c under all of them. writer.c reads the tables and is driven by
 * the hooks (and started by the accounting when a second thread appears);
 * no table calls the accounting, the hooks or the writer.
 */
#ifndef POOLSCOUT_PS_INTERNAL_H
#define POOLSCOUT_PS_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "psformat.h"
#include "unwind.h"

/* Everything declared below is the preload's own: said so here too, so
 * that a module reads the others' variables directly rather than through
 * the GOT (-fvisibility=hidden covers only the definitions). Not in the
 * ThreadSanitizer build, whose harness calls the modules from outside. */
#ifndef __SANITIZE_THREAD__
#pragma GCC visibility push(hidden)
#endif

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
 * unlocked, so a fork child resets it by storing zero; it never allocates.
 * ps_locks_held counts the locks the calling thread holds that a snapshot
 * may wait for: a signal handler that ends the process on a thread inside
 * one of those critical sections must not write the final snapshot
 * (writer.c), since the section it interrupted never finishes and the
 * writer thread may be waiting for it while holding the writer lock.
 * Locks no snapshot ever waits for (snapshot_free: the stack table's,
 * whose readers only see what is published) are not counted, so a
 * handler that interrupts the interning of a stack still ends the
 * profile properly. */
typedef struct {
	int locked;
	int snapshot_free;
} ps_lock_t;

extern __thread unsigned ps_locks_held PS_TLS;

static inline void ps_lock_acquire(ps_lock_t *l)
{
	/* counted before each try, uncounted while it waits: a handler that
	 * sees the count 0 interrupted no critical section, and one that
	 * interrupts the wait is not counted as inside one */
	unsigned counts = !l->snapshot_free, spins = 0;
	for (;;) {
		ps_locks_held += counts;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (!__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
			return;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		ps_locks_held -= counts;
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) {
			if (++spins < 128)
				__builtin_ia32_pause();
			else
				sched_yield();
		}
	}
}

/* Takes l if it is free, counted as ps_lock_acquire counts it; returns
 * 1 when taken (ps_lock_release gives it back), 0 at once if not. */
static inline int ps_lock_try(ps_lock_t *l)
{
	unsigned counts = !l->snapshot_free;
	ps_locks_held += counts;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&l->locked, __ATOMIC_RELAXED) &&
	    !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		return 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ps_locks_held -= counts;
	return 0;
}

static inline void ps_lock_release(ps_lock_t *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ps_locks_held -= !l->snapshot_free;
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
	int catch_signals; /* a last snapshot on a killing signal (signals.c) */
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
/* The next name of a preload list as the loader splits LD_PRELOAD (at
 * ':' or ' '; an empty name between two separators), from *list, which
 * moves past it: its start, with its length in *len; NULL at the end. */
const char *ps_preload_next(const char **list, size_t *len);
/* Writes "poolscout: <message>\n" to stderr without allocating. */
void ps_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- arena.c ------------------------------------------------------------ */
/* Returns zeroed memory from the internal mmap arena (8-byte aligned), or
 * NULL when the system is out of memory. Thread-safe; never calls malloc. */
void *ps_arena_alloc(size_t size);
/* Gives back memory from ps_arena_alloc of the same size: small blocks are
 * reused for requests of the same size class, large ones unmapped. */
void ps_arena_free(void *p, size_t size);
/* The bytes a request of size really takes (its size class). */
size_t ps_arena_block_size(size_t size);
/* In a fork child: forget everything (the parent's chunks are unmapped). */
void ps_arena_reset_child(void);
void ps_arena_lock(void);
void ps_arena_unlock(void);

/* ---- ptrtable.c ---------------------------------------------------------- */
/* An open-addressing hash table of pointers (linear probing, no removal):
 * the caller keeps the keys inside the objects and compares them itself,
 * the table only holds a pointer and 15 bits of its hash per slot. It
 * grows by half when 80% full. A table that a second thread may walk
 * while its owner grows it is grown with retire = 1: the old slots stay
 * readable until that walk ends (ps_ptrtables_walk_end). */
typedef struct ps_ptrtable {
	uint32_t cap, used;
	struct ps_ptrtable *retired_next;
	uint64_t slot[]; /* tag << 48 | pointer; 0: empty */
} ps_ptrtable;
#define PS_PTRTABLE_PTR(v) ((void *)(uintptr_t)((v) & ((1ull << 48) - 1)))

static inline uint64_t ps_ptrtable_tag(uint64_t hash)
{
	return ((hash >> 16) | 0x8000u) & 0xffffu;
}
static inline uint32_t ps_ptrtable_home(const ps_ptrtable *t, uint64_t hash)
{
	return (uint32_t)(((hash >> 32) * t->cap) >> 32);
}
/* Whether slot value v may hold an object of this hash (compare keys). */
static inline int ps_ptrtable_may_match(uint64_t v, uint64_t hash)
{
	uint64_t tag = v >> 48;
	return !tag || tag == ps_ptrtable_tag(hash);
}
/* Adds p (hash) to *tp, creating or growing the table (hash_of gives the
 * hash of an object already in it). Returns 0, or -ENOMEM (p not added).
 * Only the table's owner adds; see retire above. */
int ps_ptrtable_add(ps_ptrtable **tp, uint64_t hash, void *p,
		    uint64_t (*hash_of)(const void *p), int retire);
/* Frees the slots of a table (never retired ones: see above). */
void ps_ptrtable_free(ps_ptrtable *t);
/* Around the writer's walk of tables that grow with retire = 1 (with the
 * writer lock held); the end frees what was retired meanwhile. */
void ps_ptrtables_walk_begin(void);
void ps_ptrtables_walk_end(void);
/* Frees the tables retired so far (the writer, outside any walk). */
void ps_ptrtables_reclaim(void);
void ps_ptrtables_reset_child(void);

/* ---- clock.c ------------------------------------------------------------ */
/* A cheap monotonic tick counter (the TSC on x86-64, else nanoseconds).
 * Inline on x86-64: the hooks read it once per call, and the counter's
 * latency overlaps the work around it. */
#if defined(__x86_64__)
static inline uint64_t ps_ticks(void)
{
	return __builtin_ia32_rdtsc();
}
#else
uint64_t ps_ticks(void);
#endif
uint64_t ps_mono_ns(void);
uint64_t ps_real_ns(void);
/* The CPU time thread tid of this process has run, in ns (a tid not ours,
 * or gone: 0). */
uint64_t ps_thread_cpu_ns(pid_t tid);

typedef struct ps_thread ps_thread;

/* ---- writer.c: the dirty log (used by the inline counters below) ------- */
/* 1 while the process has no writer thread: snapshots then run on the one
 * thread that counts, and encode only what the hooks logged as changed
 * since the last one (an entry when its mark is set, a node when its peak
 * rises) instead of walking every table. */
extern int ps_dirty_logging;
struct ps_entry;
struct ps_node;
/* Log an entry whose mark the caller just set, or a node (of the calling
 * thread) whose peak it just raised. Hook path, allocation-free. */
void ps_writer_note_entry(struct ps_entry *e);
void ps_writer_note_node(struct ps_node *n);

/* ---- capture.c ----------------------------------------------------------- */
/* Captures the caller's stack, dropping poolscout's own frames. Returns the
 * number of return addresses written to ips (at most ps_opt.depth; ips
 * must hold PS_MAX_DEPTH + 16). t is the caller's record (its in_unwind
 * flag is raised around the unwind). repeated (may be NULL): set to 1
 * when the stack is exactly the one this thread's previous call
 * captured; then ips is not written and 0 returned. */
#define PS_MAX_DEPTH 256
int ps_capture_stack(ps_thread *t, uintptr_t *ips, int *repeated);
/* Before fork: waits until no thread is inside an unwinder, and keeps
 * them out until ps_capture_fork_done(). */
void ps_capture_fork_quiesce(void);
void ps_capture_fork_done(void);
/* Records where our own code lives so capture can skip it. */
void ps_capture_init(void);
void ps_capture_reset_child(void);

/* ---- stacks.c ------------------------------------------------------------ */
#define PS_STACK_ID_MAX ((1u << 28) - 1) /* the stack table's ids */
/* A stack's identity: a hash of its return addresses, all 64 bits of lo
 * and 15 of hi (ps_stack_key). Threads find their entries by it alone
 * (one thread would need some 2^39 distinct stacks before two of them
 * were likely to collide); the stack table checks frame by frame. */
typedef struct ps_stack_hash {
	uint64_t lo, hi;
} ps_stack_hash;

/* One distinct call stack, process-wide. Its return addresses are a path
 * in the frame tree (a trie rooted at the outermost frame, so that stacks
 * sharing their outer part store it once): frame is its innermost frame.
 * Records (16 bytes) sit in id order in chunks that never move, valid
 * until a fork child resets. */
typedef struct ps_stack {
	uint32_t hash_lo[2]; /* lo, as 32-bit words (4-byte aligned) */
	uint16_t hash_hi;    /* the low 16 bits of hi */
	uint8_t cand_start;  /* first frame outside the runtime */
	uint8_t cand_count;  /* site candidates from there (nodes.c) */
	uint32_t frame;      /* innermost frame; 0: the empty stack */
} ps_stack;

/* With --site-peak: all threads' live blocks of one stack. */
typedef struct ps_stack_peak {
	uint64_t live;          /* live now, all threads: atomic */
	uint64_t peak_live;     /* the most ever live at once */
	uint64_t peak_written;  /* writer-only: peak in the last snapshot */
} ps_stack_peak;

/* The identity of an IP array. When (ips, depth) is what the calling
 * thread last told ps_stack_hash_expect() (capture.c: the fast walk had
 * the hash at hand), answers that, once, without hashing. */
ps_stack_hash ps_stack_hash_of(const uintptr_t *ips, int depth);
/* Tells this thread's next ps_stack_hash_of(ips, depth) that the hash is
 * h (exactly what it would compute); ips NULL forgets it. */
void ps_stack_hash_expect(const uintptr_t *ips, int depth, ps_stack_hash h);
/* How the hash is built, so that unwind.c can keep it per frame: each
 * frame's address mixed (a bijection), then two polynomials in these
 * bases, outermost frame first (Horner: p = p * base + mixed), finished
 * by ps_stack_hash_finish() with the frame count. The hash of a stack's
 * inner part is then prefix(inner end) - prefix(outer end) * base^depth. */
#define PS_STACK_HASH_BASE0 0x9e3779b97f4a7c17ull /* both 3 mod 4 */
#define PS_STACK_HASH_BASE1 0xc2b2ae3d27d4eb4full
static inline uint64_t ps_stack_hash_mix(uintptr_t ip)
{
	uint64_t x = (uint64_t)ip * 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 32);
}
ps_stack_hash ps_stack_hash_finish(uint64_t p0, uint64_t p1, int depth);
/* What a thread's table hashes a stack on: lo, with bits 16..31 (the
 * ptrtable's tag) taken from hi, so that a slot's tag adds 15 bits to
 * the 64 the stack record compares. */
static inline uint64_t ps_stack_key(uint64_t lo, uint16_t hi)
{
	return (lo & ~0xffff0000ull) | (uint64_t)hi << 16;
}
static inline uint64_t ps_stack_hash_lo(const ps_stack *s)
{
	return (uint64_t)s->hash_lo[1] << 32 | s->hash_lo[0];
}
static inline uint64_t ps_stack_key_of(const ps_stack *s)
{
	return ps_stack_key(ps_stack_hash_lo(s), s->hash_hi);
}
static inline int ps_stack_is(const ps_stack *s, ps_stack_hash h)
{
	return ps_stack_hash_lo(s) == h.lo && s->hash_hi == (uint16_t)h.hi;
}
/* Interns ips into the process-wide table; returns the stack's id, or 0
 * when out of memory. Thread-safe (one lock; reached only when a thread
 * meets a stack for the first time). */
uint32_t ps_stack_intern(const uintptr_t *ips, int depth, ps_stack_hash hash);
/* The stack with id (1..ps_stacks_count()). Lock-free. */
extern ps_stack *ps_stack_chunks[];
#define PS_STACK_CHUNK_BITS 14
static inline ps_stack *ps_stack_at(uint32_t id)
{
	return &ps_stack_chunks[id >> PS_STACK_CHUNK_BITS]
			       [id & ((1u << PS_STACK_CHUNK_BITS) - 1)];
}
/* The module-map epoch the addresses of stack id belong to. Lock-free
 * for ids up to ps_stacks_count(). */
uint32_t ps_stack_map_epoch(uint32_t id);
/* The --site-peak counters of stack id, or NULL without --site-peak. */
ps_stack_peak *ps_stack_peak_of(uint32_t id);
/* How many stacks and frames exist (acquire: every frame of a counted
 * stack is counted). Frames are numbered 1..ps_frames_count(). */
uint32_t ps_stacks_count(void);
uint32_t ps_frames_count(void);
/* Frame id's parent (0: it is outermost) and return address. Lock-free
 * for ids up to ps_frames_count(). */
void ps_frame_get(uint32_t id, uint32_t *parent, uintptr_t *ip);
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
	const char *path;        /* whole (up to PATH_MAX), arena memory */
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
	uintptr_t ip;              /* 0: the whole process */
	struct ps_gnode *next_all;
	uint64_t peak_written, peak_bytes_written; /* writer-only */
	uint64_t live;             /* any thread, atomic */
	uint64_t live_bytes, peak, peak_bytes;      /* same */
} ps_gnode;

/* One thread's live blocks through one site candidate: the blocks it
 * allocated from every stack that has ip among its candidates, or (ip 0)
 * from every stack. Its peak is exact for that thread: only the owner's
 * allocations raise the count, and each one compares. */
typedef struct ps_node {
	struct ps_node *next_all;   /* the owner's append-only list */
	uintptr_t ip;
	uint64_t live, live_bytes;  /* owner: + per allocation, - per own free */
	uint64_t xfrees, xfree_bytes; /* frees by other threads: atomic */
	uint64_t peak, peak_bytes;  /* owner: most live at once */
	uint64_t peak_written, peak_bytes_written; /* writer-only */
	ps_gnode *global;           /* with --site-peak, else NULL */
	uint32_t logged;            /* in the dirty log (writer.c) */
} ps_node;

/* The nodes one entry's blocks count in: its stack's distinct site
 * candidates, then the thread's total (ip 0). Shared by every entry of
 * the thread with the same candidates. */
typedef struct ps_nodeset {
	struct ps_nodeset *next;    /* the owner's list of its sets */
	uint32_t n;
	uint32_t ncand;
	uintptr_t cand[PS_SITE_CANDIDATES]; /* the key: candidate addresses */
	ps_node *node[PS_SITE_CANDIDATES + 1];
} ps_nodeset;

/* The node set of thread t for the ncand candidate addresses cand (ips of
 * a stack from its cand_start), created on first use; NULL when out of
 * memory. Called by t itself with the guard held. */
ps_nodeset *ps_nodeset_get(ps_thread *t, const uintptr_t *cand, int ncand);
/* The process-wide counterpart of ip (--site-peak), or NULL. */
ps_gnode *ps_gnode_get(uintptr_t ip);
ps_gnode *ps_gnodes_newest(void);
/* Counts an allocation of size bytes through n (owner); with
 * --site-peak, ps_node_alloc_global() counts it process-wide too. */
static inline void ps_node_alloc(ps_node *n, uint64_t size)
{
	uint64_t live = PS_LOAD(&n->live) + 1;
	uint64_t bytes = PS_LOAD(&n->live_bytes) + size;
	PS_STORE(&n->live, live);
	PS_STORE(&n->live_bytes, bytes);
	live -= __atomic_load_n(&n->xfrees, __ATOMIC_ACQUIRE);
	bytes -= __atomic_load_n(&n->xfree_bytes, __ATOMIC_ACQUIRE);
	int raised = 0;
	if (live > PS_LOAD(&n->peak)) {
		PS_STORE(&n->peak, live);
		raised = 1;
	}
	if (bytes > PS_LOAD(&n->peak_bytes)) {
		PS_STORE(&n->peak_bytes, bytes);
		raised = 1;
	}
	if (PS_UNLIKELY(raised && !n->logged) && PS_LOAD(&ps_dirty_logging))
		ps_writer_note_node(n);
}
static inline void ps_node_alloc_global(ps_node *n, uint64_t size)
{
	if (n->global) {
		ps_atomic_max(&n->global->peak,
			      PS_ADD(&n->global->live, 1) + 1);
		ps_atomic_max(&n->global->peak_bytes,
			      PS_ADD(&n->global->live_bytes, size) + size);
	}
}
/* Counts the free of a block of size bytes allocated through n: by its
 * owner, or (xfree) by another thread; with --site-peak,
 * ps_node_free_global() too. */
static inline void ps_node_free(ps_node *n, uint64_t size)
{
	PS_STORE(&n->live, PS_LOAD(&n->live) - 1);
	PS_STORE(&n->live_bytes, PS_LOAD(&n->live_bytes) - size);
}
static inline void ps_node_xfree(ps_node *n, uint64_t size)
{
	__atomic_fetch_add(&n->xfree_bytes, size, __ATOMIC_RELAXED);
	__atomic_fetch_add(&n->xfrees, 1, __ATOMIC_RELEASE);
}
static inline void ps_node_free_global(ps_node *n, uint64_t size)
{
	if (n->global) {
		__atomic_fetch_sub(&n->global->live, 1, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&n->global->live_bytes, size,
				   __ATOMIC_RELAXED);
	}
}
/* Every node and node set of a thread that has ended, taken from it (its
 * node tables are freed, its lists left empty) to be freed once no other
 * thread can still be counting a free in them (threads.c). */
typedef struct ps_node_bundle {
	ps_node *nodes;
	ps_nodeset *nodesets;
} ps_node_bundle;
ps_node_bundle ps_nodes_take(ps_thread *t);
void ps_node_bundle_free(ps_node_bundle b);
void ps_nodes_reset_child(void);
void ps_nodes_lock(void);
void ps_nodes_unlock(void);

/* ---- threads.c ------------------------------------------------------------ */

/* An entry's histograms: request sizes, and the lifetimes of the blocks
 * its owner freed and of those other threads freed. Most entries see one
 * size bucket and few lifetimes. While every request falls in the bucket
 * of the smallest and of the largest, the size histogram is that bucket
 * with all the allocations, kept nowhere; past that it is a full one in
 * ps_entry_more. Lifetime buckets sit in PS_ENTRY_HIST_SLOTS inline
 * slots, each (kind * PS_HIST_BUCKETS + bucket + 1) in the top byte and
 * a count below, and spill into full histograms in ps_entry_more. */
enum ps_hist_kind { PS_HIST_SIZE, PS_HIST_OWN_LIFE, PS_HIST_X_LIFE, PS_HIST_KINDS };
#define PS_ENTRY_HIST_SLOTS 1
#define PS_HIST_SLOT_SHIFT 56
#define PS_HIST_SLOT_COUNT ((1ull << PS_HIST_SLOT_SHIFT) - 1)
#define PS_HIST_SLOT_TAG(kind, bucket) \
	((uint64_t)((kind) * PS_HIST_BUCKETS + (bucket) + 1) << PS_HIST_SLOT_SHIFT)

/* What few entries need, allocated on first use (any thread; published
 * with a compare-and-swap). */
typedef struct ps_entry_more {
	/* frees of the entry's blocks by other threads: atomic */
	uint64_t xfrees, xfree_bytes;
	uint64_t realloc_grows;     /* allocations that grew a block (owner) */
	/* realloc growth chains, ended by any thread: atomic */
	uint64_t chains_ended, chain_steps_sum, chain_steps_max,
		chain_final_size_max;
	/* blocks resized by realloc (the data lives on in the result), of
	 * them the grown ones and the largest size one grew to; any thread:
	 * atomic, resized counted after the free (see encode_entry) */
	uint64_t resized, resized_grown, resized_size_max;
	uint64_t *hist[PS_HIST_KINDS]; /* PS_HIST_BUCKETS counts, or NULL */
	/* the owner's counts and sizes that outgrew 32 bits (see ps_entry) */
	uint64_t allocs, own_frees, size_min, size_max;
	uint64_t allocs_written; /* writer-only (see ps_entry) */
} ps_entry_more;

/* Counters of one (stack, thread) pair: 128 bytes. "own" fields are
 * changed only by the allocating thread; the others by whichever thread
 * frees. The two counts and the two sizes are 32-bit: one that reaches
 * PS_ENTRY_WIDE (4G allocations, a 4 GiB request) holds that value from
 * then on, and the real one is in ps_entry_more (stored there first, so
 * a reader never sees it go down). */
#define PS_ENTRY_TOUCHED 0x80000000u
#define PS_ENTRY_WIDE UINT32_MAX
typedef struct ps_entry {
	/* the stack id, | PS_ENTRY_TOUCHED when changed since the writer
	 * last took the mark (set with a release store, taken by exchange) */
	uint32_t stack_touched;
	uint32_t thread_index;      /* the owner */
	uint32_t live_id;           /* livetab.c's id for it, 0 before use */
	/* own */
	uint32_t allocs32, own_frees32; /* allocations; frees by the owner */
	uint32_t size_min32, size_max32; /* min: PS_ENTRY_WIDE before the
					  * first allocation too */
	/* writer-only: the allocations the profile holds for it, or
	 * PS_ENTRY_WIDE: then in more->allocs_written (writer.c) */
	uint32_t allocs_written32;
	ps_nodeset *nodeset;        /* nodes.c; NULL once the owner retired */
	ps_entry_more *more;        /* NULL until needed */
	/* own */
	uint64_t alloc_bytes, own_free_bytes;
	uint64_t peak_live;         /* most objects live at once, this thread */
	uint64_t peak_bytes;        /* most bytes live at once, this thread */
	/* times (ps_ticks) of the first and the latest allocation (own),
	 * and of the latest free by any thread (a plain store: racing
	 * frees may leave the other one's time, nanoseconds apart) */
	uint64_t first_alloc_ticks, last_alloc_ticks, last_free_ticks;
	uint64_t hist[PS_ENTRY_HIST_SLOTS];
	/* own: of the frees of the thread's latest block that were
	 * checked (account.c), those whose innermost site candidate still
	 * running was candidate k (its frame: ps_unwind_innermost_running),
	 * then those with none running; counted after the free, halved
	 * together before one would pass 16 bits */
	uint16_t inner_frees16[PS_ENT_INNER_FREES];
} ps_entry;
_Static_assert(PS_ENT_INNER_FREES == PS_SITE_CANDIDATES + 1,
	       "the profile's inner frees: one per site candidate, then none");

static inline uint32_t ps_entry_stack_id(const ps_entry *e)
{
	return PS_LOAD(&e->stack_touched) & ~PS_ENTRY_TOUCHED;
}
/* Marks e changed, after the changes (release), and logs it when the
 * mark was clear (writer.c's dirty log). Any thread. */
static inline void ps_entry_touch(ps_entry *e)
{
	uint32_t v = PS_LOAD(&e->stack_touched);
	__atomic_store_n(&e->stack_touched, v | PS_ENTRY_TOUCHED,
			 __ATOMIC_RELEASE);
	if (PS_UNLIKELY(!(v & PS_ENTRY_TOUCHED)) && PS_LOAD(&ps_dirty_logging))
		ps_writer_note_entry(e);
}
/* e's extension, allocated on first use; NULL when out of memory. */
ps_entry_more *ps_entry_more_get(ps_entry *e);
static inline ps_entry_more *ps_entry_more_of(const ps_entry *e)
{
	return __atomic_load_n(&e->more, __ATOMIC_ACQUIRE);
}
/* Frees by other threads so far (acquire). */
static inline uint64_t ps_entry_xfrees(const ps_entry *e)
{
	ps_entry_more *m = ps_entry_more_of(e);
	return m ? __atomic_load_n(&m->xfrees, __ATOMIC_ACQUIRE) : 0;
}
static inline uint64_t ps_entry_xfree_bytes(const ps_entry *e)
{
	ps_entry_more *m = ps_entry_more_of(e);
	return m ? __atomic_load_n(&m->xfree_bytes, __ATOMIC_ACQUIRE) : 0;
}
/* A 32-bit count of e (acquire), or its wide value. */
static inline uint64_t ps_entry_allocs(const ps_entry *e)
{
	uint32_t v = __atomic_load_n(&e->allocs32, __ATOMIC_ACQUIRE);
	return PS_LIKELY(v != PS_ENTRY_WIDE)
		       ? v : __atomic_load_n(&ps_entry_more_of(e)->allocs, __ATOMIC_ACQUIRE);
}
static inline uint64_t ps_entry_own_frees(const ps_entry *e)
{
	uint32_t v = __atomic_load_n(&e->own_frees32, __ATOMIC_ACQUIRE);
	return PS_LIKELY(v != PS_ENTRY_WIDE)
		       ? v : __atomic_load_n(&ps_entry_more_of(e)->own_frees, __ATOMIC_ACQUIRE);
}
/* The smallest request (UINT64_MAX before the first) and the largest. */
static inline uint64_t ps_entry_size_min(const ps_entry *e)
{
	uint32_t v = __atomic_load_n(&e->size_min32, __ATOMIC_ACQUIRE);
	ps_entry_more *m;
	if (PS_LIKELY(v != PS_ENTRY_WIDE))
		return v;
	m = ps_entry_more_of(e);
	return m ? __atomic_load_n(&m->size_min, __ATOMIC_ACQUIRE) : UINT64_MAX;
}
static inline uint64_t ps_entry_size_max(const ps_entry *e)
{
	uint32_t v = __atomic_load_n(&e->size_max32, __ATOMIC_ACQUIRE);
	return PS_LIKELY(v != PS_ENTRY_WIDE)
		       ? v : __atomic_load_n(&ps_entry_more_of(e)->size_max, __ATOMIC_ACQUIRE);
}
/* The owner counts one more allocation (release) and returns the count;
 * or one more own free. The slow path (own_frees: 1 for the frees) takes
 * the count wide. */
uint64_t ps_entry_count_wide(ps_entry *e, int own_frees);
static inline uint64_t ps_entry_add_alloc(ps_entry *e)
{
	uint32_t v = PS_LOAD(&e->allocs32);
	if (PS_LIKELY(v < PS_ENTRY_WIDE - 1)) {
		__atomic_store_n(&e->allocs32, v + 1, __ATOMIC_RELEASE);
		return (uint64_t)v + 1;
	}
	return ps_entry_count_wide(e, 0);
}
static inline void ps_entry_add_own_free(ps_entry *e)
{
	uint32_t v = PS_LOAD(&e->own_frees32);
	if (PS_LIKELY(v < PS_ENTRY_WIDE - 1))
		__atomic_store_n(&e->own_frees32, v + 1, __ATOMIC_RELEASE);
	else
		ps_entry_count_wide(e, 1);
}
/* The owner notes a request of size bytes (before counting it). */
void ps_entry_note_wide_size(ps_entry *e, uint64_t size);
static inline void ps_entry_note_size(ps_entry *e, uint64_t size)
{
	if (PS_UNLIKELY(size >= PS_ENTRY_WIDE)) {
		ps_entry_note_wide_size(e, size);
		return;
	}
	if (size < PS_LOAD(&e->size_min32))
		PS_STORE(&e->size_min32, (uint32_t)size);
	uint32_t max = PS_LOAD(&e->size_max32);
	if (size > max && max != PS_ENTRY_WIDE)
		PS_STORE(&e->size_max32, (uint32_t)size);
}
/* Adds one to lifetime histogram kind's bucket. own: the caller is the
 * owner and kind is PS_HIST_OWN_LIFE (plain stores); otherwise kind is
 * PS_HIST_X_LIFE (atomic). */
void ps_entry_hist_spill(ps_entry *e, unsigned kind, unsigned bucket, int own);
static inline void ps_entry_hist_add(ps_entry *e, unsigned kind,
				     unsigned bucket, int own)
{
	uint64_t tag = PS_HIST_SLOT_TAG(kind, bucket);
	for (int i = 0; i < PS_ENTRY_HIST_SLOTS; i++) {
		uint64_t v = PS_LOAD(&e->hist[i]);
		if (!v) {
			if (__atomic_compare_exchange_n(&e->hist[i], &v, tag | 1,
							0, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				return;
			/* another kind took it; v is what it holds now */
		}
		if ((v & ~PS_HIST_SLOT_COUNT) == tag) {
			if (own)
				PS_STORE(&e->hist[i], v + 1);
			else
				PS_ADD(&e->hist[i], 1);
			return;
		}
	}
	ps_entry_more *m = ps_entry_more_of(e);
	uint64_t *h = m ? __atomic_load_n(&m->hist[kind], __ATOMIC_ACQUIRE) : NULL;
	if (PS_LIKELY(h != NULL)) {
		if (own)
			PS_STORE(&h[bucket], PS_LOAD(&h[bucket]) + 1);
		else
			PS_ADD(&h[bucket], 1);
		return;
	}
	ps_entry_hist_spill(e, kind, bucket, own);
}
/* The owner counts a request of size bytes in the size histogram, before
 * it notes the size (ps_entry_note_size) and counts the allocation. */
void ps_entry_size_hist_explicit(ps_entry *e, unsigned bucket);
static inline void ps_entry_size_hist(ps_entry *e, uint64_t size)
{
	ps_entry_more *m = ps_entry_more_of(e);
	uint64_t *h = m ? __atomic_load_n(&m->hist[PS_HIST_SIZE], __ATOMIC_ACQUIRE)
			: NULL;
	unsigned b = ps_hist_bucket(size);
	if (PS_LIKELY(h != NULL)) {
		PS_STORE(&h[b], PS_LOAD(&h[b]) + 1);
		return;
	}
	if (PS_UNLIKELY(!ps_entry_allocs(e)) ||
	    PS_LIKELY(b == ps_hist_bucket(ps_entry_size_min(e)) &&
		      b == ps_hist_bucket(ps_entry_size_max(e))))
		return; /* one bucket: implied */
	ps_entry_size_hist_explicit(e, b);
}
/* The whole histogram kind of e into out[PS_HIST_BUCKETS] (+=); for the
 * sizes, allocs is the entry's count read before. */
void ps_entry_hist_read(const ps_entry *e, unsigned kind, uint64_t allocs,
			uint64_t *out);

struct ps_thread {
	struct ps_thread *next_all; /* every record, newest first; records
				     * are reused, never unlinked */
	struct ps_thread *next_free;
	uint32_t index;             /* 1-based, in order of first allocation;
				     * 0 while the record is free */
	pid_t tid;
	pthread_t pthread;
	/* the owner adds; the writer walks. In shards by the low bits of
	 * the key (the table uses the others), so that growing one holds
	 * two copies of a sixteenth */
#define PS_ENTRY_SHARDS 16
	ps_ptrtable *entries[PS_ENTRY_SHARDS];
	/* nodes.c */
	ps_ptrtable *node_table, *nodeset_table; /* owner-only */
	ps_node *nodes;             /* append-only list for the writer */
	ps_nodeset *nodesets;       /* the owner's list */
	uint64_t start_ns, end_ns;  /* CLOCK_MONOTONIC; end 0 while alive */
	char name[16];
	uint32_t info_dirty;        /* identity changed: rewrite THREAD */
	uint32_t gone;              /* writer: ended and no longer running */
	uint64_t unknown_frees;     /* frees of blocks we never saw allocated */
	uint64_t unrecorded_allocs; /* allocations made inside a hook */
	uint64_t totals_written[2];  /* writer-only: last values written */
	/* the recording's own time on this thread, in ticks, estimated
	 * (see ps_rec_begin): owner-written, the writer reads it */
	uint64_t rec_ticks;
	uint64_t rec_ns_written;     /* writer-only: in ns, as last written */
	uint64_t rec_ticks_written;  /* writer-only: the ticks it was of */
	uint64_t busy_ns_written;    /* writer-only: the time it ran or was
				      * ready to (writer.c), as last written */
	uint64_t cpu_ns_written;     /* writer-only: of that, the time it
				      * ran, as last written */
	uint64_t end_cpu_ns;         /* the time it ran, read as it ended
				      * (before end_ns is stored) */
	int in_unwind;               /* inside libunwind (see stacks.c) */
	/* odd while the thread counts a free (ps_thread_release_begin):
	 * what a retired thread leaves is freed only once every thread
	 * seen inside has come out */
	uint32_t release_seq;
};

/* Registers the calling thread (its first recorded call): a record, used
 * again after an ended thread, or NULL when out of memory. Called with the
 * recursion guard held. */
ps_thread *ps_thread_register(void);
/* t's entry for the stack of this identity, or NULL. Owner-only. */
static inline ps_entry *ps_thread_entry_find(ps_thread *t, ps_stack_hash h)
{
	uint64_t key = ps_stack_key(h.lo, (uint16_t)h.hi);
	ps_ptrtable *tab = t->entries[key & (PS_ENTRY_SHARDS - 1)];
	if (PS_UNLIKELY(!tab))
		return NULL;
	for (uint32_t i = ps_ptrtable_home(tab, key);;) {
		uint64_t v = tab->slot[i];
		if (!v)
			return NULL;
		if (ps_ptrtable_may_match(v, key)) {
			ps_entry *e = PS_PTRTABLE_PTR(v);
			if (ps_stack_hash_lo(ps_stack_at(ps_entry_stack_id(e))) == h.lo)
				return e;
		}
		if (++i == tab->cap)
			i = 0;
	}
}
/* Adds t's entry for stack stack_id, its blocks counted in node set ns
 * (may be NULL); returns it, or NULL when out of memory. Owner-only. */
ps_entry *ps_thread_entry_add(ps_thread *t, uint32_t stack_id, ps_nodeset *ns);
/* Around the counting of a free (any entry, any thread's). */
extern int ps_have_membarrier;
static inline void ps_thread_release_begin(ps_thread *self)
{
	PS_STORE(&self->release_seq, PS_LOAD(&self->release_seq) + 1);
	/* the retiring writer's membarrier orders this store before our
	 * loads; without it, a fence does */
	if (ps_have_membarrier)
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	else
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
static inline void ps_thread_release_end(ps_thread *self)
{
	__atomic_store_n(&self->release_seq, PS_LOAD(&self->release_seq) + 1,
			 __ATOMIC_RELEASE);
}
ps_thread *ps_threads_newest(void);
/* Whether the main thread has ended (pthread_exit). */
int ps_threads_main_ended(void);
/* Sets the name of thread pt (pthread_setname_np). */
void ps_threads_set_name(pthread_t pt, const char *name);
/* Reads thread tid's comm from /proc into t->name; allocation-free. The
 * caller marks t's identity for rewriting (info_dirty) if it needs to. */
void ps_thread_read_name(ps_thread *t, pid_t tid);
/* The time thread tid (of this process) has been busy, in ns: running or
 * ready to run, waiting for a CPU (the scheduler's schedstat: on-CPU
 * time plus run-queue delay), and in *on_cpu the part it ran; where the
 * kernel keeps no schedstat, its CPU time for both (ps_thread_cpu_ns:
 * the clock is named by the id, as a pthread handle may be gone with its
 * thread); 0 when it is gone. Allocation-free. */
uint64_t ps_thread_busy_ns(pid_t tid, uint64_t *on_cpu);
/* The calling thread's name read again (prctl), its record to be written
 * again if it changed: the thread that ends the process may have renamed
 * itself after its first allocation (a daemon: "tmux: server"). Takes the
 * thread lock. */
void ps_thread_refresh_own_name(void);
/* Copies t's identity (name NUL-terminated, index, tid, times) under the
 * registry lock; any thread. */
void ps_thread_copy_identity(ps_thread *t, char name[16], uint32_t *index,
			     pid_t *tid, uint64_t *start_ns, uint64_t *end_ns);

/* Retiring ended threads (the writer, under its lock). A snapshot calls
 * ps_threads_retire_begin() before it encodes anything: threads found
 * gone are marked (their counters are final, the snapshot writes them),
 * and what earlier snapshots retired becomes free to go once no thread
 * is still counting a free in it. The snapshot then encodes every entry
 * ps_threads_for_each_retired() gives besides the live threads' tables;
 * after its batch is written, ps_threads_retire_end() frees what was
 * free to go, and retires the threads marked gone whose THREAD record is
 * written (index up to declared, nothing changed since): entries with blocks
 * still live are kept (their frees still count), the others and the
 * threads' node tables wait for the next snapshots, and the record is
 * used again for a new thread. */
void ps_threads_retire_begin(void);
void ps_threads_for_each_retired(void (*fn)(ps_entry *e, void *arg),
				 void *arg);
void ps_threads_retire_end(int written, uint32_t declared);
void ps_threads_init(void);
void ps_threads_lock(void);
void ps_threads_unlock(void);
void ps_threads_reset_child(void);

/* ---- account.c (what an allocation or a free changes) ------------------ */
struct ps_live;
/* Charges the allocation of p (size bytes) to the caller's stack and
 * thread and records p as live. */
void ps_account_alloc(void *p, size_t size);
/* Charges the free of p to the entry that allocated it (or counts an
 * unknown free). Must run before the real free. */
void ps_account_free(void *p);
/* Makes the calling thread's record if it has none yet (with the guard
 * held): what the first recorded call would do. */
void ps_account_thread(void);
/* Charges a resize (realloc, rallocx) of a block whose record rec (NULL:
 * never recorded) the caller took out of the live table: the block ended,
 * and p (NULL: a resize to 0 freed it) of size bytes is allocated, a step
 * of its growth chain when recorded and larger. */
void ps_account_resize(const struct ps_live *rec, void *p, size_t size);
/* In a vfork child (ps_tls.guard PS_GUARD_VFORK), the three above log the
 * call for the parent instead; the resize hook, which the child must not
 * let take the live table's locks, logs its resize of old here. */
void ps_vfork_log_resize(void *old, void *p, size_t size);
/* In the parent, back from vfork or clone(CLONE_VFORK), with the guard
 * held: charges to this thread what its child logged, in order. */
void ps_vfork_replay(void);

/* ---- sample.c (--sample N) --------------------------------------------- */
/* Sets up the recorded-block filter when sampling is on. The bytes from
 * pinned (len of them) are blocks the hooks serve themselves and never
 * hand to the allocator (hooks.c's bootstrap pool): the filter says
 * "maybe" for them from the start, so a free it lets through is never
 * one of them. */
void ps_sample_init(const void *pinned, size_t len);
/* Allocations to skip before the next recorded one (geometric, mean
 * N - 1), from the calling thread's own random stream. */
uint32_t ps_sample_skip(void);
/* Recorded calls to leave untimed before the next timed one (geometric,
 * mean PS_REC_EVERY - 1), from the same stream (see ps_rec_begin). */
uint32_t ps_rec_skip(void);
/* The filter of recorded blocks: mark on insert, unmark on removal;
 * maybe() is 0 only for a block that was certainly not recorded.
 * Lock-free, signal-safe. */
void ps_sample_mark(uintptr_t p);
void ps_sample_unmark(uintptr_t p);
/* One byte per 16 bytes of address space (2^20 slots): the slot is the
 * address's bits 4-23, with bits 18 and up folded in so that glibc's
 * per-thread heaps (64 MiB-aligned: the same low bits) land on other
 * cache lines of the filter; else two threads' marks and frees share
 * lines (alloc_bench --sample 64: 1.28-1.35x CPU with the plain low
 * bits, 1.13-1.17x folded). Blocks within 256 KiB of each other never
 * share a slot, and a run of frees reads one cache line after another.
 * NULL until sampling is on (published with release). */
#define PS_SAMPLE_FILTER_BITS 20
#define PS_SAMPLE_GRANULE_BITS 4
extern uint8_t *ps_sample_filter;
static inline size_t ps_sample_slot(uintptr_t p)
{
	return (size_t)((p >> PS_SAMPLE_GRANULE_BITS) ^ (p >> 18)) &
	       ((1u << PS_SAMPLE_FILTER_BITS) - 1);
}
static inline int ps_sample_maybe(uintptr_t p)
{
	uint8_t *filter = __atomic_load_n(&ps_sample_filter, __ATOMIC_ACQUIRE);
	return !filter ||
	       __atomic_load_n(&filter[ps_sample_slot(p)], __ATOMIC_ACQUIRE) != 0;
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
/* Turns on the per-thread fronts (livetab.c: each thread's latest block
 * parked in a slot of its own). Once, at initialisation. */
void ps_livetab_init(void);
/* Records a live block (replacing any record of the same address). Returns
 * 0, or -ENOMEM. Thread-safe (sharded locks); rec->entry must be an entry
 * whose memory stays (its id is given on first use). */
int ps_livetab_insert(const struct ps_live *rec);
/* Removes p, copying its record to out; returns 2 if it was the calling
 * thread's latest block (parked in its front; sampled, its latest
 * recorded one), 1 if found elsewhere, else 0. Thread-safe. */
int ps_livetab_remove(uintptr_t p, struct ps_live *out);
/* From now on the live blocks of entry `from` come back as `to`'s (for
 * folding a finished thread's entries into others). Returns 0, or
 * -ENOENT when `from` never had a block recorded by id (then none is
 * redirected; ids run out after 2^27 entries). Lock-free; a free running
 * at the same moment may still get `from`, so its memory must outlive
 * such frees. */
int ps_livetab_entry_moved(ps_entry *from, ps_entry *to);
/* Entry e is being freed (none of its blocks is live, no free of one is
 * in flight): its id may be given to another entry. */
void ps_livetab_entry_gone(ps_entry *e);
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
/* In a profiled fork child, on its first recorded allocation: opens its
 * profile now instead of at its first snapshot (see writer.c). */
void ps_writer_open_child(void);
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
/* The last snapshot of a process a caught signal ends (signals.c): an
 * END record with the signal's number. */
void ps_writer_end_by_signal(int sig);
/* Any thread: the writer thread takes its next snapshot now rather than
 * at the end of its interval (never waits; a raw futex wake). */
void ps_writer_wake(void);
/* Says once on stderr that the profile ends at its last snapshot because
 * the process ended from a handler that interrupted a critical section
 * of this thread (ps_locks_held). */
void ps_writer_interrupted_warning(void);
/* Stops for good and deletes the profile written so far (this process
 * turned out not to be profilable). */
void ps_writer_abandon(void);
/* Sets (1) or clears (0) close-on-exec on the profile's descriptor:
 * set just before the process (or a child it spawns) runs a new image,
 * cleared when that failed or the spawn is over. Async-signal-safe. */
void ps_writer_cloexec(int on);
void ps_writer_lock(void);
void ps_writer_unlock(void);
void ps_writer_reset_child(void);

/* ---- signals.c ---------------------------------------------------------- */
/* From the constructor, once this process records: puts the catcher on
 * every signal it stands in for whose disposition is SIG_DFL (not one
 * inherited as SIG_IGN). */
void ps_signals_install(void);
/* From leave(), when ps_tls.signal_deferred is set: a signal the catcher
 * put off because it arrived inside an allocator hook. Writes the final
 * snapshot and ends the process by that signal. */
void ps_signals_deferred(void);

/* ---- hooks.c ------------------------------------------------------------ */
/* ps_tls.guard when nothing must be counted, not even as "unrecorded":
 * around the allocator calls an operator new hook makes on its caller's
 * behalf, and in a vfork child that cannot log (see PS_GUARD_VFORK). */
#define PS_GUARD_SILENT (1 << 20)
/* ps_tls.guard of a vfork child outside the hooks: its calls are
 * recorded, but logged for its parent (account.c), not charged. enter()
 * adds PS_GUARD_HOOK to it, leave() takes that off again. */
#define PS_GUARD_VFORK (1 << 21)
/* A bit of ps_tls.guard set by an allocator hook from enter() to leave():
 * a signal the catcher (signals.c) receives meanwhile waits for leave(),
 * which is sure to come. Nested sections add to the guard below it. */
#define PS_GUARD_HOOK (1 << 10)
struct ps_tls {
	int guard;            /* inside a hook: nested calls pass through */
	uint32_t generation;  /* process generation the table belongs to */
	ps_thread *thread;    /* this thread's table */
	uint32_t sample_countdown;
	uint64_t rng;          /* sample.c's random stream */
	unsigned calls_since_poll; /* hooks.c: see leave() */
	/* allocations that passed through (enter) before this thread had
	 * a table of this process: ps_thread_register adds them to it */
	uint32_t unrecorded_early;
	/* signals.c: a signal whose catcher waits for leave() (0: none) */
	int signal_deferred;
	/* hooks.c: the state of the code that called the allocator hook,
	 * where capture.c starts the walk (rip 0: not known, start from
	 * the capture's own caller); valid from the hook's NOTE_CALLER() to
	 * its leave(), which clears it */
	struct ps_unwind_start caller;
	/* the recording's own time (ps_rec_begin): calls left untimed
	 * before the next timed one, whether the count was drawn, the
	 * ticks timed exactly so far, and their sum when the current
	 * timed call began */
	uint32_t rec_skip, rec_drawn;
	uint64_t rec_exact, rec_exact_mark;
};
extern __thread struct ps_tls ps_tls PS_TLS;
extern uint32_t ps_generation; /* bumped in every fork child */
extern int ps_recording;       /* 1 between init and the end record */
extern pid_t ps_pid;
extern uint64_t ps_work_units; /* poolscout_mark_work() total */
extern int ps_forked;          /* this process is a profiled fork child */

/* The calling thread's record in this process, or NULL: none yet, or the
 * one a fork child's thread still holds from its parent. */
static inline ps_thread *ps_own_thread(void)
{
	return ps_tls.generation == ps_generation ? ps_tls.thread : NULL;
}

/* ---- the recording's own time -------------------------------------------- *
 * What recording adds to each thread's run, so that the analyzer can give
 * rates over the program's own time: the accounting of an allocation or
 * a free, timed on one call in PS_REC_EVERY drawn at random (each call
 * independently, as the sampling draws) and counted PS_REC_EVERY times,
 * an unbiased estimate at two clock reads per PS_REC_EVERY calls; and,
 * timed on every occurrence and counted once, what is rare and costly
 * (a new stack or thread, a snapshot the thread writes itself), which
 * the sampled estimate would catch seldom and then count 32 times over.
 * The hook's entry, exit and the allocator's own work are not counted. */
#define PS_REC_EVERY 32u
/* Ticks beyond which a timed call counts as preempted, not as recording
 * (50 us at 3 GHz, 150 us at 1 GHz: the accounting takes well under a
 * microsecond, a libunwind walk some; the costly steps are timed on
 * their own). */
#define PS_REC_PREEMPTED 150000u

/* The ticks at the start of a call to time, or 0: one in PS_REC_EVERY. */
uint64_t ps_rec_begin_slow(void);
static inline uint64_t ps_rec_begin(void)
{
	if (PS_LIKELY(ps_tls.rec_skip)) {
		ps_tls.rec_skip--;
		return 0;
	}
	return ps_rec_begin_slow();
}

/* The end of a call ps_rec_begin returned t0 for: counts its time, but
 * for what ps_rec_exact counted meanwhile, PS_REC_EVERY times. */
void ps_rec_end_slow(uint64_t t0);
static inline void ps_rec_end(uint64_t t0)
{
	if (PS_UNLIKELY(t0))
		ps_rec_end_slow(t0);
}

/* Counts once, on thread t (if any), the ticks since t0 (a rare, costly
 * step), but PS_REC_PREEMPTED at most: a step longer than that was
 * preempted, and the machine's time is not the recording's (a loop of 40
 * trivial cc1 compiles: of some 1,800 steps each, two ran past it, 65 us
 * on average, by page faults; on a loaded machine, preempted steps had
 * made the estimate 0.85-1.4x the CPU time the recording added, where it
 * is 0.7-0.8x capped and unloaded). A timed call around it runs past
 * the bound too, and counts nothing itself (ps_rec_end). */
static inline void ps_rec_exact(ps_thread *t, uint64_t t0)
{
	uint64_t d = ps_ticks() - t0;
	ps_tls.rec_exact += d;
	if (d > PS_REC_PREEMPTED)
		d = PS_REC_PREEMPTED;
	if (t)
		PS_STORE(&t->rec_ticks, PS_LOAD(&t->rec_ticks) + d);
}

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

#ifndef __SANITIZE_THREAD__
#pragma GCC visibility pop
#endif

#endif
