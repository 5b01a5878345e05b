/* threads.c - one table per thread, mapping a stack to that thread's
 * counters for it (a ps_entry). The owner thread is the only one that looks
 * up or adds entries, so the hot path takes no lock; the writer thread walks
 * each table's append-only entry list. Tables outlive their threads: frees
 * from other threads still land in them, and the final snapshot needs them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ps_internal.h"

static ps_lock_t thread_lock;
static ps_thread *thread_newest;
static uint32_t thread_count;
static pthread_key_t thread_key;
static int thread_key_ok;

/* Replaces t's name (the first 15 bytes of name). The thread at its end,
 * the writer and pthread_setname_np from any thread all write names, and
 * the writer reads them: under the thread lock, so none sees half of one. */
static void store_name(ps_thread *t, const char *name)
{
	char buf[sizeof t->name] = { 0 };
	for (size_t i = 0; i < sizeof buf - 1 && name[i]; i++)
		buf[i] = name[i];
	ps_lock_acquire(&thread_lock);
	memcpy(t->name, buf, sizeof buf);
	ps_lock_release(&thread_lock);
}

void ps_thread_copy_name(ps_thread *t, char *out)
{
	ps_lock_acquire(&thread_lock);
	memcpy(out, t->name, sizeof t->name);
	ps_lock_release(&thread_lock);
	out[sizeof t->name - 1] = 0;
}

void ps_thread_read_name(ps_thread *t, pid_t tid)
{
	char path[64], name[32];
	snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, name, sizeof name - 1);
	close(fd);
	if (n <= 0)
		return;
	if (name[n - 1] == '\n')
		n--;
	name[n] = 0;
	store_name(t, name);
}

/* pthread key destructor: the thread is ending. Its table stays. */
static void thread_exit(void *arg)
{
	ps_thread *t = arg;
	int saved = ps_tls.guard;
	ps_tls.guard = 1;
	ps_thread_read_name(t, t->tid);
	__atomic_store_n(&t->end_ns, ps_mono_ns(), __ATOMIC_RELEASE);
	__atomic_store_n(&t->info_dirty, 1, __ATOMIC_RELEASE);
	if (t->tid == ps_pid)
		ps_writer_main_thread_exited();
	ps_tls.guard = saved;
}

void ps_threads_init(void)
{
	thread_key_ok = !pthread_key_create(&thread_key, thread_exit);
}

ps_thread *ps_thread_self(void)
{
	if (PS_LIKELY(ps_tls.thread && ps_tls.generation == ps_generation))
		return ps_tls.thread;
	ps_thread *t = ps_arena_alloc(sizeof *t);
	if (!t)
		return NULL;
	t->tid = gettid();
	t->pthread = pthread_self();
	t->start_ns = ps_mono_ns();
	t->info_dirty = 1;
	ps_lock_acquire(&thread_lock);
	t->index = ++thread_count;
	t->next_all = thread_newest;
	__atomic_store_n(&thread_newest, t, __ATOMIC_RELEASE);
	ps_lock_release(&thread_lock);
	ps_tls.thread = t;
	ps_tls.generation = ps_generation;
	/* a thread's first allocations are not favoured by the sampling */
	if (ps_opt.sample_every > 1)
		ps_tls.sample_countdown = ps_sample_skip();
	if (thread_key_ok)
		pthread_setspecific(thread_key, t);
	/* A fork child has no writer thread yet; its first table starts it. */
	ps_writer_start();
	return t;
}

ps_entry *ps_thread_entry(ps_thread *t, const uintptr_t *ips, int depth)
{
	size_t keylen = (size_t)depth * sizeof *ips;
	uint64_t hash = ps_stack_hash(ips, depth);
	ps_entry *e;
	HASH_FIND_BYHASHVALUE(hh, t->table, ips, keylen, (unsigned)hash, e);
	if (PS_LIKELY(e != NULL))
		return e;
	ps_stack *s = ps_stack_intern(ips, depth, hash);
	if (!s)
		return NULL;
	e = ps_arena_alloc(sizeof *e);
	if (!e)
		return NULL;
	e->stack = s;
	e->thread = t;
	e->size_min = UINT64_MAX;
	/* The nodes this entry's blocks count in: each distinct site
	 * candidate, then the thread's total (ip 0). */
	for (uint32_t i = s->cand_start; i < (uint32_t)s->cand_start + s->cand_count;
	     i++) {
		uintptr_t ip = s->ips[i];
		int seen = !ip; /* never a return address */
		for (uint32_t k = 0; k < e->nnodes; k++)
			seen |= e->nodes[k]->ip == ip;
		ps_node *n = seen ? NULL : ps_node_get(t, ip);
		if (n)
			e->nodes[e->nnodes++] = n;
	}
	ps_node *total = ps_node_get(t, 0);
	if (total)
		e->nodes[e->nnodes++] = total;
	HASH_ADD_KEYPTR_BYHASHVALUE(hh, t->table, s->ips, keylen,
				    (unsigned)hash, e);
	ps_uthash_oom = 0;
	e->next_all = t->entries;
	__atomic_store_n(&t->entries, e, __ATOMIC_RELEASE);
	return e;
}

ps_thread *ps_threads_newest(void)
{
	return __atomic_load_n(&thread_newest, __ATOMIC_ACQUIRE);
}

void ps_threads_set_name(pthread_t pt, const char *name)
{
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all) {
		if (pthread_equal(t->pthread, pt) &&
		    !__atomic_load_n(&t->end_ns, __ATOMIC_ACQUIRE) &&
		    t->index && ps_tls.generation == ps_generation) {
			store_name(t, name);
			__atomic_store_n(&t->info_dirty, 1, __ATOMIC_RELEASE);
			return;
		}
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
	thread_newest = NULL;
	thread_count = 0;
	thread_lock.locked = 0;
}
