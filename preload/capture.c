/* capture.c - the unwinder's front: what the accounting calls to capture
 * the caller's stack.
 *
 * Capture runs the fast unwinder of unwind.c, which walks compiled
 * .eh_frame rules and hands any stack it cannot prove frame by frame to
 * libunwind's unw_backtrace, so the result is always libunwind's
 * (POOLSCOUT_UNWIND=libunwind uses unw_backtrace alone; =check runs both
 * and counts disagreements). Frames inside libpoolscout.so itself are
 * dropped, so a stack starts at the return address into the code that
 * called the allocator. A stack the fast walk found comes with its hash
 * (ps_unwind_hash, handed to stacks.c's ps_stack_hash_of through
 * ps_stack_hash_expect), so the caller hashes only the frames the walk
 * found new. It also owns fork safety for the unwinders (no
 * fork while a thread is inside one); for that it reads the in_unwind
 * flags of the thread registry's records, and calls nothing else but
 * unwind.c and libunwind.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/membarrier.h>
#include <link.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "ps_internal.h"
#include "unwind.h"

static uintptr_t self_lo, self_hi; /* our own mapped text */

/* Fork safety. libunwind takes internal mutexes (its caches, the dynamic
 * unwind-info list), and so does the fast unwinder (its table lock); a
 * fork while another thread holds one leaves it locked forever in the
 * child, whose first unwind then hangs. So fork waits until no thread is
 * inside an unwinder (the same flag tells unwind.c when replaced tables
 * may be freed): each thread raises its own
 * in_unwind flag around the unwind (no shared write on the hot path) and
 * backs off while a fork is pending. The store-then-load on each side
 * needs a full fence; membarrier() lets the forking thread issue it for
 * everyone, so the hot path needs only a compiler barrier. Without
 * membarrier, the hot path uses a real fence. */
static int fork_pending;

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

void ps_capture_init(void)
{
	dl_iterate_phdr(find_self, (void *)(uintptr_t)&ps_capture_stack);
	ps_unwind_init();
}

/* libunwind sets itself up on first use (its caches, and a pipe it
 * probes memory with), and most processes never use it: the fast walk
 * answers every stack of a `git status` or a `sh -c`. So its per-thread
 * caching is asked for before the first stack handed to it, not at start.
 * One thread asks; others that meet libunwind meanwhile go on with its
 * default global cache (unw_set_caching_policy is thread-safe). */
static int libunwind_set_up;

static inline void libunwind_setup(void)
{
	if (PS_LIKELY(__atomic_load_n(&libunwind_set_up, __ATOMIC_RELAXED)))
		return;
	if (!__atomic_exchange_n(&libunwind_set_up, 1, __ATOMIC_ACQ_REL))
		unw_set_caching_policy(unw_local_addr_space,
				       UNW_CACHE_PER_THREAD);
}

static inline void enter_unwind(ps_thread *t)
{
	for (;;) {
		PS_STORE(&t->in_unwind, 1);
		if (ps_have_membarrier)
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

void ps_capture_fork_quiesce(void)
{
	__atomic_store_n(&fork_pending, 1, __ATOMIC_SEQ_CST);
	if (ps_have_membarrier)
		syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0);
	ps_thread *self = ps_own_thread();
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all)
		while (t != self &&
		       __atomic_load_n(&t->in_unwind, __ATOMIC_ACQUIRE))
			sched_yield();
}

void ps_capture_fork_done(void)
{
	__atomic_store_n(&fork_pending, 0, __ATOMIC_RELEASE);
}

/* POOLSCOUT_UNWIND=check: what the two unwinders did, reported at exit. */
static struct {
	uint64_t captures, identical, mismatches;
	uint64_t repeated; /* of the fast walks, said to repeat the last one */
	uint64_t fallback[PS_UNWIND_NREASONS]; /* by -ps_unwind_result */
	uint64_t step_disagrees; /* unw_backtrace vs libunwind's unw_step loop */
	uint64_t restepped; /* libunwind's walks made again where objects went */
} check;

static int skip_self(const uintptr_t *raw, int n)
{
	int skip = 0;
	while (skip < n && raw[skip] >= self_lo && raw[skip] < self_hi)
		skip++;
	return skip;
}

/* The frames of the n of ips a stack keeps: past our own (*skip of them)
 * and at most the depth asked for; returns how many. */
static inline int kept_frames(const uintptr_t *ips, int n, int *skip)
{
	*skip = skip_self(ips, n);
	int depth = n - *skip;
	return depth > (int)ps_opt.depth ? (int)ps_opt.depth : depth;
}

/* Whether a and b record the same stack: the frames after our own, as
 * many as a stack keeps (a walk that starts past our frames reaches
 * further out before it stops at max). */
