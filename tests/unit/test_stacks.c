/* test_stacks.c - the stack table (preload/stacks.c) on its own, against
 * a model the test keeps itself: random call trees (shared outer parts,
 * branches at every depth, stacks met in random order, some of them
 * prefixes of others) are interned, and every stack must come back with
 * its own id when met again, read back frame by frame (ps_frame_get) as
 * exactly its return addresses, with every frame's parent numbered before
 * it (the profile declares parents first) and exactly one frame per
 * distinct outer part (the tree stores each once). The frame store keeps
 * a row of new frames as 4-byte words and only branches in its index, so
 * the trees are made to cross its chunks (16384 frames) and to branch off
 * the newest frame, an older one and the root. A fork child starts empty.
 * The hash threads find stacks by tells look-alike stacks apart.
 *
 * The table's file is included so its statics can be inspected; the rest
 * of the preload it needs is stubbed below.
 */
#define _GNU_SOURCE
#include "../../preload/arena.c"
#include "../../preload/stacks.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

/* ---- stubs --------------------------------------------------------------- */

struct ps_options ps_opt;
/* The map epoch stack id is made in: runs of 1000 stacks, and runs of
 * one stack in between. Called once per new stack, before it counts. */
static uint32_t epoch_of(uint32_t id)
{
	return id % 997 == 0 ? 99 : 1 + id / 1000;
}
uint32_t ps_modules_refresh(void)
{
	return epoch_of(stack_count + 1);
}
/* addresses below 0x1000 play the runtime's frames */
int ps_modules_ip_is_runtime(uintptr_t ip)
{
	return ip < 0x1000;
}

/* ---- helpers ------------------------------------------------------------- */

#include "rng.h"
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

#define MAX_STACKS 60000
#define MAX_DEPTH 40

/* The model: each stack's return addresses, innermost first. */
struct model_stack {
	int depth;
	uintptr_t ip[MAX_DEPTH];
	uint32_t id;
};
static struct model_stack *model;

static void reset_table(void)
{
	ps_stacks_reset_child();
	ps_arena_reset_child();
}

/* Makes n stacks as paths in a random tree: each stack takes the outer
 * part of an earlier one (any length, 0 to all of it) and adds frames of
 * its own; addresses come from a small set, so the same address sits at
 * many places of the tree. Some stacks repeat an earlier one exactly. */
static void make_stacks(int n, int fanout_ips)
{
	for (int i = 0; i < n; i++) {
		struct model_stack *s = &model[i];
		memset(s, 0, sizeof *s);
		int outer = 0;
		const struct model_stack *from = NULL;
		if (i && rnd() % 8) {
			from = &model[rnd() % (uint64_t)i];
			outer = (int)(rnd() % (uint64_t)(from->depth + 1));
		}
		if (from && rnd() % 50 == 0) {
			*s = *from; /* met again, the same stack */
			continue;
		}
		int own = 1 + (int)(rnd() % 12);
		if (outer + own > MAX_DEPTH)
			own = MAX_DEPTH - outer;
		if (own < 1) {
			outer--;
			own = 1;
		}
		s->depth = outer + own;
		/* outermost last: the outer part is the end of the array */
		for (int k = 0; k < outer; k++)
			s->ip[s->depth - 1 - k] = from->ip[from->depth - 1 - k];
		for (int k = outer; k < s->depth; k++)
			s->ip[s->depth - 1 - k] =
				0x400000 + 16 * (uintptr_t)(rnd() % (uint64_t)fanout_ips);
	}
}

static uint32_t intern(const struct model_stack *s)
{
	return ps_stack_intern(s->ip, s->depth, ps_stack_hash_of(s->ip, s->depth));
}

/* The innermost frame of a stack. */
static uint32_t frame_of(uint32_t stack_id)
{
	return ps_stack_at(stack_id)->frame;
}

struct pair {
	uint32_t parent;
	uintptr_t ip;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	return x->ip < y->ip ? -1 : x->ip > y->ip;
}

/* Interns the model's stacks in their order and checks everything;
 * the frames and stacks they made (before the extra probes). */
