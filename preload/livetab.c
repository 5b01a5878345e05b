/* livetab.c - the live-pointer table: every block we saw allocated and not
 * yet freed, with the entry that allocated it, its size, birth time and
 * realloc history. It is what lets a free(p) be charged to the right
 * (stack, thread), and what lifetimes and in-use numbers are made of.
 *
 * It is an index on the address, not a hash, so that it keeps the
 * program's locality: blocks allocated together are recorded together,
 * and a run of mallocs or frees touches one cache line after another
 * instead of one random line of a table hundreds of MiB wide.
 *
 * - A region is 4 KiB of address space. Its live blocks sit in a leaf: an
 *   array of 16-byte records sorted by the block's offset in the region.
 *   A record holds the offset (12 bits), the entry's id (27 bits; id ->
 *   entry is a two-level array read without a lock, see entry_id()), the
 *   realloc steps (4 bits), the size (20 bits) and the birth time (64
 *   bits, exact). A block that does not fit (1 MiB or more, 16 realloc
 *   steps or more, ids run out) keeps its whole record in the arena and
 *   the record points there: such blocks are few or large.
 * - A leaf grows and shrinks through 49 capacity classes, about 1/8 apart
 *   above 8 records, so a leaf being filled is 80-100% full. Growth copies
 *   one leaf (at most 4096 records): nothing ever rehashes the table, and
 *   no growth needs an old and a new table at once. A leaf shrinks when
 *   half empty; an empty one keeps room for one record (so malloc, free,
 *   malloc in one region makes no leaf each time), up to EMPTY_KEPT per
 *   shard (regions once used are not all used again). Blocks freed in
 *   address order die in place at the front of their leaf (a record of
 *   0) and new ones take those slots, so freeing in order moves nothing.
 * - The leaves of 2^17 regions (512 MiB) hang from one bottom node (an
 *   array of 8-byte words: leaf address, count, class), made on first
 *   use and never freed; a 2^18-entry top array covers the 47-bit user
 *   space, and up to 64 far nodes anything above it.
 * - Each region belongs to one of 256 shards, by a hash of the MiB it
 *   lies in; the shard's spinlock guards its regions' leaves and the leaf
 *   memory it carves (its own chunks and per-class free lists). Threads
 *   that allocate in different places rarely meet, and a run of
 *   allocations stays in one shard, whose free leaves are still in cache.
 *
 * - In front of the table, each thread parks its latest block in a slot of
 *   its own (the front): most blocks are freed by the thread that made
 *   them before it makes the next one, and then neither the insert nor
 *   the removal touches a shard, a lock or an atomic read-modify-write.
 *   The next insert moves the parked block into the table (its flush).
 *   A removal that finds nothing in the table looks through every
 *   thread's front (another thread's block, handed over before it was
 *   flushed), holding the shard lock of the address: flushes of that
 *   address take the same lock, so a block is always in one place or
 *   the other. Only the owner parks, and only into an empty slot; a
 *   slot is taken back (flushed) when its thread ends. Off until
 *   ps_livetab_init() (the unit tests see the table alone).
 *
 * Measured here (2 CPUs, shared): 16-18 B of leaves per live block for
 * heaps of 32-64 B chunks, and +18-19 B of process RSS per live block in
 * total under `poolscout record` (bench/run.sh live and perl rows, 4M and
 * 10M blocks; tests/unit/test_livetab.c at 1M, 4M, 10M), against +67-84 B
 * for the hash table of 40-byte slots it replaced. An insert in address
 * order costs ~28 ns against ~190 ns for that hash (whose every access
 * was a cache and TLB miss); a free in random order over 4M blocks costs
 * more (~130 ns against ~100 ns: the node word and the leaf are two
 * misses where a slot was one). A sparse region costs more per block (one
 * block alone: 16 B, its node word and a share of a node page), but then
 * the program itself holds a page for those few blocks.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "ps_internal.h"

#define SHARD_BITS 8
#define NSHARDS (1u << SHARD_BITS)
#define REGION_BITS 12
#define REGION_SIZE (1u << REGION_BITS)
#define SHARD_SPAN_BITS 20 /* 256 regions in a row share a shard */
#define NODE_BITS 17
#define NODE_REGIONS (1u << NODE_BITS)
#define NEAR_BITS 47 /* x86-64 user space; above it, far nodes */
#define TOP_SIZE (1u << (NEAR_BITS - REGION_BITS - NODE_BITS))
#define MAX_FAR 64   /* far nodes: 32 GiB of address space above 2^47 */
#define CHUNK_BYTES (256u << 10) /* leaf memory is carved from these */
#define EMPTY_KEPT 1024u /* per shard: 4 MiB in all, at most */

/* A record's first word: offset (12) | escaped (1) | realloc steps (4) |
 * entry id (27) | size (20). Sorting it sorts by offset. The second word
 * is the birth time, or for an escaped record its struct ps_live. */
