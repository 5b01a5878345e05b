/* test_livetab.c - the live-pointer table (preload/livetab.c) on its own,
 * against a model the test keeps itself: every record removed must be the
 * one inserted (entry, size, realloc steps and birth time, exactly),
 * through thousands of leaf resizes, for blocks that need the escape path
 * (sizes of 1 MiB and more, 16+ realloc steps, entries past the id limit,
 * which this build lowers to 4096, one id chunk: no inline record has an
 * id past it), at addresses dense and sparse, not
 * 8-aligned, and above 2^47 (far nodes, up to their limit); the index is
 * checked region by region; memory per live block is measured as the
 * process's RSS at 1M, 4M and 10M blocks; one thread inserts while another
 * removes, in the same regions, while leaves grow and shrink; a fork child
 * starts empty. And the arena under it (preload/arena.c): block sizes,
 * no overlap, zeroed memory.
 *
 * The table's file is included so its statics can be inspected; the rest
 * of the preload it needs is stubbed below.
 */
#define _GNU_SOURCE
#define PS_LIVETAB_ID_LIMIT 4096u
#include "../../preload/arena.c"
#include "../../preload/livetab.c"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>

/* ---- stubs --------------------------------------------------------------- */

struct ps_options ps_opt = { .sample_every = 1 };
uint8_t *ps_sample_filter;
static uint64_t marks;
void ps_sample_mark(uintptr_t p)
{
	(void)p;
	PS_ADD(&marks, 1);
}
void ps_sample_unmark(uintptr_t p)
{
	(void)p;
	PS_ADD(&marks, -1);
}

/* ---- helpers ------------------------------------------------------------- */

#define NENTRIES 4600 /* ids past 4096 take the escape path */
static ps_entry *entries;

static void setup_entries(void)
{
	if (!entries)
		entries = calloc(NENTRIES, sizeof *entries);
	assert_non_null(entries);
}

#include "rng.h"
static uint64_t rng_state = 0x1234567;

static void reset_table(void)
{
	ps_livetab_reset_child();
	ps_arena_reset_child();
	for (int i = 0; entries && i < NENTRIES; i++)
		entries[i].live_id = 0;
}

/* Every region: its leaf sorted by offset with no offset twice, its count
 * within its class, in the shard its address hashes to; the shards'
 * counts and byte totals the sums of their regions'. Returns the live
 * blocks. */
