/* account.c - what an allocation or a free changes: the (stack, thread)
 * entry's counters, histograms and times, the site-candidate nodes it
 * counts in (nodes.c), the stack's site-wide live count and peak
 * (--site-peak), and the live-pointer table. Called by the hooks with the
 * recursion guard held, after (malloc) or before (free) the real allocator
 * ran. It finds the caller's entry: the stack captured (capture.c), looked
 * up in the thread's table (threads.c), interned and given its node set
 * (nodes.c) the first time; and it starts the writer when a second thread
 * shows up. It times its own work for the recording's own time
 * (ps_rec_begin). A vfork child's calls it logs instead, for its parent
 * to charge when it resumes (see "a vfork child's calls" below).
 */
#include <sys/mman.h>

#include "ps_internal.h"

/* The calling thread's record, registered on its first recorded call. */
static inline ps_thread *self_thread(void)
{
	ps_thread *own = ps_own_thread();
	if (PS_LIKELY(own != NULL))
		return own;
	uint64_t t0 = ps_ticks();
	ps_thread *t = ps_thread_register();
	if (!t)
		return NULL;
	/* a thread's first allocations are not favoured by the sampling */
	if (ps_opt.sample_every > 1)
		ps_tls.sample_countdown = ps_sample_skip();
	/* A fork child has no writer thread yet; its first table starts it,
	 * and its file is opened now (ps_writer_open_child). */
	ps_writer_start();
	ps_writer_open_child();
	ps_rec_exact(t, t0);
	return t;
}

void ps_account_thread(void)
{
	(void)self_thread();
}

/* The entry of this thread's previous recorded allocation: while the
 * stack captured is the same as then (capture.c says so without hashing
 * or looking anything up), so is the entry. Valid for that thread record
 * of that process generation; NULL when the last look-up failed. */
static __thread struct {
	ps_thread *thread;
	uint32_t generation;
	ps_entry *entry;
} last_entry PS_TLS;

/* The caller's entry for the stack ips, created on first use. */
static ps_entry *entry_for(ps_thread *t, const uintptr_t *ips, int depth)
{
	ps_stack_hash h = ps_stack_hash_of(ips, depth);
	ps_entry *e = ps_thread_entry_find(t, h);
	if (PS_LIKELY(e != NULL))
		return e;
	uint64_t t0 = ps_ticks();
	uint32_t id = ps_stack_intern(ips, depth, h);
	if (id) {
		const ps_stack *s = ps_stack_at(id);
		ps_nodeset *ns = ps_nodeset_get(t, ips + s->cand_start,
						s->cand_count);
		e = ps_thread_entry_add(t, id, ns);
	}
	ps_rec_exact(t, t0);
	return e;
}

/* Whether a request of size bytes changes nothing in e's sizes: it lies
 * between the smallest and the largest so far, which share their
 * highest bit, so its bucket is theirs too (and while an entry has no
 * full size histogram, that bucket is its whole histogram: nothing to
 * count, see ps_entry_size_hist). */
static inline int same_size_bucket(const ps_entry *e, uint64_t size)
{
	uint32_t lo = PS_LOAD(&e->size_min32), hi = PS_LOAD(&e->size_max32);
	return size >= lo && size <= hi && hi != PS_ENTRY_WIDE &&
	       (lo ^ hi) < (lo & hi);
}

/* Whether this allocation is recorded: always, but with probability 1/N
 * when sampling (sample.c). */
static inline int sample_takes(void)
{
	if (PS_LIKELY(ps_opt.sample_every <= 1))
		return 1;
	if (ps_tls.sample_countdown) {
		ps_tls.sample_countdown--;
		return 0;
	}
	ps_tls.sample_countdown = ps_sample_skip();
	return 1;
}

/* The entry of the caller's stack on thread t, captured now. */
__attribute__((always_inline)) static inline ps_entry *caller_entry(ps_thread *t)
{
	uintptr_t ips[PS_MAX_DEPTH + 16];
	ps_entry *e;
	if (PS_LIKELY(last_entry.entry && last_entry.thread == t &&
		      last_entry.generation == ps_generation)) {
		int repeated;
		int depth = ps_capture_stack(t, ips, &repeated);
		e = repeated ? last_entry.entry : entry_for(t, ips, depth);
	} else {
		int depth = ps_capture_stack(t, ips, NULL);
		e = entry_for(t, ips, depth);
		last_entry.thread = t;
		last_entry.generation = ps_generation;
	}
	last_entry.entry = e;
	return e;
}

