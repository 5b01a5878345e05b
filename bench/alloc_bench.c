/* alloc_bench.c - the allocation-heavy workload of `make bench`: THREADS
 * threads, each ITERS iterations; each iteration descends DEPTH frames
 * and mallocs, writes and frees a 64-112 byte scratch buffer, and every
 * 64th iteration grows a buffer by realloc in 8 steps. Same shape as the
 * heaptrack measurement in the product brief (anchors.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 2
#define DEPTH 12

static long iters = 4000000;
static volatile unsigned long sink; /* written once per thread */
static __thread unsigned long local_sink; /* no false sharing */

__attribute__((noinline)) static void scratch(unsigned i)
{
	size_t n = 64 + (i & 48);
	char *buf = malloc(n);
	memset(buf, (int)i, n);
	local_sink += (unsigned char)buf[n - 1];
	free(buf);
	if ((i & 63) == 0) {
		char *s = NULL;
		for (size_t cap = 16; cap <= 2048; cap *= 2) {
			s = realloc(s, cap);
			s[cap - 1] = 1;
		}
		local_sink += (unsigned char)s[0];
		free(s);
	}
}

__attribute__((noinline)) static void descend(int depth, unsigned i)
{
	if (depth == 0)
		scratch(i);
	else
		descend(depth - 1, i);
	local_sink++; /* not a tail call: keep every frame */
}

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < iters; i++)
		descend(DEPTH, (unsigned)i);
	sink += local_sink;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		iters = atol(argv[1]);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("%lu\n", sink & 1);
	return 0;
}