static uint64_t check_table(void)
{
	uint64_t blocks[NSHARDS] = { 0 }, leaves[NSHARDS] = { 0 },
		 bytes[NSHARDS] = { 0 }, empty[NSHARDS] = { 0 }, total = 0;
	for (struct node_head *nd = nodes; nd; nd = nd->next) {
		uint64_t *words = *nd->home;
		assert_ptr_equal(words, nd->words);
		uint64_t window = nd->window;
		for (uint64_t r = 0; r < NODE_REGIONS; r++) {
			uint64_t w = words[r];
			if (!w)
				continue;
			struct record *leaf = word_leaf(w);
			unsigned n = word_count(w), cls = word_class(w), dead = 0;
			if (!leaf || cls >= LEAF_CLASSES || n > class_cap[cls])
				fail_msg("region %#llx: %u records in class %u",
					 (unsigned long long)r, n, cls);
			/* dead records (word 0) only in front, some live after */
			while (dead < n && !leaf[dead].word)
				dead++;
			if (dead && dead == n)
				fail_msg("region %#llx: %u records, all dead",
					 (unsigned long long)r, n);
			for (unsigned i = dead + 1; i < n; i++)
				if (!leaf[i].word ||
				    leaf[i].word >> OFF_SHIFT <=
					    leaf[i - 1].word >> OFF_SHIFT)
					fail_msg("region %#llx: records %u and %u "
						 "out of order", (unsigned long long)r,
						 i - 1, i);
			/* an inline record's entry id is under the limit
			 * (past it, the record escapes) */
			for (unsigned i = dead; i < n; i++) {
				uint64_t id = leaf[i].word >> ID_SHIFT &
					      (((uint64_t)1 << ID_BITS) - 1);
				if (!(leaf[i].word & ESCAPED) &&
				    (!id || id >= PS_LIVETAB_ID_LIMIT))
					fail_msg("region %#llx: record %u inline "
						 "with id %llu (limit %u)",
						 (unsigned long long)r, i,
						 (unsigned long long)id,
						 PS_LIVETAB_ID_LIMIT);
			}
			n -= dead;
			uintptr_t base = (uintptr_t)((window << NODE_BITS | r)
						     << REGION_BITS);
			unsigned sh = (unsigned)(shard_of(base) - shards);
			blocks[sh] += n;
			leaves[sh]++;
			empty[sh] += !n;
			bytes[sh] += class_cap[cls] * sizeof(struct record);
			total += n;
		}
	}
	for (unsigned i = 0; i < NSHARDS; i++)
		if (blocks[i] != shards[i].blocks || leaves[i] != shards[i].leaves ||
		    bytes[i] != shards[i].leaf_bytes ||
		    empty[i] != shards[i].empty_kept || empty[i] > EMPTY_KEPT)
			fail_msg("shard %u: %llu blocks in %llu leaves of %llu B, "
				 "it counts %llu in %llu of %llu B", i,
				 (unsigned long long)blocks[i],
				 (unsigned long long)leaves[i],
				 (unsigned long long)bytes[i],
				 (unsigned long long)shards[i].blocks,
				 (unsigned long long)shards[i].leaves,
				 (unsigned long long)shards[i].leaf_bytes);
	return total;
}

struct rec {
	struct ps_live live;
	int in; /* in the table now */
};

static void expect_record(const struct ps_live *got, const struct ps_live *want)
{
	if (got->ptr != want->ptr || got->entry != want->entry ||
	    got->size != want->size || got->chain_steps != want->chain_steps)
		fail_msg("block %#lx: got entry %p size %llu steps %llu, "
			 "inserted entry %p size %llu steps %llu",
			 (unsigned long)want->ptr, (void *)got->entry,
			 (unsigned long long)got->size,
			 (unsigned long long)got->chain_steps, (void *)want->entry,
			 (unsigned long long)want->size,
			 (unsigned long long)want->chain_steps);
	if (got->birth_ticks != want->birth_ticks)
		fail_msg("block %#lx: birth %llu, inserted %llu",
			 (unsigned long)want->ptr,
			 (unsigned long long)got->birth_ticks,
			 (unsigned long long)want->birth_ticks);
}

/* A pointer of kind k: 0-4 heap-like (48 B apart), 5 16 B apart, 6 8 B
 * apart, 7 not 8-aligned, 8 above 2^47, 9 one per 64 KiB. */
#define KINDS 10
static uintptr_t make_ptr(uint64_t i, unsigned kind)
{
	switch (kind) {
	case 5: return 0x7f0000000010ull + i * 16;
	case 6: return 0x7f4000000008ull + i * 8;
	case 7: return 0x7e0000000003ull + i * 8;
	case 8: return 0xffff800000001000ull + i * 64;
	case 9: return 0x100000000000ull + i * 65536;
	default: return 0x555500000000ull + i * 48;
	}
}

/* ---- tests --------------------------------------------------------------- */

