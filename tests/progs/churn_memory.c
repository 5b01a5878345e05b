/* churn_memory.c - whether memory stays flat while threads come and go.
 *
 *   churn_memory WAVES THREADS
 *
 * WAVES times, THREADS threads start, each makes 20 blocks it frees
 * itself and 10 it hands to the main thread, and ends; the main thread
 * joins them and frees the handed blocks (frees by another thread, after
 * the allocating one ended), then sleeps 2 ms so a profiler's snapshots
 * can see the wave gone. Nothing stays allocated, so the program's own
 * memory is the same after every wave. It prints, on stdout, its
 * resident set (VmRSS, KiB) once a quarter of the waves are done and at
 * the end: "rss QUARTER END". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define OWN 20
#define HANDED 10
#define MAX_THREADS 64

static void *handed[MAX_THREADS][HANDED];
static void *volatile sink;

NOINLINE static void own_blocks(void)
{
	for (int i = 0; i < OWN; i++) {
		void *p = malloc(48);
		sink = p;
		free(p);
	}
}

NOINLINE static void handed_blocks(void **out)
{
	for (int i = 0; i < HANDED; i++)
		out[i] = malloc(96);
}

static void *worker(void *arg)
{
	own_blocks();
	handed_blocks(arg);
	return NULL;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	int nwaves = argc > 1 ? atoi(argv[1]) : 400;
	int nthreads = argc > 2 ? atoi(argv[2]) : 16;
	if (nwaves < 4 || nthreads < 1 || nthreads > MAX_THREADS) {
		fprintf(stderr, "usage: churn_memory WAVES>=4 THREADS<=%d\n",
			MAX_THREADS);
		return 2;
	}
	long quarter = -1;
	pthread_t th[MAX_THREADS];
	for (int wave = 0; wave < nwaves; wave++) {
		for (int t = 0; t < nthreads; t++)
			if (pthread_create(&th[t], NULL, worker, handed[t]))
				return 1;
		for (int t = 0; t < nthreads; t++)
			pthread_join(th[t], NULL);
		for (int t = 0; t < nthreads; t++)
			for (int i = 0; i < HANDED; i++)
				free(handed[t][i]);
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (wave + 1 == nwaves / 4)
			quarter = rss_kib();
	}
	printf("rss %ld %ld\n", quarter, rss_kib());
	return 0;
}
