/* distinct_stacks.c - a `make bench` workload: 2^LEVELS distinct
 * allocation stacks (default 18 levels: 262144), each FRAMES frames deep
 * counted from the function that calls malloc up to the thread's start
 * (clone), on 2 threads. Each allocation's call path spells the bits of
 * its index through two functions, left() and right(); a chain of pad()
 * frames brings every stack to FRAMES. Every stack allocates once per
 * pass (PASSES, default 1), the block freed at once. It measures what a
 * profiler pays per distinct stack: memory in the process, profile size,
 * and the analyzer's time.
 *
 *   distinct_stacks [LEVELS [FRAMES [PASSES]]]
 *
 * Built with -fno-optimize-sibling-calls so no frame is a tail call. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* frames below the per-level ones: leaf, worker, start_thread, clone */
#define FIXED_FRAMES 4

static int levels = 18;
static int pad_frames; /* FRAMES - levels - FIXED_FRAMES */
static long passes = 1;
static void *volatile sink;

__attribute__((noinline)) static void leaf(unsigned bits)
{
	void *p = malloc(16 + (bits & 63));
	sink = p;
	free(p);
}

__attribute__((noinline)) static void pad(unsigned bits, int left_to_go)
{
	if (left_to_go == 0)
		leaf(bits);
	else
		pad(bits, left_to_go - 1);
	sink = (void *)2;
}

static void level(unsigned bits, int depth);

__attribute__((noinline)) static void left(unsigned bits, int depth)
{
	level(bits, depth + 1);
	sink = (void *)0;
}

__attribute__((noinline)) static void right(unsigned bits, int depth)
{
	level(bits, depth + 1);
	sink = (void *)1;
}

/* always inlined into its callers: it adds no frame of its own */
__attribute__((always_inline)) static inline void level(unsigned bits,
							int depth)
{
	if (depth == levels) {
		if (pad_frames > 0)
			pad(bits, pad_frames - 1);
		else
			leaf(bits);
	} else if (bits & (1u << depth)) {
		right(bits, depth);
	} else {
		left(bits, depth);
	}
}

static void *worker(void *arg)
{
	unsigned base = (unsigned)(unsigned long)arg;
	for (long pass = 0; pass < passes; pass++)
		for (unsigned i = 0; i < (1u << levels) / 2; i++)
			level(base + i, 0);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		levels = atoi(argv[1]);
	int frames = argc > 2 ? atoi(argv[2]) : 24;
	if (argc > 3)
		passes = atol(argv[3]);
	pad_frames = frames - levels - FIXED_FRAMES;
	if (levels < 2 || levels > 30 || pad_frames < 0 || passes < 1) {
		fprintf(stderr, "usage: %s [LEVELS 2..30 [FRAMES >= LEVELS+%d [PASSES]]]\n",
			argv[0], FIXED_FRAMES);
		return 2;
	}
	pthread_t t[2];
	for (unsigned long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker,
			       (void *)(i << (levels - 1)));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("%u stacks\n", 1u << levels);
	return 0;
}