/* Charges the allocation of p, made at now, to entry e. */
__attribute__((always_inline)) static inline void
charge_alloc(ps_entry *e, void *p, size_t size, uint64_t chain_steps, int grew,
	     uint64_t now)
{
	/* The sizes and times the reader checks against the counts are
	 * stored before the counts are published (release): a writer that
	 * sees this allocation counted sees them too (encode_entry()). */
	ps_entry_more *more = ps_entry_more_of(e);
	if (!same_size_bucket(e, size) ||
	    (more && __atomic_load_n(&more->hist[PS_HIST_SIZE], __ATOMIC_ACQUIRE))) {
		ps_entry_size_hist(e, size);
		ps_entry_note_size(e, size);
	}
	if (PS_UNLIKELY(!e->first_alloc_ticks))
		PS_STORE(&e->first_alloc_ticks, now);
	PS_STORE(&e->last_alloc_ticks, now);
	uint64_t xfree_bytes = 0, frees = ps_entry_own_frees(e);
	if (more) {
		xfree_bytes = __atomic_load_n(&more->xfree_bytes, __ATOMIC_ACQUIRE);
		frees += __atomic_load_n(&more->xfrees, __ATOMIC_ACQUIRE);
	}
	__atomic_store_n(&e->alloc_bytes, PS_LOAD(&e->alloc_bytes) + size,
			 __ATOMIC_RELEASE);
	uint64_t allocs = ps_entry_add_alloc(e);
	if (allocs - frees > PS_LOAD(&e->peak_live))
		__atomic_store_n(&e->peak_live, allocs - frees, __ATOMIC_RELEASE);
	uint64_t live_bytes = PS_LOAD(&e->alloc_bytes) -
			      PS_LOAD(&e->own_free_bytes) - xfree_bytes;
	if (live_bytes > PS_LOAD(&e->peak_bytes))
		__atomic_store_n(&e->peak_bytes, live_bytes, __ATOMIC_RELEASE);
	if (grew) {
		ps_entry_more *m = ps_entry_more_get(e);
		if (m) {
			PS_OWN_ADD(&m->realloc_grows, 1);
			ps_atomic_max(&m->chain_steps_max, chain_steps);
		}
	}
	/* (the count read once: the nodes' stores might alias it) */
	ps_nodeset *ns = e->nodeset;
	uint32_t nodes = ns ? ns->n : 0;
	for (uint32_t i = 0; i < nodes; i++)
		ps_node_alloc(ns->node[i], size);
	/* The exact all-thread peak needs one counter every allocating and
	 * freeing thread writes: 30% of the cost on a hot shared stack, so
	 * only when asked for (POOLSCOUT_SITE_PEAK). */
	if (PS_UNLIKELY(ps_opt.site_peak)) {
		ps_stack_peak *sp = ps_stack_peak_of(ps_entry_stack_id(e));
		if (sp)
			ps_atomic_max(&sp->peak_live, PS_ADD(&sp->live, 1) + 1);
		for (uint32_t i = 0; i < nodes; i++)
			ps_node_alloc_global(ns->node[i], size);
	}
	/* release: the writer that takes the mark sees what it marks */
	ps_entry_touch(e);

	struct ps_live rec = {
		.ptr = (uintptr_t)p,
		.entry = e,
		.size = size,
		.birth_ticks = now,
		.chain_steps = chain_steps,
	};
	ps_livetab_insert(&rec);
}

/* A vfork child's calls, logged (see the end of this file): an
 * allocation, or the end of a block (a free, or a resize with its
 * result). */
enum { VF_ALLOC, VF_END };
static void vfork_log(uint32_t kind, void *p, void *old, size_t size);

/* Charges the allocation of p, not a resize, made at now, to entry e. */
__attribute__((always_inline)) static inline void
charge_new(ps_entry *e, void *p, size_t size, uint64_t now)
{
	charge_alloc(e, p, size, 0, 0, now);
}

void ps_account_alloc(void *p, size_t size)
{
	if (PS_UNLIKELY(ps_tls.guard & PS_GUARD_VFORK)) {
		vfork_log(VF_ALLOC, p, NULL, size);
		return;
	}
	uint64_t t0 = ps_rec_begin();
	ps_thread *t = self_thread();
	if (PS_LIKELY(t != NULL) && sample_takes()) {
		ps_entry *e = caller_entry(t);
		if (PS_LIKELY(e != NULL))
			charge_new(e, p, size, ps_ticks());
	}
	ps_rec_end(t0);
}

