/* arena.c - the preload's own memory. Small and medium blocks are carved
 * from 1 MiB mmap'd chunks by a bump pointer, in size classes that waste
 * at most a quarter of a block (8-byte steps up to 256 bytes, then four
 * classes per power of two up to 4 KiB), with one free list per class so
 * that what the tables give back is used again. Larger blocks (hash
 * tables, big arrays) get mappings of their own and are unmapped when
 * freed, so memory released by a shrinking or retired table goes back to
 * the system. Nothing here calls malloc, so it is safe on the hook path;
 * a fork child drops the parent's chunks wholesale.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ps_internal.h"

#define CHUNK_SIZE (1u << 20)
#define SMALL_MAX 256u              /* 8-byte classes up to here */
#define MEDIUM_MAX (4u << 10)       /* larger blocks: their own mapping */
#define NCLASSES (32 + 4 * 4)       /* 8..256, then 320..4 KiB */

struct chunk {
	struct chunk *next;
	size_t size;
};

struct free_block {
	struct free_block *next;
};

__thread unsigned ps_locks_held PS_TLS; /* see ps_internal.h */

static ps_lock_t arena_lock;
static struct chunk *chunks;
static char *bump, *bump_end;
static struct free_block *free_lists[NCLASSES];

/* A block of its own mapping starts with this header (one cache line), so
 * a fork child can unmap the parent's. */
struct large {
	struct large *next, *prev;
	size_t map_size;
	char pad[40];
};
static struct large *large_blocks;

/* The block size of class c. */
static size_t class_block(unsigned c)
{
	if (c < 32)
		return (size_t)(c + 1) * 8;
	unsigned k = c - 32, e = 8 + k / 4;
	return (size_t)(5 + k % 4) << (e - 2);
}

/* The class of a request of 1..MEDIUM_MAX bytes. */
static unsigned size_class(size_t size)
{
	if (size <= SMALL_MAX)
		return size ? (unsigned)((size + 7) / 8) - 1 : 0;
	unsigned e = 63u - (unsigned)__builtin_clzll((uint64_t)size - 1);
	/* size in (2^e, 2^(e+1)]: the quarter of 2^e above 2^e it needs */
	unsigned quarter = (unsigned)(((size - 1) >> (e - 2)) & 3);
	return 32 + (e - 8) * 4 + quarter;
}

static size_t page_round(size_t size)
{
	return (size + 4095) & ~(size_t)4095;
}

/* A new chunk, mapped without the lock held (a signal that ends the
 * process is most likely delivered as a system call returns: see
 * ps_locks_held); add_chunk then links it in, under the lock. */
static struct chunk *map_chunk(void)
{
	void *p = mmap(NULL, CHUNK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct chunk *c = p;
	c->size = CHUNK_SIZE;
	return c;
}

static void add_chunk(struct chunk *c)
{
	c->next = chunks;
	chunks = c;
}

static void push_free(void *p, unsigned cls)
{
	struct free_block *b = p;
	b->next = free_lists[cls];
	free_lists[cls] = b;
}

static void *alloc_large(size_t size)
{
	size_t map_size = page_round(size + sizeof(struct large));
	void *p = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct large *l = p;
	l->map_size = map_size;
	ps_lock_acquire(&arena_lock);
	l->next = large_blocks;
	if (large_blocks)
		large_blocks->prev = l;
	large_blocks = l;
	ps_lock_release(&arena_lock);
	return l + 1;
}

static void free_large(void *p)
{
	struct large *l = (struct large *)p - 1;
	ps_lock_acquire(&arena_lock);
	if (l->prev)
		l->prev->next = l->next;
	else
		large_blocks = l->next;
	if (l->next)
		l->next->prev = l->prev;
	ps_lock_release(&arena_lock);
	munmap(l, l->map_size);
}

void *ps_arena_alloc(size_t size)
{
	if (size > MEDIUM_MAX)
		return alloc_large(size);
	unsigned cls = size_class(size);
	size_t block = class_block(cls);
	void *out = NULL;
	struct chunk *spare = NULL;
	ps_lock_acquire(&arena_lock);
	if (free_lists[cls]) {
		out = free_lists[cls];
		free_lists[cls] = free_lists[cls]->next;
		ps_lock_release(&arena_lock);
		memset(out, 0, block);
		return out;
	}
	if (!bump || (size_t)(bump_end - bump) < block) {
		ps_lock_release(&arena_lock);
		struct chunk *c = map_chunk();
		ps_lock_acquire(&arena_lock);
		if (c && bump && (size_t)(bump_end - bump) >= block) {
			/* another thread added one meanwhile */
			spare = c;
		} else if (c) {
			/* What is left of the old chunk goes to the free
			 * lists, in the largest blocks that fit, so nothing
			 * is stranded. */
			for (int k = NCLASSES - 1; bump && k >= 0; k--) {
				while ((size_t)(bump_end - bump) >=
				       class_block((unsigned)k)) {
					push_free(bump, (unsigned)k);
					bump += class_block((unsigned)k);
				}
			}
			add_chunk(c);
			bump = (char *)c + 64;
			bump_end = (char *)c + CHUNK_SIZE;
		}
	}
	if (bump && (size_t)(bump_end - bump) >= block) {
		out = bump;
		bump += block;
	}
	ps_lock_release(&arena_lock);
	if (spare)
		munmap(spare, CHUNK_SIZE);
	return out; /* fresh mmap memory is already zero */
}

void ps_arena_free(void *p, size_t size)
{
	if (!p)
		return;
	if (size > MEDIUM_MAX) {
		free_large(p);
		return;
	}
	ps_lock_acquire(&arena_lock);
	push_free(p, size_class(size));
	ps_lock_release(&arena_lock);
}

size_t ps_arena_block_size(size_t size)
{
	if (size > MEDIUM_MAX)
		return page_round(size + sizeof(struct large)) - sizeof(struct large);
	return class_block(size_class(size));
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
	struct large *l = large_blocks;
	while (l) {
		struct large *next = l->next;
		munmap(l, l->map_size);
		l = next;
	}
	large_blocks = NULL;
	bump = bump_end = NULL;
	memset(free_lists, 0, sizeof free_lists);
	arena_lock.locked = 0;
}
