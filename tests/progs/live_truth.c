/* live_truth.c - blocks held and freed in an order the program chooses,
 * with counts it keeps itself, for tests/integration/test_live_truth.c:
 * what poolscout charges at a free (the allocating site, the size, the
 * realloc history, the lifetime) comes from its live-pointer table, so
 * every free the table lost, every size or step count it kept wrong and
 * every birth time it rounded shows up in these sums. `live_truth
 * SCENARIO` runs one and prints "truth FUNCTION KEY VALUE" lines on
 * stderr.
 *
 *   hold       small_blocks: 400k blocks of 1-256 B; huge_blocks: 60 of
 *              1-3 MiB (sizes past the table's compact field); aligned_
 *              blocks: 4000 from memalign, aligned_alloc and posix_memalign
 *              (alignments 8 to 64 KiB, odd sizes); long_chains: 400
 *              objects grown 20 times by realloc (realloc steps past the
 *              compact field), short_chains: 400 grown 3 times. Two thirds
 *              of the small, aligned and huge blocks are freed in a random
 *              order, the rest stay live; every chain is freed.
 *   handoff    make_message: one thread allocates 2M blocks, another frees
 *              three in four of them as they come (the table grows and
 *              shrinks under both), the fourth stays live
 *   lifetimes  held_small (64 B) and held_huge (2 MiB): 300 of each held
 *              ~20 us, then 60 of each held ~30 ms, each lifetime measured
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* one site's true numbers */
struct site {
	const char *name;
	uint64_t allocs, alloc_bytes, frees, free_bytes, xfrees;
	uint64_t realloc_grows, chains_ended, chain_steps_sum, chain_steps_max;
};

static void print_site(const struct site *s)
{
	fprintf(stderr,
		"truth %s allocs %llu\ntruth %s alloc_bytes %llu\n"
		"truth %s frees %llu\ntruth %s free_bytes %llu\n"
		"truth %s xfrees %llu\ntruth %s realloc_grows %llu\n"
		"truth %s chains_ended %llu\ntruth %s chain_steps_sum %llu\n"
		"truth %s chain_steps_max %llu\n",
		s->name, (unsigned long long)s->allocs, s->name,
		(unsigned long long)s->alloc_bytes, s->name,
		(unsigned long long)s->frees, s->name,
		(unsigned long long)s->free_bytes, s->name,
		(unsigned long long)s->xfrees, s->name,
		(unsigned long long)s->realloc_grows, s->name,
		(unsigned long long)s->chains_ended, s->name,
		(unsigned long long)s->chain_steps_sum, s->name,
		(unsigned long long)s->chain_steps_max);
}

struct block {
	void *p;
	size_t size;
};

/* Frees `keep_one_in` - 1 of every `keep_one_in` blocks of b, in a
 * random order, charging them to s. */
static void free_shuffled(struct block *b, size_t n, unsigned keep_one_in,
			  struct site *s)
{
	size_t *order = malloc(n * sizeof *order);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rnd() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		if (i % keep_one_in == 0)
			continue; /* stays live to the end */
		free(b[i].p);
		s->frees++;
		s->free_bytes += b[i].size;
	}
	free(order);
}

/* ---- hold ---------------------------------------------------------------- */

#define SMALL 400000
#define HUGE 60
#define ALIGNED 4000
#define CHAINS 400

NOINLINE static void small_blocks(struct block *b, struct site *s)
{
	for (size_t i = 0; i < SMALL; i++) {
		size_t size = 1 + rnd() % 256;
		b[i] = (struct block){ malloc(size), size };
		s->allocs++;
		s->alloc_bytes += size;
	}
}

NOINLINE static void huge_blocks(struct block *b, struct site *s)
{
	for (size_t i = 0; i < HUGE; i++) {
		size_t size = (1u << 20) + rnd() % (2u << 20);
		b[i] = (struct block){ malloc(size), size };
		s->allocs++;
		s->alloc_bytes += size;
	}
}

NOINLINE static void aligned_blocks(struct block *b, struct site *s)
{
	static const size_t align[] = { 8, 64, 4096, 65536 };
	for (size_t i = 0; i < ALIGNED; i++) {
		size_t a = align[i % 4], size = 1 + rnd() % 3000;
		void *p = NULL;
		switch (i % 3) {
		case 0: p = memalign(a, size); break;
		case 1: p = aligned_alloc(a, (size + a - 1) / a * a);
			size = (size + a - 1) / a * a;
			break;
		default:
			if (posix_memalign(&p, a, size))
				p = NULL;
		}
		b[i] = (struct block){ p, size };
		s->allocs++;
		s->alloc_bytes += size;
	}
}

/* CHAINS objects grown `steps` times each by realloc, then freed: a macro,
 * so that each site's allocations are made in its own function */