static void test_model(void **state)
{
	(void)state;
	setup_entries();
	reset_table();
	enum { N = 400000 };
	struct rec *r = calloc(N, sizeof *r);
	assert_non_null(r);
	uint64_t clock = 1000, escapes[3] = { 0 };
	for (uint64_t i = 0; i < N; i++) {
		unsigned kind = (unsigned)(rnd() % KINDS);
		struct ps_live *l = &r[i].live;
		l->ptr = make_ptr(i, kind);
		unsigned e = (unsigned)(rnd() % NENTRIES);
		l->entry = &entries[e];
		uint64_t pick = rnd() % 100;
		l->size = pick < 80 ? rnd() % 4096 :
			  pick < 90 ? SIZE_LIMIT - 1 + rnd() % 3 :
			  pick < 97 ? rnd() % (4u << 20) :
				      ((uint64_t)1 << 40) + rnd() % 1000;
		l->chain_steps = rnd() % 10 < 8 ? rnd() % 16 : 15 + rnd() % 30;
		/* births up to 2^60 ticks: all 64 bits are kept */
		clock += i % 1000 == 999 ? (uint64_t)1 << 47 : rnd() % 5000;
		l->birth_ticks = clock;
		escapes[0] += l->size >= SIZE_LIMIT;
		escapes[1] += l->chain_steps >= CHAIN_LIMIT;
		escapes[2] += e >= PS_LIVETAB_ID_LIMIT - 10;
	}
	/* insert all but every fifth, then churn: remove a random live one,
	 * insert a random absent one */
	for (uint64_t i = 0; i < N; i++) {
		if (i % 5 == 4)
			continue;
		assert_int_equal(ps_livetab_insert(&r[i].live), 0);
		r[i].in = 1;
		if (i % 100000 == 0)
			check_table();
	}
	uint64_t live = check_table();
	assert_int_equal(live, N - N / 5);
	for (uint64_t op = 0; op < 2 * N; op++) {
		uint64_t i = rnd() % N;
		struct ps_live got;
		if (r[i].in) {
			assert_int_equal(ps_livetab_remove(r[i].live.ptr, &got), 1);
			expect_record(&got, &r[i].live);
			r[i].in = 0;
			live--;
		} else {
			assert_int_equal(ps_livetab_remove(r[i].live.ptr, &got), 0);
			assert_int_equal(ps_livetab_insert(&r[i].live), 0);
			r[i].in = 1;
			live++;
		}
		if (op % 200000 == 0)
			assert_int_equal(check_table(), live);
	}
	/* never inserted: not found, nothing disturbed */
	for (uint64_t i = 0; i < 1000; i++) {
		struct ps_live got;
		assert_int_equal(ps_livetab_remove(make_ptr(N + i, (unsigned)i % KINDS),
						   &got), 0);
		assert_int_equal(ps_livetab_remove(r[i].live.ptr + 1, &got), 0);
	}
	/* the same address again replaces the record, escaped or not */
	for (uint64_t i = 0; i < N; i += 7) {
		if (!r[i].in)
			continue;
		r[i].live.size = r[i].live.size < SIZE_LIMIT ? SIZE_LIMIT + i : i;
		assert_int_equal(ps_livetab_insert(&r[i].live), 0);
	}
	assert_int_equal(check_table(), live);
	struct ps_livetab_stats st;
	ps_livetab_stats(&st);
	assert_true(st.resizes > 100000);
	for (uint64_t i = 0; i < N; i++) {
		struct ps_live got;
		if (!r[i].in)
			continue;
		assert_int_equal(ps_livetab_remove(r[i].live.ptr, &got), 1);
		expect_record(&got, &r[i].live);
	}
	assert_int_equal(check_table(), 0);
	printf("model: %llu leaf resizes, %llu nodes; escapes: %llu by size, "
	       "%llu by realloc steps, ~%llu by entry id\n",
	       (unsigned long long)st.resizes, (unsigned long long)st.nodes,
	       (unsigned long long)escapes[0], (unsigned long long)escapes[1],
	       (unsigned long long)escapes[2]);
	for (int k = 0; k < 3; k++)
		assert_true(escapes[k] > 1000);
	free(r);
}

/* One region, blocks freed in address order (they die in place at the
 * front of the leaf), new ones put just above the dead (taking their
 * slots), in the middle and on top until the leaf is full of live and
 * dead (it drops the dead), then everything freed from the top down. */
