/* hooks.c - the interposed functions: the malloc family, C++ operator
 * new and delete, jemalloc's own entry points, and the process events a
 * profile must survive (fork, vfork, clone, exec, exit, _exit, dlopen,
 * thread names).
 *
 * Each allocator hook forwards to the next allocator in the chain (found
 * with dlsym(RTLD_NEXT), so glibc malloc, tcmalloc or jemalloc preloaded
 * after us all work) and, unless the thread is already inside a hook, has
 * account.c charge the call to the caller's stack. While dlsym itself runs
 * (it may call calloc) requests are served from a static bootstrap pool;
 * blocks from that pool are never handed to the real allocator.
 *
 * Life cycle: the first hook call of the process (or our ELF constructor,
 * if it comes first) reads the options and opens the profile, so the
 * constructors of libraries initialised before ours are recorded too. A
 * single-threaded process has no writer thread: its hook calls write the
 * periodic snapshots; the first hook call from a second thread starts the
 * writer. A fork child starts a fresh profile; exec and _exit write a
 * final snapshot first; the destructor writes the last one at exit; a
 * signal that ends the process by its default action has signals.c write
 * one (the constructor puts its catcher in, leave() takes a signal that
 * arrived inside a hook).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "poolscout.h"
#include "ps_internal.h"
#include "unwind.h"

__thread struct ps_tls ps_tls PS_TLS;
uint32_t ps_generation = 1;
int ps_recording;
pid_t ps_pid;
uint64_t ps_work_units;
int ps_forked;
struct ps_real ps_real;

/* ---- bootstrap ---------------------------------------------------------- */

/* The next definitions of the process functions we wrap, found with the
 * allocator's (before main, never from a signal handler: dlsym takes the
 * loader's lock and may allocate). */
static struct {
	__typeof__(&execve) execve;
	__typeof__(&execv) execv;
	__typeof__(&execvp) execvp;
	__typeof__(&execvpe) execvpe;
	__typeof__(&fexecve) fexecve;
	__typeof__(&posix_spawn) posix_spawn;
	__typeof__(&posix_spawnp) posix_spawnp;
	__typeof__(&system) system;
	__typeof__(&popen) popen;
	__typeof__(&pthread_setname_np) pthread_setname_np;
	__typeof__(&exit) exit;
	__typeof__(&quick_exit) quick_exit;
	pid_t (*vfork)(void);
	int (*clone)(int (*)(void *), void *, int, void *, ...);
	__typeof__(&dlclose) dlclose;
	int (*libc_start_main)(int (*)(int, char **, char **), int, char **,
			       void (*)(void), void (*)(void), void (*)(void),
			       void *);
} next_fn;

/* The next dlopen, for the trampoline below (hidden: reached without the
 * GOT). */
__attribute__((visibility("hidden"))) void *ps_next_dlopen;

static _Alignas(64) char boot_pool[64 << 10];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t size, size_t align)
{
	if (align < 16)
		align = 16;
	size_t start = (boot_used + align - 1) & ~(align - 1);
	if (start + size > sizeof boot_pool)
		return NULL;
	boot_used = start + size;
	return boot_pool + start; /* static storage is zeroed */
}

static inline int is_boot(const void *p)
{
	return (const char *)p >= boot_pool &&
	       (const char *)p < boot_pool + sizeof boot_pool;
}

static void resolve(void)
{
	if (__atomic_load_n(&ps_real.malloc, __ATOMIC_ACQUIRE))
		return;
	resolving = 1;
	struct ps_real r;
	r.free = dlsym(RTLD_NEXT, "free");
	r.calloc = dlsym(RTLD_NEXT, "calloc");
	r.realloc = dlsym(RTLD_NEXT, "realloc");
	r.memalign = dlsym(RTLD_NEXT, "memalign");
	r.posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	r.aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	r.malloc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
	r.malloc = dlsym(RTLD_NEXT, "malloc");
	next_fn.execve = (__typeof__(&execve))dlsym(RTLD_NEXT, "execve");
	next_fn.execv = (__typeof__(&execv))dlsym(RTLD_NEXT, "execv");
	next_fn.execvp = (__typeof__(&execvp))dlsym(RTLD_NEXT, "execvp");
	next_fn.execvpe = (__typeof__(&execvpe))dlsym(RTLD_NEXT, "execvpe");
	next_fn.fexecve = (__typeof__(&fexecve))dlsym(RTLD_NEXT, "fexecve");
	next_fn.posix_spawn = (__typeof__(&posix_spawn))dlsym(RTLD_NEXT,
								"posix_spawn");
	next_fn.posix_spawnp = (__typeof__(&posix_spawnp))dlsym(RTLD_NEXT,
								  "posix_spawnp");
	next_fn.system = (__typeof__(&system))dlsym(RTLD_NEXT, "system");
	next_fn.popen = (__typeof__(&popen))dlsym(RTLD_NEXT, "popen");
	next_fn.pthread_setname_np = (__typeof__(&pthread_setname_np))dlsym(
		RTLD_NEXT, "pthread_setname_np");
	ps_next_dlopen = dlsym(RTLD_NEXT, "dlopen");
	next_fn.exit = (__typeof__(&exit))dlsym(RTLD_NEXT, "exit");
	next_fn.vfork = (pid_t (*)(void))dlsym(RTLD_NEXT, "vfork");
	next_fn.clone = (int (*)(int (*)(void *), void *, int, void *, ...))
		dlsym(RTLD_NEXT, "clone");
	next_fn.quick_exit = (__typeof__(&quick_exit))dlsym(RTLD_NEXT,
							     "quick_exit");
	next_fn.dlclose = (__typeof__(&dlclose))dlsym(RTLD_NEXT, "dlclose");
	next_fn.libc_start_main = (__typeof__(next_fn.libc_start_main))dlsym(
		RTLD_NEXT, "__libc_start_main");
	if (!r.malloc || !r.free || !r.calloc || !r.realloc) {
		static const char msg[] =
			"poolscout: cannot find the next malloc; giving up\n";
		ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
		(void)n;
		_exit(127);
	}
	ps_real.free = r.free;
	ps_real.calloc = r.calloc;
	ps_real.realloc = r.realloc;
	ps_real.memalign = r.memalign;
	ps_real.posix_memalign = r.posix_memalign;
	ps_real.aligned_alloc = r.aligned_alloc;
	ps_real.malloc_usable_size = r.malloc_usable_size;
	__atomic_store_n(&ps_real.malloc, r.malloc, __ATOMIC_RELEASE);
	resolving = 0;
}

static void start_profiling(void);

/* 0 before the first hook call or the constructor, then 1 while
 * start_profiling() runs, 2 once it has decided. */
static int start_state;

/* Hook calls between two looks at the clock (see leave). */
#define POLL_EVERY 256

/* Enters the accounting path: returns 1 with the guard held when this call
 * should be recorded, 0 when it should just pass through; either way the
 * allocator is resolved. An allocation made from inside a hook
 * (libunwind, libc on our behalf, or a signal handler that interrupted a
 * hook) passes through and is only counted. The first call of the
 * process starts profiling (see start_profiling). A raised guard or
 * recording under way means the allocator was resolved first (every
 * guard is raised after resolve(), and profiling starts after it), so
 * only the other path checks. */
static inline int enter(int is_alloc)
{
	if (PS_UNLIKELY(ps_tls.guard)) {
		if (ps_tls.guard == PS_GUARD_VFORK && ps_recording) {
			/* a vfork child: recorded into its log (account.c) */
			ps_tls.guard = PS_GUARD_VFORK | PS_GUARD_HOOK;
			return 1;
		}
		if (is_alloc && ps_recording && ps_tls.guard < PS_GUARD_SILENT) {
			ps_thread *own = ps_own_thread();
			if (own)
				PS_ADD(&own->unrecorded_allocs, 1);
			else /* e.g. a handler while the table is being made */
				ps_tls.unrecorded_early++;
		}
		return 0;
	}
	if (PS_UNLIKELY(!ps_recording)) {
		if (PS_UNLIKELY(!ps_real.malloc))
			resolve();
		if (PS_LIKELY(__atomic_load_n(&start_state, __ATOMIC_ACQUIRE)))
			return 0;
#ifdef PS_START_AT_CONSTRUCTOR
		/* the sanitizer build: its runtime must be up first */
		return 0;
#endif
		start_profiling();
		if (!ps_recording)
			return 0;
	}
	ps_tls.guard = PS_GUARD_HOOK;
	return 1;
}

