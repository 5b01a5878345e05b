/* stacks.c - stack capture and the process-wide stack table.
 *
 * Capture uses libunwind's unw_backtrace, which on x86-64 walks with a
 * cache of frame descriptions (about 50 ns for 17 frames here once warm,
 * with a per-thread cache). Frames inside libpoolscout.so itself are
 * dropped, so a stack starts at the return address into the code that
 * called the allocator. Interning maps an IP array to one shared ps_stack;
 * it is only reached when a thread meets a stack for the first time (each
 * thread keeps its own table in threads.c), so one lock is enough here.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/membarrier.h>
#include <link.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "ps_internal.h"

static ps_lock_t stack_lock;
static ps_stack *stack_table;  /* uthash head, keyed by the IP bytes */
static ps_stack *stack_newest; /* append-only list for the writer */
static uint32_t stack_count;
static uintptr_t self_lo, self_hi; /* our own mapped text */

/* Fork safety. libunwind takes internal mutexes (its caches, the dynamic
 * unwind-info list); a fork while another thread holds one leaves it
 * locked forever in the child, whose first unwind then hangs. So fork
 * waits until no thread is inside libunwind: each thread raises its own
 * in_unwind flag around the unwind (no shared write on the hot path) and
 * backs off while a fork is pending. The store-then-load on each side
 * needs a full fence; membarrier() lets the forking thread issue it for
 * everyone, so the hot path needs only a compiler barrier. Without
 * membarrier, the hot path uses a real fence. */
static int fork_pending;
static int have_membarrier;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t probe = (uintptr_t)arg;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && probe >= lo &&
		    probe < lo + ph->p_memsz) {
			self_lo = lo;
			self_hi = lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

void ps_stacks_init(void)
{
	dl_iterate_phdr(find_self, (void *)(uintptr_t)&ps_stack_capture);
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	have_membarrier = syscall(SYS_membarrier,
				  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0;
}

static inline void enter_unwind(ps_thread *t)
{
	for (;;) {
		PS_STORE(&t->in_unwind, 1);
		if (have_membarrier)
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
		else
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (PS_LIKELY(!__atomic_load_n(&fork_pending, __ATOMIC_RELAXED)))
			return;
		__atomic_store_n(&t->in_unwind, 0, __ATOMIC_RELEASE);
		while (__atomic_load_n(&fork_pending, __ATOMIC_ACQUIRE))
			sched_yield();
	}
}

void ps_stacks_fork_quiesce(void)
{
	__atomic_store_n(&fork_pending, 1, __ATOMIC_SEQ_CST);
	if (have_membarrier)
		syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0);
	ps_thread *self = ps_tls.generation == ps_generation ? ps_tls.thread
							     : NULL;
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all)
		while (t != self &&
		       __atomic_load_n(&t->in_unwind, __ATOMIC_ACQUIRE))
			sched_yield();
}

void ps_stacks_fork_done(void)
{
	__atomic_store_n(&fork_pending, 0, __ATOMIC_RELEASE);
}

int ps_stack_capture(ps_thread *t, uintptr_t *ips)
{
	void *raw[PS_MAX_DEPTH + 16];
	enter_unwind(t);
	int n = unw_backtrace(raw, (int)ps_opt.depth + 16);
	__atomic_store_n(&t->in_unwind, 0, __ATOMIC_RELEASE);
	int skip = 0;
	while (skip < n && (uintptr_t)raw[skip] >= self_lo &&
	       (uintptr_t)raw[skip] < self_hi)
		skip++;
	int depth = n - skip;
	if (depth > (int)ps_opt.depth)
		depth = (int)ps_opt.depth;
	for (int i = 0; i < depth; i++)
		ips[i] = (uintptr_t)raw[skip + i];
	return depth;
}

uint64_t ps_stack_hash(const uintptr_t *ips, int depth)
{
	/* one multiply per frame, one final mix (murmur3's finaliser) */
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)depth;
	for (int i = 0; i < depth; i++)
		h = (h ^ ips[i]) * 0x100000001b3ull + (h >> 29);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

ps_stack *ps_stack_intern(const uintptr_t *ips, int depth, uint64_t hash)
{
	size_t keylen = (size_t)depth * sizeof *ips;
	ps_stack *s;
	ps_lock_acquire(&stack_lock);
	HASH_FIND_BYHASHVALUE(hh, stack_table, ips, keylen, (unsigned)hash, s);
	if (s) {
		ps_lock_release(&stack_lock);
		return s;
	}
	s = ps_arena_alloc(sizeof *s + keylen);
	if (!s) {
		ps_lock_release(&stack_lock);
		return NULL;
	}
	memcpy(s->ips, ips, keylen);
	s->depth = (uint32_t)depth;
	s->hash = hash;
	s->map_epoch = ps_modules_refresh();
	/* Site candidates: the first frames outside the runtime. A stack
	 * wholly inside the runtime has its innermost frame as the site. */
	int start = 0;
	while (start < depth && ps_modules_ip_is_runtime(ips[start]))
		start++;
	if (start == depth)
		start = 0;
	s->cand_start = (uint16_t)start;
	s->cand_count = (uint16_t)(depth - start < PS_SITE_CANDIDATES
					   ? depth - start
					   : PS_SITE_CANDIDATES);
	s->id = ++stack_count;
	HASH_ADD_KEYPTR_BYHASHVALUE(hh, stack_table, s->ips, keylen,
				    (unsigned)hash, s);
	if (ps_uthash_oom) {
		/* The table could not grow; the stack still counts, it is just
		 * not found again by later lookups. */
		ps_uthash_oom = 0;
	}
	s->next_all = stack_newest;
	__atomic_store_n(&stack_newest, s, __ATOMIC_RELEASE);
	ps_lock_release(&stack_lock);
	return s;
}

ps_stack *ps_stacks_newest(void)
{
	return __atomic_load_n(&stack_newest, __ATOMIC_ACQUIRE);
}

void ps_stacks_lock(void)
{
	ps_lock_acquire(&stack_lock);
}

void ps_stacks_unlock(void)
{
	ps_lock_release(&stack_lock);
}

void ps_stacks_reset_child(void)
{
	fork_pending = 0;
	stack_table = NULL;
	stack_newest = NULL;
	stack_count = 0;
	stack_lock.locked = 0;
}