static void test_ordered_frees(void **state)
{
	(void)state;
	setup_entries();
	reset_table();
	enum { SLOTS = REGION_SIZE / 8 };
	static struct ps_live model[SLOTS];
	static int in[SLOTS];
	memset(in, 0, sizeof in);
	uintptr_t base = 0x600000100000ull;
	uint64_t clock = 5;
	struct ps_live got;
#define PUT(k)                                                                \
	do {                                                                  \
		model[k] = (struct ps_live){ .ptr = base + (k) * 8,           \
					     .entry = &entries[1 + (k) % 900], \
					     .size = (k) * 3 + 1,              \
					     .birth_ticks = clock++ };         \
		assert_int_equal(ps_livetab_insert(&model[k]), 0);            \
		in[k] = 1;                                                    \
	} while (0)
#define TAKE(k)                                                               \
	do {                                                                  \
		assert_int_equal(ps_livetab_remove(base + (k) * 8, &got), 1); \
		expect_record(&got, &model[k]);                               \
		in[k] = 0;                                                    \
	} while (0)
	for (unsigned k = 0; k < SLOTS; k += 2)
		PUT(k);
	for (unsigned k = 0; k < 300; k += 2) {
		TAKE(k);
		if (k % 40 == 0)
			check_table();
	}
	/* just above the dead, from the top of them down */
	for (unsigned k = 299; k > 200; k -= 2)
		PUT(k);
	check_table();
	/* everywhere else, until it is full of live and dead */
	for (unsigned k = 1; k < SLOTS; k += 2)
		if (!in[k])
			PUT(k);
	assert_int_equal(check_table(), SLOTS - 150 + 0);
	for (unsigned k = 0; k < 300; k += 2)
		PUT(k);
	assert_int_equal(check_table(), SLOTS);
	/* in order again, then from the top down */
	for (unsigned k = 0; k < SLOTS / 2; k++)
		TAKE(k);
	check_table();
	for (unsigned k = SLOTS; k-- > SLOTS / 2;)
		TAKE(k);
	assert_int_equal(check_table(), 0);
	for (unsigned k = 0; k < SLOTS; k++)
		assert_int_equal(ps_livetab_remove(base + k * 8, &got), 0);
#undef PUT
#undef TAKE
	reset_table();
}

/* A block allocated and freed in each of 600k regions: the regions keep
 * an empty one-record leaf, up to EMPTY_KEPT per shard, and no more. */
static void test_empty_leaves(void **state)
{
	(void)state;
	setup_entries();
	reset_table();
	struct ps_live got;
	for (uint64_t r = 0; r < 600000; r++) {
		struct ps_live l = { .ptr = 0x200000000000ull + (r << REGION_BITS) +
					    (r % 64) * 16,
				     .entry = &entries[2], .size = 8 };
		assert_int_equal(ps_livetab_insert(&l), 0);
		assert_int_equal(ps_livetab_remove(l.ptr, &got), 1);
	}
	assert_int_equal(check_table(), 0);
	struct ps_livetab_stats st;
	ps_livetab_stats(&st);
	assert_true(st.leaves <= NSHARDS * EMPTY_KEPT);
	assert_true(st.leaves > NSHARDS * EMPTY_KEPT / 2);
	assert_int_equal(st.leaf_bytes, st.leaves * sizeof(struct record));
	reset_table();
}

/* Far nodes: addresses above 2^47 in MAX_FAR windows of 512 MiB work;
 * one more window is refused (-ENOMEM), and nothing else is disturbed. */
