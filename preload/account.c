/* account.c - what an allocation or a free changes: the (stack, thread)
 * entry's counters, histograms and times, the site-candidate nodes it
 * counts in (nodes.c), the stack's site-wide live count and peak
 * (--site-peak), and the live-pointer table. Called by the hooks with the recursion
 * guard held, after (malloc) or before (free) the real allocator ran.
 */
#include "ps_internal.h"

void ps_account_alloc(void *p, size_t size, uint64_t chain_steps, int grew)
{
	ps_thread *t = ps_thread_self();
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
	int depth = ps_stack_capture(t, ips);
	ps_entry *e = ps_thread_entry(t, ips, depth);
	if (PS_UNLIKELY(!e))
		return;

	/* The sizes and times the reader checks against the counts are
	 * stored before the counts are published (release): a writer that
	 * sees this allocation counted sees them too (encode_entry()). */
	uint64_t now = ps_ticks();
	if (size < PS_LOAD(&e->size_min))
		PS_STORE(&e->size_min, size);
	if (size > PS_LOAD(&e->size_max))
		PS_STORE(&e->size_max, size);
	if (PS_UNLIKELY(!e->first_alloc_ticks))
		PS_STORE(&e->first_alloc_ticks, now);
	PS_STORE(&e->last_alloc_ticks, now);
	uint64_t frees = PS_LOAD(&e->own_frees) +
			 __atomic_load_n(&e->xfrees, __ATOMIC_ACQUIRE);
	uint64_t allocs = PS_LOAD(&e->allocs) + 1;
	__atomic_store_n(&e->alloc_bytes, PS_LOAD(&e->alloc_bytes) + size,
			 __ATOMIC_RELEASE);
	__atomic_store_n(&e->allocs, allocs, __ATOMIC_RELEASE);
	PS_OWN_ADD(&e->size_hist[ps_hist_bucket(size)], 1);
	if (allocs - frees > PS_LOAD(&e->peak_live))
		__atomic_store_n(&e->peak_live, allocs - frees, __ATOMIC_RELEASE);
	uint64_t live_bytes = PS_LOAD(&e->alloc_bytes) -
			      PS_LOAD(&e->own_free_bytes) -
			      __atomic_load_n(&e->xfree_bytes, __ATOMIC_ACQUIRE);
	if (live_bytes > PS_LOAD(&e->peak_bytes))
		__atomic_store_n(&e->peak_bytes, live_bytes, __ATOMIC_RELEASE);
	if (grew) {
		PS_OWN_ADD(&e->realloc_grows, 1);
		ps_atomic_max(&e->chain_steps_max, chain_steps);
	}
	/* The exact all-thread peak needs one counter every allocating and
	 * freeing thread writes: 30% of the cost on a hot shared stack, so
	 * only when asked for (POOLSCOUT_SITE_PEAK). */
	if (ps_opt.site_peak) {
		ps_stack *s = e->stack;
		ps_atomic_max(&s->peak_live, PS_ADD(&s->live, 1) + 1);
	}
	for (uint32_t i = 0; i < e->nnodes; i++)
		ps_node_alloc(e->nodes[i], size);
	/* release: the writer that takes the mark sees what it marks */
	__atomic_store_n(&e->touched, 1, __ATOMIC_RELEASE);

	struct ps_live rec = {
		.ptr = (uintptr_t)p,
		.entry = e,
		.size = size,
		.birth_ticks = now,
		.chain_steps = chain_steps,
	};
	ps_livetab_insert(&rec);
}

void ps_account_release(const struct ps_live *r, int chain_continues)
{
	ps_entry *e = r->entry;
	ps_thread *self = ps_thread_self();
	uint64_t now = ps_ticks();
	uint64_t life = now - r->birth_ticks;
	int own = e->thread == self;

	/* Order matters: see encode_entry() in writer.c. The time goes
	 * before the counts, so a free the writer sees counted has its time.
	 * The owner's counters take plain stores; only frees from another
	 * thread pay for atomic read-modify-write. */
	PS_STORE(&e->last_free_ticks, now);
	unsigned bucket = ps_hist_bucket(life);
	if (PS_LIKELY(own)) {
		PS_OWN_ADD(&e->own_life_hist[bucket], 1);
		__atomic_store_n(&e->own_free_bytes,
				 PS_LOAD(&e->own_free_bytes) + r->size,
				 __ATOMIC_RELEASE);
		__atomic_store_n(&e->own_frees, PS_LOAD(&e->own_frees) + 1,
				 __ATOMIC_RELEASE);
	} else {
		PS_ADD(&e->x_life_hist[bucket], 1);
		__atomic_fetch_add(&e->xfree_bytes, r->size, __ATOMIC_RELEASE);
		__atomic_fetch_add(&e->xfrees, 1, __ATOMIC_RELEASE);
	}
	if (ps_opt.site_peak)
		__atomic_fetch_sub(&e->stack->live, 1, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < e->nnodes; i++)
		ps_node_free(e->nodes[i], r->size, own);
	if (r->chain_steps && !chain_continues) {
		PS_ADD(&e->chains_ended, 1);
		PS_ADD(&e->chain_steps_sum, r->chain_steps);
		ps_atomic_max(&e->chain_final_size_max, r->size);
	}
	__atomic_store_n(&e->touched, 1, __ATOMIC_RELEASE);
}

void ps_account_unknown_free(void)
{
	/* sampled: most frees are of blocks never recorded, by design */
	if (ps_opt.sample_every > 1)
		return;
	ps_thread *t = ps_thread_self();
	if (t)
		PS_ADD(&t->unknown_frees, 1);
}

void ps_account_free(void *p)
{
	struct ps_live r;
	if (ps_livetab_remove((uintptr_t)p, &r))
		ps_account_release(&r, 0);
	else
		ps_account_unknown_free();
}
