/* sizes.c - request sizes whose histogram the program knows, for
 * tests/integration/test_exact.c. Each site is its own function, called
 * once from one place, on the main thread then on a second thread
 * (after the first has ended), so each site has two entries:
 *
 *   one_bucket    sizes 33..40 in turn (one log2 bucket, several sizes)
 *   zero_and_one  malloc(0) and malloc(1) in turn (bucket 0)
 *   late_bucket   48 bytes, then 100 (a second bucket after many of one)
 *   descending    600 bytes down to 105 in steps of 5 (four buckets,
 *                 the smallest last)
 *   one_size      24 bytes every time
 *
 * Every block is freed by the thread that made it. Then handed_back, on
 * the main thread: 10 blocks of 64 bytes that another thread frees, then
 * 15 of 100 bytes that the main thread frees itself (one stack: at most
 * 15 of its blocks live at once, 1500 bytes, reached after the other
 * thread's frees). A third thread,
 * started first, empties its name (prctl, past the preload's hooks),
 * allocates once and then waits for good: it is still running when the
 * program exits, and its name is empty (the preload reads it from /proc
 * at each snapshot). For each site it
 * prints, on stderr, "size FUNCTION min MIN max MAX bytes BYTES" and one
 * "hist FUNCTION LOW COUNT" line per bucket it used (LOW the bucket's
 * smallest size: its highest bit, or 0 for sizes 0 and 1), counted over
 * both threads by the program itself; and "peak handed_back objects 15
 * bytes 1500". */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

enum { ONE_BUCKET, ZERO_AND_ONE, LATE_BUCKET, DESCENDING, ONE_SIZE, NSITES };
static const char *const names[NSITES] = {
	"one_bucket", "zero_and_one", "late_bucket", "descending", "one_size"
};
static struct {
	uint64_t count, min, max, bytes, hist[64];
} seen[NSITES];
static void *volatile sink;

static void note(int site, size_t size)
{
	if (!seen[site].count++ || size < seen[site].min)
		seen[site].min = size;
	if (size > seen[site].max)
		seen[site].max = size;
	seen[site].bytes += size;
	int b = 0;
	while (b < 63 && ((uint64_t)1 << (b + 1)) <= size)
		b++;
	seen[site].hist[b]++;
}

/* A wrapper of the allocator for every site: the block goes back to the
 * site, which frees it (a function that freed its block itself would be
 * a site of its own: wrappers.c). */
NOINLINE static void *block(int site, size_t size)
{
	void *p = malloc(size);
	sink = p;
	note(site, size);
	return p;
}

NOINLINE static void one_bucket(void)
{
	for (int i = 0; i < 200; i++)
		free(block(ONE_BUCKET, 33 + (size_t)(i % 8)));
}

NOINLINE static void zero_and_one(void)
{
	for (int i = 0; i < 40; i++)
		free(block(ZERO_AND_ONE, (size_t)(i % 2)));
}

NOINLINE static void late_bucket(void)
{
	for (int i = 0; i < 100; i++)
		free(block(LATE_BUCKET, 48));
	for (int i = 0; i < 50; i++)
		free(block(LATE_BUCKET, 100));
}

NOINLINE static void descending(void)
{
	for (int i = 0; i < 100; i++)
		free(block(DESCENDING, 600 - 5 * (size_t)i));
}

NOINLINE static void one_size(void)
{
	for (int i = 0; i < 30; i++)
		free(block(ONE_SIZE, 24));
}

static void *all_sites(void *arg)
{
	one_bucket();
	zero_and_one();
	late_bucket();
	descending();
	one_size();
	return arg;
}

static void *handed[25];

static void *free_handed(void *arg)
{
	for (int i = 0; i < 10; i++)
		free(handed[i]);
	return arg;
}

/* one malloc call for all 25 blocks: one stack (a size read from
 * memory, so that gcc makes no second call for the other size) */
static volatile size_t handed_size[2] = { 64, 100 };

NOINLINE static int handed_back(void)
{
	for (int i = 0; i < 25; i++) {
		handed[i] = malloc(handed_size[i >= 10]);
		pthread_t t;
		if (i == 9 && (pthread_create(&t, NULL, free_handed, NULL) ||
			       pthread_join(t, NULL)))
			return 1;
	}
	for (int i = 10; i < 25; i++)
		free(handed[i]);
	return 0;
}

static int waiter_ready; /* its one allocation made */

static void *waiter(void *arg)
{
	prctl(PR_SET_NAME, "", 0, 0, 0);
	free(malloc(8));
	__atomic_store_n(&waiter_ready, 1, __ATOMIC_RELEASE);
	pause();
	return arg;
}

int main(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, waiter, NULL))
		return 1;
	/* a loaded machine may not run it before the rest is done: it is
	 * a thread of the profile once it has allocated */
	while (!__atomic_load_n(&waiter_ready, __ATOMIC_ACQUIRE))
		sched_yield();
	all_sites(NULL);
	if (pthread_create(&t, NULL, all_sites, NULL) || pthread_join(t, NULL))
		return 1;
	/* the first ten freed by another thread, the next ten by this one */
	if (handed_back())
		return 1;
	for (int s = 0; s < NSITES; s++) {
		fprintf(stderr, "size %s min %llu max %llu bytes %llu\n",
			names[s], (unsigned long long)seen[s].min,
			(unsigned long long)seen[s].max,
			(unsigned long long)seen[s].bytes);
		for (int b = 0; b < 64; b++)
			if (seen[s].hist[b])
				fprintf(stderr, "hist %s %llu %llu\n", names[s],
					b ? 1ull << b : 0ull,
					(unsigned long long)seen[s].hist[b]);
	}
	fprintf(stderr, "peak handed_back objects 15 bytes 1500\n");
	return 0;
}