/* Charges the end, at now, of the block described by r. resized: the
 * block lives on as a realloc result of new_size bytes (its growth chain
 * has not ended, and it counts as resized); else it was freed. */
static inline void release(const struct ps_live *r, int resized,
			   size_t new_size, uint64_t now)
{
	ps_entry *e = r->entry;
	ps_thread *self = self_thread();
	if (PS_UNLIKELY(!self))
		return;
	uint64_t life = now - r->birth_ticks;
	int own = e->thread_index == self->index;

	/* While this runs, e and its nodes may belong to a thread that has
	 * ended: the writer frees them only after we are out (threads.c).
	 * Ours cannot go while we run. */
	if (PS_UNLIKELY(!own))
		ps_thread_release_begin(self);
	/* Order matters: see encode_entry() in writer.c. The time goes
	 * before the counts, so a free the writer sees counted has its time.
	 * The owner's counters take plain stores; only frees from another
	 * thread pay for atomic read-modify-write. */
	PS_STORE(&e->last_free_ticks, now);
	unsigned bucket = ps_hist_bucket(life);
	ps_entry_more *m = NULL;
	if (PS_LIKELY(own)) {
		ps_entry_hist_add(e, PS_HIST_OWN_LIFE, bucket, 1);
		__atomic_store_n(&e->own_free_bytes,
				 PS_LOAD(&e->own_free_bytes) + r->size,
				 __ATOMIC_RELEASE);
		ps_entry_add_own_free(e);
	} else if ((m = ps_entry_more_get(e)) != NULL) {
		ps_entry_hist_add(e, PS_HIST_X_LIFE, bucket, 0);
		__atomic_fetch_add(&m->xfree_bytes, r->size, __ATOMIC_RELEASE);
		__atomic_fetch_add(&m->xfrees, 1, __ATOMIC_RELEASE);
	}
	ps_nodeset *ns = __atomic_load_n(&e->nodeset, __ATOMIC_ACQUIRE);
	uint64_t size = r->size;
	uint32_t nodes = ns ? ns->n : 0;
	if (PS_LIKELY(own))
		for (uint32_t i = 0; i < nodes; i++)
			ps_node_free(ns->node[i], size);
	else
		for (uint32_t i = 0; i < nodes; i++)
			ps_node_xfree(ns->node[i], size);
	if (PS_UNLIKELY(ps_opt.site_peak)) {
		ps_stack_peak *sp = ps_stack_peak_of(ps_entry_stack_id(e));
		if (sp)
			__atomic_fetch_sub(&sp->live, 1, __ATOMIC_RELAXED);
		for (uint32_t i = 0; i < nodes; i++)
			ps_node_free_global(ns->node[i], size);
	}
	if (r->chain_steps && !resized && (m || (m = ps_entry_more_get(e)))) {
		PS_ADD(&m->chains_ended, 1);
		PS_ADD(&m->chain_steps_sum, r->chain_steps);
		ps_atomic_max(&m->chain_final_size_max, r->size);
	}
	/* A block resized by realloc left this entry, but its data did not
	 * die: a site whose blocks do that is no stack-buffer candidate
	 * (ranking.c). The free first, then resized, then the size and
	 * grown, each a release: the writer reads them the other way round,
	 * so a snapshot has grown <= resized <= frees, and a size for every
	 * grown one. */
	if (resized && (m || (m = ps_entry_more_get(e)))) {
		__atomic_fetch_add(&m->resized, 1, __ATOMIC_RELEASE);
		if (new_size > r->size) {
			ps_atomic_max(&m->resized_size_max, new_size);
			__atomic_fetch_add(&m->resized_grown, 1, __ATOMIC_RELEASE);
		}
	}
	ps_entry_touch(e);
	if (PS_UNLIKELY(!own))
		ps_thread_release_end(self);
}

/* Charges the free, at now, of the block described by r. */
static inline void free_block(const struct ps_live *r, uint64_t now)
{
	release(r, 0, 0, now);
}

/* Counts the free of a block that was never recorded (allocated before
 * profiling started, in a parent before fork, or inside a hook). */
static void unknown_free(void)
{
	/* sampled: most frees are of blocks never recorded, by design */
	if (ps_opt.sample_every > 1)
		return;
	ps_thread *t = self_thread();
	if (t)
		PS_ADD(&t->unknown_frees, 1);
}

