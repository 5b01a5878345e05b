/* stacks.c - the stack table: every distinct call stack of the process.
 *
 * Stacks share storage: a stack is a path in a tree of frames rooted at
 * the outermost one (a frame is a return address below a parent frame,
 * the address itself interned once), so stacks that differ only in their
 * innermost frames add only those. The frames a new stack adds are
 * numbered in a row, each the child of the one before: such a frame is 4
 * bytes (its address's id; the parent is implied), and only the first of
 * the row, which hangs below an older frame, keeps its parent (8 bytes
 * more) and a slot in the index that finds a frame by (parent, address).
 * A ps_stack record (16 bytes) names its innermost frame and carries the
 * hash threads look it up by (ps_stack_hash_of: built outermost frame
 * first, so that the unwinder keeps it per frame and a capture hands it
 * over instead of a rehash); the module-map epoch its addresses belong
 * to, which changes rarely, is kept once per run of stacks that share it.
 * Interning is only reached when a thread meets a stack for the first
 * time (each thread keeps its own entries in threads.c), so one lock is
 * enough; readers (the writer) need none. It calls only into the module
 * map (the epoch a stack's addresses belong to, which frames are the
 * runtime's).
 */
#include <string.h>

#include "ps_internal.h"

static ps_lock_t stack_lock = { .snapshot_free = 1 }; /* see ps_internal.h */
static uint32_t frames_published; /* frames of counted stacks */

/* ---- identity ------------------------------------------------------------ */

static inline uint64_t fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* The hash the unwinder computed for the array the thread's capture just
 * filled (see ps_stack_hash_expect). */
static __thread struct {
	const uintptr_t *ips;
	int depth;
	ps_stack_hash hash;
} expected PS_TLS;

void ps_stack_hash_expect(const uintptr_t *ips, int depth, ps_stack_hash h)
{
	expected.ips = ips;
	expected.depth = depth;
	expected.hash = h;
}

ps_stack_hash ps_stack_hash_finish(uint64_t p0, uint64_t p1, int depth)
{
	ps_stack_hash h;
	h.lo = fmix64(p0 ^ (uint64_t)depth * 0x9e3779b97f4a7c15ull);
	h.hi = fmix64(p1 + (uint64_t)depth);
	return h;
}

ps_stack_hash ps_stack_hash_of(const uintptr_t *ips, int depth)
{
	if (expected.ips == ips && ips && expected.depth == depth) {
		expected.ips = NULL;
		return expected.hash;
	}
	/* Two polynomials over the mixed addresses, outermost frame first
	 * (see ps_internal.h): unwind.c keeps their prefixes per frame, so
	 * that a new stack that shares its outer part with the previous one
	 * costs only its new frames. The mixing keeps the polynomials from
	 * being linear in the addresses (whose low bits are alike); the two
	 * lanes give lo and the 16 bits of hi that add to the identity. */
	uint64_t p0 = 0, p1 = 0;
	for (int i = depth - 1; i >= 0; i--) {
		uint64_t x = ps_stack_hash_mix(ips[i]);
		p0 = p0 * PS_STACK_HASH_BASE0 + x;
		p1 = p1 * PS_STACK_HASH_BASE1 + x;
	}
	return ps_stack_hash_finish(p0, p1, depth);
}

/* ---- the tables --------------------------------------------------------- */

/* Frames, stacks, return addresses and --site-peak counters sit in
 * chunks of CHUNK entries that never move, found through fixed tables of
 * chunk pointers (zero-filled and touched only as they fill), so a
 * reader needs no lock: it reads a count (acquire), then any entry below
 * it. Id 0 is never used. */
#define CHUNK_BITS PS_STACK_CHUNK_BITS
#define CHUNK (1u << CHUNK_BITS)
#define MAX_CHUNKS (1u << (32 - CHUNK_BITS))

/* A frame is one 32-bit word in frame id order. FRAME_BRANCH clear: it is
 * the child of the frame just before it (id - 1; 0 is the root) and the
 * rest is its return address's id. FRAME_BRANCH set: its parent is not
 * id - 1, and the rest is the id of a branch record holding the parent
 * and the address's id. So a frame's children are the next frame, if that
 * one continues it, and branches, which the frame index finds. */