/* Leaves the accounting path. Every POLL_EVERY calls, a process without
 * a writer thread (single-threaded so far) writes its periodic snapshot
 * from here. A terminating signal that arrived while the guard was up
 * waited for this moment (signals.c): it is looked for once the guard is
 * down, so one that arrives in between is taken at once by the catcher
 * instead. */
static inline void leave(void)
{
	if (PS_UNLIKELY(++ps_tls.calls_since_poll >= POLL_EVERY)) {
		ps_tls.calls_since_poll = 0;
		if (!(ps_tls.guard & PS_GUARD_VFORK)) /* not the child's */
			ps_writer_poll();
	}
	ps_tls.caller.rip = 0; /* (noted by NOTE_CALLER, for this hook only) */
	ps_tls.guard &= PS_GUARD_VFORK; /* a vfork child's stays */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (PS_UNLIKELY(ps_tls.signal_deferred))
		ps_signals_deferred();
}

/* Notes, for the stack capture, the state of the code that called the
 * function this is written in (the allocator hook, or a slow path it
 * jumped to): the walk then starts there, not in our own frames. Read
 * off this function's frame, which __builtin_frame_address gives one
 * (its prologue saves the caller's rbp at frame[0], the return address
 * above it). Where this function was called by another of ours, the walk
 * starts in that one, whose frames the capture drops as before. */
#define NOTE_CALLER()                                                        \
	do {                                                                 \
		const uintptr_t *frame_ = __builtin_frame_address(0);        \
		ps_tls.caller.rsp = (uintptr_t)(frame_ + 2);                 \
		ps_tls.caller.rbp = frame_[0];                               \
		ps_tls.caller.rip = (uintptr_t)__builtin_return_address(0);  \
	} while (0)

/* ---- the allocator family ---------------------------------------------- */

/* Sampling (--sample N): an allocation the thread's countdown skips, or
 * the free of a block the filter says was never recorded, goes straight
 * to the allocator (sample.c). The countdown alone decides: it is only
 * ever set (account.c) by a thread that went through the recording path,
 * so the allocator is resolved, and only when sampling is on. Whatever
 * else may have changed since (recording ended, a fork child's thread
 * not registered yet) an allocation it skips would not have been recorded
 * either, or is one more draw of the same memoryless distribution. One
 * thread-local load and test when sampling is off. */
static inline int sample_skips_alloc(void)
{
	if (PS_LIKELY(!ps_tls.sample_countdown))
		return 0;
	ps_tls.sample_countdown--;
	return 1;
}

/* Sampled: whether the block p was certainly never recorded, so that its
 * free or resize can go straight to the allocator. The filter exists
 * only when sampling is on (sample.c), so one load decides for exact
 * mode; it is set up after the allocator is resolved, and says "maybe"
 * for every bootstrap block (pinned) and for NULL only if a recorded
 * block shares its slot (a NULL it lets through is passed on: free and
 * realloc take it). */
static inline int sample_never_recorded(const void *p)
{
	const uint8_t *filter = __atomic_load_n(&ps_sample_filter,
						__ATOMIC_ACQUIRE);
	return PS_UNLIKELY(filter != NULL) &&
	       !__atomic_load_n(&filter[ps_sample_slot((uintptr_t)p)],
				__ATOMIC_ACQUIRE);
}

/* The recording paths, out of line so that the sampled-out fast paths
 * above them stay a few instructions. */
/* interposed() asks "malloc", whatever dlsym says it is, for this many
 * bytes with probe_pending set, to learn whether the call reaches us
 * (with the sampling countdown at 0, so that the call comes here). */
#define PROBE_SIZE ((size_t)0x50534355)
static __thread int probe_pending PS_TLS, probe_reached PS_TLS;

__attribute__((noinline)) static void *malloc_slow(size_t size)
{
	if (PS_UNLIKELY(size == PROBE_SIZE) && probe_pending) {
		probe_reached = 1;
		return NULL;
	}
	if (PS_UNLIKELY(!ps_real.malloc)) {
		/* dlsym's own calls while resolve() runs get the pool */
		if (resolving)
			return boot_alloc(size, 16);
		resolve();
	}
	if (!enter(1))
		return ps_real.malloc(size);
	void *p = ps_real.malloc(size);
	NOTE_CALLER();
	if (PS_LIKELY(p != NULL))
		ps_account_alloc(p, size);
	leave();
	return p;
}

PS_EXPORT void *malloc(size_t size)
{
	if (sample_skips_alloc())
		return ps_real.malloc(size);
	return malloc_slow(size);
}

__attribute__((noinline)) static void free_slow(void *p)
{
	if (!p || PS_UNLIKELY(is_boot(p)))
		return;
	if (!enter(0)) {
		ps_real.free(p);
		return;
	}
	ps_account_free(p);
	ps_real.free(p);
	leave();
}

PS_EXPORT void free(void *p)
{
	if (sample_never_recorded(p)) {
		ps_real.free(p);
		return;
	}
	free_slow(p);
}

PS_EXPORT void *calloc(size_t n, size_t size)
{
	if (PS_UNLIKELY(resolving)) {
		size_t total;
		if (__builtin_mul_overflow(n, size, &total))
			return NULL;
		return boot_alloc(total, 16);
	}
	if (sample_skips_alloc())
		return ps_real.calloc(n, size);
	if (!enter(1))
		return ps_real.calloc(n, size);
	void *p = ps_real.calloc(n, size);
	NOTE_CALLER();
	if (PS_LIKELY(p != NULL))
		ps_account_alloc(p, n * size);
	leave();
	return p;
}

typedef void *(*resize_fn)(void *old, size_t size, int flags);

static void *next_realloc(void *old, size_t size, int flags)
{
	(void)flags;
	return ps_real.realloc(old, size);
}

/* Resizes old with fn and charges it: the old block ends (or lives on,
 * for a growth chain), the new one is allocated. The caller holds the
 * guard. */
static void *resize_recorded(void *old, size_t size, resize_fn fn, int flags)
{
	if (PS_UNLIKELY(ps_tls.guard & PS_GUARD_VFORK)) {
		/* a vfork child: logged, the live table left alone */
		void *p = fn(old, size, flags);
		NOTE_CALLER();
		if (p || !size)
			ps_vfork_log_resize(old, p, size);
		return p;
	}
	struct ps_live rec;
	int tracked = ps_livetab_remove((uintptr_t)old, &rec);
	void *p = fn(old, size, flags);
	if (!p && size) {
		/* Failed: the old block is untouched and still ours. */
		if (tracked)
			ps_livetab_insert(&rec);
		return NULL;
	}
	NOTE_CALLER();
	ps_account_resize(tracked ? &rec : NULL, p, size);
	return p;
}

PS_EXPORT void *realloc(void *old, size_t size)
{
	/* sampled: an unrecorded block's result is not recorded either
	 * (resize_recorded); never a bootstrap block (the filter pins them) */
	if (old && sample_never_recorded(old))
		return ps_real.realloc(old, size);
	if (PS_UNLIKELY(is_boot(old))) {
		/* Move a bootstrap block to the real heap; the pool keeps it. */
		void *p = malloc(size);
		if (p) {
			size_t room = (size_t)(boot_pool + sizeof boot_pool -
					       (char *)old);
			memcpy(p, old, size < room ? size : room);
		}
		return p;
	}
	if (PS_UNLIKELY(resolving))
		return old ? NULL : boot_alloc(size, 16);
	if (!old)
		return malloc(size);
	if (!enter(1))
		return ps_real.realloc(old, size);
	void *p = resize_recorded(old, size, next_realloc, 0);
	leave();
	return p;
}

PS_EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, total);
}

/* An aligned block of alloc_size bytes, recorded as asked_size (pvalloc
 * rounds the block up to whole pages; the program asked for less). */
