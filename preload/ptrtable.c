/* ptrtable.c - the preload's hash tables of pointers: a thread's entries
 * (threads.c), its nodes and node sets (nodes.c), the --site-peak nodes.
 * Open addressing with linear probing and no removal (a table is dropped
 * whole when its thread retires); a slot is 8 bytes, the pointer and 15
 * bits of the object's hash, so a probe rarely touches an object that is
 * not the one looked for. Capacities grow by half (not double), so a table
 * is between 53% and 80% full. The objects keep their own keys; callers
 * probe inline (ps_ptrtable_home, ps_ptrtable_may_match in ps_internal.h).
 *
 * A table the writer walks while its owner adds to it is published with a
 * release store when it grows; the old slots are freed at once unless the
 * writer is walking, else put on a retire list it empties after its walk.
 */
#include <errno.h>

#include "ps_internal.h"

#define MIN_CAP 8u

static ps_ptrtable *retired; /* lock-free stack */
static int walking;          /* the writer is inside a walk */

static size_t table_bytes(uint32_t cap)
{
	return sizeof(ps_ptrtable) + (size_t)cap * sizeof(uint64_t);
}

static void put(ps_ptrtable *t, uint64_t hash, void *p)
{
	uint64_t v = (uint64_t)(uintptr_t)p;
	if (!(v >> 48))
		v |= ps_ptrtable_tag(hash) << 48;
	uint32_t i = ps_ptrtable_home(t, hash);
	while (t->slot[i])
		if (++i == t->cap)
			i = 0;
	t->slot[i] = v;
	t->used++;
}

int ps_ptrtable_add(ps_ptrtable **tp, uint64_t hash, void *p,
		    uint64_t (*hash_of)(const void *p), int retire)
{
	ps_ptrtable *old = *tp;
	if (!old || (uint64_t)(old->used + 1) * 5 > (uint64_t)old->cap * 4) {
		uint32_t cap = old ? old->cap + old->cap / 2 : MIN_CAP;
		if (old && cap < old->cap)
			return -ENOMEM;
		ps_ptrtable *t = ps_arena_alloc(table_bytes(cap));
		if (!t)
			return -ENOMEM;
		t->cap = cap;
		for (uint32_t i = 0; old && i < old->cap; i++) {
			void *q = PS_PTRTABLE_PTR(old->slot[i]);
			if (q)
				put(t, hash_of(q), q);
		}
		put(t, hash, p);
		__atomic_store_n(tp, t, __ATOMIC_RELEASE);
		/* Store-load against the writer's walk_begin: either it sees
		 * the new table, or we see it walking. */
		if (old && retire)
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (old && retire && __atomic_load_n(&walking, __ATOMIC_ACQUIRE)) {
			old->retired_next = __atomic_load_n(&retired, __ATOMIC_RELAXED);
			while (!__atomic_compare_exchange_n(&retired, &old->retired_next,
							    old, 1, __ATOMIC_RELEASE,
							    __ATOMIC_RELAXED))
				;
		} else if (old) {
			ps_ptrtable_free(old);
		}
		return 0;
	}
	/* The slot is written whole before the count: a walker reads a
	 * slot either empty or complete. */
	uint64_t v = (uint64_t)(uintptr_t)p;
	if (!(v >> 48))
		v |= ps_ptrtable_tag(hash) << 48;
	uint32_t i = ps_ptrtable_home(old, hash);
	while (old->slot[i])
		if (++i == old->cap)
			i = 0;
	__atomic_store_n(&old->slot[i], v, __ATOMIC_RELEASE);
	old->used++;
	return 0;
}

void ps_ptrtable_free(ps_ptrtable *t)
{
	if (t)
		ps_arena_free(t, table_bytes(t->cap));
}

void ps_ptrtables_walk_begin(void)
{
	__atomic_store_n(&walking, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void ps_ptrtables_walk_end(void)
{
	__atomic_store_n(&walking, 0, __ATOMIC_RELEASE);
	ps_ptrtables_reclaim();
}

void ps_ptrtables_reclaim(void)
{
	ps_ptrtable *t = __atomic_exchange_n(&retired, NULL, __ATOMIC_ACQUIRE);
	while (t) {
		ps_ptrtable *next = t->retired_next;
		ps_ptrtable_free(t);
		t = next;
	}
}

void ps_ptrtables_reset_child(void)
{
	retired = NULL; /* its memory went with the arena */
	walking = 0;
}