static void check_model_counts(int n, uint32_t *frames_out, uint32_t *stacks_out)
{
	for (int i = 0; i < n; i++) {
		model[i].id = intern(&model[i]);
		assert_true(model[i].id != 0);
	}
	uint32_t stacks = ps_stacks_count(), frames = ps_frames_count();
	*frames_out = frames;
	*stacks_out = stacks;
	/* ids: the same stack, the same id; a new one, the next id */
	uint32_t next = 1;
	for (int i = 0; i < n; i++) {
		if (model[i].id == next) {
			next++;
			continue;
		}
		assert_true(model[i].id < next);
		int found = 0;
		for (int j = 0; j < i && !found; j++)
			found = model[j].id == model[i].id;
		assert_true(found);
	}
	assert_int_equal(stacks, next - 1);
	/* each stack read back from its frames, and met again */
	uint8_t *frame_seen = calloc(frames + 1, 1);
	assert_non_null(frame_seen);
	for (int i = 0; i < n; i++) {
		const struct model_stack *s = &model[i];
		uint32_t f = frame_of(s->id);
		for (int k = 0; k < s->depth; k++) {
			uint32_t parent;
			uintptr_t ip;
			assert_true(f >= 1 && f <= frames);
			ps_frame_get(f, &parent, &ip);
			assert_true(ip == s->ip[k]);
			assert_true(parent < f); /* declared before its child */
			frame_seen[f] = 1;
			f = parent;
		}
		assert_int_equal(f, 0);
		assert_int_equal(intern(s), s->id);
		const ps_stack *rec = ps_stack_at(s->id);
		assert_true(ps_stack_is(rec, ps_stack_hash_of(s->ip, s->depth)));
		assert_int_equal(ps_stack_map_epoch(s->id), epoch_of(s->id));
	}
	/* no frame but those of the stacks; and one frame per distinct
	 * (parent, address): two frames with the same would be one outer
	 * part stored twice */
	for (uint32_t f = 1; f <= frames; f++)
		assert_true(frame_seen[f]);
	struct pair *pairs = calloc(frames, sizeof *pairs);
	assert_non_null(pairs);
	for (uint32_t f = 1; f <= frames; f++)
		ps_frame_get(f, &pairs[f - 1].parent, &pairs[f - 1].ip);
	qsort(pairs, frames, sizeof *pairs, pair_cmp);
	for (uint32_t f = 1; f < frames; f++)
		assert_true(pairs[f - 1].parent != pairs[f].parent ||
			    pairs[f - 1].ip != pairs[f].ip);
	free(pairs);
	free(frame_seen);
	/* a stack that is not there is not found: one address changed to
	 * one never used, at any depth, makes a new stack */
	for (int i = 0; i < 200 && n; i++) {
		struct model_stack s = model[rnd() % (uint64_t)n];
		s.ip[rnd() % (uint64_t)s.depth] = 0x10000000 + 16 * (uintptr_t)i;
		uint32_t before = ps_stacks_count();
		assert_int_equal(intern(&s), before + 1);
		assert_int_equal(intern(&s), before + 1);
	}
}

static void check_model(int n)
{
	uint32_t frames, stacks;
	check_model_counts(n, &frames, &stacks);
}

/* ---- tests --------------------------------------------------------------- */

/* Random trees: narrow (few addresses: many shared parts, the same
 * address under many parents) and wide (most frames new). */
static void test_random_trees(void **state)
{
	(void)state;
	int sizes[] = { 1, 2, 50, 5000, MAX_STACKS };
	int fanouts[] = { 3, 40, 100000 };
	for (unsigned a = 0; a < sizeof sizes / sizeof sizes[0]; a++) {
		for (unsigned b = 0; b < sizeof fanouts / sizeof fanouts[0]; b++) {
			reset_table();
			make_stacks(sizes[a], fanouts[b]);
			check_model(sizes[a]);
		}
	}
}

/* The same stacks met in another order give the same tree (ids aside):
 * as many frames, whichever stack came first. */
static void test_order_does_not_matter(void **state)
{
	(void)state;
	int n = 20000;
	reset_table();
	make_stacks(n, 50);
	uint32_t frames, stacks, frames2, stacks2;
	check_model_counts(n, &frames, &stacks);
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rnd() % (uint64_t)(i + 1));
		struct model_stack t = model[i];
		model[i] = model[j];
		model[j] = t;
	}
	reset_table();
	check_model_counts(n, &frames2, &stacks2);
	assert_int_equal(frames2, frames);
	assert_int_equal(stacks2, stacks);
}

/* Shapes the frame rows meet: a stack that extends the newest one (its
 * new frames continue the newest frame), one that branches off an old
 * frame, off the root, a stack that is the outer part of another, a
 * one-frame stack, and a run deep enough to cross chunks. */