#define FRAME_BRANCH 0x80000000u
struct branch {
	uint32_t parent, ip;
};

static uint32_t *frame_chunks[MAX_CHUNKS];
static struct branch *branch_chunks[MAX_CHUNKS];
static uintptr_t *ip_chunks[MAX_CHUNKS];
ps_stack *ps_stack_chunks[MAX_CHUNKS / 2];
static ps_stack_peak *peak_chunks[MAX_CHUNKS / 2];
static uint32_t frame_count, branch_count, ip_count, stack_count;

/* The map epochs of the stacks: run r holds the stacks from
 * epoch_runs[r].first_stack on, up to the next run's first. */
struct epoch_run {
	uint32_t first_stack, epoch;
};
static struct epoch_run *epoch_run_chunks[MAX_CHUNKS];
static uint32_t epoch_run_count;

/* An open-addressing index of 32-bit ids (0: empty), in 64 shards picked
 * by the top bits of the hash so that growing one (by half, when 80%
 * full, into a new array) briefly holds two copies of a 64th of the
 * index, not of all of it. Within a shard, probes are linear from a home
 * slot. The ids' keys live in the chunks above; hash_id recomputes an
 * id's hash when a shard grows. A slot holds the id (28 bits: ids stop
 * at 2^28 - 1) and 4 more bits of its hash, so that most slots a probe
 * passes are told apart without reading the id's key. */
#define SHARDS 64
#define ID_BITS 28
#define ID_MASK ((1u << ID_BITS) - 1)
struct shard {
	uint32_t *slot;
	uint32_t cap, used;
};
struct id_index {
	struct shard shard[SHARDS];
};
static struct id_index frame_index, ip_index, stack_index;

static inline struct shard *shard_of(struct id_index *x, uint64_t hash)
{
	return &x->shard[hash >> 58];
}

static inline uint32_t home(const struct shard *x, uint64_t hash)
{
	return (uint32_t)((((hash >> 16) & 0xffffffffu) * x->cap) >> 32);
}

static inline uint32_t next_slot(const struct shard *x, uint32_t i)
{
	return ++i == x->cap ? 0 : i;
}

/* The bits of hash a slot keeps beside the id, in place. */
static inline uint32_t slot_tag(uint64_t hash)
{
	return (uint32_t)(hash >> 48 & 0xf) << ID_BITS;
}

/* Whether slot value v may hold an id of this hash; the id, if so. */
static inline uint32_t slot_id(uint32_t v, uint32_t tag)
{
	return (v & ~ID_MASK) == tag ? v & ID_MASK : 0;
}

/* Makes room for one more id in shard x; 0 or -1 when out of memory. */
static int index_reserve(struct shard *x, uint64_t (*hash_id)(uint32_t))
{
	if ((uint64_t)(x->used + 1) * 5 <= (uint64_t)x->cap * 4)
		return 0;
	uint32_t cap = x->cap ? x->cap + x->cap / 2 : 16;
	if (cap < x->cap)
		return -1;
	struct shard n = { ps_arena_alloc((size_t)cap * sizeof(uint32_t)),
			   cap, x->used };
	if (!n.slot)
		return -1;
	for (uint32_t i = 0; i < x->cap; i++) {
		uint32_t v = x->slot[i];
		if (!v)
			continue;
		uint32_t j = home(&n, hash_id(v & ID_MASK));
		while (n.slot[j])
			j = next_slot(&n, j);
		n.slot[j] = v;
	}
	if (x->slot)
		ps_arena_free(x->slot, (size_t)x->cap * sizeof(uint32_t));
	*x = n;
	return 0;
}

/* Stores id in shard x, which has room (index_reserve). */
static void index_put(struct shard *x, uint64_t hash, uint32_t id)
{
	uint32_t i = home(x, hash);
	while (x->slot[i])
		i = next_slot(x, i);
	x->slot[i] = slot_tag(hash) | id;
	x->used++;
}

/* Makes sure chunk (table[id >> CHUNK_BITS]) exists. */
static int chunk_for(void **table, uint32_t id, size_t chunk_bytes)
{
	void **c = &table[id >> CHUNK_BITS];
	if (*c)
		return 0;
	void *p = ps_arena_alloc(chunk_bytes);
	if (!p)
		return -1;
	__atomic_store_n(c, p, __ATOMIC_RELEASE);
	return 0;
}

