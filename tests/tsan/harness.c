/* harness.c - the preload's concurrent structures under ThreadSanitizer
 * (the tsan suite, tests/tsan/run.sh).
 *
 * It links against the preload's modules built with -fsanitize=thread: every
 * file but hooks.c, whose part this file plays. It defines hooks.c's globals,
 * sets up the preload as hooks.c's constructor does, and then, from several
 * threads at once and for thousands of iterations, does what the hooks do
 * with the recursion guard held: allocates through ps_account_alloc after
 * the real malloc, frees with ps_account_free before the real free,
 * reallocates as hooks.c's realloc does, names threads, marks units of
 * work. Blocks are handed between threads through shared slots, so many are
 * freed (or reallocated) by a thread other than the one that allocated
 * them; the call depth and path to each allocation vary, so new stacks are
 * interned all along; short-lived threads start and end (the thread
 * registry, tables that outlive their threads). Meanwhile one thread calls
 * ps_writer_snapshot(0) in a loop and the preload's own writer thread
 * snapshots every 2 ms.
 *
 * At the end it writes the final snapshot, reads the profile with the
 * analyzer's reader (analyzer/core/reader.c) and compares, thread by thread,
 * the allocations, bytes, frees and cross-thread frees it counted itself
 * with what the file says. Exit status: 0 when they match, 1 when not, 2 when
 * the run could not be set up. Data races are ThreadSanitizer's to report
 * (the suite runs with halt_on_error=1).
 *
 *   harness [-k]   -k: keep the profile (kept anyway when counts differ)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "profile.h"
#include "ps_internal.h"

/* ---- hooks.c's globals ------------------------------------------------- */

__thread struct ps_tls ps_tls PS_TLS;
uint32_t ps_generation = 1;
int ps_recording;
pid_t ps_pid;
uint64_t ps_work_units;
int ps_forked;
struct ps_real ps_real;

/* ---- the unwinder ------------------------------------------------------ */

/* A frame-pointer stand-in for libunwind's unw_backtrace, which the preload's
 * stack capture calls (this definition, in the executable, comes first in
 * the lookup order). Why: libunwind 1.6 frees its per-thread trace cache in
 * the last round of thread-specific destructors, after ThreadSanitizer has
 * torn down the exiting thread's state, so that free's mutex crashes the
 * runtime at every thread exit. libunwind is not instrumented, so TSan sees
 * nothing of it either way; what matters here is the preload's code around
 * it. The walk returns the same frames libunwind would, from the caller's
 * return address up to the first frame outside this program and the
 * preload (all built with frame pointers; libc's frames need not be). */
static uintptr_t code_lo[2], code_hi[2]; /* the program, the preload */

static int find_code(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	int which = !info->dlpi_name[0] ? 0
		    : strstr(info->dlpi_name, "libpoolscout") ? 1 : -1;
	for (int i = 0; which >= 0 && i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		code_lo[which] = info->dlpi_addr + ph->p_vaddr;
		code_hi[which] = code_lo[which] + ph->p_memsz;
	}
	return 0;
}

static int in_our_code(uintptr_t ip)
{
	return (ip >= code_lo[0] && ip < code_hi[0]) ||
	       (ip >= code_lo[1] && ip < code_hi[1]);
}

__attribute__((noinline)) int unw_backtrace(void **buffer, int size)
{
	uintptr_t *fp = __builtin_frame_address(0);
	int n = 0;
	while (n < size && fp && in_our_code(fp[1])) {
		buffer[n++] = (void *)fp[1];
		uintptr_t *caller = (uintptr_t *)fp[0];
		if (caller <= fp)
			break;
		fp = caller;
	}
	return n;
}

/* ---- the workload ------------------------------------------------------ */

#define NOINLINE __attribute__((noinline))
#define LONG_WORKERS 4
#define LONG_ITERS 6000
#define SHORT_WORKERS 40
#define SHORT_ITERS 300
#define SHORT_AT_ONCE 4
#define NWORKERS (1 + LONG_WORKERS + SHORT_WORKERS) /* [0] is main */
#define SLOTS 64   /* blocks in transit between threads */
#define KEEP 32    /* blocks a worker keeps for a while */
#define MAX_PATH 12 /* frames of varying path above each allocation */
#define WORK_EVERY 64

