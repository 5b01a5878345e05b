/* threads.c - the thread registry and the entries: one record per thread
 * that was ever recorded, and in each a table mapping a stack to that
 * thread's counters for it (a ps_entry, 104 bytes). The owner thread is
 * the only one that looks up or adds entries, so the hot path takes no
 * lock; the writer walks each table between snapshots.
 *
 * Ended threads are retired, so that memory follows the threads alive,
 * not every thread that ever lived. A thread's end is seen by a pthread
 * key destructor; the writer finds it gone (no such task) at the start of
 * a snapshot, writes its final counts in that snapshot, and then retires
 * it: entries whose blocks are all freed are final and freed, entries with
 * blocks still live are kept (frees by other threads still count there,
 * exactly, under the ended thread's index) until their last block goes,
 * the node tables are freed, and the record is used again for a new
 * thread. What another thread may still be touching (an entry whose last
 * block it is freeing, a node set) is freed only after every thread seen
 * counting a free at that moment has finished (release_seq).
 *
 * Below the accounting and the writer, which call it, this file calls
 * only the arena, the clock, the pointer tables and (to free a retired
 * thread's nodes) nodes.c, and reads the stack table's records to hash
 * its entries; nothing it calls calls back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ps_internal.h"

int ps_have_membarrier;
static ps_lock_t thread_lock;
static ps_thread *thread_newest;
static ps_thread *thread_free;    /* retired records, to be used again */
static ps_thread *main_thread;
static uint32_t thread_count;
static pthread_key_t thread_key;
static int thread_key_ok;

/* ---- names and identity -------------------------------------------------- */

/* Replaces t's name (the first 15 bytes of name); whether it changed.
 * The thread at its end, the writer and pthread_setname_np from any
 * thread all write names, and the writer reads them: under the thread
 * lock, so none sees half of one. */
static int store_name(ps_thread *t, const char *name)
{
	char buf[sizeof t->name] = { 0 };
	for (size_t i = 0; i < sizeof buf - 1 && name[i]; i++)
		buf[i] = name[i];
	ps_lock_acquire(&thread_lock);
	int changed = memcmp(t->name, buf, sizeof buf) != 0;
	memcpy(t->name, buf, sizeof buf);
	ps_lock_release(&thread_lock);
	return changed;
}

void ps_thread_copy_identity(ps_thread *t, char name[16], uint32_t *index,
			     pid_t *tid, uint64_t *start_ns, uint64_t *end_ns)
{
	ps_lock_acquire(&thread_lock);
	memcpy(name, t->name, sizeof t->name);
	*index = t->index;
	*tid = t->tid;
	*start_ns = t->start_ns;
	*end_ns = __atomic_load_n(&t->end_ns, __ATOMIC_ACQUIRE);
	ps_lock_release(&thread_lock);
	name[sizeof t->name - 1] = 0;
}

/* Reads /proc/self/task/TID/FILE into buf (NUL-terminated): its length,
 * or 0. Allocation-free. */
static size_t read_task_file(pid_t tid, const char *file, char *buf,
			     size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/%s", (int)tid, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return (size_t)n;
}

void ps_thread_read_name(ps_thread *t, pid_t tid)
{
	char name[32];
	size_t n = read_task_file(tid, "comm", name, sizeof name);
	if (!n)
		return;
	if (name[n - 1] == '\n')
		name[n - 1] = 0;
	store_name(t, name);
}

uint64_t ps_thread_busy_ns(pid_t tid, uint64_t *on_cpu)
{
	char buf[96];
	*on_cpu = 0;
	if (tid <= 0)
		return 0;
	if (read_task_file(tid, "schedstat", buf, sizeof buf)) {
		char *end;
		uint64_t ran = strtoull(buf, &end, 10);
		uint64_t waited = strtoull(end, NULL, 10);
		if (end != buf) {
			*on_cpu = ran;
			return ran + waited;
		}
	}
	return *on_cpu = ps_thread_cpu_ns(tid);
}

/* The calling thread's own name, without opening /proc; whether it
 * changed. */