static int same_stack(const uintptr_t *a, int na, const uintptr_t *b, int nb)
{
	int sa, sb;
	int ka = kept_frames(a, na, &sa), kb = kept_frames(b, nb, &sb);
	return ka == kb && !memcmp(a + sa, b + sb, (size_t)ka * sizeof *a);
}

/* libunwind's general walk (what unw_backtrace falls back to). */
__attribute__((noinline)) static int step_backtrace(uintptr_t *raw, int max)
{
	unw_context_t uc;
	unw_cursor_t cursor;
	unw_word_t ip;
	int n = 0;
	if (unw_getcontext(&uc) < 0 || unw_init_local(&cursor, &uc) < 0)
		return 0;
	while (n < max && unw_step(&cursor) > 0 &&
	       unw_get_reg(&cursor, UNW_REG_IP, &ip) >= 0)
		raw[n++] = ip;
	return n;
}

/* libunwind keeps each address's unwind rules (per thread) and does not
 * notice an object unloaded and another loaded at its address: its walks
 * would go on by the old object's rules. unw_flush_cache() makes unw_step
 * forget them, but not unw_backtrace, whose per-thread trace cache never
 * forgets an address. So a stack libunwind walked through an address
 * where an object was unloaded (the first frame it could have got wrong
 * is one there) is walked again by unw_step, ten times slower, after a
 * flush when objects were unloaded since the last. */
static uint32_t unloads_flushed;

/* libunwind's walk into raw. stale: the module map may be out of date
 * (the fast walk found it so, or did not run): it is read again first if
 * a dlclose or a walk asked for it, so that an object replaced since is
 * known. */
static int libunwind_walk(uintptr_t *raw, int max, int stale)
{
	libunwind_setup();
	if (PS_UNLIKELY(stale))
		ps_unwind_refresh();
	int n = unw_backtrace((void **)raw, max);
	uint32_t changes;
	if (PS_LIKELY(!ps_unwind_unloaded_among(raw, n, &changes)))
		return n;
	if (changes != __atomic_load_n(&unloads_flushed, __ATOMIC_ACQUIRE)) {
		unw_flush_cache(unw_local_addr_space, 0, 0);
		__atomic_store_n(&unloads_flushed, changes, __ATOMIC_RELEASE);
	}
	PS_ADD(&check.restepped, 1);
	return step_backtrace(raw, max);
}

static void report_mismatch(const char *what, const uintptr_t *a, int na,
			    const uintptr_t *b, int nb)
{
	char line[400];
	size_t len = 0;
	int sa = skip_self(a, na), sb = skip_self(b, nb);
	for (int i = 0; i < 6 && len < sizeof line - 40; i++)
		len += (size_t)snprintf(line + len, sizeof line - len,
					" %d:%#lx/%#lx", i,
					sa + i < na ? (unsigned long)a[sa + i] : 0ul,
					sb + i < nb ? (unsigned long)b[sb + i] : 0ul);
	ps_warn("unwind check: %s (%d vs %d frames):%s", what, na - sa,
		nb - sb, line);
}

/* Where the fast walk starts: the state of the code that called the
 * allocator hook, when the hook noted it (ps_tls.caller, which the
 * hook's leave() clears), else the capture's own caller. */
static inline const struct ps_unwind_start *caller_state(void)
{
	return ps_tls.caller.rip ? &ps_tls.caller : NULL;
}

/* Whether the stack hash the fast walk kept per frame (ps_unwind_hash,
 * what a capture hands on) is the hash of its frames made afresh: over
 * the frames trim() would keep. */
static int fast_hash_holds(const uintptr_t *ips, int n)
{
	int skip, depth = kept_frames(ips, n, &skip);
	ps_stack_hash kept;
	if (ps_unwind_hash(skip, depth, &kept) != 0)
		return 1; /* none kept: the capture hashes afresh */
	ps_stack_hash_expect(NULL, 0, kept);
	ps_stack_hash fresh = ps_stack_hash_of(ips + skip, depth);
	return fresh.lo == kept.lo && fresh.hi == kept.hi;
}

/* Both unwinders on one stack; keeps libunwind's answer. A walk the fast
 * unwinder says repeats its previous one is compared as that one. */