#define OFF_SHIFT 52
#define ESCAPED ((uint64_t)1 << 51)
#define CHAIN_SHIFT 47
#define CHAIN_LIMIT ((uint64_t)1 << 4)
#define ID_SHIFT 20
#define ID_BITS 27
#ifndef PS_LIVETAB_ID_LIMIT /* tests lower it to reach the escape */
#define PS_LIVETAB_ID_LIMIT (1u << ID_BITS)
#endif
#define SIZE_LIMIT ((uint64_t)1 << ID_SHIFT)

struct record {
	uint64_t word, birth;
};

/* A node word: leaf address / 8 (44 bits) | records (13, dead ones
 * included) | class (6). 0: no leaf. Read and written under the region's
 * shard lock. */
#define WORD_COUNT_SHIFT 44
#define WORD_CLASS_SHIFT 57
#define WORD_COUNT_MASK ((1u << 13) - 1)

/* Leaf capacities, in records: about 1/8 apart above 8. */
static const uint16_t class_cap[] = {
	1,    2,    3,    4,    5,    6,    7,    8,    9,    10,   12,
	14,   16,   18,   20,   23,   26,   29,   32,   36,   40,   45,
	51,   57,   64,   72,   81,   91,   102,  115,  128,  144,  162,
	182,  205,  230,  256,  320,  400,  512,  640,  800,  1024, 1280,
	1600, 2048, 2560, 3200, 4096,
};
#define LEAF_CLASSES (sizeof class_cap / sizeof *class_cap)

struct shard {
	ps_lock_t lock;
	uint64_t blocks;        /* live blocks in its regions */
	uint64_t leaves;        /* leaves holding them */
	uint64_t leaf_bytes;    /* their capacity, in bytes */
	uint64_t resizes;       /* leaves moved to another class */
	uint64_t empty_kept;    /* leaves kept with no block (EMPTY_KEPT) */
	char *bump, *bump_end;  /* the chunk being carved */
	void *chunks;           /* every chunk, for a fork child */
	uint64_t chunk_bytes;
	struct record *free_leaves[LEAF_CLASSES];
} __attribute__((aligned(64)));

static struct shard shards[NSHARDS];

/* ---- the index: top array, bottom nodes ---------------------------------- */

struct node_head {
	struct node_head *next; /* every node, for a fork child */
	uint64_t **home;        /* the top or far slot pointing at it */
	uint64_t window;        /* address >> (REGION_BITS + NODE_BITS) */
	uint64_t words[] __attribute__((aligned(64)));
};
#define NODE_BYTES (sizeof(struct node_head) + NODE_REGIONS * sizeof(uint64_t))

static uint64_t *top[TOP_SIZE];
static struct {
	uint64_t window; /* address >> (REGION_BITS + NODE_BITS) */
	uint64_t *words;
} far[MAX_FAR];
static uint32_t far_count;
static struct node_head *nodes;
/* Serialises making nodes (rare: one per 512 MiB used), so that a fork
 * never copies one half made; lookups take no lock. */
static ps_lock_t node_lock;

/* The node of `window`, made if missing; NULL when out of memory or past
 * MAX_FAR far nodes. */