/* Each block starts with who allocated it and its size. */
struct block {
	uint32_t owner; /* worker index */
	uint32_t size;
};

/* One thread's truth. The owner's counters are its own; frees of its
 * blocks by other threads are added atomically by those threads. */
struct worker {
	uint32_t index;
	pid_t tid;
	char name[16];
	unsigned iters;
	uint64_t seed;
	uint64_t allocs, alloc_bytes, own_frees, own_free_bytes;
	uint64_t xfrees, xfree_bytes;
	/* its blocks resized by realloc (any thread's), grown, largest */
	uint64_t resized, resized_grown, resized_max;
	uint64_t work_units;
};

static struct worker workers[NWORKERS];
static struct block *slots[SLOTS];
static int stop_snapshots;
static uint64_t snapshots_taken;

static uint64_t next_random(struct worker *w)
{
	w->seed ^= w->seed << 13;
	w->seed ^= w->seed >> 7;
	w->seed ^= w->seed << 17;
	return w->seed;
}

/* Charges a free of b (its owner's counters), made by thread w. */
static void count_free(struct worker *w, const struct block *b)
{
	struct worker *owner = &workers[b->owner];
	if (owner == w) {
		w->own_frees++;
		w->own_free_bytes += b->size;
	} else {
		__atomic_fetch_add(&owner->xfree_bytes, b->size, __ATOMIC_RELAXED);
		__atomic_fetch_add(&owner->xfrees, 1, __ATOMIC_RELAXED);
	}
}

static void count_alloc(struct worker *w, struct block *b, size_t size)
{
	b->owner = w->index;
	b->size = (uint32_t)size;
	w->allocs++;
	w->alloc_bytes += size;
}

/* malloc as hooks.c does it. */
static struct block *tracked_alloc(struct worker *w, size_t size)
{
	ps_tls.guard = 1;
	struct block *b = malloc(size);
	if (b)
		ps_account_alloc(b, size);
	ps_tls.guard = 0;
	if (!b)
		abort();
	count_alloc(w, b, size);
	return b;
}

/* free as hooks.c does it. */
static void tracked_free(struct worker *w, struct block *b)
{
	count_free(w, b);
	ps_tls.guard = 1;
	ps_account_free(b);
	free(b);
	ps_tls.guard = 0;
}

