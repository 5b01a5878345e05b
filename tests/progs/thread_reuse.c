/* thread_reuse.c - threads one after another, each ended and retired
 * before the next starts, so each takes the record the previous one left
 * (preload/threads.c recycles ended threads' records): per-thread counts
 * must start again at 0.
 *
 *   thread_reuse THREADS PAUSE_MS
 *
 * Thread i (from 1) frees i blocks the preload never saw allocated (from
 * glibc's __libc_malloc, which it does not hook: unknown frees) and makes
 * and frees one block in reuse_work; main joins it and sleeps PAUSE_MS
 * (the test records with a shorter snapshot interval). First, main
 * itself and a keeper thread that lives until the end do what thread 1
 * does (the first thread started also makes an allocation inside the
 * preload's hook, unrecorded), so threads that live through every
 * snapshot have counts of each kind. It prints the truth on stderr:
 * "truth unknown_frees N allocs N".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

extern void *__libc_malloc(size_t size);

static void *volatile sink;

static NOINLINE void reuse_work(void)
{
	sink = malloc(40);
	free(sink);
}

static void *worker(void *arg)
{
	long n = (long)arg;
	for (long i = 0; i < n; i++)
		free(__libc_malloc(24));
	reuse_work();
	return NULL;
}

static pthread_barrier_t keeper_done;

static void *keeper(void *arg)
{
	worker(arg);
	pthread_barrier_wait(&keeper_done);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 10;
	int pause_ms = argc > 2 ? atoi(argv[2]) : 50;
	struct timespec ts = { pause_ms / 1000, (long)(pause_ms % 1000) * 1000000 };
	pthread_t keep;
	pthread_barrier_init(&keeper_done, NULL, 2);
	worker((void *)1L);
	if (pthread_create(&keep, NULL, keeper, (void *)1L))
		return 1;
	long unknown = 2;
	for (long t = 1; t <= threads; t++) {
		pthread_t th;
		if (pthread_create(&th, NULL, worker, (void *)t))
			return 1;
		pthread_join(th, NULL);
		unknown += t;
		nanosleep(&ts, NULL);
	}
	pthread_barrier_wait(&keeper_done);
	pthread_join(keep, NULL);
	fprintf(stderr, "truth unknown_frees %ld allocs %d\n", unknown,
		threads + 2);
	return 0;
}