static uint64_t *make_node(uint64_t window)
{
	uint64_t **slot = NULL, *words = NULL;
	ps_lock_acquire(&node_lock);
	if (window < TOP_SIZE) {
		slot = &top[window];
	} else {
		uint32_t i;
		for (i = 0; i < far_count && far[i].window != window; i++)
			;
		if (i < MAX_FAR) {
			if (i == far_count)
				far[i].window = window; /* counted below */
			slot = &far[i].words;
		}
	}
	if (slot && !(words = *slot)) {
		struct node_head *n = mmap(NULL, NODE_BYTES,
					   PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (n != MAP_FAILED) {
			n->home = slot;
			n->window = window;
			n->next = nodes;
			__atomic_store_n(&nodes, n, __ATOMIC_RELEASE);
			words = n->words;
			__atomic_store_n(slot, words, __ATOMIC_RELEASE);
			if (window >= TOP_SIZE)
				__atomic_store_n(&far_count, far_count + 1,
						 __ATOMIC_RELEASE);
		}
	}
	ps_lock_release(&node_lock);
	return words;
}

/* The node word of p's region, when its node is not in top[]. */
static uint64_t *node_word_slow(uintptr_t p, int create)
{
	uint64_t window = (uint64_t)p >> (REGION_BITS + NODE_BITS);
	uint64_t *words = NULL;
	if (window < TOP_SIZE) {
		words = __atomic_load_n(&top[window], __ATOMIC_ACQUIRE);
	} else {
		uint32_t n = __atomic_load_n(&far_count, __ATOMIC_ACQUIRE);
		for (uint32_t i = 0; i < n; i++)
			if (far[i].window == window)
				words = __atomic_load_n(&far[i].words,
							__ATOMIC_ACQUIRE);
	}
	if (!words && (!create || !(words = make_node(window))))
		return NULL;
	return &words[((uint64_t)p >> REGION_BITS) & (NODE_REGIONS - 1)];
}

/* The node word of p's region; with create, its node is made if missing.
 * NULL: no node (or out of memory, or more than MAX_FAR far nodes). */
static inline uint64_t *node_word(uintptr_t p, int create)
{
	uint64_t window = (uint64_t)p >> (REGION_BITS + NODE_BITS);
	uint64_t *words;
	if (PS_LIKELY(window < TOP_SIZE) &&
	    PS_LIKELY(words = __atomic_load_n(&top[window], __ATOMIC_ACQUIRE)))
		return &words[(uint64_t)p >> REGION_BITS & (NODE_REGIONS - 1)];
	return node_word_slow(p, create);
}

/* Moves n records from src to dst (overlapping): most moves are of a
 * record or two, not worth a call. */
static inline void move_records(struct record *dst, const struct record *src,
				unsigned n)
{
	if (n <= 2) {
		struct record a = n ? src[0] : (struct record){ 0, 0 },
			      b = n > 1 ? src[1] : a;
		if (n)
			dst[0] = a;
		if (n > 1)
			dst[1] = b;
		return;
	}
	memmove(dst, src, n * sizeof *dst);
}

static inline struct shard *shard_of(uintptr_t p)
{
	uint64_t span = (uint64_t)p >> SHARD_SPAN_BITS;
	return &shards[(span * 0x9e3779b97f4a7c15ull) >> (64 - SHARD_BITS)];
}

static inline struct record *word_leaf(uint64_t w)
{
	return (struct record *)(uintptr_t)((w & ((1ull << 44) - 1)) << 3);
}

static inline unsigned word_count(uint64_t w)
{
	return (unsigned)(w >> WORD_COUNT_SHIFT) & WORD_COUNT_MASK;
}

static inline unsigned word_class(uint64_t w)
{
	return (unsigned)(w >> WORD_CLASS_SHIFT);
}

static inline uint64_t make_word(struct record *leaf, unsigned count,
				 unsigned cls)
{
	return (uint64_t)(uintptr_t)leaf >> 3 |
	       (uint64_t)count << WORD_COUNT_SHIFT |
	       (uint64_t)cls << WORD_CLASS_SHIFT;
}

/* ---- leaf memory (under the shard lock) ---------------------------------- */

static struct record *leaf_alloc(struct shard *s, unsigned cls)
{
	struct record *r = s->free_leaves[cls];
	if (r) {
		s->free_leaves[cls] = *(struct record **)r;
		return r;
	}
	size_t bytes = class_cap[cls] * sizeof(struct record);
	if ((size_t)(s->bump_end - s->bump) < bytes) {
		char *c = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c == MAP_FAILED)
			return NULL;
		/* the chunk's first record links the chunks */
		*(void **)c = s->chunks;
		s->chunks = c;
		s->chunk_bytes += CHUNK_BYTES;
		s->bump = c + sizeof(struct record);
		s->bump_end = c + CHUNK_BYTES;
	}
	r = (struct record *)s->bump;
	s->bump += bytes;
	return r;
}

static void leaf_free(struct shard *s, struct record *r, unsigned cls)
{
	*(struct record **)r = s->free_leaves[cls];
	s->free_leaves[cls] = r;
}