static void test_far_limit(void **state)
{
	(void)state;
	setup_entries();
	reset_table();
	uint64_t base = 0xff0000000000000ull;
	for (uint64_t w = 0; w <= MAX_FAR; w++) {
		struct ps_live l = { .ptr = base + (w << 29) + 64,
				     .entry = &entries[3], .size = w,
				     .birth_ticks = w };
		assert_int_equal(ps_livetab_insert(&l), w < MAX_FAR ? 0 : -ENOMEM);
	}
	assert_int_equal(check_table(), MAX_FAR);
	for (uint64_t w = 0; w <= MAX_FAR; w++) {
		struct ps_live got, l = { .ptr = base + (w << 29) + 64,
					  .entry = &entries[3], .size = w,
					  .birth_ticks = w };
		assert_int_equal(ps_livetab_remove(l.ptr, &got), w < MAX_FAR);
		if (w < MAX_FAR)
			expect_record(&got, &l);
	}
	assert_int_equal(check_table(), 0);
	reset_table();
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* RSS per live block at several counts, for blocks laid out as glibc
 * lays out live_blocks's (bench/live_blocks.c: 32-48 B requests, chunks
 * of 48 and 64 B) and as perl's small strings (32 B chunks). */
static void bytes_per_block(const char *what, uint64_t chunk_a, uint64_t chunk_b)
{
	reset_table();
	long before = rss_kib();
	static const uint64_t at_count[] = { 1000000, 4000000, 10000000 };
	uint64_t n = 0, clock = 1, addr = 0x555500000000ull;
	for (int k = 0; k < 3; k++) {
		for (; n < at_count[k]; n++) {
			uint64_t size = 32 + n % 17;
			struct ps_live l = { .ptr = addr, .entry = &entries[1],
					     .size = size,
					     .birth_ticks = clock += 300 };
			addr += size <= 40 ? chunk_a : chunk_b;
			assert_int_equal(ps_livetab_insert(&l), 0);
		}
		long rss = rss_kib();
		double per = (double)(rss - before) * 1024 / (double)n;
		struct ps_livetab_stats st;
		ps_livetab_stats(&st);
		printf("%s: %8llu live blocks: RSS +%.1f B per block (leaves "
		       "%.1f B, chunks %.1f B)\n", what, (unsigned long long)n,
		       per, (double)st.leaf_bytes / (double)n,
		       (double)st.chunk_bytes / (double)n);
		assert_true(per <= 24.0);
	}
	reset_table();
}

static void test_bytes_per_block(void **state)
{
	(void)state;
	setup_entries();
	bytes_per_block("48/64 B chunks", 48, 64);
	bytes_per_block("32 B chunks", 32, 32);
}

/* One thread inserts blocks while another removes every other one, in the
 * same regions, so leaves grow and shrink under both. */
#define RING (1u << 16)
static struct {
	uint64_t ring[RING];
	uint64_t head, tail; /* head: inserted; tail: taken by the remover */
	uint64_t n;
	int failed;
} xfer;

static struct ps_live concurrent_rec(uint64_t i)
{
	return (struct ps_live){ .ptr = 0x7f1200000000ull + i * 32,
				 .entry = &entries[1 + i % 999],
				 .size = i % 7 == 0 ? SIZE_LIMIT + i : i % 512,
				 .birth_ticks = 1000 + i * 10,
				 .chain_steps = i % 19 };
}