/* realloc as hooks.c does it. */
static struct block *tracked_realloc(struct worker *w, struct block *b,
				     size_t size)
{
	struct block old = *b;
	ps_tls.guard = 1;
	struct ps_live rec;
	int tracked = ps_livetab_remove((uintptr_t)b, &rec);
	struct block *p = realloc(b, size);
	if (!p)
		abort();
	ps_account_resize(tracked ? &rec : NULL, p, size);
	ps_tls.guard = 0;
	struct worker *owner = &workers[old.owner];
	__atomic_fetch_add(&owner->resized, 1, __ATOMIC_RELAXED);
	if (size > old.size) {
		__atomic_fetch_add(&owner->resized_grown, 1, __ATOMIC_RELAXED);
		uint64_t cur = __atomic_load_n(&owner->resized_max, __ATOMIC_RELAXED);
		while (size > cur &&
		       !__atomic_compare_exchange_n(&owner->resized_max, &cur, size,
						    0, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
			;
	}
	count_free(w, &old);
	count_alloc(w, p, size);
	return p;
}

/* Two different frames (so no identical-code folding merges them) that
 * recurse along the bits of pattern: each (pattern, depth) is a stack of
 * its own, so threads keep interning new stacks. */
static struct block *path_b(struct worker *w, uint64_t pattern, int depth,
			    size_t size);

NOINLINE static struct block *path_a(struct worker *w, uint64_t pattern,
				     int depth, size_t size)
{
	struct block *b = !depth ? tracked_alloc(w, size)
		 : pattern & 1 ? path_a(w, pattern >> 1, depth - 1, size)
			       : path_b(w, pattern >> 1, depth - 1, size);
	__asm__ volatile("" : : "r"(b) : "memory");
	return b;
}

NOINLINE static struct block *path_b(struct worker *w, uint64_t pattern,
				     int depth, size_t size)
{
	struct block *b = !depth ? tracked_alloc(w, size)
		 : pattern & 1 ? path_a(w, pattern >> 1, depth - 1, size)
			       : path_b(w, pattern >> 1, depth - 1, size);
	__asm__ volatile("nop" : : "r"(b) : "memory");
	return b;
}

static void name_thread(struct worker *w)
{
	snprintf(w->name, sizeof w->name, "tsan-%u", w->index);
	pthread_setname_np(pthread_self(), w->name);
	/* what hooks.c's pthread_setname_np adds */
	int saved = ps_tls.guard;
	ps_tls.guard = 1;
	ps_threads_set_name(pthread_self(), w->name);
	ps_tls.guard = saved;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct block *kept[KEEP] = { 0 };
	w->tid = (pid_t)syscall(SYS_gettid);
	name_thread(w);
	for (unsigned i = 0; i < w->iters; i++) {
		uint64_t r = next_random(w);
		size_t size = sizeof(struct block) + r % 200;
		/* half from two hot stacks (entries that the owner, the
		 * freeing threads and the writer all meet), half from new
		 * ones */
		int depth = (r >> 5) & 1 ? 0 : (int)((r >> 8) % MAX_PATH);
		struct block *b = (r >> 12) & 1
			? path_a(w, r >> 16, depth, size)
			: path_b(w, r >> 16, depth, size);
		switch ((r >> 40) % 8) {
		case 0:
		case 1:
			tracked_free(w, b); /* by its owner */
			break;
		case 2:
		case 3:
		case 4: {
			/* hand it over; free whatever was waiting there */
			struct block **slot = &slots[(r >> 44) % SLOTS];
			struct block *other = __atomic_exchange_n(
				slot, b, __ATOMIC_ACQ_REL);
			if (!other)
				break;
			if ((r >> 52) & 1) {
				tracked_free(w, other);
				break;
			}
			/* or grow it (a realloc of another thread's block)
			 * and keep it */
			b = tracked_realloc(w, other, other->size + 64);
		}
			/* fall through */
		default: {
			unsigned k = (unsigned)((r >> 56) % KEEP);
			if (kept[k])
				tracked_free(w, kept[k]);
			if ((r >> 55) & 1)
				b = tracked_realloc(w, b, b->size + 16);
			kept[k] = b;
		}
		}
		if (i % WORK_EVERY == 0) {
			PS_ADD(&ps_work_units, 1); /* poolscout_mark_work(1) */
			w->work_units++;
		}
	}
	for (unsigned k = 0; k < KEEP; k++)
		if (kept[k])
			tracked_free(w, kept[k]);
	return NULL;
}

/* Starts the short-lived workers a few at a time. */
static void *spawner_main(void *arg)
{
	(void)arg;
	for (unsigned first = 1 + LONG_WORKERS; first < NWORKERS;
	     first += SHORT_AT_ONCE) {
		pthread_t th[SHORT_AT_ONCE];
		unsigned n = 0;
		for (unsigned i = first; i < first + SHORT_AT_ONCE && i < NWORKERS;
		     i++)
			if (!pthread_create(&th[n], NULL, worker_main, &workers[i]))
				n++;
		for (unsigned i = 0; i < n; i++)
			pthread_join(th[i], NULL);
	}
	return NULL;
}

/* Snapshots in a loop, as often as it can. */
static void *snapshot_main(void *arg)
{
	(void)arg;
	ps_tls.guard = 1;
	while (!__atomic_load_n(&stop_snapshots, __ATOMIC_ACQUIRE)) {
		ps_writer_snapshot(0);
		snapshots_taken++;
		usleep(200);
	}
	return NULL;
}

/* ---- set-up, as hooks.c's constructor does it -------------------------- */

static int start_preload(const char *dir)
{
	ps_real.malloc = malloc;
	ps_real.free = free;
	ps_real.calloc = calloc;
	ps_real.realloc = realloc;
	ps_real.memalign = memalign;
	ps_real.posix_memalign = posix_memalign;
	ps_real.aligned_alloc = aligned_alloc;
	ps_real.malloc_usable_size = malloc_usable_size;
	dl_iterate_phdr(find_code, NULL);
	if (!code_hi[0] || !code_hi[1])
		return -ENOENT;
	ps_pid = getpid();
	snprintf(ps_opt.out_dir, sizeof ps_opt.out_dir, "%s", dir);
	ps_opt.interval_ms = 2;
	ps_opt.site_peak = 1; /* the shared per-stack and per-node counters too */
	ps_tls.guard = 1;
	ps_capture_init();
	ps_livetab_init(); /* the per-thread fronts, as hooks.c turns them on */
	ps_threads_init();
	ps_modules_refresh();
	int rc = ps_writer_open();
	if (rc == 0) {
		ps_recording = 1;
		ps_writer_start();
	}
	ps_tls.guard = 0;
	return rc;
}

/* ---- the check --------------------------------------------------------- */

static int failures;

#define CHECK_EQ(what, got, want)                                           \
	do {                                                                \
		unsigned long long g_ = (got), w_ = (want);                 \
		if (g_ != w_) {                                             \
			fprintf(stderr, "tsan harness: %s: file says %llu, " \
					"the harness counted %llu\n",       \
				what, g_, w_);                              \
			failures++;                                         \
		}                                                           \
	} while (0)

static void check_field(const char *thread, const char *field, uint64_t got,
			uint64_t want)
{
	char what[128];
	snprintf(what, sizeof what, "thread %s: %s", thread, field);
	CHECK_EQ(what, got, want);
}

static const pf_thread *thread_by_tid(const pf_file *f, pid_t tid)
{
	for (size_t i = 1; i < f->nthreads; i++)
		if (f->threads[i] && f->threads[i]->tid == (uint32_t)tid)
			return f->threads[i];
	return NULL;
}

static void check_profile(const pf_file *f)
{
	uint64_t work = 0, xfrees = 0;
	if (!f->complete || f->end_reason != PS_END_EXIT) {
		fprintf(stderr, "tsan harness: the profile does not end with "
				"exit: %s\n", f->partial_why);
		failures++;
	}
	size_t declared = 0;
	for (size_t i = 1; i < f->nthreads; i++)
		declared += f->threads[i] != NULL;
	CHECK_EQ("threads", declared, NWORKERS);
	for (unsigned i = 0; i < NWORKERS; i++) {
		const struct worker *w = &workers[i];
		const pf_thread *t = thread_by_tid(f, w->tid);
		if (!t) {
			fprintf(stderr, "tsan harness: no thread with tid %d "
					"(%s) in the profile\n",
				(int)w->tid, i ? w->name : "main");
			failures++;
			continue;
		}
		if (i && strcmp(t->name, w->name)) {
			fprintf(stderr, "tsan harness: thread %d is named '%s', "
					"not '%s'\n",
				(int)w->tid, t->name, w->name);
			failures++;
		}
		if (i && !t->ended) {
			fprintf(stderr, "tsan harness: thread %s has not ended\n",
				w->name);
			failures++;
		}
		const char *who = i ? w->name : "main";
		check_field(who, "allocations", t->allocs, w->allocs);
		check_field(who, "allocated bytes", t->alloc_bytes,
			    w->alloc_bytes);
		check_field(who, "frees", t->frees, w->own_frees + w->xfrees);
		check_field(who, "freed bytes", t->free_bytes,
			    w->own_free_bytes + w->xfree_bytes);
		check_field(who, "cross-thread frees", t->xfrees, w->xfrees);
		check_field(who, "unknown frees", t->unknown_frees, 0);
		/* the blocks of its entries that a realloc resized */
		uint64_t resized = 0, grown = 0, grown_max = 0;
		for (size_t k = 0; k < f->nentries; k++) {
			const pf_entry *e = &f->entries[k];
			if (e->thread_index >= f->nthreads ||
			    f->threads[e->thread_index] != t)
				continue;
			pf_reallocs r;
			pf_entry_reallocs(f, e, &r);
			resized += r.resized;
			grown += r.resized_grown;
			if (r.resized_size_max > grown_max)
				grown_max = r.resized_size_max;
		}
		check_field(who, "blocks resized by realloc", resized, w->resized);
		check_field(who, "blocks grown by realloc", grown, w->resized_grown);
		check_field(who, "largest size grown to", grown_max, w->resized_max);
		check_field(who, "unrecorded allocations",
			    t->unrecorded_allocs, 0);
		work += w->work_units;
		xfrees += w->xfrees;
	}
	CHECK_EQ("units of work", f->work_units, work);
	uint64_t allocs = 0;
	for (unsigned i = 0; i < NWORKERS; i++)
		allocs += workers[i].allocs;
	size_t stacks = 0;
	for (size_t i = 1; i < f->nstacks; i++)
		stacks += f->stacks[i] != NULL;
	printf("tsan harness: %u threads, %llu allocations, %llu cross-thread "
	       "frees, %zu stacks, %zu snapshots read (%llu by the loop)\n",
	       (unsigned)NWORKERS, (unsigned long long)allocs,
	       (unsigned long long)xfrees, stacks, f->nsnaps,
	       (unsigned long long)snapshots_taken);
	if (xfrees < 1000 || stacks < 1000) {
		fprintf(stderr, "tsan harness: too few cross-thread frees or "
				"stacks to mean anything\n");
		failures++;
	}
}

/* The one profile in dir, as a new string, or NULL. */
static char *profile_in(const char *dir)
{
	DIR *d = opendir(dir);
	char *path = NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len > 7 && !strcmp(de->d_name + len - 7, ".pscout")) {
			free(path);
			if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
				path = NULL;
		}
	}
	if (d)
		closedir(d);
	return path;
}

