/* short_threads.c - a `make bench` workload: THREADS (default 20000)
 * short-lived threads, at most 2 alive at a time, each allocating a
 * little (ALLOCS blocks of 16-256 bytes, half freed at once, half at its
 * end). It measures what a profiler pays per thread: its per-thread
 * tables set up and torn down, not per allocation. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONCURRENT 2
#define ALLOCS 32

static unsigned long checksum[CONCURRENT];

static void *worker(void *arg)
{
	unsigned long *out = arg;
	void *kept[ALLOCS / 2];
	unsigned long sum = 0;
	for (int i = 0; i < ALLOCS; i++) {
		size_t n = 16 + (size_t)(i * 37) % 241;
		char *p = malloc(n);
		if (!p)
			return NULL;
		memset(p, i, n);
		sum += (unsigned char)p[n - 1];
		if (i & 1)
			free(p);
		else
			kept[i / 2] = p;
	}
	for (int i = 0; i < ALLOCS / 2; i++)
		free(kept[i]);
	*out += sum;
	return NULL;
}

int main(int argc, char **argv)
{
	long threads = argc > 1 ? atol(argv[1]) : 20000;
	for (long done = 0; done < threads; done += CONCURRENT) {
		pthread_t t[CONCURRENT];
		int n = 0;
		for (; n < CONCURRENT && done + n < threads; n++)
			if (pthread_create(&t[n], NULL, worker, &checksum[n]) != 0)
				return 1;
		for (int i = 0; i < n; i++)
			pthread_join(t[i], NULL);
	}
	printf("%lu\n", (checksum[0] + checksum[1]) & 0xff);
	return 0;
}