#define GROW_AND_FREE(steps, s)                                               \
	do {                                                                  \
		void *held[CHAINS];                                           \
		size_t size[CHAINS];                                          \
		for (int i = 0; i < CHAINS; i++) {                            \
			size[i] = 16;                                         \
			held[i] = malloc(16);                                 \
			(s)->allocs++;                                        \
			(s)->alloc_bytes += 16;                               \
		}                                                             \
		for (unsigned k = 0; k < (steps); k++) {                      \
			for (int i = 0; i < CHAINS; i++) {                    \
				size_t bigger = size[i] + 24 + (size_t)i % 5; \
				held[i] = realloc(held[i], bigger);           \
				/* an allocation of the new size, the old     \
				 * block freed */                             \
				(s)->allocs++;                                \
				(s)->alloc_bytes += bigger;                   \
				(s)->frees++;                                 \
				(s)->free_bytes += size[i];                   \
				(s)->realloc_grows++;                         \
				size[i] = bigger;                             \
			}                                                     \
		}                                                             \
		for (int i = 0; i < CHAINS; i++) {                            \
			free(held[i]);                                        \
			(s)->frees++;                                         \
			(s)->free_bytes += size[i];                           \
			(s)->chains_ended++;                                  \
			(s)->chain_steps_sum += (steps);                      \
		}                                                             \
		(s)->chain_steps_max = (steps);                               \
	} while (0)

NOINLINE static void long_chains(struct site *s)
{
	GROW_AND_FREE(20, s);
}

NOINLINE static void short_chains(struct site *s)
{
	GROW_AND_FREE(3, s);
}

static void scenario_hold(void)
{
	struct site small = { .name = "small_blocks" },
		    huge = { .name = "huge_blocks" },
		    aligned = { .name = "aligned_blocks" },
		    lng = { .name = "long_chains" },
		    shrt = { .name = "short_chains" };
	struct block *sb = malloc(SMALL * sizeof *sb);
	static struct block hb[HUGE], ab[ALIGNED];
	small_blocks(sb, &small);
	huge_blocks(hb, &huge);
	aligned_blocks(ab, &aligned);
	long_chains(&lng);
	short_chains(&shrt);
	free_shuffled(sb, SMALL, 3, &small);
	free_shuffled(hb, HUGE, 3, &huge);
	free_shuffled(ab, ALIGNED, 3, &aligned);
	print_site(&small);
	print_site(&huge);
	print_site(&aligned);
	print_site(&lng);
	print_site(&shrt);
	/* sb stays: a third of its blocks are live at exit */
}

/* ---- handoff ------------------------------------------------------------- */

#define MESSAGES 2000000
#define RING 4096
static struct {
	struct block ring[RING];
	uint64_t head, tail;
} q;

NOINLINE static void *make_message(size_t size)
{
	return malloc(size);
}

static void *producer(void *arg)
{
	struct site *s = arg;
	for (uint64_t i = 0; i < MESSAGES; i++) {
		size_t size = 8 + i % 120;
		void *p = make_message(size);
		s->allocs++;
		s->alloc_bytes += size;
		while (__atomic_load_n(&q.head, __ATOMIC_RELAXED) -
			       __atomic_load_n(&q.tail, __ATOMIC_ACQUIRE) >= RING)
			;
		q.ring[q.head % RING] = (struct block){ p, size };
		__atomic_store_n(&q.head, q.head + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct site *s = arg;
	for (uint64_t i = 0; i < MESSAGES; i++) {
		while (__atomic_load_n(&q.head, __ATOMIC_ACQUIRE) == q.tail)
			;
		struct block b = q.ring[q.tail % RING];
		__atomic_store_n(&q.tail, q.tail + 1, __ATOMIC_RELEASE);
		if (i % 4 == 3)
			continue; /* stays live */
		free(b.p);
		s->frees++;
		s->xfrees++;
		s->free_bytes += b.size;
	}
	return NULL;
}

static void scenario_handoff(void)
{
	struct site made = { .name = "make_message" }, freed = { .name = "" };
	pthread_t a, b;
	pthread_create(&a, NULL, producer, &made);
	pthread_create(&b, NULL, consumer, &freed);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	made.frees = freed.frees;
	made.xfrees = freed.xfrees;
	made.free_bytes = freed.free_bytes;
	print_site(&made);
}

/* ---- lifetimes ----------------------------------------------------------- */

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

NOINLINE static void *held_small(void)
{
	return malloc(64);
}

NOINLINE static void *held_huge(void)
{
	return malloc(2u << 20);
}

/* 300 blocks held ~20 us one at a time, then 60 held ~30 ms together;
 * prints the 50th and 99th percentiles of the lifetimes measured */
static void hold_for(const char *name, void *(*make)(void))
{
	double life[360], born[60];
	void *p[60];
	for (int i = 0; i < 300; i++) {
		void *b = make();
		double t = now_ns();
		while (now_ns() - t < 20e3)
			;
		life[i] = now_ns() - t;
		free(b);
	}
	for (int i = 0; i < 60; i++) {
		p[i] = make();
		born[i] = now_ns();
	}
	struct timespec ts = { 0, 30000000 };
	nanosleep(&ts, NULL);
	for (int i = 0; i < 60; i++) {
		life[300 + i] = now_ns() - born[i];
		free(p[i]);
	}
	qsort(life, 360, sizeof *life, cmp_double);
	fprintf(stderr, "truth %s p50_ns %.0f\ntruth %s p99_ns %.0f\n", name,
		life[179], name, life[356]);
}

static void scenario_lifetimes(void)
{
	hold_for("held_small", held_small);
	hold_for("held_huge", held_huge);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "hold"))
		scenario_hold();
	else if (argc > 1 && !strcmp(argv[1], "handoff"))
		scenario_handoff();
	else if (argc > 1 && !strcmp(argv[1], "lifetimes"))
		scenario_lifetimes();
	else {
		fprintf(stderr, "usage: live_truth hold|handoff|lifetimes\n");
		return 2;
	}
	return 0;
}