static void *aligned_sized(size_t align, size_t alloc_size, size_t asked_size)
{
	if (PS_UNLIKELY(resolving))
		return boot_alloc(alloc_size, align);
	if (!enter(1))
		return ps_real.memalign(align, alloc_size);
	void *p = ps_real.memalign(align, alloc_size);
	NOTE_CALLER();
	if (PS_LIKELY(p != NULL))
		ps_account_alloc(p, asked_size);
	leave();
	return p;
}

static void *aligned(size_t align, size_t size)
{
	return aligned_sized(align, size, size);
}

PS_EXPORT void *memalign(size_t align, size_t size)
{
	return aligned(align, size);
}

PS_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	if (!ps_real.aligned_alloc)
		return aligned(align, size);
	if (!enter(1))
		return ps_real.aligned_alloc(align, size);
	void *p = ps_real.aligned_alloc(align, size);
	NOTE_CALLER();
	if (PS_LIKELY(p != NULL))
		ps_account_alloc(p, size);
	leave();
	return p;
}

PS_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (PS_UNLIKELY(resolving)) {
		*out = boot_alloc(size, align);
		return *out ? 0 : ENOMEM;
	}
	if (!enter(1))
		return ps_real.posix_memalign(out, align, size);
	int rc = ps_real.posix_memalign(out, align, size);
	NOTE_CALLER();
	if (rc == 0)
		ps_account_alloc(*out, size);
	leave();
	return rc;
}

PS_EXPORT void *valloc(size_t size)
{
	return aligned((size_t)sysconf(_SC_PAGESIZE), size);
}

PS_EXPORT void *pvalloc(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t rounded = (size + page - 1) & ~(page - 1);
	if (rounded < size) {
		errno = ENOMEM;
		return NULL;
	}
	return aligned_sized(page, rounded ? rounded : page, size);
}

PS_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (is_boot(p))
		return (size_t)(boot_pool + sizeof boot_pool - (char *)p);
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	return ps_real.malloc_usable_size ? ps_real.malloc_usable_size(p) : 0;
}

/* ---- jemalloc's own entry points ----------------------------------------- */

/* Programs built for jemalloc (redis) call mallocx, rallocx, xallocx,
 * sdallocx and dallocx directly, also on blocks malloc returned: with
 * jemalloc preloaded after us they would bypass our tables (missed
 * allocations, frees that leave false leaks). They are forwarded to the
 * next definition and charged like their standard twins; without
 * jemalloc they are carried out with the standard functions. */
enum jemalloc_op { J_MALLOCX, J_RALLOCX, J_XALLOCX, J_SDALLOCX, J_DALLOCX, J_OPS };
static const char *const jemalloc_names[J_OPS] = {
	"mallocx", "rallocx", "xallocx", "sdallocx", "dallocx"
};
static void *jemalloc_next_fn[J_OPS];

static void *jemalloc_next(enum jemalloc_op op)
{
	void *f = __atomic_load_n(&jemalloc_next_fn[op], __ATOMIC_ACQUIRE);
	if (PS_LIKELY(f != NULL))
		return f;
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	ps_tls.guard++;
	f = dlsym(RTLD_NEXT, jemalloc_names[op]);
	ps_tls.guard--;
	__atomic_store_n(&jemalloc_next_fn[op], f, __ATOMIC_RELEASE);
	return f;
}

#define MALLOCX_ZERO_FLAG 0x40
#define MALLOCX_ALIGN_OF(flags) \
	((flags) & 0x3f ? (size_t)1 << ((flags) & 0x3f) : 0)

static void *mallocx_next(size_t size, int flags)
{
	void *(*f)(size_t, int) = (void *(*)(size_t, int))jemalloc_next(J_MALLOCX);
	if (f)
		return f(size, flags);
	size_t align = MALLOCX_ALIGN_OF(flags);
	void *p = align > 16 ? ps_real.memalign(align, size)
			     : ps_real.malloc(size);
	if (p && (flags & MALLOCX_ZERO_FLAG))
		memset(p, 0, size);
	return p;
}

static void *rallocx_next(void *old, size_t size, int flags)
{
	void *(*f)(void *, size_t, int) =
		(void *(*)(void *, size_t, int))jemalloc_next(J_RALLOCX);
	if (f)
		return f(old, size, flags);
	size_t align = MALLOCX_ALIGN_OF(flags);
	if (align <= 16)
		return ps_real.realloc(old, size);
	void *p = ps_real.memalign(align, size);
	if (p) {
		size_t had = ps_real.malloc_usable_size
				     ? ps_real.malloc_usable_size(old) : size;
		memcpy(p, old, had < size ? had : size);
		ps_real.free(old);
	}
	return p;
}

static void free_next(enum jemalloc_op op, void *p, size_t size, int flags)
{
	if (op == J_SDALLOCX) {
		void (*f)(void *, size_t, int) =
			(void (*)(void *, size_t, int))jemalloc_next(op);
		if (f) {
			f(p, size, flags);
			return;
		}
	} else {
		void (*f)(void *, int) = (void (*)(void *, int))jemalloc_next(op);
		if (f) {
			f(p, flags);
			return;
		}
	}
	ps_real.free(p);
}

void *mallocx(size_t size, int flags);
void *rallocx(void *p, size_t size, int flags);
size_t xallocx(void *p, size_t size, size_t extra, int flags);
void sdallocx(void *p, size_t size, int flags);
void dallocx(void *p, int flags);

PS_EXPORT void *mallocx(size_t size, int flags)
{
	if (!enter(1))
		return mallocx_next(size, flags);
	ps_tls.guard |= PS_GUARD_SILENT;
	void *p = mallocx_next(size, flags);
	ps_tls.guard &= ~PS_GUARD_SILENT;
	NOTE_CALLER();
	if (p)
		ps_account_alloc(p, size);
	leave();
	return p;
}

static void *rallocx_silent(void *old, size_t size, int flags)
{
	ps_tls.guard |= PS_GUARD_SILENT;
	void *p = rallocx_next(old, size, flags);
	ps_tls.guard &= ~PS_GUARD_SILENT;
	return p;
}

PS_EXPORT void *rallocx(void *old, size_t size, int flags)
{
	if (!enter(1))
		return rallocx_next(old, size, flags);
	void *p = resize_recorded(old, size, rallocx_silent, flags);
	leave();
	return p;
}

/* Resizes in place or not at all: the block keeps its record (its size
 * there stays the one first asked for). */
PS_EXPORT size_t xallocx(void *p, size_t size, size_t extra, int flags)
{
	size_t (*f)(void *, size_t, size_t, int) =
		(size_t (*)(void *, size_t, size_t, int))jemalloc_next(J_XALLOCX);
	if (f)
		return f(p, size, extra, flags);
	return ps_real.malloc_usable_size ? ps_real.malloc_usable_size(p) : 0;
}

static void jemalloc_free(enum jemalloc_op op, void *p, size_t size, int flags)
{
	if (!p)
		return;
	if (!enter(0)) {
		free_next(op, p, size, flags);
		return;
	}
	ps_account_free(p);
	ps_tls.guard |= PS_GUARD_SILENT;
	free_next(op, p, size, flags);
	ps_tls.guard &= ~PS_GUARD_SILENT;
	leave();
}

PS_EXPORT void sdallocx(void *p, size_t size, int flags)
{
	jemalloc_free(J_SDALLOCX, p, size, flags);
}

PS_EXPORT void dallocx(void *p, int flags)
{
	jemalloc_free(J_DALLOCX, p, 0, flags);
}

/* ---- C++ operator new and delete ------------------------------------------ */

/* libstdc++'s operators call malloc and free, which we see; but
 * tcmalloc and jemalloc define their own, which go straight to their
 * allocator, and libstdc++'s aligned new rounds the size up to a multiple
 * of the alignment. So the operators are hooked too: each records the
 * size the program asked for and calls the next definition with the
 * guard at PS_GUARD_SILENT, so the malloc or free that one makes is not
 * counted again. A throwing new calls the next nothrow variant (an
 * exception must not cross a frame that holds the guard); only when that
 * fails does it call the throwing one, unguarded, to run the new_handler
 * and throw. */