static inline uintptr_t ip_at(uint32_t id)
{
	return ip_chunks[id >> CHUNK_BITS][id & (CHUNK - 1)];
}

static uint64_t ip_hash(uintptr_t ip)
{
	return fmix64((uint64_t)ip);
}

static uint64_t ip_hash_id(uint32_t id)
{
	return ip_hash(ip_at(id));
}

static uint64_t frame_hash(uint32_t parent, uint32_t ip)
{
	return fmix64((uint64_t)parent << 32 | ip);
}

static inline uint32_t frame_word(uint32_t id)
{
	return frame_chunks[id >> CHUNK_BITS][id & (CHUNK - 1)];
}

static inline const struct branch *branch_at(uint32_t id)
{
	return &branch_chunks[id >> CHUNK_BITS][id & (CHUNK - 1)];
}

/* Frame id's parent and return address id. */
static inline void frame_links(uint32_t id, uint32_t *parent, uint32_t *ip)
{
	uint32_t w = frame_word(id);
	if (!(w & FRAME_BRANCH)) {
		*parent = id - 1;
		*ip = w;
		return;
	}
	const struct branch *b = branch_at(w & ~FRAME_BRANCH);
	*parent = b->parent;
	*ip = b->ip;
}

/* The index holds the branch frames only (by frame id). */
static uint64_t frame_hash_id(uint32_t id)
{
	const struct branch *b = branch_at(frame_word(id) & ~FRAME_BRANCH);
	return frame_hash(b->parent, b->ip);
}

static inline struct epoch_run *epoch_run_at(uint32_t r)
{
	return &epoch_run_chunks[r >> CHUNK_BITS][r & (CHUNK - 1)];
}

static uint64_t stack_hash_id(uint32_t id)
{
	return ps_stack_hash_lo(ps_stack_at(id));
}

/* The id of return address ip, added if new; 0 when out of memory. */
static uint32_t ip_intern(uintptr_t ip)
{
	uint64_t h = ip_hash(ip);
	struct shard *sh = shard_of(&ip_index, h);
	uint32_t tag = slot_tag(h);
	for (uint32_t i = home(sh, h); sh->cap && sh->slot[i]; i = next_slot(sh, i)) {
		uint32_t id = slot_id(sh->slot[i], tag);
		if (id && ip_at(id) == ip)
			return id;
	}
	uint32_t id = ip_count + 1;
	if (id > ID_MASK || chunk_for((void **)ip_chunks, id, CHUNK * sizeof(uintptr_t)))
		return 0;
	ip_chunks[id >> CHUNK_BITS][id & (CHUNK - 1)] = ip;
	if (index_reserve(sh, ip_hash_id))
		return 0;
	index_put(sh, h, id);
	__atomic_store_n(&ip_count, id, __ATOMIC_RELEASE);
	return id;
}

/* The frame of return address ip (interned) below parent, or 0 if there
 * is none: the frame right after parent if it continues it with ip,
 * else a branch the index knows. */
static uint32_t frame_find(uint32_t parent, uint32_t ip)
{
	if (parent < frame_count && frame_word(parent + 1) == ip)
		return parent + 1;
	uint64_t h = frame_hash(parent, ip);
	struct shard *sh = shard_of(&frame_index, h);
	uint32_t tag = slot_tag(h);
	for (uint32_t i = home(sh, h); sh->cap && sh->slot[i]; i = next_slot(sh, i)) {
		uint32_t id = slot_id(sh->slot[i], tag);
		if (!id)
			continue;
		const struct branch *b = branch_at(frame_word(id) & ~FRAME_BRANCH);
		if (b->parent == parent && b->ip == ip)
			return id;
	}
	return 0;
}

/* Adds the frame of return address ip (interned) below parent, which
 * has no such child (frame_find); its id, or 0 when out of memory. The
 * child of the newest frame continues it; any other is a branch. */