/* The free of the thread's latest block, just counted: which of its
 * stack's site candidates were still running (the innermost one; its
 * callers are then running too), or none. A function whose blocks die
 * while it runs uses them itself: the analyzer never takes it for a
 * wrapper of its callers (wrappers.c), from the share of the checked
 * frees. Only the latest block is asked about (the thread's last walk
 * is its allocation's), and of an entry's own frees, the first
 * INNER_CHECK_ALL, then one in INNER_CHECK_EVERY: a share needs no more,
 * and a hot scratch buffer's free pays for the question rarely. */
#define INNER_CHECK_ALL 64u
#define INNER_CHECK_EVERY 64u
static void note_inner_free(ps_entry *e)
{
	uint32_t frees = PS_LOAD(&e->own_frees32);
	if (frees > INNER_CHECK_ALL && frees % INNER_CHECK_EVERY)
		return;
	const ps_nodeset *ns = e->nodeset;
	if (!ns || !ns->ncand)
		return;
	int k = ps_unwind_innermost_running(ns->cand, (int)ns->ncand);
	if (k < 0)
		return;
	if (k == (int)ns->ncand)
		k = PS_SITE_CANDIDATES; /* none running */
	if (PS_LOAD(&e->inner_frees16[k]) == UINT16_MAX)
		for (int i = 0; i < PS_ENT_INNER_FREES; i++)
			__atomic_store_n(&e->inner_frees16[i],
					 PS_LOAD(&e->inner_frees16[i]) / 2,
					 __ATOMIC_RELEASE);
	__atomic_store_n(&e->inner_frees16[k],
			 (uint16_t)(PS_LOAD(&e->inner_frees16[k]) + 1),
			 __ATOMIC_RELEASE);
}

void ps_account_free(void *p)
{
	if (PS_UNLIKELY(ps_tls.guard & PS_GUARD_VFORK)) {
		vfork_log(VF_END, NULL, p, 0);
		return;
	}
	uint64_t t0 = ps_rec_begin();
	struct ps_live r;
	int found = ps_livetab_remove((uintptr_t)p, &r);
	if (found) {
		free_block(&r, ps_ticks());
		if (found == 2)
			note_inner_free(r.entry);
	} else {
		unknown_free();
	}
	ps_rec_end(t0);
}

/* A resize of a block: rec, its record (NULL: not recorded), ends at now
 * and p, the result (NULL: the resize to 0 freed it), of size bytes, is
 * allocated at the stack ips (NULL: the caller's, captured now). */
static void resize(const struct ps_live *rec, void *p, size_t size,
		   uint64_t now, const uintptr_t *ips, int depth)
{
	if (rec)
		release(rec, p != NULL, size, now);
	else
		unknown_free();
	/* Sampled: a resize inherits its block's draw. The result of a
	 * recorded block is recorded (its growth chain stays whole), of an
	 * unrecorded one is not; the countdown of the other allocations is
	 * left as it was. Each allocation is still recorded with
	 * probability 1/N: its chain's first block was. */
	if (!p || (ps_opt.sample_every > 1 && !rec))
		return;
	ps_thread *t = self_thread();
	if (PS_UNLIKELY(!t))
		return;
	ps_entry *e = ips ? entry_for(t, ips, depth) : caller_entry(t);
	int grew = rec && size > rec->size;
	if (e)
		charge_alloc(e, p, size, rec ? rec->chain_steps + grew : 0, grew,
			     ips ? now : ps_ticks());
}

void ps_account_resize(const struct ps_live *rec, void *p, size_t size)
{
	uint64_t t0 = ps_rec_begin();
	resize(rec, p, size, ps_ticks(), NULL, 0);
	ps_rec_end(t0);
}


/* ---- a vfork child's calls ------------------------------------------------ *
 * A vfork child (and clone(CLONE_VM | CLONE_VFORK)'s) runs on its parent's
 * thread, stack and heap while that thread waits: what it allocates and
 * frees is on the parent's heap. Left uncounted, its frees of the parent's
 * blocks read as leaks, and a block it makes for the parent to free reads
 * as an unknown free (trial 9: dash's children). But it must take none of
 * our locks: it may be killed at any point, and a lock it held would stay
 * held for its parent. So it logs each call, with its stack and time, in
 * a mapping of its own (the hooks' ps_tls.guard is PS_GUARD_VFORK, see
 * hooks.c), and the parent, back from vfork, charges the calls to its own
 * thread in the order the child made them (ps_vfork_replay). A call the
 * child was killed in the middle of is not in the log. If another of the
 * parent's threads gets a block the child freed back from malloc before
 * the parent resumes, its record replaces the freed one's, which the
 * replayed free then takes (one block reads as live, the other as freed
 * early: a race only a threaded parent that vforks can meet). */