enum cxx_op {
	NEW, NEW_ARRAY, NEW_NOTHROW, NEW_ARRAY_NOTHROW,
	NEW_ALIGN, NEW_ARRAY_ALIGN, NEW_ALIGN_NOTHROW, NEW_ARRAY_ALIGN_NOTHROW,
	DELETE, DELETE_ARRAY, DELETE_SIZED, DELETE_ARRAY_SIZED,
	DELETE_NOTHROW, DELETE_ARRAY_NOTHROW, DELETE_ALIGN, DELETE_ARRAY_ALIGN,
	DELETE_SIZED_ALIGN, DELETE_ARRAY_SIZED_ALIGN, DELETE_ALIGN_NOTHROW,
	DELETE_ARRAY_ALIGN_NOTHROW, CXX_OPS
};

static const char *const cxx_names[CXX_OPS] = {
	"_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
	"_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
	"_ZnwmSt11align_val_tRKSt9nothrow_t",
	"_ZnamSt11align_val_tRKSt9nothrow_t",
	"_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvRKSt9nothrow_t",
	"_ZdaPvRKSt9nothrow_t", "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t",
	"_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
	"_ZdlPvSt11align_val_tRKSt9nothrow_t",
	"_ZdaPvSt11align_val_tRKSt9nothrow_t",
};
static void *cxx_next_fn[CXX_OPS];
/* The next definition is libstdc++'s, which only calls malloc (or
 * memalign-like functions) and free: we call those ourselves, three calls
 * fewer per new. */
static int cxx_next_is_libstdcxx[CXX_OPS];
static const char nothrow_tag; /* std::nothrow_t is empty: any address */

/* cxx_next()'s first use of op (or every use while there is none). */
__attribute__((noinline)) static void *cxx_resolve_next(enum cxx_op op)
{
	void *f;
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	ps_tls.guard++;
	f = dlsym(RTLD_NEXT, cxx_names[op]);
	Dl_info info;
	const char *base = f && dladdr(f, &info) && info.dli_fname
				   ? strrchr(info.dli_fname, '/') : NULL;
	ps_tls.guard--;
	/* libstdc++'s own operators go straight to malloc and free, unless
	 * an allocator with its own operators sits between us */
	cxx_next_is_libstdcxx[op] = base && !strncmp(base, "/libstdc++.so", 13);
	__atomic_store_n(&cxx_next_fn[op], f, __ATOMIC_RELEASE);
	return f;
}

/* The next definition of operator op (resolved on first use: a C program
 * may load libstdc++ later with a plugin), or NULL. */
static inline void *cxx_next(enum cxx_op op)
{
	void *f = __atomic_load_n(&cxx_next_fn[op], __ATOMIC_ACQUIRE);
	return PS_LIKELY(f != NULL) ? f : cxx_resolve_next(op);
}

static inline int next_is_libstdcxx(enum cxx_op op)
{
	return cxx_next(op) && cxx_next_is_libstdcxx[op];
}

typedef void *(*new_fn)(size_t);
typedef void *(*new_nothrow_fn)(size_t, const void *);
typedef void *(*new_align_fn)(size_t, size_t);
typedef void *(*new_align_nothrow_fn)(size_t, size_t, const void *);

/* Calls the next nothrow new (aligned when align != 0), or malloc and
 * memalign when there is none. */
static void *next_new_nothrow(int array, size_t size, size_t align)
{
	if (next_is_libstdcxx(array ? NEW_ARRAY_NOTHROW : NEW_NOTHROW) &&
	    next_is_libstdcxx(array ? NEW_ARRAY_ALIGN_NOTHROW
				    : NEW_ALIGN_NOTHROW))
		return align ? ps_real.memalign(align, size ? size : 1)
			     : ps_real.malloc(size ? size : 1);
	if (!align) {
		new_nothrow_fn f = (new_nothrow_fn)cxx_next(
			array ? NEW_ARRAY_NOTHROW : NEW_NOTHROW);
		return f ? f(size, &nothrow_tag) : ps_real.malloc(size ? size : 1);
	}
	new_align_nothrow_fn f = (new_align_nothrow_fn)cxx_next(
		array ? NEW_ARRAY_ALIGN_NOTHROW : NEW_ALIGN_NOTHROW);
	return f ? f(size, align, &nothrow_tag)
		 : ps_real.memalign(align, size ? size : 1);
}

/* The recorded part of every new (or the whole of one the sampling
 * skips): returns the block, or NULL when the next allocator failed or
 * this call is not recorded (*recorded = 0). */
/* (always inline: NOTE_CALLER() must read the exported operator's frame,
 * whose caller is the program's code) */
__attribute__((always_inline)) static inline void *
cxx_new(int array, size_t size, size_t align, int *recorded)
{
	if (sample_skips_alloc()) {
		/* sampled out: as recorded, the next allocator's own calls
		 * pass uncounted (one draw per new) */
		int guard = ps_tls.guard;
		ps_tls.guard = PS_GUARD_SILENT;
		void *p = next_new_nothrow(array, size, align);
		ps_tls.guard = guard;
		*recorded = 1;
		return p;
	}
	*recorded = enter(1);
	if (!*recorded)
		return NULL;
	ps_tls.guard |= PS_GUARD_SILENT;
	void *p = next_new_nothrow(array, size, align);
	ps_tls.guard &= ~PS_GUARD_SILENT;
	NOTE_CALLER();
	if (p)
		ps_account_alloc(p, size);
	leave();
	return p;
}

__attribute__((always_inline)) static inline void *
cxx_new_throwing(int array, size_t size, size_t align)
{
	int recorded;
	void *p = cxx_new(array, size, align, &recorded);
	if (p)
		return p;
	/* not recorded, or out of memory: the next one runs the
	 * new_handler and throws */
	if (!align) {
		new_fn f = (new_fn)cxx_next(array ? NEW_ARRAY : NEW);
		return f ? f(size) : ps_real.malloc(size ? size : 1);
	}
	new_align_fn f = (new_align_fn)cxx_next(array ? NEW_ARRAY_ALIGN
						      : NEW_ALIGN);
	return f ? f(size, align) : ps_real.memalign(align, size ? size : 1);
}

__attribute__((always_inline)) static inline void *
cxx_new_nothrow(int array, size_t size, size_t align)
{
	int recorded;
	void *p = cxx_new(array, size, align, &recorded);
	return recorded ? p : next_new_nothrow(array, size, align);
}

/* The mangled operators, declared for C (align_val_t is a size_t enum,
 * nothrow_t a reference). */
void *_Znwm(size_t size);
void *_Znam(size_t size);
void *_ZnwmSt11align_val_t(size_t size, size_t align);
void *_ZnamSt11align_val_t(size_t size, size_t align);
void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt);
void *_ZnamRKSt9nothrow_t(size_t size, const void *nt);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
					 const void *nt);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
					 const void *nt);
void _ZdlPv(void *p);
void _ZdaPv(void *p);
void _ZdlPvm(void *p, size_t n);
void _ZdaPvm(void *p, size_t n);
void _ZdlPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdaPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdlPvSt11align_val_t(void *p, size_t al);
void _ZdaPvSt11align_val_t(void *p, size_t al);
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt);

PS_EXPORT void *_Znwm(size_t size) { return cxx_new_throwing(0, size, 0); }
PS_EXPORT void *_Znam(size_t size) { return cxx_new_throwing(1, size, 0); }
PS_EXPORT void *_ZnwmSt11align_val_t(size_t size, size_t align)
{
	return cxx_new_throwing(0, size, align);
}
PS_EXPORT void *_ZnamSt11align_val_t(size_t size, size_t align)
{
	return cxx_new_throwing(1, size, align);
}
PS_EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt)
{
	(void)nt;
	return cxx_new_nothrow(0, size, 0);
}
PS_EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const void *nt)
{
	(void)nt;
	return cxx_new_nothrow(1, size, 0);
}
PS_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
						    const void *nt)
{
	(void)nt;
	return cxx_new_nothrow(0, size, align);
}
PS_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
						    const void *nt)
{
	(void)nt;
	return cxx_new_nothrow(1, size, align);
}