static void test_shapes(void **state)
{
	(void)state;
	reset_table();
	int n = 0;
	struct model_stack *s;
	/* a chain of frames met as stacks of growing depth: each extends
	 * the newest frame by one */
	uintptr_t chain[MAX_DEPTH];
	for (int k = 0; k < MAX_DEPTH; k++)
		chain[k] = 0x500000 + 16 * (uintptr_t)k;
	for (int d = 1; d <= MAX_DEPTH; d++) {
		s = &model[n++];
		s->depth = d;
		for (int k = 0; k < d; k++)
			s->ip[d - 1 - k] = chain[k];
	}
	/* branches off every frame of that chain, then off the root */
	for (int d = 0; d < MAX_DEPTH; d++) {
		s = &model[n++];
		s->depth = d + 1;
		for (int k = 0; k < d; k++)
			s->ip[s->depth - 1 - k] = chain[k];
		s->ip[0] = 0x600000 + 16 * (uintptr_t)d;
	}
	/* enough wide stacks to cross several chunks of frames and of
	 * branches, each then extended by one frame */
	for (int i = 0; i < 20000; i++) {
		s = &model[n++];
		s->depth = MAX_DEPTH - 1;
		for (int k = 0; k < s->depth; k++)
			s->ip[k] = 0x700000 + 16 * (rnd() % 1000);
	}
	for (int i = 0; i < 2000; i++) {
		s = &model[n];
		*s = model[n - 20000];
		memmove(s->ip + 1, s->ip, (size_t)s->depth * sizeof s->ip[0]);
		s->ip[0] = 0x800000;
		s->depth++;
		n++;
	}
	check_model(n);
	assert_true(ps_frames_count() > 2 * CHUNK);
	/* the runtime's frames are skipped for the site candidates */
	struct model_stack r = { .depth = 6, .ip = { 0x10, 0x20, 0x500000, 0x500010, 0x500020, 0x500030 } };
	const ps_stack *rec = ps_stack_at(intern(&r));
	assert_int_equal(rec->cand_start, 2);
	assert_int_equal(rec->cand_count, PS_SITE_CANDIDATES);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Threads find their entries by a stack's hash alone, so stacks that
 * differ must not share one even where they look alike: every stack of
 * up to 9 frames over 4 addresses (so every swap, shift and repeat of
 * them), recursion of one address 1 to 256 deep, and random 24-frame
 * stacks with two neighbouring frames swapped or one frame changed.
 * 64 bits of lo alone must tell them apart (some 10^6 stacks: a
 * collision by chance has odds of 10^-7). */
static void test_hash_tells_apart(void **state)
{
	(void)state;
	size_t cap = 1u << 21, n = 0;
	uint64_t *lo = malloc(cap * sizeof *lo);
	assert_non_null(lo);
	uintptr_t ips[PS_MAX_DEPTH];
	const uintptr_t alphabet[4] = { 0x401000, 0x401010, 0x7f0000001234, 0x401018 };
	for (int depth = 1; depth <= 9; depth++) {
		for (uint64_t code = 0; code < (1ull << (2 * depth)); code++) {
			for (int k = 0; k < depth; k++)
				ips[k] = alphabet[(code >> (2 * k)) & 3];
			lo[n++] = ps_stack_hash_of(ips, depth).lo;
		}
	}
	for (int a = 0; a < 100; a++) {
		for (int depth = 1; depth <= PS_MAX_DEPTH; depth++) {
			for (int k = 0; k < depth; k++)
				ips[k] = 0x500000 + 16 * (uintptr_t)a;
			lo[n++] = ps_stack_hash_of(ips, depth).lo;
		}
	}
	for (int r = 0; r < 20000; r++) {
		for (int k = 0; k < 24; k++)
			ips[k] = 0x600000 + 16 * (rnd() % 4096);
		lo[n++] = ps_stack_hash_of(ips, 24).lo;
		for (int k = 0; k + 1 < 24; k += 5) {
			uintptr_t t = ips[k];
			ips[k] = ips[k + 1];
			ips[k + 1] = t;
			if (ips[k] != ips[k + 1])
				lo[n++] = ps_stack_hash_of(ips, 24).lo;
			ips[k + 1] = ips[k];
			ips[k] = t;
		}
		ips[rnd() % 24] = 0x700000 + 16 * (uintptr_t)r;
		lo[n++] = ps_stack_hash_of(ips, 24).lo;
	}
	assert_true(n <= cap);
	qsort(lo, n, sizeof *lo, u64_cmp);
	size_t same = 0;
	for (size_t i = 1; i < n; i++)
		same += lo[i] == lo[i - 1];
	assert_int_equal(same, 0);
	free(lo);
}

/* A fork child starts with an empty table. */
static void test_reset(void **state)
{
	(void)state;
	reset_table();
	make_stacks(1000, 20);
	check_model(1000);
	reset_table();
	assert_int_equal(ps_stacks_count(), 0);
	assert_int_equal(ps_frames_count(), 0);
	make_stacks(1000, 20);
	check_model(1000);
}

int main(void)
{
	model = calloc(MAX_STACKS + 30000, sizeof *model);
	if (!model)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_trees),
		cmocka_unit_test(test_order_does_not_matter),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_hash_tells_apart),
	};
	return cmocka_run_group_tests_name("stack table", tests, NULL, NULL);
}