struct vf_event {
	uint32_t kind, depth; /* VF_*; the frames in ips */
	uintptr_t block, old; /* the block allocated (or 0), the one freed */
	uint64_t size, ticks;
	uintptr_t ips[];
};
struct vf_log {
	size_t len; /* bytes of events after the header */
	uint8_t events[];
};
/* Room for the log, mapped when the child first needs it and touched as
 * it fills (the pages a child uses are all it costs). */
#define VF_LOG_BYTES (64u << 20)
static __thread struct vf_log *vf_log PS_TLS;
static __thread uint64_t vf_lost PS_TLS; /* allocations with no room */

/* The calling thread's log, mapped on first use; NULL when it cannot be. */
static struct vf_log *vf_log_get(void)
{
	if (vf_log)
		return vf_log;
	void *m = mmap(NULL, VF_LOG_BYTES, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return vf_log = m == MAP_FAILED ? NULL : m;
}

static void vfork_log(uint32_t kind, void *p, void *old, size_t size)
{
	/* sampled: the child draws as its thread would (the countdown is
	 * the parent's thread's, which the child shares); a block it
	 * records is marked in the filter now, so that its free comes here */
	if (kind == VF_ALLOC) {
		if (!sample_takes())
			return;
		ps_sample_mark((uintptr_t)p);
	}
	/* (the child has its parent's thread record: hooks.c) */
	uintptr_t ips[PS_MAX_DEPTH + 16];
	int depth = p ? ps_capture_stack(ps_own_thread(), ips, NULL) : 0;
	uint64_t now = ps_ticks();
	struct vf_log *log = vf_log_get();
	size_t bytes = sizeof(struct vf_event) + (size_t)depth * sizeof *ips;
	if (!log || sizeof *log + log->len + bytes > VF_LOG_BYTES) {
		vf_lost += p != NULL; /* an allocation not recorded */
		return;
	}
	struct vf_event *ev = (struct vf_event *)(log->events + log->len);
	ev->kind = kind;
	ev->depth = (uint32_t)depth;
	ev->block = (uintptr_t)p;
	ev->old = (uintptr_t)old;
	ev->size = size;
	ev->ticks = now;
	memcpy(ev->ips, ips, (size_t)depth * sizeof *ips);
	/* the event counts once it is whole */
	__atomic_store_n(&log->len, log->len + bytes, __ATOMIC_RELEASE);
}

void ps_vfork_log_resize(void *old, void *p, size_t size)
{
	vfork_log(VF_END, p, old, size);
}

void ps_vfork_replay(void)
{
	struct vf_log *log = vf_log;
	if (PS_LIKELY(!log && !vf_lost))
		return;
	uint64_t t0 = ps_ticks();
	ps_thread *t = ps_recording ? self_thread() : NULL;
	if (t) {
		/* the child may have been killed inside a walk */
		__atomic_store_n(&t->in_unwind, 0, __ATOMIC_RELEASE);
		PS_ADD(&t->unrecorded_allocs, vf_lost);
	}
	size_t len = log ? __atomic_load_n(&log->len, __ATOMIC_ACQUIRE) : 0;
	for (size_t at = 0; t && at < len;) {
		const struct vf_event *ev =
			(const struct vf_event *)(log->events + at);
		at += sizeof *ev + ev->depth * sizeof(uintptr_t);
		if (ev->kind == VF_ALLOC) {
			ps_entry *e = entry_for(t, ev->ips, (int)ev->depth);
			if (e)
				charge_new(e, (void *)ev->block, ev->size,
					   ev->ticks);
			continue;
		}
		/* a free is a resize with no result */
		struct ps_live r;
		int found = ps_livetab_remove(ev->old, &r);
		resize(found ? &r : NULL, (void *)ev->block, ev->size, ev->ticks,
		       ev->ips, (int)ev->depth);
	}
	/* the child's walks were the thread's last: the next one must not
	 * take its stack for the parent's previous one */
	last_entry.entry = NULL;
	if (log)
		munmap(log, VF_LOG_BYTES);
	vf_log = NULL;
	vf_lost = 0;
	if (t)
		ps_rec_exact(t, t0);
}