static void *inserter(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < xfer.n; i++) {
		struct ps_live l = concurrent_rec(i);
		if (ps_livetab_insert(&l))
			xfer.failed = 1;
		if (i % 2 == 0)
			continue;
		while (__atomic_load_n(&xfer.head, __ATOMIC_ACQUIRE) -
			       __atomic_load_n(&xfer.tail, __ATOMIC_ACQUIRE) >= RING)
			sched_yield();
		xfer.ring[xfer.head % RING] = i;
		__atomic_store_n(&xfer.head, xfer.head + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *remover(void *arg)
{
	(void)arg;
	uint64_t want = xfer.n / 2;
	while (xfer.tail < want) {
		if (__atomic_load_n(&xfer.head, __ATOMIC_ACQUIRE) == xfer.tail) {
			sched_yield();
			continue;
		}
		uint64_t i = xfer.ring[xfer.tail % RING];
		__atomic_store_n(&xfer.tail, xfer.tail + 1, __ATOMIC_RELEASE);
		struct ps_live got, l = concurrent_rec(i);
		if (ps_livetab_remove(l.ptr, &got) != 1 || got.entry != l.entry ||
		    got.size != l.size || got.chain_steps != l.chain_steps ||
		    got.birth_ticks != l.birth_ticks)
			xfer.failed = 2;
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	setup_entries();
	reset_table();
	xfer.n = 3000000;
	pthread_t a, b;
	pthread_create(&a, NULL, inserter, NULL);
	pthread_create(&b, NULL, remover, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert_int_equal(xfer.failed, 0);
	assert_int_equal(check_table(), xfer.n / 2);
	struct ps_livetab_stats st;
	ps_livetab_stats(&st);
	printf("concurrent: %llu leaf resizes\n", (unsigned long long)st.resizes);
	for (uint64_t i = 0; i < xfer.n; i += 2) {
		struct ps_live got, l = concurrent_rec(i);
		assert_int_equal(ps_livetab_remove(l.ptr, &got), 1);
		expect_record(&got, &l);
	}
	assert_int_equal(check_table(), 0);
	reset_table();
}

/* Sampled (--sample N): each block recorded is marked in sample.c's
 * filter once, however often its record is replaced, and unmarked once
 * when it goes. */
static void test_sampling_marks(void **state)
{
	(void)state;
	setup_entries();
	reset_table();
	ps_opt.sample_every = 4;
	marks = 0;
	for (uint64_t i = 0; i < 1000; i++) {
		struct ps_live l = concurrent_rec(i);
		assert_int_equal(ps_livetab_insert(&l), 0);
		assert_int_equal(ps_livetab_insert(&l), 0); /* replaced */
	}
	assert_int_equal(marks, 1000);
	for (uint64_t i = 0; i < 1000; i += 2) {
		struct ps_live got;
		assert_int_equal(ps_livetab_remove(concurrent_rec(i).ptr, &got), 1);
		assert_int_equal(ps_livetab_remove(concurrent_rec(i).ptr, &got), 0);
	}
	assert_int_equal(marks, 500);
	ps_opt.sample_every = 1;
	reset_table();
}

/* Folding an entry into another: its blocks, inline or escaped, come back
 * as the other's; an entry past the id limit cannot be redirected. */
static void test_entry_moved(void **state)
{
	(void)state;
	setup_entries();
	reset_table();
	ps_entry *from = &entries[7], *to = &entries[8];
	struct ps_live got, l[4] = {
		{ .ptr = 0x400000001000ull, .entry = from, .size = 10 },
		{ .ptr = 0x400000001010ull, .entry = from, .size = SIZE_LIMIT },
		{ .ptr = 0x400000001020ull, .entry = from, .chain_steps = 99 },
		{ .ptr = 0x400000001030ull, .entry = to, .size = 3 },
	};
	for (int i = 0; i < 4; i++)
		assert_int_equal(ps_livetab_insert(&l[i]), 0);
	assert_int_equal(ps_livetab_entry_moved(from, to), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ps_livetab_remove(l[i].ptr, &got), 1);
		assert_ptr_equal(got.entry, to);
		assert_int_equal(got.size, l[i].size);
	}
	/* ids ran out: the record keeps its entry, which stays */
	ps_entry *late = NULL;
	for (int i = 0; i < NENTRIES && !late; i++) {
		struct ps_live x = { .ptr = 0x400000002000ull + (uint64_t)i * 16,
				     .entry = &entries[i] };
		assert_int_equal(ps_livetab_insert(&x), 0);
		if (entries[i].live_id == UINT32_MAX)
			late = &entries[i];
	}
	assert_non_null(late);
	assert_int_equal(ps_livetab_entry_moved(late, to), -ENOENT);
	reset_table();
}

/* A fork child empties the table and starts over; the parent keeps its,
 * and goes on (new nodes included) through fork after fork. */
static void test_fork_child(void **state)
{
	(void)state;
	setup_entries();
	reset_table();
	for (uint64_t i = 0; i < 100000; i++) {
		struct ps_live l = concurrent_rec(i);
		assert_int_equal(ps_livetab_insert(&l), 0);
	}
	for (int round = 0; round < 3; round++) {
		ps_livetab_lock_all();
		pid_t pid = fork();
		if (pid == 0) {
			ps_arena_reset_child();
			ps_livetab_reset_child();
			for (int i = 0; i < NENTRIES; i++)
				entries[i].live_id = 0;
			struct ps_live got;
			int bad = ps_livetab_remove(concurrent_rec(5).ptr, &got) != 0;
			for (uint64_t i = 0; i < 50000; i++) {
				struct ps_live l = concurrent_rec(i + 7);
				bad |= ps_livetab_insert(&l) != 0;
			}
			bad |= check_table() != 50000;
			_exit(bad);
		}
		ps_livetab_unlock_all();
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		/* a block in a window with no node yet: the parent makes one */
		struct ps_live l = { .ptr = 0x310000000000ull + ((uint64_t)round << 32),
				     .entry = &entries[4], .size = 1 };
		assert_int_equal(ps_livetab_insert(&l), 0);
		assert_int_equal(check_table(), 100001 + (unsigned)round);
	}
	reset_table();
}

/* The arena (preload/arena.c, included above) on its own: a request of n
 * bytes gets a block of n rounded up to 8 up to 256 bytes, then one that
 * wastes at most a quarter of itself up to 4 KiB, a mapping of its own
 * past that; blocks never overlap (each filled with its own byte, every
 * byte read back); every block comes zeroed, a reused one too. */
static void test_arena_blocks(void **state)
{
	(void)state;
	assert_int_equal(ps_arena_block_size(0), 8);
	for (size_t n = 1; n <= 256; n++)
		assert_int_equal(ps_arena_block_size(n), (n + 7) / 8 * 8);
	for (size_t n = 257; n <= 4096; n++) {
		size_t b = ps_arena_block_size(n);
		if (b < n || 4 * (b - n) > b)
			fail_msg("%zu bytes: a block of %zu", n, b);
	}
	assert_true(ps_arena_block_size(4097) >= 4097);
	/* three blocks of every size from 1 to 4200, all live at once */
	enum { SIZES = 4200, EACH = 3 };
	static unsigned char *blocks[SIZES + 1][EACH];
	for (size_t n = 1; n <= SIZES; n++)
		for (int k = 0; k < EACH; k++) {
			unsigned char *p = ps_arena_alloc(n);
			assert_non_null(p);
			for (size_t i = 0; i < n; i++)
				if (p[i])
					fail_msg("%zu bytes: byte %zu not zeroed", n, i);
			memset(p, (int)((n * EACH + (size_t)k) % 251) + 1, n);
			blocks[n][k] = p;
		}
	for (size_t n = 1; n <= SIZES; n++)
		for (int k = 0; k < EACH; k++) {
			unsigned char want = (unsigned char)((n * EACH + (size_t)k) % 251 + 1);
			for (size_t i = 0; i < n; i++)
				if (blocks[n][k][i] != want)
					fail_msg("%zu bytes, block %d: byte %zu overwritten",
						 n, k, i);
		}
	/* given back and asked for again: zeroed */
	for (size_t n = 1; n <= SIZES; n += 7) {
		ps_arena_free(blocks[n][0], n);
		unsigned char *p = ps_arena_alloc(n);
		for (size_t i = 0; i < n; i++)
			if (p[i])
				fail_msg("%zu bytes again: byte %zu not zeroed", n, i);
		blocks[n][0] = p;
	}
	for (size_t n = 1; n <= SIZES; n++)
		for (int k = 0; k < EACH; k++)
			ps_arena_free(blocks[n][k], n);
}

/* A leaf shrinks only once half empty (else a region whose blocks come
 * and go would move its leaf back and forth): 100 blocks in one region,
 * freed from the highest address down (no dead front), keep their leaf's
 * class until no more than half its capacity is live, then it shrinks. */
/* A thread's front (its one parked block) goes to the next thread once
 * it has ended, cleared: the next thread parks its first block at once,
 * whatever cooldown the last owner had left (another thread took its
 * block). Parking is on here only (ps_livetab_init). */
static struct front *owner_front;
static int owner_parked, heir_parked, heir_same_front;

static void *front_owner(void *arg)
{
	(void)arg;
	struct ps_live l = concurrent_rec(1);
	ps_livetab_insert(&l);
	owner_front = my_front;
	owner_parked = owner_front && owner_front->ptr == l.ptr;
	if (owner_front)
		owner_front->cooldown = FRONT_COOLDOWN; /* as after a take */
	return NULL;
}

static void *front_heir(void *arg)
{
	(void)arg;
	struct ps_live l = concurrent_rec(2);
	ps_livetab_insert(&l);
	heir_same_front = my_front == owner_front;
	heir_parked = my_front && my_front->ptr == l.ptr;
	return NULL;
}

static void test_front_handed_on(void **state)
{
	(void)state;
	setup_entries();
	reset_table();
	ps_livetab_init();
	pthread_t t;
	pthread_create(&t, NULL, front_owner, NULL);
	pthread_join(t, NULL);
	assert_true(owner_parked);
	pthread_create(&t, NULL, front_heir, NULL);
	pthread_join(t, NULL);
	assert_true(heir_same_front);
	assert_true(heir_parked);
	/* both blocks went to the table as their threads ended */
	assert_int_equal(check_table(), 2);
	for (uint64_t i = 1; i <= 2; i++) {
		struct ps_live got, l = concurrent_rec(i);
		assert_int_equal(ps_livetab_remove(l.ptr, &got), 1);
		expect_record(&got, &l);
	}
	park_enabled = 0;
	reset_table();
}

static void test_leaf_shrinks_when_half_empty(void **state)
{
	(void)state;
	setup_entries();
	reset_table();
	const uintptr_t base = (uintptr_t)0x5a5a0000; /* one 4 KiB region */
	struct ps_live l[100];
	for (int i = 0; i < 100; i++) {
		l[i] = (struct ps_live){ .ptr = base + 16 * (uintptr_t)i,
					 .entry = &entries[1], .size = 16,
					 .birth_ticks = (uint64_t)i + 1 };
		assert_int_equal(ps_livetab_insert(&l[i]), 0);
	}
	assert_int_equal(check_table(), 100);
	struct ps_livetab_stats st;
	ps_livetab_stats(&st);
	const uint64_t grown = st.resizes;
	const unsigned cap = class_cap[word_class(*node_word(base, 0))];
	assert_true(cap >= 100);
	for (int live = 99; live >= 0; live--) {
		struct ps_live got;
		assert_int_equal(ps_livetab_remove(l[live].ptr, &got), 1);
		expect_record(&got, &l[live]);
		ps_livetab_stats(&st);
		if ((unsigned)live > cap / 2 && st.resizes != grown)
			fail_msg("%d of %u live: the leaf was resized", live, cap);
	}
	ps_livetab_stats(&st);
	assert_true(st.resizes > grown); /* it did shrink, past half */
	assert_int_equal(check_table(), 0);
}

int main(void)
{
	alarm(120); /* a lock left held would hang the test, not fail it */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_ordered_frees),
		cmocka_unit_test(test_empty_leaves),
		cmocka_unit_test(test_far_limit),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_sampling_marks),
		cmocka_unit_test(test_entry_moved),
		cmocka_unit_test(test_fork_child),
		cmocka_unit_test(test_bytes_per_block),
		cmocka_unit_test(test_arena_blocks),
		cmocka_unit_test(test_leaf_shrinks_when_half_empty),
		cmocka_unit_test(test_front_handed_on),
	};
	return cmocka_run_group_tests_name("live table", tests, NULL, NULL);
}