/* The smallest class that holds n records. */
static unsigned class_for(unsigned n)
{
	unsigned lo = 0, hi = LEAF_CLASSES - 1;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (class_cap[mid] >= n)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* The index of the first record whose word is key or more, among n: for
 * key = offset << OFF_SHIFT | 1, the block at that offset or the place
 * for it (a live record's word is never 0, a dead one's always is). It
 * starts where the block would be if the blocks were spread evenly over
 * the region (they mostly are: then the answer is a record or two away,
 * on the same cache line) and falls back to halving. */
static inline unsigned find(const struct record *leaf, unsigned n,
			    uint64_t key)
{
	unsigned i = (unsigned)((key >> OFF_SHIFT) * n >> REGION_BITS);
	unsigned lo = 0, hi = n;
	if (!n)
		return 0;
	if (leaf[i].word < key) {
		for (unsigned k = 0; k < 4; k++)
			if (++i == n || leaf[i].word >= key)
				return i;
		lo = i + 1;
	} else {
		for (unsigned k = 0; k < 4; k++, i--)
			if (!i || leaf[i - 1].word < key)
				return i;
		hi = i;
	}
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (leaf[mid].word < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline uint64_t key_of(uint64_t off)
{
	return off << OFF_SHIFT | 1;
}

/* Whether index i (from find()) holds the block at offset off. */
static inline int at(const struct record *leaf, unsigned n, unsigned i,
		     uint64_t off)
{
	return i < n && leaf[i].word >> OFF_SHIFT == off;
}

/* Records freed in address order leave dead records (word 0) at the front
 * of a leaf rather than moving the rest down one by one: the number of
 * them, i.e. the index of the first live record. */
static inline unsigned dead_front(const struct record *leaf, unsigned n)
{
	return n && !leaf[0].word ? find(leaf, n, 1) : 0;
}

/* ---- entry ids ----------------------------------------------------------- */

/* id -> entry, written once per entry (by the thread that inserts its
 * first block) and read without a lock; 0 is no entry. */
#define ID_CHUNK_BITS 12
#define ID_CHUNK (1u << ID_CHUNK_BITS)
static ps_entry **id_chunks[(PS_LIVETAB_ID_LIMIT + ID_CHUNK - 1) / ID_CHUNK];
static uint32_t id_last;
/* Ids of freed entries, to be given again: a stack threaded through their
 * slots (a link is the next free id << 1 | 1; entries are 8-aligned, so
 * an entry pointer never has the low bit). Its lock is only ever tried,
 * never waited for (a signal handler may interrupt its holder): a busy
 * lock means a fresh id, or an id not given again. */
static int id_lock;
static uint32_t id_free;

static int id_trylock(void)
{
	return !__atomic_exchange_n(&id_lock, 1, __ATOMIC_ACQUIRE);
}

static void id_unlock(void)
{
	__atomic_store_n(&id_lock, 0, __ATOMIC_RELEASE);
}

static ps_entry *entry_of(uint32_t id)
{
	ps_entry **chunk = __atomic_load_n(&id_chunks[id >> ID_CHUNK_BITS],
					   __ATOMIC_ACQUIRE);
	return __atomic_load_n(&chunk[id & (ID_CHUNK - 1)], __ATOMIC_ACQUIRE);
}

/* e's id, given on first use; 0 when ids ran out or memory did. */
static uint32_t entry_id(ps_entry *e)
{
	uint32_t id = __atomic_load_n(&e->live_id, __ATOMIC_ACQUIRE);
	if (PS_LIKELY(id))
		return id != UINT32_MAX ? id : 0;
	id = 0;
	if (__atomic_load_n(&id_free, __ATOMIC_RELAXED) && id_trylock()) {
		id = __atomic_load_n(&id_free, __ATOMIC_RELAXED);
		if (id) {
			ps_entry **c = id_chunks[id >> ID_CHUNK_BITS];
			uintptr_t link = (uintptr_t)__atomic_load_n(
				&c[id & (ID_CHUNK - 1)], __ATOMIC_RELAXED);
			__atomic_store_n(&id_free, (uint32_t)(link >> 1),
					 __ATOMIC_RELAXED);
		}
		id_unlock();
	}
	if (!id)
		id = __atomic_add_fetch(&id_last, 1, __ATOMIC_RELAXED);
	ps_entry ***slot = NULL;
	if (id < PS_LIVETAB_ID_LIMIT)
		slot = &id_chunks[id >> ID_CHUNK_BITS];
	ps_entry **chunk = NULL;
	if (slot)
		chunk = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (slot && !chunk) {
		ps_entry **fresh = ps_arena_alloc(ID_CHUNK * sizeof *fresh);
		if (fresh &&
		    !__atomic_compare_exchange_n(slot, &chunk, fresh, 0,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			ps_arena_free(fresh, ID_CHUNK * sizeof *fresh);
		else
			chunk = fresh;
	}
	uint32_t want = 0, got = UINT32_MAX;
	if (chunk) {
		__atomic_store_n(&chunk[id & (ID_CHUNK - 1)], e,
				 __ATOMIC_RELEASE);
		got = id;
	}
	/* two threads may race here (a failed realloc re-inserts another
	 * thread's block): the first id wins, the other stays unused */
	if (!__atomic_compare_exchange_n(&e->live_id, &want, got, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		got = want;
	return got != UINT32_MAX ? got : 0;
}

void ps_livetab_entry_gone(ps_entry *e)
{
	uint32_t id = __atomic_load_n(&e->live_id, __ATOMIC_ACQUIRE);
	if (!id || id == UINT32_MAX)
		return;
	ps_entry **chunk = __atomic_load_n(&id_chunks[id >> ID_CHUNK_BITS],
					   __ATOMIC_ACQUIRE);
	if (!chunk || entry_of(id) != e || !id_trylock())
		return; /* an id that lost a race, or the lock is busy */
	uint32_t next = __atomic_load_n(&id_free, __ATOMIC_RELAXED);
	__atomic_store_n(&chunk[id & (ID_CHUNK - 1)],
			 (ps_entry *)((uintptr_t)next << 1 | 1), __ATOMIC_RELEASE);
	__atomic_store_n(&id_free, id, __ATOMIC_RELAXED);
	id_unlock();
}

int ps_livetab_entry_moved(ps_entry *from, ps_entry *to)
{
	uint32_t id = __atomic_load_n(&from->live_id, __ATOMIC_ACQUIRE);
	if (!id || id == UINT32_MAX)
		return -ENOENT;
	ps_entry **chunk = __atomic_load_n(&id_chunks[id >> ID_CHUNK_BITS],
					   __ATOMIC_ACQUIRE);
	__atomic_store_n(&chunk[id & (ID_CHUNK - 1)], to, __ATOMIC_RELEASE);
	return 0;
}

/* ---- the table ----------------------------------------------------------- */

/* A leaf of class cls for one region, counted in the shard's bytes; NULL
 * when out of memory. */
static struct record *leaf_new(struct shard *s, unsigned cls)
{
	struct record *leaf = leaf_alloc(s, cls);
	if (leaf)
		s->leaf_bytes += class_cap[cls] * sizeof *leaf;
	return leaf;
}

static void leaf_drop(struct shard *s, struct record *leaf, unsigned cls)
{
	leaf_free(s, leaf, cls);
	s->leaf_bytes -= class_cap[cls] * sizeof *leaf;
}

/* A marker for table_insert: a block flushed from a front keeps the
 * filter mark it got when it was parked. */
static struct ps_live parked_marker;
static inline int escape_is_parked(const struct ps_live *escape)
{
	return escape == &parked_marker;
}

/* Puts record r of block p into the table (slot: its region's node word),
 * with p's shard lock s held. escape: the record's arena copy when it is
 * escaped, &parked_marker for a block from a front, else NULL. Returns 0,
 * or -ENOMEM (r not added; the caller still owns escape). */
static int table_insert(uintptr_t p, struct record r, struct ps_live *escape,
			uint64_t *slot, struct shard *s)
{
	uint64_t off = p & (REGION_SIZE - 1);
	struct ps_live *dropped = NULL;
	int rc = 0;
	uint64_t key = key_of(off);
	uint64_t w = *slot;
	struct record *leaf = word_leaf(w);
	unsigned n = word_count(w), cls = word_class(w);
	/* most blocks are allocated above the ones before them */
	unsigned i = n && leaf[n - 1].word < key ? n : find(leaf, n, key);
	if (PS_UNLIKELY(at(leaf, n, i, off))) {
		/* seen allocated twice: its free was missed */
		if (leaf[i].word & ESCAPED)
			dropped = (struct ps_live *)(uintptr_t)leaf[i].birth;
		leaf[i] = r;
		goto out;
	}
	s->empty_kept -= leaf && !n;
	if (i && !leaf[i - 1].word) {
		/* just above the dead front: take the last dead slot */
		leaf[i - 1] = r;
		goto counted;
	}
	if (leaf && n == class_cap[cls]) {
		unsigned dead = dead_front(leaf, n);
		if (dead) {
			/* full of live and dead: drop the dead */
			memmove(leaf, leaf + dead, (n - dead) * sizeof *leaf);
			n -= dead;
			i -= dead;
		}
	}
	if (!leaf || n == class_cap[cls]) {
		/* a bigger class: a copy of at most 4096 records */
		unsigned to = leaf ? cls + 1 : 0;
		struct record *fresh = leaf_new(s, to);
		if (!fresh) {
			rc = -ENOMEM;
			goto out;
		}
		if (leaf) {
			memcpy(fresh, leaf, i * sizeof *leaf);
			memcpy(fresh + i + 1, leaf + i, (n - i) * sizeof *leaf);
			leaf_drop(s, leaf, cls);
			s->resizes++;
		} else {
			s->leaves++;
		}
		leaf = fresh;
		cls = to;
	} else {
		move_records(&leaf[i + 1], &leaf[i], n - i);
	}
	leaf[i] = r;
	n++;
counted:
	*slot = make_word(leaf, n, cls);
	s->blocks++;
	if (ps_opt.sample_every > 1 && !escape_is_parked(escape))
		ps_sample_mark(p);
out:
	if (dropped)
		ps_arena_free(dropped, sizeof *dropped);
	return rc;
}

/* ---- the fronts ------------------------------------------------------------ */

/* One thread's parked block: ptr (0: none) and its record, as the table
 * would hold it (never escaped). The owner writes the record only while
 * ptr is 0 and then publishes ptr (release); whoever takes the block
 * reads the record, then stores 0 (release). Only the owner parks; a
 * flush or another thread's take holds the shard lock of ptr. */
struct front {
	uintptr_t ptr;
	uint64_t word, birth;
	struct front *next_all; /* every slot, newest first; never unlinked */
	int in_use;             /* a thread holds it (my_front) */
	/* owner-only: what it parked and has not taken back itself (when
	 * ptr no longer says so, another thread took it), and how many
	 * more inserts go straight to the table after that happened */
	uint32_t cooldown;
	uintptr_t parked;
} __attribute__((aligned(64)));

/* A thread whose parked block another thread took (handed over before
 * its next allocation) parks nothing for this many allocations: each
 * such take is a look through every front. */
#define FRONT_COOLDOWN 4096

#define FRONTS_PER_PAGE (4096 / sizeof(struct front))
static int park_enabled;
static struct front *fronts;
static struct front *fronts_page;  /* the page being carved */
static unsigned fronts_carved;
static ps_lock_t front_lock;       /* taking a slot */
static pthread_key_t front_key;
static __thread struct front *my_front PS_TLS;
static __thread int front_gone PS_TLS; /* thread ending: park no more */

/* Moves f's parked block into the table, if it is still there. The
 * owner (or its key destructor) only. */
static void front_flush(struct front *f)
{
	uintptr_t p = __atomic_load_n(&f->ptr, __ATOMIC_ACQUIRE);
	if (!p)
		return;
	uint64_t *slot = node_word(p, 1);
	struct shard *s = shard_of(p);
	ps_lock_acquire(&s->lock);
	if (__atomic_load_n(&f->ptr, __ATOMIC_ACQUIRE) == p) {
		struct record r = { PS_LOAD(&f->word), PS_LOAD(&f->birth) };
		/* out of memory: the block is forgotten, as by the table */
		if (slot)
			table_insert(p, r, &parked_marker, slot, s);
		else if (ps_opt.sample_every > 1)
			ps_sample_unmark(p);
		__atomic_store_n(&f->ptr, 0, __ATOMIC_RELEASE);
	}
	ps_lock_release(&s->lock);
	f->parked = 0;
}

/* The thread is ending: its block goes to the table, its slot to the
 * next thread. Outside any hook, so with signals blocked around the
 * flush: a handler's allocation would wait for the shard lock we hold. */
static void front_destroy(void *arg)
{
	struct front *f = arg;
	my_front = NULL;
	front_gone = 1;
	if (__atomic_load_n(&f->ptr, __ATOMIC_ACQUIRE)) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		front_flush(f);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	__atomic_store_n(&f->in_use, 0, __ATOMIC_RELEASE);
}

/* The calling thread's slot, taken on first use; NULL when parking is
 * off, the thread is ending, or out of memory. */
static struct front *front_get(void)
{
	struct front *f = my_front;
	if (PS_LIKELY(f != NULL))
		return f;
	if (!park_enabled || front_gone)
		return NULL;
	ps_lock_acquire(&front_lock);
	for (f = fronts; f && __atomic_load_n(&f->in_use, __ATOMIC_ACQUIRE);
	     f = f->next_all)
		;
	if (!f) {
		if (!fronts_page || fronts_carved == FRONTS_PER_PAGE) {
			void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			fronts_page = m == MAP_FAILED ? NULL : m;
			fronts_carved = 0;
		}
		if (fronts_page) {
			f = &fronts_page[fronts_carved++];
			f->next_all = fronts;
			__atomic_store_n(&fronts, f, __ATOMIC_RELEASE);
		}
	}
	if (f) {
		__atomic_store_n(&f->in_use, 1, __ATOMIC_RELAXED);
		f->parked = 0;
		f->cooldown = 0;
	}
	ps_lock_release(&front_lock);
	if (!f)
		return NULL;
	/* may allocate (guarded: straight to the allocator) */
	if (pthread_setspecific(front_key, f) != 0) {
		__atomic_store_n(&f->in_use, 0, __ATOMIC_RELEASE);
		front_gone = 1;
		return NULL;
	}
	my_front = f;
	return f;
}

/* Takes block p from another thread's front, holding p's shard lock (so
 * no flush of p runs meanwhile). Returns 1 with its record in r. */
static int fronts_take(uintptr_t p, struct record *r)
{
	for (struct front *f = __atomic_load_n(&fronts, __ATOMIC_ACQUIRE); f;
	     f = f->next_all)
		if (__atomic_load_n(&f->ptr, __ATOMIC_ACQUIRE) == p) {
			r->word = PS_LOAD(&f->word);
			r->birth = PS_LOAD(&f->birth);
			__atomic_store_n(&f->ptr, 0, __ATOMIC_RELEASE);
			return 1;
		}
	return 0;
}

void ps_livetab_init(void)
{
	if (!park_enabled)
		park_enabled = !pthread_key_create(&front_key, front_destroy);
}

/* ---- insert and remove ---------------------------------------------------- */

/* ps_livetab_insert(), all of it (the function answers its commonest
 * case itself). */
__attribute__((noinline)) static int insert_slow(const struct ps_live *rec)
{
	uintptr_t p = rec->ptr;
	uint64_t off = p & (REGION_SIZE - 1);
	uint32_t id = entry_id(rec->entry);
	struct record r;
	struct ps_live *escape = NULL;
	struct front *f;
	if (PS_LIKELY(id && rec->size < SIZE_LIMIT &&
		      rec->chain_steps < CHAIN_LIMIT)) {
		r.word = off << OFF_SHIFT | rec->chain_steps << CHAIN_SHIFT |
			 (uint64_t)id << ID_SHIFT | rec->size;
		r.birth = rec->birth_ticks;
		if (PS_LIKELY((f = front_get()) != NULL) &&
		    PS_UNLIKELY(f->cooldown)) {
			f->cooldown--;
			f = NULL;
		}
		if (PS_LIKELY(f != NULL)) {
			uintptr_t old = __atomic_load_n(&f->ptr, __ATOMIC_ACQUIRE);
			if (PS_UNLIKELY(f->parked != old)) {
				/* taken by another thread: it had to look */
				f->parked = 0;
				f->cooldown = FRONT_COOLDOWN;
				goto table;
			}
			if (old == p) {
				/* seen allocated twice: its free was missed */
				__atomic_store_n(&f->ptr, 0, __ATOMIC_RELAXED);
			} else {
				if (old)
					front_flush(f);
				if (ps_opt.sample_every > 1)
					ps_sample_mark(p);
			}
			PS_STORE(&f->word, r.word);
			PS_STORE(&f->birth, r.birth);
			__atomic_store_n(&f->ptr, p, __ATOMIC_RELEASE);
			f->parked = p;
			return 0;
		}
	} else {
		escape = ps_arena_alloc(sizeof *escape);
		if (!escape)
			return -ENOMEM;
		*escape = *rec;
		/* the id too, if any: ps_livetab_entry_moved() redirects it */
		r.word = off << OFF_SHIFT | ESCAPED | (uint64_t)id << ID_SHIFT;
		r.birth = (uintptr_t)escape;
	}
table:;
	uint64_t *slot = node_word(p, 1);
	if (!slot) {
		ps_arena_free(escape, sizeof *escape);
		return -ENOMEM;
	}
	struct shard *s = shard_of(p);
	ps_lock_acquire(&s->lock);
	int rc = table_insert(p, r, escape, slot, s);
	ps_lock_release(&s->lock);
	if (rc)
		ps_arena_free(escape, sizeof *escape);
	return rc;
}

/* The commonest insert on its own, calling nothing (so it needs no
 * registers saved): in exact mode, a block that fits a record, of an
 * entry with its id, parked in this thread's front while that is empty
 * and its own. */
int ps_livetab_insert(const struct ps_live *rec)
{
	uint32_t id = __atomic_load_n(&rec->entry->live_id, __ATOMIC_ACQUIRE);
	struct front *f = my_front;
	if (PS_LIKELY(f != NULL && id && id != UINT32_MAX &&
		      rec->size < SIZE_LIMIT && rec->chain_steps < CHAIN_LIMIT &&
		      !f->cooldown && !f->parked &&
		      !__atomic_load_n(&f->ptr, __ATOMIC_ACQUIRE) &&
		      ps_opt.sample_every <= 1)) {
		uintptr_t p = rec->ptr;
		uint64_t off = p & (REGION_SIZE - 1);
		PS_STORE(&f->word, off << OFF_SHIFT |
				   rec->chain_steps << CHAIN_SHIFT |
				   (uint64_t)id << ID_SHIFT | rec->size);
		PS_STORE(&f->birth, rec->birth_ticks);
		__atomic_store_n(&f->ptr, p, __ATOMIC_RELEASE);
		f->parked = p;
		return 0;
	}
	return insert_slow(rec);
}

/* The block record r of p, unpacked into out (escaped: its copy freed). */
static inline void unpack(uintptr_t p, struct record r, struct ps_live *out)
{
	uint32_t id = (uint32_t)(r.word >> ID_SHIFT) & ((1u << ID_BITS) - 1);
	if (r.word & ESCAPED) {
		struct ps_live *e = (struct ps_live *)(uintptr_t)r.birth;
		*out = *e;
		ps_arena_free(e, sizeof *e);
		if (id)
			out->entry = entry_of(id);
		return;
	}
	out->ptr = p;
	out->entry = entry_of(id);
	out->size = r.word & (SIZE_LIMIT - 1);
	out->chain_steps = r.word >> CHAIN_SHIFT & (CHAIN_LIMIT - 1);
	out->birth_ticks = r.birth;
}

/* ps_livetab_remove(), all of it (the function answers its commonest
 * case itself). */
__attribute__((noinline)) static int remove_slow(uintptr_t p,
						 struct ps_live *out)
{
	/* sampled: skip, without a lock, the blocks never recorded */
	if (ps_opt.sample_every > 1 && !ps_sample_maybe(p))
		return 0;
	struct record r;
	struct front *f = my_front;
	if (f && PS_LOAD(&f->ptr) == p) {
		/* this thread's latest block (no other thread takes it: that
		 * would be a second free of it); sampled, its latest recorded
		 * one, the last it walked the stack for */
		r.word = PS_LOAD(&f->word);
		r.birth = PS_LOAD(&f->birth);
		__atomic_store_n(&f->ptr, 0, __ATOMIC_RELEASE);
		f->parked = 0;
		if (ps_opt.sample_every > 1)
			ps_sample_unmark(p);
		unpack(p, r, out);
		return 2;
	}
	uint64_t off = p & (REGION_SIZE - 1);
	struct shard *s = shard_of(p);
	ps_lock_acquire(&s->lock);
	/* looked up under the lock: a front flushed meanwhile (by its owner,
	 * who held this lock) may have made the region's node and put p in
	 * it; a node looked up before the lock would still be missing, and
	 * p, no longer in the front, would be missed */
	uint64_t *slot = node_word(p, 0);
	uint64_t w = slot ? *slot : 0;
	struct record *leaf = word_leaf(w);
	unsigned n = word_count(w), cls = word_class(w);
	unsigned i = find(leaf, n, key_of(off)), live;
	if (!at(leaf, n, i, off)) {
		/* perhaps another thread's latest block */
		int found = park_enabled && fronts_take(p, &r);
		ps_lock_release(&s->lock);
		if (!found)
			return 0;
		if (ps_opt.sample_every > 1)
			ps_sample_unmark(p);
		unpack(p, r, out);
		return 1;
	}
	r = leaf[i];
	if (!i || !leaf[i - 1].word) {
		/* the first live record (freed in address order): it dies
		 * where it is, or the leaf empties */
		live = n - i - 1;
		if (live)
			leaf[i].word = 0;
		else
			n = 0;
	} else {
		move_records(&leaf[i], &leaf[i + 1], n - i - 1);
		n--;
		live = n; /* or fewer: counted below if it matters */
	}
	/* Half empty: down to a class with a quarter to spare (a quarter
	 * more grows it again, half as many shrinks it). An empty leaf keeps
	 * one record's room: a region where blocks come and go one at a time
	 * (malloc, free, malloc...) makes no leaf each time. But only so
	 * many: regions once used are not all used again. */
	if (!n && s->empty_kept >= EMPTY_KEPT) {
		leaf_drop(s, leaf, cls);
		s->leaves--;
		leaf = NULL;
		cls = 0;
	} else if (cls && live <= class_cap[cls] / 2u) {
		unsigned dead = dead_front(leaf, n);
		live = n - dead;
		unsigned to = class_for(live + live / 4 + 1);
		struct record *fresh = to < cls ? leaf_new(s, to) : NULL;
		if (fresh) {
			memcpy(fresh, leaf + dead, live * sizeof *leaf);
			leaf_drop(s, leaf, cls);
			s->resizes++;
			leaf = fresh;
			cls = to;
			n = live;
		}
	}
	s->empty_kept += leaf && !n;
	*slot = leaf ? make_word(leaf, n, cls) : 0;
	s->blocks--;
	if (ps_opt.sample_every > 1)
		ps_sample_unmark(p);
	ps_lock_release(&s->lock);
	unpack(p, r, out);
	return 1;
}

/* The commonest removal on its own, calling nothing: in exact mode, this
 * thread's latest block, still parked in its front (no other thread
 * takes it: that would be a second free of it); a front's record is
 * never escaped. */
int ps_livetab_remove(uintptr_t p, struct ps_live *out)
{
	struct front *f = my_front;
	if (PS_LIKELY(f && PS_LOAD(&f->ptr) == p && ps_opt.sample_every <= 1)) {
		uint64_t word = PS_LOAD(&f->word);
		out->birth_ticks = PS_LOAD(&f->birth);
		__atomic_store_n(&f->ptr, 0, __ATOMIC_RELEASE);
		f->parked = 0;
		out->ptr = p;
		out->entry = entry_of((uint32_t)(word >> ID_SHIFT) &
				      ((1u << ID_BITS) - 1));
		out->size = word & (SIZE_LIMIT - 1);
		out->chain_steps = word >> CHAIN_SHIFT & (CHAIN_LIMIT - 1);
		return 2;
	}
	return remove_slow(p, out);
}

void ps_livetab_stats(struct ps_livetab_stats *out)
{
	*out = (struct ps_livetab_stats){ 0 };
	for (unsigned i = 0; i < NSHARDS; i++) {
		struct shard *s = &shards[i];
		ps_lock_acquire(&s->lock);
		out->blocks += s->blocks;
		out->leaves += s->leaves;
		out->leaf_bytes += s->leaf_bytes;
		out->chunk_bytes += s->chunk_bytes;
		out->resizes += s->resizes;
		ps_lock_release(&s->lock);
	}
	for (struct node_head *n = __atomic_load_n(&nodes, __ATOMIC_ACQUIRE); n;
	     n = n->next)
		out->nodes++;
	for (struct front *f = __atomic_load_n(&fronts, __ATOMIC_ACQUIRE); f;
	     f = f->next_all)
		out->blocks += __atomic_load_n(&f->ptr, __ATOMIC_RELAXED) != 0;
}

void ps_livetab_lock_all(void)
{
	ps_lock_acquire(&front_lock);
	ps_lock_acquire(&node_lock);
	for (unsigned i = 0; i < NSHARDS; i++)
		ps_lock_acquire(&shards[i].lock);
}

void ps_livetab_unlock_all(void)
{
	for (unsigned i = 0; i < NSHARDS; i++)
		ps_lock_release(&shards[i].lock);
	ps_lock_release(&node_lock);
	ps_lock_release(&front_lock);
}

void ps_livetab_reset_child(void)
{
	for (unsigned i = 0; i < NSHARDS; i++) {
		struct shard *s = &shards[i];
		for (void *c = s->chunks; c;) {
			void *next = *(void **)c;
			munmap(c, CHUNK_BYTES);
			c = next;
		}
		memset(s, 0, sizeof *s);
	}
	for (struct node_head *n = nodes; n;) {
		struct node_head *next = n->next;
		*n->home = NULL;
		munmap(n, NODE_BYTES);
		n = next;
	}
	nodes = NULL;
	memset(far, 0, sizeof far);
	far_count = 0;
	node_lock.locked = 0;
	/* the parent's parked blocks are forgotten with the table; only
	 * this thread is left to hold a slot */
	for (struct front *f = fronts; f; f = f->next_all) {
		f->ptr = f->parked = 0;
		f->cooldown = 0;
		f->in_use = f == my_front;
	}
	front_lock.locked = 0;
	/* the parent's entries and escape records went with the arena */
	for (uint32_t c = 0; c <= id_last >> ID_CHUNK_BITS &&
			     c < sizeof id_chunks / sizeof *id_chunks; c++)
		id_chunks[c] = NULL;
	id_last = 0;
	id_free = 0;
	id_lock = 0;
}