/* Every delete: charge the free, then the next operator with the same
 * arguments (a, b: the size and/or alignment, as that variant takes). */
typedef void (*delete_fn)(void *, size_t, size_t);

static void cxx_delete(enum cxx_op op, void *p, size_t a, size_t b)
{
	if (!p)
		return;
	/* Every variant takes at most two word arguments after p and the
	 * callee ignores the ones it does not take (SysV x86-64 ABI). */
	delete_fn next = (delete_fn)cxx_next(op);
	if (cxx_next_is_libstdcxx[op])
		next = NULL; /* its delete is free */
	if (sample_never_recorded(p) || !enter(0)) {
		if (next)
			next(p, a, b);
		else
			ps_real.free(p);
		return;
	}
	ps_account_free(p);
	ps_tls.guard |= PS_GUARD_SILENT;
	if (next)
		next(p, a, b);
	else
		ps_real.free(p);
	ps_tls.guard &= ~PS_GUARD_SILENT;
	leave();
}

PS_EXPORT void _ZdlPv(void *p) { cxx_delete(DELETE, p, 0, 0); }
PS_EXPORT void _ZdaPv(void *p) { cxx_delete(DELETE_ARRAY, p, 0, 0); }
PS_EXPORT void _ZdlPvm(void *p, size_t n) { cxx_delete(DELETE_SIZED, p, n, 0); }
PS_EXPORT void _ZdaPvm(void *p, size_t n)
{
	cxx_delete(DELETE_ARRAY_SIZED, p, n, 0);
}
PS_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nt)
{
	cxx_delete(DELETE_NOTHROW, p, (size_t)nt, 0);
}
PS_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nt)
{
	cxx_delete(DELETE_ARRAY_NOTHROW, p, (size_t)nt, 0);
}
PS_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t al)
{
	cxx_delete(DELETE_ALIGN, p, al, 0);
}
PS_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t al)
{
	cxx_delete(DELETE_ARRAY_ALIGN, p, al, 0);
}
PS_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al)
{
	cxx_delete(DELETE_SIZED_ALIGN, p, n, al);
}
PS_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al)
{
	cxx_delete(DELETE_ARRAY_SIZED_ALIGN, p, n, al);
}
PS_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al,
						  const void *nt)
{
	cxx_delete(DELETE_ALIGN_NOTHROW, p, al, (size_t)nt);
}
PS_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al,
						  const void *nt)
{
	cxx_delete(DELETE_ARRAY_ALIGN_NOTHROW, p, al, (size_t)nt);
}

/* ---- units of work (include/poolscout.h) -------------------------------- */

PS_EXPORT void poolscout_mark_work(unsigned long long units)
{
	PS_ADD(&ps_work_units, (uint64_t)units);
}

/* ---- process events ----------------------------------------------------- */

/* Writes the final snapshot before the image goes away. Only the process
 * that owns the profile does it: a vfork child shares our memory but not
 * our pid, and must not write the parent's file.
 *
 * Every signal is blocked while it runs, so a handler that ends the
 * process (exit, _exit, exec: all legal from a handler) cannot interrupt
 * the batch half-built and then wait for the writer lock its own thread
 * holds; it runs once the batch is out, finds the profile finished, and
 * ends the process as it asked. keep_blocked: leave them blocked (for
 * _exit, whose status must be the one asked for). */
static void final_snapshot_masked(int reason, int keep_blocked)
{
	if (!ps_recording || (pid_t)syscall(SYS_getpid) != ps_pid)
		return;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int saved = ps_tls.guard;
	ps_tls.guard = 1;
	ps_writer_snapshot(reason);
	ps_tls.guard = saved;
	if (!keep_blocked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void final_snapshot(int reason)
{
	final_snapshot_masked(reason, 0);
}

PS_EXPORT void _exit(int status)
{
	final_snapshot_masked(PS_END_UNDERSCORE_EXIT, 1);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

PS_EXPORT void _Exit(int status)
{
	_exit(status);
}

/* Before an exec: writes the snapshot and the END (exec) record, and
 * keeps the writer lock until the exec is over, so the writer thread
 * cannot append a periodic snapshot after the END while the kernel is
 * still replacing the image (the file would read as partial). Returns
 * 1 when it holds the lock; exec_failed() gives it back. A signal
 * handler that ends the process meanwhile still writes its own final
 * snapshot: the lock is its thread's. */
static int exec_prepare_snapshot(void);

/* Whether the preload list LD_PRELOAD names the library at self: by its
 * path, or by a name with its last component (the loader searches names
 * without a slash in the library path). */
static int preload_names(const char *list, const char *self)
{
	const char *base = strrchr(self, '/');
	base = base ? base + 1 : self;
	size_t blen = strlen(base), len;
	for (const char *entry; (entry = ps_preload_next(&list, &len));) {
		const char *name = entry;
		for (size_t i = 0; i < len; i++)
			if (entry[i] == '/')
				name = entry + i + 1;
		if ((size_t)(entry + len - name) == blen &&
		    !memcmp(name, base, blen))
			return 1;
	}
	return 0;
}

/* An exec whose environment drops us from LD_PRELOAD (`env
 * LD_PRELOAD=libtcmalloc.so.4 prog`, `env -i`, unsetenv) starts a
 * program no one profiles: said once, on stderr, while this process is
 * recorded and its children are meant to be. what: the path or file
 * exec'd (NULL: a descriptor); envp NULL: environ. */
static void exec_check_preload(const char *what, char *const envp[])
{
	static int warned;
	Dl_info self;
	if (warned || !ps_recording || !ps_opt.children ||
	    (pid_t)syscall(SYS_getpid) != ps_pid ||
	    !dladdr((void *)preload_names, &self) || !self.dli_fname)
		return;
	const char *list = ps_env_get(envp ? (char **)envp : ps_environ(),
				      "LD_PRELOAD");
	if (preload_names(list, self.dli_fname))
		return;
	warned = 1;
	ps_warn("pid %d execs %s with %s%s, without %s: that program is not "
		"profiled (put %s first in its LD_PRELOAD, before any other "
		"library there, to profile it)",
		(int)ps_pid, what ? what : "a descriptor",
		list ? "LD_PRELOAD=" : "no LD_PRELOAD", list ? list : "",
		self.dli_fname, self.dli_fname);
}

static int exec_prepare(void)
{
	int held = exec_prepare_snapshot();
	/* after the END went out (it may have reopened the file): the new
	 * image must not inherit the descriptor, nor a vfork child's */
	ps_writer_cloexec(1);
	return held;
}

static int exec_prepare_snapshot(void)
{
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve(); /* exec from a constructor that ran before ours */
	if (!ps_recording || (pid_t)syscall(SYS_getpid) != ps_pid)
		return 0;
	if (ps_locks_held) { /* from a handler: see ps_writer_snapshot */
		ps_writer_interrupted_warning();
		return 0;
	}
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/* The guard stays up until the exec is over: a handler's
	 * allocations meanwhile must not trigger a hook-driven snapshot. */
	ps_tls.guard++;
	ps_writer_lock();
	ps_writer_snapshot(PS_END_EXEC);
	/* exec keeps the mask: give the new image the caller's */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 1;
}

static void exec_failed(int held)
{
	int saved = errno;
	ps_writer_cloexec(0);
	if (held) {
		ps_writer_unlock();
		ps_tls.guard--;
	}
	errno = saved;
}

PS_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	exec_check_preload(path, envp);
	int held = exec_prepare();
	int rc = next_fn.execve(path, argv, envp);
	exec_failed(held);
	return rc;
}

PS_EXPORT int execv(const char *path, char *const argv[])
{
	exec_check_preload(path, NULL);
	int held = exec_prepare();
	int rc = next_fn.execv(path, argv);
	exec_failed(held);
	return rc;
}

PS_EXPORT int execvp(const char *file, char *const argv[])
{
	exec_check_preload(file, NULL);
	int held = exec_prepare();
	int rc = next_fn.execvp(file, argv);
	exec_failed(held);
	return rc;
}

PS_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	exec_check_preload(file, envp);
	int held = exec_prepare();
	int rc = next_fn.execvpe(file, argv, envp);
	exec_failed(held);
	return rc;
}

PS_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	exec_check_preload(NULL, envp);
	int held = exec_prepare();
	int rc = next_fn.fexecve(fd, argv, envp);
	exec_failed(held);
	return rc;
}

