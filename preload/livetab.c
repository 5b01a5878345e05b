/* livetab.c - the live-pointer table: every block we saw allocated and not
 * yet freed, with the entry that allocated it, its size, birth time and
 * realloc history. It is what lets a free(p) be charged to the right
 * (stack, thread), and what lifetimes and in-use numbers are made of.
 *
 * 256 shards, each an open-addressing table (linear probing, backward-shift
 * deletion, so churn leaves no tombstones) behind its own spinlock; the
 * shard is picked from the pointer's hash, so threads rarely meet. Slots
 * live in mmap'd memory that doubles when 70% full. uthash is not used here
 * on purpose: it would add a 56-byte handle to each of millions of blocks.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "ps_internal.h"

#define SHARD_BITS 8
#define NSHARDS (1u << SHARD_BITS)
#define INITIAL_SLOTS 512u

struct shard {
	ps_lock_t lock;
	uint32_t mask;  /* slots - 1, 0 before first use */
	uint64_t count;
	struct ps_live *slots;
} __attribute__((aligned(64)));

static struct shard shards[NSHARDS];

static inline uint64_t ptr_hash(uintptr_t p)
{
	return (uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ull;
}

static struct ps_live *map_slots(size_t n)
{
	void *m = mmap(NULL, n * sizeof(struct ps_live), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return m == MAP_FAILED ? NULL : m;
}

static inline uint32_t slot_of(uint64_t h, uint32_t mask)
{
	return (uint32_t)(h >> 16) & mask;
}

static int grow(struct shard *s)
{
	uint32_t old_n = s->mask ? s->mask + 1 : 0;
	uint32_t n = old_n ? old_n * 2 : INITIAL_SLOTS;
	if (n < old_n)
		return -ENOMEM;
	struct ps_live *slots = map_slots(n);
	if (!slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < old_n; i++) {
		struct ps_live *r = &s->slots[i];
		if (!r->ptr)
			continue;
		uint32_t j = slot_of(ptr_hash(r->ptr), n - 1);
		while (slots[j].ptr)
			j = (j + 1) & (n - 1);
		slots[j] = *r;
	}
	if (s->slots)
		munmap(s->slots, old_n * sizeof(struct ps_live));
	s->slots = slots;
	s->mask = n - 1;
	return 0;
}

int ps_livetab_insert(const struct ps_live *rec)
{
	uint64_t h = ptr_hash(rec->ptr);
	struct shard *s = &shards[h >> (64 - SHARD_BITS)];
	ps_lock_acquire(&s->lock);
	if ((s->count + 1) * 10 > (uint64_t)(s->mask + 1) * 7 || !s->mask) {
		if (grow(s)) {
			ps_lock_release(&s->lock);
			return -ENOMEM;
		}
	}
	uint32_t i = slot_of(h, s->mask);
	while (s->slots[i].ptr && s->slots[i].ptr != rec->ptr)
		i = (i + 1) & s->mask;
	if (!s->slots[i].ptr) {
		s->count++;
		if (ps_opt.sample_every > 1)
			ps_sample_mark(rec->ptr);
	}
	s->slots[i] = *rec;
	ps_lock_release(&s->lock);
	return 0;
}

int ps_livetab_remove(uintptr_t p, struct ps_live *out)
{
	/* sampled: skip, without a lock, the blocks never recorded */
	if (ps_opt.sample_every > 1 && !ps_sample_maybe(p))
		return 0;
	uint64_t h = ptr_hash(p);
	struct shard *s = &shards[h >> (64 - SHARD_BITS)];
	ps_lock_acquire(&s->lock);
	if (!s->mask) {
		ps_lock_release(&s->lock);
		return 0;
	}
	uint32_t i = slot_of(h, s->mask);
	while (s->slots[i].ptr != p) {
		if (!s->slots[i].ptr) {
			ps_lock_release(&s->lock);
			return 0;
		}
		i = (i + 1) & s->mask;
	}
	*out = s->slots[i];
	/* Backward-shift deletion: pull later members of the probe run into
	 * the hole so lookups never need tombstones. */
	uint32_t hole = i;
	for (uint32_t j = (i + 1) & s->mask; s->slots[j].ptr;
	     j = (j + 1) & s->mask) {
		uint32_t home = slot_of(ptr_hash(s->slots[j].ptr), s->mask);
		/* Move j into the hole unless its home lies in (hole, j]. */
		if (((j - home) & s->mask) >= ((j - hole) & s->mask)) {
			s->slots[hole] = s->slots[j];
			hole = j;
		}
	}
	s->slots[hole].ptr = 0;
	s->count--;
	if (ps_opt.sample_every > 1)
		ps_sample_unmark(p);
	ps_lock_release(&s->lock);
	return 1;
}

void ps_livetab_lock_all(void)
{
	for (unsigned i = 0; i < NSHARDS; i++)
		ps_lock_acquire(&shards[i].lock);
}

void ps_livetab_unlock_all(void)
{
	for (unsigned i = 0; i < NSHARDS; i++)
		ps_lock_release(&shards[i].lock);
}

void ps_livetab_reset_child(void)
{
	for (unsigned i = 0; i < NSHARDS; i++) {
		struct shard *s = &shards[i];
		if (s->slots)
			munmap(s->slots, (size_t)(s->mask + 1) *
						 sizeof(struct ps_live));
		s->slots = NULL;
		s->mask = 0;
		s->count = 0;
		s->lock.locked = 0;
	}
}