static int read_own_name(ps_thread *t)
{
	char name[17] = { 0 };
	return prctl(PR_GET_NAME, name, 0, 0, 0) == 0 && store_name(t, name);
}

void ps_thread_refresh_own_name(void)
{
	ps_thread *t = ps_own_thread();
	if (t && read_own_name(t))
		__atomic_store_n(&t->info_dirty, 1, __ATOMIC_RELEASE);
}

/* Threads that ended: every WAKE_ENDED-th wakes the writer, so that a
 * program that ends threads fast does not hold the tables of thousands
 * of them until the next interval (or longer, when the writer is short
 * of CPU). */
#define WAKE_ENDED 512
static uint32_t ended_threads;

/* pthread key destructor: the thread is ending. Its record stays until
 * the writer retires it. */
static void thread_exit(void *arg)
{
	ps_thread *t = arg;
	int saved = ps_tls.guard;
	ps_tls.guard = 1;
	read_own_name(t);
	/* the time it ran since the writer last read it: the writer reads
	 * a thread's time only while its id is its own */
	t->end_cpu_ns = ps_thread_cpu_ns(PS_LOAD(&t->tid));
	__atomic_store_n(&t->end_ns, ps_mono_ns(), __ATOMIC_RELEASE);
	__atomic_store_n(&t->info_dirty, 1, __ATOMIC_RELEASE);
	if (__atomic_add_fetch(&ended_threads, 1, __ATOMIC_RELAXED) % WAKE_ENDED == 0)
		ps_writer_wake();
	ps_tls.guard = saved;
}

void ps_threads_init(void)
{
	thread_key_ok = !pthread_key_create(&thread_key, thread_exit);
	ps_have_membarrier = syscall(SYS_membarrier,
				     MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0;
}

ps_thread *ps_thread_register(void)
{
	ps_lock_acquire(&thread_lock);
	ps_thread *t = thread_free;
	if (t)
		thread_free = t->next_free;
	ps_lock_release(&thread_lock);
	int fresh = !t;
	if (fresh && !(t = ps_arena_alloc(sizeof *t)))
		return NULL;
	pid_t tid = gettid();
	ps_lock_acquire(&thread_lock);
	PS_STORE(&t->tid, tid);
	t->pthread = pthread_self();
	t->start_ns = ps_mono_ns();
	__atomic_store_n(&t->index, ++thread_count, __ATOMIC_RELEASE);
	__atomic_store_n(&t->info_dirty, 1, __ATOMIC_RELEASE);
	if (fresh) {
		t->next_all = thread_newest;
		__atomic_store_n(&thread_newest, t, __ATOMIC_RELEASE);
	}
	ps_lock_release(&thread_lock);
	read_own_name(t);
	if (tid == ps_pid)
		__atomic_store_n(&main_thread, t, __ATOMIC_RELEASE);
	ps_tls.thread = t;
	ps_tls.generation = ps_generation;
	/* one exchange: a signal handler may add to it meanwhile */
	uint32_t early = __atomic_exchange_n(&ps_tls.unrecorded_early, 0,
					     __ATOMIC_RELAXED);
	if (early)
		PS_ADD(&t->unrecorded_allocs, early);
	if (thread_key_ok)
		pthread_setspecific(thread_key, t);
	return t;
}

ps_thread *ps_threads_newest(void)
{
	return __atomic_load_n(&thread_newest, __ATOMIC_ACQUIRE);
}

int ps_threads_main_ended(void)
{
	ps_thread *m = __atomic_load_n(&main_thread, __ATOMIC_ACQUIRE);
	return m && __atomic_load_n(&m->end_ns, __ATOMIC_ACQUIRE);
}

void ps_threads_set_name(pthread_t pt, const char *name)
{
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all) {
		ps_lock_acquire(&thread_lock);
		int match = t->index && pthread_equal(t->pthread, pt) &&
			    !__atomic_load_n(&t->end_ns, __ATOMIC_ACQUIRE) &&
			    ps_tls.generation == ps_generation;
		ps_lock_release(&thread_lock);
		if (match) {
			store_name(t, name);
			__atomic_store_n(&t->info_dirty, 1, __ATOMIC_RELEASE);
			return;
		}
	}
}