/* posix_spawn, system and popen run their child's exec inside libc,
 * past our exec hooks: the descriptor is close-on-exec while they run.
 * (Another thread's spawn ending meanwhile may clear it early: that
 * child then inherits one open descriptor, nothing more.) */
#define AROUND_SPAWN(call)                      \
	do {                                    \
		if (PS_UNLIKELY(!ps_real.malloc)) \
			resolve();              \
		ps_writer_cloexec(1);           \
		__typeof__(call) r_ = (call);   \
		int e_ = errno;                 \
		ps_writer_cloexec(0);           \
		errno = e_;                     \
		return r_;                      \
	} while (0)

PS_EXPORT int posix_spawn(pid_t *pid, const char *path,
			  const posix_spawn_file_actions_t *actions,
			  const posix_spawnattr_t *attr, char *const argv[],
			  char *const envp[])
{
	AROUND_SPAWN(next_fn.posix_spawn(pid, path, actions, attr, argv, envp));
}

PS_EXPORT int posix_spawnp(pid_t *pid, const char *file,
			   const posix_spawn_file_actions_t *actions,
			   const posix_spawnattr_t *attr, char *const argv[],
			   char *const envp[])
{
	AROUND_SPAWN(next_fn.posix_spawnp(pid, file, actions, attr, argv, envp));
}

PS_EXPORT int system(const char *command)
{
	AROUND_SPAWN(next_fn.system(command));
}

PS_EXPORT FILE *popen(const char *command, const char *type)
{
	AROUND_SPAWN(next_fn.popen(command, type));
}

/* The execl family: collect the variadic arguments into an argv on the
 * stack (no malloc: we may be in a fork child of a threaded program). */
#define COLLECT_ARGS(first, ap, argv, with_env, envp)                     \
	size_t n = 1;                                                     \
	va_start(ap, first);                                              \
	while (va_arg(ap, char *))                                        \
		n++;                                                      \
	va_end(ap);                                                       \
	char *argv[n + 1];                                                \
	va_start(ap, first);                                              \
	argv[0] = (char *)first;                                          \
	for (size_t i = 1; i <= n; i++)                                   \
		argv[i] = i < n ? va_arg(ap, char *) : NULL;              \
	if (with_env)                                                     \
		(void)va_arg(ap, char *), envp = va_arg(ap, char **);     \
	va_end(ap)

PS_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	char **envp = NULL;
	COLLECT_ARGS(arg, ap, argv, 0, envp);
	(void)envp;
	return execv(path, argv);
}

PS_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	char **envp = NULL;
	COLLECT_ARGS(arg, ap, argv, 0, envp);
	(void)envp;
	return execvp(file, argv);
}

PS_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char **envp = NULL;
	size_t n = 1;
	va_start(ap, arg);
	while (va_arg(ap, char *))
		n++;
	envp = va_arg(ap, char **);
	va_end(ap);
	char *argv[n + 1];
	va_start(ap, arg);
	argv[0] = (char *)arg;
	for (size_t i = 1; i <= n; i++)
		argv[i] = i < n ? va_arg(ap, char *) : NULL;
	va_end(ap);
	return execve(path, argv, envp);
}

/* ---- dlopen and RTLD_DEEPBIND -------------------------------------------- */

/* A library loaded with RTLD_DEEPBIND binds its malloc and free to the
 * first definition in its own dependencies (libc) before the global scope
 * where we sit: its allocations would bypass us, and the blocks it frees
 * would look leaked. dlopen therefore loses the flag, with one warning,
 * unless POOLSCOUT_KEEP_DEEPBIND asks to keep it.
 *
 * The wrapper must not become dlopen's caller: dlopen searches the
 * calling object's RUNPATH and picks its namespace from the return
 * address. So dlopen is a jump: this trampoline adjusts the mode in a C
 * helper when RTLD_DEEPBIND is set and tail-jumps to the next dlopen with
 * the caller's return address still on the stack. */
__attribute__((visibility("hidden"))) int ps_dlopen_mode(const char *file,
							  int mode);
int ps_dlopen_mode(const char *file, int mode)
{
	static int warned;
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	if (!(mode & RTLD_DEEPBIND))
		return mode;
	if (!ps_opt.keep_deepbind) {
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			ps_warn("dlopen(\"%s\") with RTLD_DEEPBIND: loading it "
				"without, so its allocations are seen "
				"(POOLSCOUT_KEEP_DEEPBIND=1 keeps the flag and "
				"loses them)", file ? file : "(main program)");
		return mode & ~RTLD_DEEPBIND;
	}
	if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		ps_warn("dlopen(\"%s\") with RTLD_DEEPBIND kept "
			"(POOLSCOUT_KEEP_DEEPBIND): its allocations bypass "
			"poolscout, its frees of other blocks look like leaks",
			file ? file : "(main program)");
	return mode;
}

#if defined(__x86_64__)
__asm__(".text\n"
	".globl dlopen\n"
	".type dlopen, @function\n"
	"dlopen:\n"
	"	movq ps_next_dlopen(%rip), %rax\n"
	"	testq %rax, %rax\n"
	"	jz 1f\n"
	"	testl $" PS_STRINGIFY(RTLD_DEEPBIND) ", %esi\n"
	"	jnz 1f\n"
	"	jmp *%rax\n"
	/* slow path: not resolved yet, or RTLD_DEEPBIND set */
	"1:	pushq %rdi\n"
	"	pushq %rsi\n"
	"	subq $8, %rsp\n" /* 16-byte aligned for the call */
	"	call ps_dlopen_mode\n"
	"	addq $8, %rsp\n"
	"	popq %rsi\n"
	"	popq %rdi\n"
	"	movl %eax, %esi\n"
	"	jmp *ps_next_dlopen(%rip)\n"
	".size dlopen, .-dlopen\n");
#else
/* Elsewhere the flag is left alone (a C wrapper would become the caller). */
#endif

PS_EXPORT int pthread_setname_np(pthread_t thread, const char *name)
{
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	int rc = next_fn.pthread_setname_np(thread, name);
	if (rc == 0 && ps_recording) {
		int saved = ps_tls.guard;
		ps_tls.guard = 1;
		ps_threads_set_name(thread, name);
		ps_tls.guard = saved;
	}
	return rc;
}

/* An unloaded object may be replaced by another at the same address: the
 * fast unwinder must re-read the module map before its next walk. */
PS_EXPORT int dlclose(void *handle)
{
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	int rc = next_fn.dlclose(handle);
	ps_unwind_modules_changed();
	return rc;
}

/* ---- fork --------------------------------------------------------------- */

/* Lock order everywhere: writer, stacks, nodes, modules, threads, livetab
 * shards, arena. Holding them all across fork() means no lock is copied into the
 * child in a held state. */
static void fork_prepare(void)
{
	ps_tls.guard++;
	ps_capture_fork_quiesce(); /* nobody inside libunwind's locks */
	ps_writer_lock();
	ps_stacks_lock();
	ps_nodes_lock();
	ps_modules_lock();
	ps_threads_lock();
	ps_livetab_lock_all();
	ps_arena_lock();
}

static void fork_parent(void)
{
	ps_arena_unlock();
	ps_livetab_unlock_all();
	ps_threads_unlock();
	ps_modules_unlock();
	ps_nodes_unlock();
	ps_stacks_unlock();
	ps_writer_unlock();
	ps_capture_fork_done();
	ps_tls.guard--;
}

static void fork_child(void)
{
	int was_recording = ps_recording;
	ps_recording = 0;
	ps_pid = (pid_t)syscall(SYS_getpid);
	ps_generation++;
	ps_tls.thread = NULL;
	ps_arena_reset_child();
	ps_livetab_reset_child();
	ps_sample_reset_child();
	ps_capture_reset_child();
	ps_stacks_reset_child();
	ps_nodes_reset_child();
	ps_modules_reset_child();
	ps_threads_reset_child();
	ps_writer_reset_child();
	ps_locks_held = 0; /* every lock was reset to unlocked */
	ps_tls.guard--;
	if (was_recording && ps_opt.children) {
		ps_forked = 1;
		ps_recording = 1;
	}
}

