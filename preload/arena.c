/* arena.c - the preload's own memory: mmap'd chunks carved by a bump
 * pointer, with per-size-class free lists so uthash can give back the
 * bucket arrays it outgrows. Nothing here calls malloc, so it is safe on
 * the hook path; a fork child drops the parent's chunks wholesale.
 */
#include <string.h>
#include <sys/mman.h>

#include "ps_internal.h"

#define CHUNK_SIZE (1u << 20)
#define NCLASSES 40 /* power-of-two classes up to 2^39 */

struct chunk {
	struct chunk *next;
	size_t size;
};

struct free_block {
	struct free_block *next;
};

static ps_lock_t arena_lock;
static struct chunk *chunks;
static char *bump, *bump_end;
static struct free_block *free_lists[NCLASSES];
__thread int ps_uthash_oom PS_TLS;

static unsigned size_class(size_t size)
{
	unsigned c = 4; /* 16 bytes */
	while (((size_t)1 << c) < size)
		c++;
	return c;
}

static void *map_chunk(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct chunk *c = p;
	c->size = size;
	c->next = chunks;
	chunks = c;
	return c;
}

void *ps_arena_alloc(size_t size)
{
	unsigned cls = size_class(size ? size : 1);
	size_t rounded = (size_t)1 << cls;
	void *out = NULL;
	if (cls >= NCLASSES)
		return NULL;
	ps_lock_acquire(&arena_lock);
	if (free_lists[cls]) {
		out = free_lists[cls];
		free_lists[cls] = free_lists[cls]->next;
		ps_lock_release(&arena_lock);
		memset(out, 0, rounded);
		return out;
	}
	if (rounded > CHUNK_SIZE / 4) {
		/* Big requests get a chunk of their own. */
		struct chunk *c = map_chunk(rounded + 64);
		out = c ? (char *)c + 64 : NULL;
	} else {
		/* blocks of a cache line or more start on a cache line */
		if (rounded >= 64)
			bump = (char *)(((uintptr_t)bump + 63) & ~(uintptr_t)63);
		if (bump > bump_end || (size_t)(bump_end - bump) < rounded) {
			struct chunk *c = map_chunk(CHUNK_SIZE);
			if (c) {
				bump = (char *)c + 64;
				bump_end = (char *)c + CHUNK_SIZE;
			}
		}
		if ((size_t)(bump_end - bump) >= rounded) {
			out = bump;
			bump += rounded;
		}
	}
	ps_lock_release(&arena_lock);
	return out; /* fresh mmap memory is already zero */
}

void ps_arena_free(void *p, size_t size)
{
	unsigned cls = size_class(size ? size : 1);
	if (!p || cls >= NCLASSES)
		return;
	ps_lock_acquire(&arena_lock);
	struct free_block *b = p;
	b->next = free_lists[cls];
	free_lists[cls] = b;
	ps_lock_release(&arena_lock);
}

void ps_arena_lock(void)
{
	ps_lock_acquire(&arena_lock);
}

void ps_arena_unlock(void)
{
	ps_lock_release(&arena_lock);
}

void ps_arena_reset_child(void)
{
	struct chunk *c = chunks;
	while (c) {
		struct chunk *next = c->next;
		munmap(c, c->size);
		c = next;
	}
	chunks = NULL;
	bump = bump_end = NULL;
	memset(free_lists, 0, sizeof free_lists);
	arena_lock.locked = 0;
}