static uint32_t frame_add(uint32_t parent, uint32_t ip)
{
	uint32_t id = frame_count + 1;
	if (id > ID_MASK || chunk_for((void **)frame_chunks, id, CHUNK * sizeof(uint32_t)))
		return 0;
	uint32_t word = ip;
	if (parent != frame_count) {
		uint64_t h = frame_hash(parent, ip);
		struct shard *sh = shard_of(&frame_index, h);
		uint32_t b = branch_count + 1;
		if (chunk_for((void **)branch_chunks, b, CHUNK * sizeof(struct branch)))
			return 0;
		branch_chunks[b >> CHUNK_BITS][b & (CHUNK - 1)] =
			(struct branch){ parent, ip };
		word = FRAME_BRANCH | b;
		/* the index rehashes through the frame's word */
		frame_chunks[id >> CHUNK_BITS][id & (CHUNK - 1)] = word;
		if (index_reserve(sh, frame_hash_id))
			return 0;
		index_put(sh, h, id);
		branch_count = b;
	}
	frame_chunks[id >> CHUNK_BITS][id & (CHUNK - 1)] = word;
	/* published with the stack that uses it (see ps_frames_count) */
	frame_count = id;
	return id;
}

/* The path of the stack interned last, outermost first: its return
 * addresses and the frame each one ends (under stack_lock). A program
 * meets its new stacks while it descends the same call paths, so the
 * next new stack mostly shares a long outer part with the last one:
 * those frames are taken from here without a look-up each. */
static uintptr_t last_path_ip[PS_MAX_DEPTH];
static uint32_t last_path_frame[PS_MAX_DEPTH];
static int last_path_len;

/* Whether stack s has exactly these return addresses. */
static int same_frames(const ps_stack *s, const uintptr_t *ips, int depth)
{
	uint32_t f = s->frame;
	for (int i = 0; i < depth; i++) {
		uint32_t parent, ip;
		if (!f)
			return 0;
		frame_links(f, &parent, &ip);
		if (ip_at(ip) != ips[i])
			return 0;
		f = parent;
	}
	return f == 0;
}

uint32_t ps_stack_intern(const uintptr_t *ips, int depth, ps_stack_hash hash)
{
	uint32_t id = 0;
	ps_lock_acquire(&stack_lock);
	struct shard *sh = shard_of(&stack_index, hash.lo);
	uint32_t tag = slot_tag(hash.lo);
	for (uint32_t i = home(sh, hash.lo); sh->cap && sh->slot[i];
	     i = next_slot(sh, i)) {
		uint32_t sid = slot_id(sh->slot[i], tag);
		const ps_stack *s = sid ? ps_stack_at(sid) : NULL;
		if (s && ps_stack_is(s, hash) && same_frames(s, ips, depth)) {
			id = sid;
			goto out;
		}
	}
	if (stack_count >= PS_STACK_ID_MAX)
		goto out;
	/* Its frames, outermost first: the part it shares with the last
	 * stack interned, then a look-up per frame. */
	int j = 0;
	while (j < depth && j < last_path_len &&
	       ips[depth - 1 - j] == last_path_ip[j])
		j++;
	uint32_t frame = j ? last_path_frame[j - 1] : 0;
	int added = 0; /* a new frame has no children: no more look-ups */
	for (; j < depth; j++) {
		uint32_t ip = ip_intern(ips[depth - 1 - j]);
		uint32_t found = ip && !added ? frame_find(frame, ip) : 0;
		frame = found ? found : ip ? frame_add(frame, ip) : 0;
		added |= !found;
		if (!frame) {
			last_path_len = j;
			goto out;
		}
		last_path_ip[j] = ips[depth - 1 - j];
		last_path_frame[j] = frame;
	}
	last_path_len = depth;
	uint32_t sid = stack_count + 1;
	if (chunk_for((void **)ps_stack_chunks, sid, CHUNK * sizeof(ps_stack)) ||
	    (ps_opt.site_peak &&
	     chunk_for((void **)peak_chunks, sid, CHUNK * sizeof(ps_stack_peak))) ||
	    index_reserve(sh, stack_hash_id))
		goto out;
	ps_stack *s = ps_stack_at(sid);
	s->hash_lo[0] = (uint32_t)hash.lo;
	s->hash_lo[1] = (uint32_t)(hash.lo >> 32);
	s->hash_hi = (uint16_t)hash.hi;
	s->frame = frame;
	uint32_t epoch = ps_modules_refresh();
	if (!epoch_run_count || epoch_run_at(epoch_run_count)->epoch != epoch) {
		uint32_t r = epoch_run_count + 1;
		if (chunk_for((void **)epoch_run_chunks, r,
			      CHUNK * sizeof(struct epoch_run)))
			goto out;
		*epoch_run_at(r) = (struct epoch_run){ sid, epoch };
		__atomic_store_n(&epoch_run_count, r, __ATOMIC_RELEASE);
	}
	/* Site candidates: the first frames outside the runtime. A stack
	 * wholly inside the runtime has its innermost frame as the site. */
	int start = 0;
	while (start < depth && ps_modules_ip_is_runtime(ips[start]))
		start++;
	if (start == depth)
		start = 0;
	s->cand_start = (uint8_t)start;
	s->cand_count = (uint8_t)(depth - start < PS_SITE_CANDIDATES
					  ? depth - start
					  : PS_SITE_CANDIDATES);
	index_put(sh, hash.lo, sid);
	/* Frames first: a reader that counts this stack counts them. */
	__atomic_store_n(&frames_published, frame_count, __ATOMIC_RELEASE);
	__atomic_store_n(&stack_count, sid, __ATOMIC_RELEASE);
	id = sid;
out:
	ps_lock_release(&stack_lock);
	return id;
}