/* ---- vfork and clone ---------------------------------------------------------- */

/* A vfork child runs on its parent's thread, stack and memory until it
 * execs or exits: what it allocates and frees is on the parent's heap,
 * and goes into the parent's tables, but through a log the parent reads
 * when it resumes (account.c: the child must take none of our locks).
 * vfork cannot be wrapped by a C function (the child would return through
 * a frame the parent then returns through again), so it is a trampoline
 * (x86-64): it keeps the caller's return address in a thread-local slot,
 * calls the next vfork, and then, in the child, sets the guard to
 * PS_GUARD_VFORK (the parent's thread-local memory is the child's), in
 * the parent restores it and charges what the child logged (a thread
 * with no record yet gets one first). A child of a call made with the
 * guard up (from inside a hook) or while nothing is recorded passes
 * through uncounted (PS_GUARD_SILENT). glibc's vfork holds its own return
 * address in a register across the system call, so the child's pushes
 * below cannot hurt the parent. */
static __thread uintptr_t vfork_return PS_TLS;
static __thread int vfork_saved_guard PS_TLS;

/* Before a vfork: the child records on this thread's record (and must
 * not make one: that may start the writer thread), so a thread that has
 * none yet gets it now. */
static void vfork_prepare(void)
{
	if (!ps_recording || ps_tls.guard || ps_own_thread())
		return;
	ps_tls.guard = PS_GUARD_HOOK;
	ps_account_thread();
	ps_tls.guard = 0;
}

/* The guard of a vfork child whose parent's thread had guard. */
static void vfork_child_guard(int guard)
{
	ps_tls.guard = guard || !ps_recording || !ps_own_thread()
			       ? guard + PS_GUARD_SILENT
			       : PS_GUARD_VFORK;
}

/* The parent of a vfork child, back with its guard as it was: charges
 * what the child logged (held up: nothing it allocates meanwhile is
 * recorded). */
static void vfork_parent_resumes(int guard)
{
	ps_tls.guard = guard + PS_GUARD_HOOK;
	ps_vfork_replay();
	ps_tls.guard = guard;
}

__attribute__((visibility("hidden"))) void *ps_vfork_enter(uintptr_t ret);
void *ps_vfork_enter(uintptr_t ret)
{
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	vfork_return = ret;
	vfork_saved_guard = ps_tls.guard;
	vfork_prepare();
	return (void *)next_fn.vfork;
}

__attribute__((visibility("hidden"))) uintptr_t ps_vfork_leave(int pid);
uintptr_t ps_vfork_leave(int pid)
{
	if (pid == 0)
		vfork_child_guard(vfork_saved_guard);
	else
		vfork_parent_resumes(vfork_saved_guard);
	return vfork_return;
}

#if defined(__x86_64__)
__asm__(".text\n"
	".globl vfork\n"
	".type vfork, @function\n"
	"vfork:\n"
	"	popq %rdi\n"            /* our return address; rsp aligned */
	"	call ps_vfork_enter\n"  /* keeps it; returns the next vfork */
	"	call *%rax\n"           /* returns twice: child, then parent */
	"	pushq %rax\n"
	"	subq $8, %rsp\n"
	"	movl %eax, %edi\n"
	"	call ps_vfork_leave\n"  /* returns the return address */
	"	addq $8, %rsp\n"
	"	movq %rax, %rdx\n"
	"	popq %rax\n"
	"	jmp *%rdx\n"
	".size vfork, .-vfork\n");
#endif

struct clone_start {
	int (*fn)(void *);
	void *arg;
};

/* The child of a clone without CLONE_VM: a fork that ran no atfork
 * handlers. It resets the tables as a fork child does, runs the
 * program's function, and writes its final snapshot: glibc ends it with
 * the exit system call when the function returns. */
static int clone_child_start(void *p)
{
	struct clone_start *start = p;
	fork_child();
	int rc = start->fn(start->arg);
	final_snapshot_masked(PS_END_UNDERSCORE_EXIT, 1);
	return rc;
}

/* Like the vfork child, the child of clone(CLONE_VM | CLONE_VFORK) runs
 * on its parent's memory (and, without CLONE_SETTLS, its thread-local
 * memory) while the parent waits: its calls are logged for the parent. */
static int clone_vfork_child_start(void *p)
{
	struct clone_start *start = p;
	vfork_child_guard(ps_tls.guard);
	return start->fn(start->arg);
}

/* clone() as glibc declares it. Without CLONE_VM the child is a copy of
 * the process, like a fork child: it gets the fork treatment (our locks
 * held across the call, its own tables and file). CLONE_VM | CLONE_VFORK
 * children are vfork children (their calls logged for the parent). Other
 * CLONE_VM children (threads made by hand) are left alone. */
PS_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	pid_t *parent_tid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *child_tid = va_arg(ap, pid_t *);
	va_end(ap);
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	struct clone_start start = { fn, arg };
	if (!(flags & CLONE_VM) && ps_recording && fn) {
		fork_prepare();
		int rc = next_fn.clone(clone_child_start, stack, flags, &start,
				       parent_tid, tls, child_tid);
		int saved = errno;
		fork_parent();
		errno = saved;
		return rc;
	}
	if ((flags & (CLONE_VM | CLONE_VFORK | CLONE_SETTLS)) ==
		    (CLONE_VM | CLONE_VFORK) && fn) {
		int guard = ps_tls.guard;
		vfork_prepare();
		int rc = next_fn.clone(clone_vfork_child_start, stack, flags,
				       &start, parent_tid, tls, child_tid);
		vfork_parent_resumes(guard); /* the child's was this thread's */
		return rc;
	}
	return next_fn.clone(fn, stack, flags, arg, parent_tid, tls, child_tid);
}

/* ---- exit ------------------------------------------------------------------ */

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

static int exiting; /* exit handlers have started to run */

static void exit_begins(void *arg)
{
	(void)arg;
	__atomic_store_n(&exiting, 1, __ATOMIC_RELEASE);
}

/* Exit handlers run newest first, and the loader's destructors (ours, with
 * the final snapshot, among them) are one handler that __libc_start_main
 * registers after every library constructor has run: exit_begins,
 * registered by our constructor, would run only after them. An exit()
 * from a signal handler while the destructors run would then skip ours
 * and find `exiting` still 0: a profile without its END. So exit_begins is
 * registered again as main starts, after the destructors' handler. The
 * call to main is a tail call (-O2), so no frame of ours sits under main
 * in the stacks. */
static int (*program_main)(int, char **, char **);

static int main_begins(int argc, char **argv, char **envp)
{
	if (ps_recording && (pid_t)syscall(SYS_getpid) == ps_pid)
		__cxa_atexit(exit_begins, NULL, NULL);
	return program_main(argc, argv, envp);
}

int __libc_start_main(int (*main)(int, char **, char **), int argc,
		      char **argv, void (*init)(void), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end);

PS_EXPORT int __libc_start_main(int (*main)(int, char **, char **), int argc,
				char **argv, void (*init)(void),
				void (*fini)(void), void (*rtld_fini)(void),
				void *stack_end)
{
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	program_main = main;
	return next_fn.libc_start_main(main_begins, argc, argv, init, fini,
				       rtld_fini, stack_end);
}

static void final_snapshot_at_exit(void *arg)
{
	(void)arg;
	final_snapshot(PS_END_EXIT);
}

/* exit() while exit handlers run (from a signal handler, an exit handler
 * or another thread): glibc then skips the handlers already under way,
 * our destructor among them if it had not run yet, and ends the process.
 * The final snapshot is written here instead. The first exit (return
 * from main included) goes straight to libc. */
PS_EXPORT void exit(int status)
{
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	if (__atomic_load_n(&exiting, __ATOMIC_ACQUIRE))
		final_snapshot(PS_END_EXIT);
	next_fn.exit(status);
	__builtin_unreachable();
}

/* quick_exit runs no destructors: write the final snapshot first (the
 * frees of at_quick_exit handlers are not seen). */
