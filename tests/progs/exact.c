/* exact.c - known allocation counts per site and per thread, for the
 * exact-count tests (tests/integration/test_exact.c). Every site is its
 * own function; the counts are the #defines below.
 *
 * Per worker thread (WORKERS of them):
 *   small_objects    SMALL x malloc(32), all freed
 *   zeroed_arrays    ZEROED x calloc(10, 8), all freed
 *   aligned_blocks   ALIGNED x posix_memalign(64, 100) + ALIGNED x
 *                    aligned_alloc(128, 256) + ALIGNED x memalign(32, 48) +
 *                    ALIGNED x valloc(10) + ALIGNED x pvalloc(10), freed
 *   grow_chain       CHAINS objects from chain_start (malloc 8), each grown
 *                    GROWS times by realloc to 16, 32, ... then freed
 *   grow_array       ARRAYS x reallocarray(NULL, 4, 16), freed
 *   keep_blocks      KEEP x malloc(1000), still live at exit
 * Main thread:
 *   main_blocks      MAIN x malloc(77), MAIN_LIVE of them live at exit
 *   handoff_blocks   HANDOFF x malloc(64), freed by the first worker
 *
 * At exit it prints these counts per function, "truth FUNCTION
 * alloc_objects N alloc_space N inuse_objects N inuse_space N", on
 * stderr, for the tests that compare real readers' numbers with them. A
 * realloc counts as an allocation of its new size (the old block as a
 * free); pvalloc(10) counts the 10 bytes asked for, as every member of
 * the family does (the page it rounds to is the allocator's business).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define WORKERS 3
#define SMALL 1000
#define ZEROED 500
#define ALIGNED 100
#define CHAINS 10
#define GROWS 5
#define ARRAYS 40
#define KEEP 7
#define MAIN 123
#define MAIN_LIVE 23
#define HANDOFF 40

static void *volatile sink;
static void *handoff[HANDOFF];

NOINLINE static void small_objects(void)
{
	for (int i = 0; i < SMALL; i++) {
		void *p = malloc(32);
		sink = p;
		free(p);
	}
}

NOINLINE static void zeroed_arrays(void)
{
	for (int i = 0; i < ZEROED; i++) {
		void *p = calloc(10, 8);
		sink = p;
		free(p);
	}
}

NOINLINE static void aligned_blocks(void)
{
	for (int i = 0; i < ALIGNED; i++) {
		void *p;
		if (posix_memalign(&p, 64, 100))
			abort();
		free(p);
		p = aligned_alloc(128, 256);
		free(p);
		p = memalign(32, 48);
		free(p);
		p = valloc(10);
		free(p);
		p = pvalloc(10);
		sink = p;
		free(p);
	}
}

NOINLINE static char *chain_start(void)
{
	char *p = malloc(8);
	sink = p;
	return p;
}

NOINLINE static void grow_chain(void)
{
	for (int i = 0; i < CHAINS; i++) {
		char *p = chain_start();
		for (int g = 1; g <= GROWS; g++)
			p = realloc(p, (size_t)8 << g);
		sink = p;
		free(p);
	}
}

NOINLINE static void grow_array(void)
{
	for (int i = 0; i < ARRAYS; i++) {
		void *p = reallocarray(NULL, 4, 16);
		sink = p;
		free(p);
	}
}

NOINLINE static void keep_blocks(void)
{
	for (int i = 0; i < KEEP; i++)
		sink = malloc(1000);
}

static void *worker(void *arg)
{
	small_objects();
	zeroed_arrays();
	aligned_blocks();
	grow_chain();
	grow_array();
	keep_blocks();
	if (arg)
		for (int i = 0; i < HANDOFF; i++)
			free(handoff[i]);
	return NULL;
}

NOINLINE static void main_blocks(void)
{
	for (int i = 0; i < MAIN; i++) {
		void *p = malloc(77);
		sink = p;
		if (i >= MAIN_LIVE)
			free(p);
	}
}

NOINLINE static void handoff_blocks(void)
{
	for (int i = 0; i < HANDOFF; i++)
		handoff[i] = malloc(64);
}

int main(void)
{
	pthread_t t[WORKERS];
	main_blocks();
	handoff_blocks();
	for (long i = 0; i < WORKERS; i++) {
		pthread_create(&t[i], NULL, worker, i == 0 ? (void *)1 : NULL);
		pthread_join(t[i], NULL); /* one at a time: handoff is exact */
	}
	puts("exact: done");
	static const struct {
		const char *fn;
		long allocs, bytes, live, live_bytes;
	} truth[] = {
		{ "small_objects", WORKERS * SMALL, WORKERS * SMALL * 32L, 0, 0 },
		{ "zeroed_arrays", WORKERS * ZEROED, WORKERS * ZEROED * 80L, 0, 0 },
		{ "aligned_blocks", WORKERS * ALIGNED * 5,
		  WORKERS * ALIGNED * (100L + 256 + 48 + 10 + 10), 0, 0 },
		{ "chain_start", WORKERS * CHAINS, WORKERS * CHAINS * 8L, 0, 0 },
		{ "grow_chain", WORKERS * CHAINS * GROWS,
		  WORKERS * CHAINS * (16L + 32 + 64 + 128 + 256), 0, 0 },
		{ "grow_array", WORKERS * ARRAYS, WORKERS * ARRAYS * 64L, 0, 0 },
		{ "keep_blocks", WORKERS * KEEP, WORKERS * KEEP * 1000L,
		  WORKERS * KEEP, WORKERS * KEEP * 1000L },
		{ "main_blocks", MAIN, MAIN * 77L, MAIN_LIVE, MAIN_LIVE * 77L },
		{ "handoff_blocks", HANDOFF, HANDOFF * 64L, 0, 0 },
	};
	for (size_t i = 0; i < sizeof truth / sizeof *truth; i++) {
		long bytes = truth[i].bytes;
		fprintf(stderr, "truth %s alloc_objects %ld alloc_space %ld "
				"inuse_objects %ld inuse_space %ld\n",
			truth[i].fn, truth[i].allocs, bytes, truth[i].live,
			truth[i].live_bytes);
	}
	return 0;
}