uint32_t ps_stack_map_epoch(uint32_t id)
{
	/* the last run that starts at or before id */
	uint32_t lo = 1, hi = __atomic_load_n(&epoch_run_count, __ATOMIC_ACQUIRE);
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		if (epoch_run_at(mid)->first_stack <= id)
			lo = mid;
		else
			hi = mid - 1;
	}
	return hi ? epoch_run_at(lo)->epoch : 0;
}

ps_stack_peak *ps_stack_peak_of(uint32_t id)
{
	ps_stack_peak *c = peak_chunks[id >> CHUNK_BITS];
	return c ? &c[id & (CHUNK - 1)] : NULL;
}

uint32_t ps_stacks_count(void)
{
	return __atomic_load_n(&stack_count, __ATOMIC_ACQUIRE);
}

uint32_t ps_frames_count(void)
{
	return __atomic_load_n(&frames_published, __ATOMIC_ACQUIRE);
}

void ps_frame_get(uint32_t id, uint32_t *parent, uintptr_t *ip)
{
	uint32_t ip_id;
	frame_links(id, parent, &ip_id);
	*ip = ip_at(ip_id);
}

void ps_stacks_lock(void)
{
	ps_lock_acquire(&stack_lock);
}

void ps_stacks_unlock(void)
{
	ps_lock_release(&stack_lock);
}

/* Clears the pointers a table of chunks can have set with count ids
 * given: ids go in order from 1, and the chunk of the next id is made
 * before that id is counted (so the one past count may exist too). Only
 * those: the tables are 10 MiB of zero pages in all, which clearing
 * whole would fault in, a fork child's every fork. */
static void clear_chunks(void **table, size_t slots, uint32_t count)
{
	size_t used = (((size_t)count + 1) >> CHUNK_BITS) + 1;
	memset(table, 0, (used < slots ? used : slots) * sizeof *table);
}

void ps_stacks_reset_child(void)
{
	/* every chunk and index went with the arena */
	clear_chunks((void **)frame_chunks, MAX_CHUNKS, frame_count);
	clear_chunks((void **)branch_chunks, MAX_CHUNKS, branch_count);
	clear_chunks((void **)epoch_run_chunks, MAX_CHUNKS, epoch_run_count);
	clear_chunks((void **)ip_chunks, MAX_CHUNKS, ip_count);
	clear_chunks((void **)ps_stack_chunks, MAX_CHUNKS / 2, stack_count);
	clear_chunks((void **)peak_chunks, MAX_CHUNKS / 2, stack_count);
	frame_count = branch_count = ip_count = stack_count = frames_published = 0;
	epoch_run_count = 0;
	last_path_len = 0;
	memset(&frame_index, 0, sizeof frame_index);
	memset(&ip_index, 0, sizeof ip_index);
	memset(&stack_index, 0, sizeof stack_index);
	stack_lock.locked = 0;
}