PS_EXPORT void quick_exit(int status)
{
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	final_snapshot(PS_END_EXIT);
	next_fn.quick_exit(status);
	__builtin_unreachable();
}

/* At exit. The destructors of the libraries the loader initialised before
 * us (a library's static objects freeing what its constructor allocated)
 * run after ours, and their frees belong in the profile. So this
 * registers the final snapshot as an exit handler (glibc runs handlers
 * registered while it runs the others, so the END comes after every
 * destructor) before it writes a snapshot of what is there now: a signal
 * handler that calls exit once that snapshot has unblocked signals still
 * finds the final one registered. If it cannot be registered, the END is
 * written now. */
__attribute__((destructor)) static void ps_fini(void)
{
	if (!ps_recording || (pid_t)syscall(SYS_getpid) != ps_pid)
		return;
	if (__cxa_atexit(final_snapshot_at_exit, NULL, NULL) != 0) {
		final_snapshot(PS_END_EXIT);
		return;
	}
	final_snapshot(0);
}

/* ---- start-up ------------------------------------------------------------ */

static int set_root_pid; /* this process is the root of --no-children */

/* Decides whether this process is profiled and, if so, sets up the tables
 * and opens the profile. Runs once, from the first hook call or from our
 * ELF constructor, whichever comes first: libraries whose constructors
 * run before ours (libstdc++'s emergency exception pool, for one) are
 * recorded too. This can be before libc has run every constructor, so it
 * reads the environment without getenv, prints with write(2), and leaves
 * what may take libc's locks (setenv, pthread_atfork) to the
 * constructor. Another thread that calls a hook meanwhile passes through
 * uncounted rather than wait. */
static void start_profiling(void)
{
	int expected = 0;
	if (!__atomic_compare_exchange_n(&start_state, &expected, 1, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	if (PS_UNLIKELY(!ps_real.malloc))
		resolve();
	ps_tls.guard++;
	ps_pid = (pid_t)syscall(SYS_getpid);
	if (getauxval(AT_SECURE)) {
		/* setuid, setgid or file capabilities: the environment is the
		 * caller's, not to be trusted with where and how we write.
		 * Such a process is never profiled and writes nothing. */
		ps_tls.guard--;
		__atomic_store_n(&start_state, 2, __ATOMIC_RELEASE);
		return;
	}
	char **envp = ps_environ();
	ps_options_load(envp);
	int profiled = 1;
	if (!ps_opt.children) {
		/* Only the first process of the tree is profiled: `record`
		 * names it, raw use marks the first one to start. */
		const char *root = ps_env_get(envp, "POOLSCOUT_ROOT_PID");
		if (root && atoi(root) != ps_pid)
			profiled = 0;
		set_root_pid = !root;
	}
	if (profiled) {
		ps_capture_init();
		ps_sample_init(boot_pool, sizeof boot_pool);
		ps_livetab_init();
		ps_threads_init();
		ps_modules_refresh();
		if (ps_writer_open() == 0)
			ps_recording = 1;
	}
	ps_tls.guard--;
	__atomic_store_n(&start_state, 2, __ATOMIC_RELEASE);
}

/* Our own malloc, whatever the global scope binds "malloc" to. */
extern __typeof__(malloc) ps_self_malloc
	__attribute__((alias("malloc"), copy(malloc), visibility("hidden")));

/* When another allocator comes first, the hooks it does not define (say
 * pvalloc, which jemalloc lacks) must still use it, not the libc one that
 * RTLD_NEXT finds after us: its free will get the block. */
static void use_first_allocator(void)
{
#define FIRST(field, name)                                                \
	do {                                                              \
		void *f = dlsym(RTLD_DEFAULT, name);                      \
		Dl_info a, b;                                             \
		if (f && !(dladdr(f, &a) && dladdr((void *)ps_self_malloc, &b) && \
			   a.dli_fbase == b.dli_fbase))                   \
			memcpy(&ps_real.field, &f, sizeof f);             \
	} while (0)
	FIRST(free, "free");
	FIRST(calloc, "calloc");
	FIRST(realloc, "realloc");
	FIRST(memalign, "memalign");
	FIRST(posix_memalign, "posix_memalign");
	FIRST(aligned_alloc, "aligned_alloc");
	FIRST(malloc_usable_size, "malloc_usable_size");
	FIRST(malloc, "malloc");
#undef FIRST
}

/* Whether the program's malloc calls reach our hooks. An allocator
 * preloaded before us (LD_PRELOAD=libjemalloc.so.2:libpoolscout.so), a
 * program that defines malloc itself, or a dlopen of libpoolscout.so
 * leaves them going elsewhere: say exactly what to do, and write no
 * profile (it would claim the program allocated nothing). */
static int interposed(void)
{
	void *found = dlsym(RTLD_DEFAULT, "malloc");
	if (!found || found == (void *)ps_self_malloc)
		return 1;
	/* A non-PIE program that takes malloc's address has a "malloc" of
	 * its own to dlsym: a PLT entry that jumps wherever the program's
	 * calls go, maybe to us. Ask it (it answers NULL if it is us). */
	uint32_t countdown = ps_tls.sample_countdown;
	ps_tls.sample_countdown = 0;
	probe_pending = 1;
	void *p = ((void *(*)(size_t))found)(PROBE_SIZE);
	probe_pending = 0;
	ps_tls.sample_countdown = countdown;
	if (probe_reached) {
		probe_reached = 0;
		return 1;
	}
	if (p) {
		void (*other_free)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT,
								      "free");
		if (other_free)
			other_free(p);
	}
	Dl_info other = { 0 }, self = { 0 };
	struct link_map *other_map = NULL;
	dladdr1(found, &other, (void **)&other_map, RTLD_DL_LINKMAP);
	dladdr((void *)ps_self_malloc, &self);
	const char *self_path = self.dli_fname ? self.dli_fname
					       : "libpoolscout.so";
	const char *other_path = other.dli_fname && *other.dli_fname
					 ? other.dli_fname : "another object";
	const char *base = strrchr(other_path, '/');
	base = base ? base + 1 : other_path;
	void *main_map = dlopen(NULL, RTLD_NOW | RTLD_NOLOAD);
	if (other_map && (void *)other_map == main_map)
		ps_warn("the program defines malloc itself: poolscout cannot "
			"see its allocations; this process is not profiled");
	else if (!strncmp(base, "libc.so", 7))
		ps_warn("%s was loaded after the program's malloc was bound "
			"(with dlopen?): no allocation would be seen, so this "
			"process is not profiled. Preload it: LD_PRELOAD=%s "
			"PROGRAM, or poolscout record -- PROGRAM",
			self_path, self_path);
	else
		ps_warn("malloc here is the one in %s, which comes before %s "
			"in LD_PRELOAD: no allocation would be seen, so this "
			"process is not profiled. Put libpoolscout.so first: "
			"LD_PRELOAD=\"%s %s\" (poolscout record does this)",
			other_path, self_path, self_path, other_path);
	use_first_allocator();
	return 0;
}

__attribute__((constructor)) static void ps_init(void)
{
	resolve();
	if (getauxval(AT_SECURE)) {
		start_profiling(); /* decides not to */
		return;
	}
	if (!interposed()) {
		int expected = 0;
		/* never start; if a hook already did, drop the profile */
		if (!__atomic_compare_exchange_n(&start_state, &expected, 2, 0,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			ps_tls.guard++;
			ps_writer_abandon();
			ps_tls.guard--;
		}
		return;
	}
	start_profiling();
	ps_tls.guard++;
	if (set_root_pid) {
		char buf[16];
		snprintf(buf, sizeof buf, "%d", (int)ps_pid);
		setenv("POOLSCOUT_ROOT_PID", buf, 1);
	}
	if (ps_recording) {
		pthread_atfork(fork_prepare, fork_parent, fork_child);
		if (ps_opt.catch_signals)
			ps_signals_install();
		/* a fallback: runs after the loader's destructors (see
		 * main_begins(), which registers it again as main starts) */
		__cxa_atexit(exit_begins, NULL, NULL);
	}
	ps_tls.guard--;
}