int main(int argc, char **argv)
{
	int keep = argc > 1 && !strcmp(argv[1], "-k");
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/poolscout-tsan-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("tsan harness: mkdtemp");
		return 2;
	}
	if (start_preload(dir)) {
		fprintf(stderr, "tsan harness: cannot open a profile in %s\n", dir);
		return 2;
	}

	workers[0].tid = getpid();
	for (unsigned i = 1; i < NWORKERS; i++) {
		workers[i].index = i;
		workers[i].iters = i <= LONG_WORKERS ? LONG_ITERS : SHORT_ITERS;
		workers[i].seed = 0x9e3779b97f4a7c15ull * i + 1;
	}
	pthread_t snapshotter, spawner, longs[LONG_WORKERS];
	if (pthread_create(&snapshotter, NULL, snapshot_main, NULL) ||
	    pthread_create(&spawner, NULL, spawner_main, NULL))
		return 2;
	for (unsigned i = 0; i < LONG_WORKERS; i++)
		if (pthread_create(&longs[i], NULL, worker_main, &workers[1 + i]))
			return 2;
	for (unsigned i = 0; i < LONG_WORKERS; i++)
		pthread_join(longs[i], NULL);
	pthread_join(spawner, NULL);
	/* The blocks still in transit: main frees them (cross-thread). */
	for (unsigned i = 0; i < SLOTS; i++)
		if (slots[i])
			tracked_free(&workers[0], slots[i]);
	__atomic_store_n(&stop_snapshots, 1, __ATOMIC_RELEASE);
	pthread_join(snapshotter, NULL);
	ps_tls.guard = 1;
	ps_writer_snapshot(PS_END_EXIT); /* as hooks.c's destructor */
	ps_tls.guard = 0;

	char *path = profile_in(dir);
	char err[512];
	pf_file *f = path ? pf_read(path, err, sizeof err) : NULL;
	if (!f) {
		fprintf(stderr, "tsan harness: %s\n",
			path ? err : "no profile written");
		return 1;
	}
	check_profile(f);
	pf_free(f);
	if (keep || failures) {
		printf("tsan harness: profile kept: %s\n", path);
	} else {
		unlink(path);
		rmdir(dir);
	}
	free(path);
	if (failures)
		fprintf(stderr, "tsan harness: %d mismatches\n", failures);
	return failures ? 1 : 0;
}