__attribute__((noinline)) static int capture_checked(uintptr_t *raw, int max)
{
	uintptr_t fast[PS_MAX_DEPTH + 16], step[PS_MAX_DEPTH + 16];
	int same;
	/* a walk the fast unwinder calls repeated is compared too */
	const struct ps_unwind_start *start = caller_state();
	int nf = ps_unwind_fast(fast, max, &same, start);
	if (nf > 0 && same) {
		nf = ps_unwind_last(fast, max);
		PS_ADD(&check.repeated, 1);
	}
	int n = libunwind_walk(raw, max, nf == PS_UNWIND_STALE);
	int ns = step_backtrace(step, max);
	PS_ADD(&check.captures, 1);
	if (nf < 0) {
		PS_ADD(&check.fallback[-nf], 1);
	} else if (!same_stack(fast, nf, raw, n)) {
		if (PS_ADD(&check.mismatches, 1) < 5)
			report_mismatch("fast/unw_backtrace differ", fast, nf,
					raw, n);
	} else if (!same && !fast_hash_holds(fast, nf)) {
		if (PS_ADD(&check.mismatches, 1) < 5)
			report_mismatch("the fast walk's stack hash differs",
					fast, nf, raw, n);
	} else {
		PS_ADD(&check.identical, 1);
	}
	if (!same_stack(step, ns, raw, n) &&
	    PS_ADD(&check.step_disagrees, 1) < 3)
		report_mismatch("unw_step/unw_backtrace differ", step, ns, raw, n);
	return n;
}

__attribute__((destructor)) static void check_report(void)
{
	if (ps_opt.unwinder != PS_UNWINDER_CHECK || !check.captures)
		return;
	uint64_t fell = 0;
	for (int i = 0; i < PS_UNWIND_NREASONS; i++)
		fell += check.fallback[i];
	ps_warn("unwind check: pid=%d captures=%llu identical=%llu "
		"mismatches=%llu fallback=%llu (not_provable=%llu no_module=%llu "
		"stale=%llu busy=%llu no_table=%llu odd_frame=%llu dynamic=%llu) "
		"step_disagrees=%llu repeated=%llu restepped=%llu",
		(int)getpid(), (unsigned long long)check.captures,
		(unsigned long long)check.identical,
		(unsigned long long)check.mismatches, (unsigned long long)fell,
		(unsigned long long)check.fallback[-PS_UNWIND_NOT_PROVABLE],
		(unsigned long long)check.fallback[-PS_UNWIND_NO_MODULE],
		(unsigned long long)check.fallback[-PS_UNWIND_STALE],
		(unsigned long long)check.fallback[-PS_UNWIND_BUSY],
		(unsigned long long)check.fallback[-PS_UNWIND_NO_TABLE],
		(unsigned long long)check.fallback[-PS_UNWIND_ODD_FRAME],
		(unsigned long long)check.fallback[-PS_UNWIND_DYNAMIC],
		(unsigned long long)check.step_disagrees,
		(unsigned long long)check.repeated,
		(unsigned long long)check.restepped);
}

/* Drops our own frames from the n of ips and keeps at most the depth
 * asked for; returns the frame count. fast: the fast walk found ips, and
 * keeps the stack hash per frame: the caller's ps_stack_hash_of(ips,
 * depth) then costs only the frames it found new. (Apart, so that the
 * commonest capture, a repeated one, stays short.) */
__attribute__((noinline)) static int trim(uintptr_t *ips, int n, int fast)
{
	int skip, depth = kept_frames(ips, n, &skip);
	if (skip)
		memmove(ips, ips + skip, (size_t)depth * sizeof *ips);
	ps_stack_hash h = { 0, 0 };
	if (fast && ps_unwind_hash(skip, depth, &h) == 0)
		ps_stack_hash_expect(ips, depth, h);
	else
		ps_stack_hash_expect(NULL, 0, h);
	return depth;
}

int ps_capture_stack(ps_thread *t, uintptr_t *ips, int *repeated)
{
	/* the walk goes straight into ips (it holds PS_MAX_DEPTH + 16),
	 * our own frames are dropped from it after */
	int max = (int)ps_opt.depth + 16, n, same = 0, fast = 0;
	enter_unwind(t);
	if (PS_LIKELY(ps_opt.unwinder == PS_UNWINDER_FAST)) {
		/* every call of this thread's comes here: the fast walk's
		 * previous call is this function's */
		n = ps_unwind_fast(ips, max, repeated ? &same : NULL,
				   caller_state());
		fast = n >= 0;
		if (PS_UNLIKELY(n < 0))
			n = libunwind_walk(ips, max, n == PS_UNWIND_STALE);
	} else if (ps_opt.unwinder == PS_UNWINDER_LIBUNWIND) {
		n = libunwind_walk(ips, max, 1);
	} else {
		n = capture_checked(ips, max);
	}
	__atomic_store_n(&t->in_unwind, 0, __ATOMIC_RELEASE);
	if (PS_UNLIKELY(__atomic_load_n(&ps_unwind_reclaim_pending,
					__ATOMIC_RELAXED)))
		ps_unwind_reclaim();
	if (repeated && (*repeated = same))
		return 0;
	return trim(ips, n, fast);
}

void ps_capture_reset_child(void)
{
	fork_pending = 0;
}
