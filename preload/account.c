/* account.c - what an allocation or a free changes: the (stack, thread)
 * entry's counters, histograms and times, the site-candidate nodes it
 * counts in (nodes.c), the stack's site-wide live count and peak
 * (--site-peak), and the live-pointer table. Called by the hooks with the
 * recursion guard held, after (malloc) or before (free) the real allocator
 * ran. It finds the caller's entry: the stack captured (capture.c), looked
 * up in the thread's table (threads.c), interned and given its node set
 * (nodes.c) the first time; and it starts the writer when a second thread
 * shows up. It times its own work for the recording's own time
 * (ps_rec_begin).
 */
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

static inline void account_alloc(void *p, size_t size, uint64_t chain_steps,
				 int grew)
{
	ps_thread *t = self_thread();
	if (PS_UNLIKELY(!t))
		return;
	if (PS_UNLIKELY(ps_opt.sample_every > 1)) {
		/* recorded with probability 1/N (sample.c) */
		if (ps_tls.sample_countdown) {
			ps_tls.sample_countdown--;
			return;
		}
		ps_tls.sample_countdown = ps_sample_skip();
	}
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
	if (PS_UNLIKELY(!e))
		return;

	/* The sizes and times the reader checks against the counts are
	 * stored before the counts are published (release): a writer that
	 * sees this allocation counted sees them too (encode_entry()). */
	uint64_t now = ps_ticks();
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

void ps_account_alloc(void *p, size_t size, uint64_t chain_steps, int grew)
{
	uint64_t t0 = ps_rec_begin();
	account_alloc(p, size, chain_steps, grew);
	ps_rec_end(t0);
}

static inline void release(const struct ps_live *r, int resized,
			   size_t new_size)
{
	ps_entry *e = r->entry;
	ps_thread *self = self_thread();
	if (PS_UNLIKELY(!self))
		return;
	uint64_t now = ps_ticks();
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

void ps_account_release(const struct ps_live *r, int resized, size_t new_size)
{
	uint64_t t0 = ps_rec_begin();
	release(r, resized, new_size);
	ps_rec_end(t0);
}

void ps_account_unknown_free(void)
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
	uint64_t t0 = ps_rec_begin();
	struct ps_live r;
	int found = ps_livetab_remove((uintptr_t)p, &r);
	if (found) {
		release(&r, 0, 0);
		if (found == 2)
			note_inner_free(r.entry);
	} else {
		ps_account_unknown_free();
	}
	ps_rec_end(t0);
}