/* ---- entries ------------------------------------------------------------- */

static uint64_t entry_hash(const void *p)
{
	return ps_stack_key_of(ps_stack_at(ps_entry_stack_id(p)));
}

ps_entry *ps_thread_entry_add(ps_thread *t, uint32_t stack_id, ps_nodeset *ns)
{
	ps_entry *e = ps_arena_alloc(sizeof *e);
	if (!e)
		return NULL;
	e->stack_touched = stack_id;
	e->thread_index = t->index;
	e->nodeset = ns;
	e->size_min32 = PS_ENTRY_WIDE; /* none yet */
	uint64_t key = ps_stack_key_of(ps_stack_at(stack_id));
	if (ps_ptrtable_add(&t->entries[key & (PS_ENTRY_SHARDS - 1)], key, e, entry_hash, 1)) {
		ps_arena_free(e, sizeof *e);
		return NULL;
	}
	return e;
}

ps_entry_more *ps_entry_more_get(ps_entry *e)
{
	ps_entry_more *m = __atomic_load_n(&e->more, __ATOMIC_ACQUIRE);
	if (m)
		return m;
	ps_entry_more *n = ps_arena_alloc(sizeof *n);
	if (!n)
		return NULL;
	n->size_min = UINT64_MAX;
	if (__atomic_compare_exchange_n(&e->more, &m, n, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return n;
	ps_arena_free(n, sizeof *n);
	return m;
}

uint64_t ps_entry_count_wide(ps_entry *e, int own_frees)
{
	uint32_t *c = own_frees ? &e->own_frees32 : &e->allocs32;
	uint32_t v = PS_LOAD(c);
	ps_entry_more *m = ps_entry_more_get(e);
	if (!m)
		return v; /* out of memory: not counted */
	uint64_t *wide = own_frees ? &m->own_frees : &m->allocs;
	uint64_t n = (v == PS_ENTRY_WIDE ? PS_LOAD(wide) : v) + 1;
	/* the wide value first: a reader that sees the mark finds it */
	__atomic_store_n(wide, n, __ATOMIC_RELEASE);
	if (v != PS_ENTRY_WIDE)
		__atomic_store_n(c, PS_ENTRY_WIDE, __ATOMIC_RELEASE);
	return n;
}

void ps_entry_note_wide_size(ps_entry *e, uint64_t size)
{
	ps_entry_more *m;
	if (size < ps_entry_size_min(e) && (m = ps_entry_more_get(e))) {
		__atomic_store_n(&m->size_min, size, __ATOMIC_RELEASE);
		__atomic_store_n(&e->size_min32, PS_ENTRY_WIDE, __ATOMIC_RELEASE);
	}
	if (size > ps_entry_size_max(e) && (m = ps_entry_more_get(e))) {
		__atomic_store_n(&m->size_max, size, __ATOMIC_RELEASE);
		__atomic_store_n(&e->size_max32, PS_ENTRY_WIDE, __ATOMIC_RELEASE);
	}
}

/* e's full histogram of kind, allocated on first use (filled by fill, if
 * given, before it is published); NULL when out of memory. */
static uint64_t *full_hist(ps_entry *e, unsigned kind, unsigned fill_bucket,
			   uint64_t fill)
{
	ps_entry_more *m = ps_entry_more_get(e);
	if (!m)
		return NULL;
	uint64_t *h = __atomic_load_n(&m->hist[kind], __ATOMIC_ACQUIRE);
	if (h)
		return h;
	uint64_t *n = ps_arena_alloc(PS_HIST_BUCKETS * sizeof *n);
	if (!n)
		return NULL;
	n[fill_bucket] = fill;
	if (__atomic_compare_exchange_n(&m->hist[kind], &h, n, 0,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return n;
	ps_arena_free(n, PS_HIST_BUCKETS * sizeof *n);
	return h;
}

void ps_entry_hist_spill(ps_entry *e, unsigned kind, unsigned bucket, int own)
{
	uint64_t *h = full_hist(e, kind, 0, 0);
	if (!h)
		return;
	if (own)
		PS_STORE(&h[bucket], PS_LOAD(&h[bucket]) + 1);
	else
		PS_ADD(&h[bucket], 1);
}

void ps_entry_size_hist_explicit(ps_entry *e, unsigned bucket)
{
	/* Every allocation so far fell in the bucket of the smallest: the
	 * full histogram starts with them, published before the new size
	 * is noted (a reader that sees sizes in two buckets finds it). */
	uint64_t *h = full_hist(e, PS_HIST_SIZE,
				ps_hist_bucket(ps_entry_size_min(e)),
				ps_entry_allocs(e));
	if (h)
		PS_STORE(&h[bucket], PS_LOAD(&h[bucket]) + 1);
}

void ps_entry_hist_read(const ps_entry *e, unsigned kind, uint64_t allocs,
			uint64_t *out)
{
	if (kind == PS_HIST_SIZE) {
		/* the sizes first, then whether the histogram is explicit
		 * (the owner publishes it before it notes the size) */
		uint64_t min = ps_entry_size_min(e);
		ps_entry_more *m = ps_entry_more_of(e);
		uint64_t *h = m ? __atomic_load_n(&m->hist[kind], __ATOMIC_ACQUIRE)
				: NULL;
		if (!h && allocs && min != UINT64_MAX)
			out[ps_hist_bucket(min)] += allocs;
		for (unsigned b = 0; h && b < PS_HIST_BUCKETS; b++)
			out[b] += PS_LOAD(&h[b]);
		return;
	}
	for (int i = 0; i < PS_ENTRY_HIST_SLOTS; i++) {
		uint64_t v = PS_LOAD(&e->hist[i]);
		unsigned tag = (unsigned)(v >> PS_HIST_SLOT_SHIFT);
		if (tag && (tag - 1) / PS_HIST_BUCKETS == kind)
			out[(tag - 1) % PS_HIST_BUCKETS] += v & PS_HIST_SLOT_COUNT;
	}
	ps_entry_more *m = __atomic_load_n(&e->more, __ATOMIC_ACQUIRE);
	uint64_t *h = m ? __atomic_load_n(&m->hist[kind], __ATOMIC_ACQUIRE) : NULL;
	for (unsigned b = 0; h && b < PS_HIST_BUCKETS; b++)
		out[b] += PS_LOAD(&h[b]);
}

static void entry_free(ps_entry *e)
{
	ps_livetab_entry_gone(e);
	ps_entry_more *m = e->more;
	if (m) {
		for (int k = 0; k < PS_HIST_KINDS; k++)
			if (m->hist[k])
				ps_arena_free(m->hist[k],
					      PS_HIST_BUCKETS * sizeof *m->hist[k]);
		ps_arena_free(m, sizeof *m);
	}
	ps_arena_free(e, sizeof *e);
}

/* Whether every block of e has been freed and counted. Once the owner has
 * ended, nothing can make it live again. */
static int entry_dead(const ps_entry *e)
{
	uint64_t frees = ps_entry_own_frees(e) + ps_entry_xfrees(e);
	return frees == ps_entry_allocs(e);
}

/* ---- retiring ended threads (the writer) ---------------------------------- */

/* A growable array in arena memory. */
struct vec {
	void **v;
	size_t n, cap;
};

static int vec_push(struct vec *a, void *p)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		void **v = ps_arena_alloc(cap * sizeof *v);
		if (!v)
			return -1;
		if (a->v) {
			memcpy(v, a->v, a->n * sizeof *v);
			ps_arena_free(a->v, a->cap * sizeof *v);
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = p;
	return 0;
}

/* kept: entries of retired threads with blocks still live; waiting:
 * entries (and node bundles, as pairs of pointers) to free once the
 * threads captured below have come out of the frees they were counting;
 * safe: what has waited long enough, freed after the next batch. */
static struct vec kept, waiting, waiting_nodes, safe, safe_nodes;
static struct vec captured; /* (ps_thread *, odd release_seq) pairs */
static int have_capture;

static int grace_passed(void)
{
	for (size_t i = 0; i < captured.n; i += 2) {
		ps_thread *t = captured.v[i];
		uint32_t seq = (uint32_t)(uintptr_t)captured.v[i + 1];
		if (__atomic_load_n(&t->release_seq, __ATOMIC_ACQUIRE) == seq)
			return 0;
	}
	return 1;
}

/* Notes which threads are inside a free right now: what was unlinked
 * before this call is safe once each of them has moved on. */
static void capture_releasers(void)
{
	/* Make every thread's odd release_seq store visible, so a thread
	 * not seen inside cannot hold what we unlinked. */
	if (ps_have_membarrier)
		syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	captured.n = 0;
	have_capture = 1;
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all) {
		uint32_t seq = __atomic_load_n(&t->release_seq, __ATOMIC_ACQUIRE);
		if ((seq & 1) && t != ps_tls.thread &&
		    (vec_push(&captured, t) ||
		     vec_push(&captured, (void *)(uintptr_t)seq)))
			have_capture = 0; /* out of memory: try again later */
	}
}

static void move_all(struct vec *to, struct vec *from)
{
	for (size_t i = 0; i < from->n; i++)
		if (vec_push(to, from->v[i]))
			return; /* out of memory: the rest stays where it was */
	from->n = 0;
}

void ps_threads_retire_begin(void)
{
	if (waiting.n + waiting_nodes.n && have_capture && grace_passed()) {
		move_all(&safe, &waiting);
		move_all(&safe_nodes, &waiting_nodes);
		have_capture = 0;
	}
	ps_thread *main_t = __atomic_load_n(&main_thread, __ATOMIC_ACQUIRE);
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all) {
		if (!__atomic_load_n(&t->index, __ATOMIC_ACQUIRE) || t->gone ||
		    t == main_t ||
		    !__atomic_load_n(&t->end_ns, __ATOMIC_ACQUIRE))
			continue;
		/* After its key destructor a thread may still free (other
		 * destructors, glibc's own teardown): it is gone only when
		 * the kernel no longer knows it. */
		if (syscall(SYS_tgkill, ps_pid, PS_LOAD(&t->tid), 0) < 0 &&
		    errno == ESRCH)
			t->gone = 1;
	}
}

void ps_threads_for_each_retired(void (*fn)(ps_entry *e, void *arg), void *arg)
{
	struct vec *lists[] = { &kept, &waiting, &safe };
	for (size_t l = 0; l < sizeof lists / sizeof *lists; l++)
		for (size_t i = 0; i < lists[l]->n; i++)
			fn(lists[l]->v[i], arg);
}

/* Puts t's record on the free list with a clean identity. */
static void recycle(ps_thread *t)
{
	ps_lock_acquire(&thread_lock);
	__atomic_store_n(&t->index, 0, __ATOMIC_RELEASE);
	PS_STORE(&t->tid, 0);
	memset(&t->pthread, 0, sizeof t->pthread);
	t->start_ns = 0;
	__atomic_store_n(&t->end_ns, 0, __ATOMIC_RELEASE);
	memset(t->name, 0, sizeof t->name);
	t->info_dirty = 0;
	t->gone = 0;
	t->unknown_frees = t->unrecorded_allocs = 0;
	t->totals_written[0] = t->totals_written[1] = 0;
	t->rec_ticks = t->rec_ns_written = t->busy_ns_written = 0;
	t->cpu_ns_written = t->end_cpu_ns = t->rec_ticks_written = 0;
	t->next_free = thread_free;
	thread_free = t;
	ps_lock_release(&thread_lock);
}

/* Sorts the entries of gone thread t into kept and waiting, hands its
 * nodes to waiting, and frees its table. */
static void retire(ps_thread *t)
{
	for (int k = 0; k < PS_ENTRY_SHARDS; k++) {
		ps_ptrtable *tab = t->entries[k];
		for (uint32_t i = 0; tab && i < tab->cap; i++) {
			ps_entry *e = PS_PTRTABLE_PTR(tab->slot[i]);
			if (!e)
				continue;
			/* its node peaks are final (only the owner raised
			 * them): later frees need not reach the nodes */
			__atomic_store_n(&e->nodeset, NULL, __ATOMIC_RELEASE);
			if (vec_push(entry_dead(e) ? &waiting : &kept, e))
				vec_push(&kept, e); /* never lose an entry */
		}
		t->entries[k] = NULL;
		ps_ptrtable_free(tab);
	}
	ps_node_bundle b = ps_nodes_take(t);
	size_t n0 = waiting_nodes.n;
	if ((b.nodes || b.nodesets) &&
	    (vec_push(&waiting_nodes, b.nodes) ||
	     vec_push(&waiting_nodes, b.nodesets)))
		waiting_nodes.n = n0; /* out of memory: leaked, never freed early */
	recycle(t);
}

void ps_threads_retire_end(int written, uint32_t declared)
{
	if (!written)
		return; /* nothing retired may be forgotten unwritten */
	for (size_t i = 0; i < safe.n; i++)
		entry_free(safe.v[i]);
	safe.n = 0;
	for (size_t i = 0; i + 1 < safe_nodes.n; i += 2)
		ps_node_bundle_free((ps_node_bundle){ safe_nodes.v[i],
						      safe_nodes.v[i + 1] });
	safe_nodes.n = 0;
	size_t before = waiting.n + waiting_nodes.n;
	/* a thread whose THREAD record is not written yet (its index came
	 * out of turn, or it changed) waits: its entries waited too */
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all) {
		uint32_t index = __atomic_load_n(&t->index, __ATOMIC_ACQUIRE);
		if (t->gone && index && index <= declared &&
		    !__atomic_load_n(&t->info_dirty, __ATOMIC_ACQUIRE))
			retire(t);
	}
	/* kept entries whose last block went since */
	size_t n = 0;
	for (size_t i = 0; i < kept.n; i++) {
		ps_entry *e = kept.v[i];
		if (!entry_dead(e) || vec_push(&waiting, e))
			kept.v[n++] = e;
	}
	kept.n = n;
	if (waiting.n + waiting_nodes.n != before ||
	    (waiting.n + waiting_nodes.n && !have_capture))
		capture_releasers();
	if (have_capture && !captured.n) {
		/* No thread was counting a free: nothing can reach what
		 * waits. What changed since the batch was encoded (a free
		 * that finished meanwhile) waits for the next one. */
		n = 0;
		for (size_t i = 0; i < waiting.n; i++) {
			ps_entry *e = waiting.v[i];
			if (__atomic_load_n(&e->stack_touched, __ATOMIC_ACQUIRE) &
			    PS_ENTRY_TOUCHED)
				waiting.v[n++] = e;
			else
				entry_free(e);
		}
		waiting.n = n;
		for (size_t i = 0; i + 1 < waiting_nodes.n; i += 2)
			ps_node_bundle_free((ps_node_bundle){ waiting_nodes.v[i],
							      waiting_nodes.v[i + 1] });
		waiting_nodes.n = 0;
	}
}

void ps_threads_lock(void)
{
	ps_lock_acquire(&thread_lock);
}

void ps_threads_unlock(void)
{
	ps_lock_release(&thread_lock);
}

void ps_threads_reset_child(void)
{
	/* every record and list went with the arena */
	thread_newest = NULL;
	thread_free = NULL;
	main_thread = NULL;
	thread_count = 0;
	thread_lock.locked = 0;
	memset(&kept, 0, sizeof kept);
	memset(&waiting, 0, sizeof waiting);
	memset(&waiting_nodes, 0, sizeof waiting_nodes);
	memset(&safe, 0, sizeof safe);
	memset(&safe_nodes, 0, sizeof safe_nodes);
	memset(&captured, 0, sizeof captured);
	have_capture = 0;
	ps_ptrtables_reset_child();
}
