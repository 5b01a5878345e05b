/* thread_churn.c - many short-lived threads, for the exact-count test of
 * what the preload does when threads end (tests/integration/test_exact.c):
 * their final counts are written once, then what they held is freed, yet
 * frees of their blocks by other threads long after they ended must still
 * count.
 *
 *   thread_churn WAVES THREADS PAUSE_MS
 *
 * WAVES times, THREADS threads start, run and are joined; then the main
 * thread sleeps PAUSE_MS (the test records with a shorter snapshot
 * interval, so the writer sees the wave's threads gone and retires them
 * while blocks of theirs are still live). Each thread:
 *   churn_own     OWN x malloc(48), freed by the thread itself
 *   churn_handed  HANDED x malloc(96), left in a shared pool: FREED_NEXT
 *                 of them are freed by a thread of the next wave, the
 *                 rest by the main thread after that wave; all after
 *                 their allocating thread has ended
 *   churn_kept    KEPT x malloc(200), live at exit
 * It prints the truth on stderr: per site "truth SITE allocs N frees N
 * xfrees N inuse N", and per worker "truth thread TID allocs N frees N
 * xfrees N" (its blocks' frees, by anyone).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define OWN 20
#define HANDED 10
#define FREED_NEXT 4
#define KEPT 2
#define MAX_THREADS 64
#define MAX_WAVES 256

struct worker {
	pthread_t th;
	pid_t tid;
	void *handed[HANDED];       /* its own, for the pool */
	void *to_free[FREED_NEXT];  /* the previous wave's, to free */
	void *kept[KEPT];
};

static struct worker waves[2][MAX_THREADS];
static void *kept_all[MAX_WAVES * MAX_THREADS * KEPT];
static size_t nkept;
static void *volatile sink;

NOINLINE static void churn_own(void)
{
	for (int i = 0; i < OWN; i++) {
		char *p = malloc(48);
		if (!p)
			abort();
		p[0] = (char)i;
		sink = p;
		free(p);
	}
}

NOINLINE static void churn_handed(struct worker *w)
{
	for (int i = 0; i < HANDED; i++) {
		w->handed[i] = malloc(96);
		if (!w->handed[i])
			abort();
	}
}

NOINLINE static void churn_kept(struct worker *w)
{
	for (int i = 0; i < KEPT; i++) {
		w->kept[i] = malloc(200);
		if (!w->kept[i])
			abort();
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->tid = (pid_t)syscall(SYS_gettid);
	for (int i = 0; i < FREED_NEXT; i++)
		free(w->to_free[i]);
	churn_own();
	churn_handed(w);
	churn_kept(w);
	return NULL;
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	int nwaves = argc > 1 ? atoi(argv[1]) : 20;
	int nthreads = argc > 2 ? atoi(argv[2]) : 16;
	long pause = argc > 3 ? atol(argv[3]) : 20;
	if (nwaves < 1 || nwaves > MAX_WAVES || nthreads < 1 ||
	    nthreads > MAX_THREADS) {
		fprintf(stderr, "usage: thread_churn WAVES<=%d THREADS<=%d PAUSE_MS\n",
			MAX_WAVES, MAX_THREADS);
		return 2;
	}
	for (int wave = 0; wave < nwaves; wave++) {
		struct worker *cur = waves[wave & 1], *prev = waves[!(wave & 1)];
		for (int t = 0; t < nthreads; t++) {
			memset(&cur[t], 0, sizeof cur[t]);
			/* the previous wave's handed blocks, FREED_NEXT each */
			for (int i = 0; wave > 0 && i < FREED_NEXT; i++)
				cur[t].to_free[i] = prev[t].handed[i];
			if (pthread_create(&cur[t].th, NULL, worker_main, &cur[t]))
				return 1;
		}
		for (int t = 0; t < nthreads; t++)
			pthread_join(cur[t].th, NULL);
		/* the rest of the previous wave's, by the main thread */
		for (int t = 0; wave > 0 && t < nthreads; t++)
			for (int i = FREED_NEXT; i < HANDED; i++)
				free(prev[t].handed[i]);
		for (int t = 0; t < nthreads; t++) {
			fprintf(stderr, "truth thread %d allocs %d frees %d xfrees %d\n",
				(int)cur[t].tid, OWN + HANDED + KEPT, OWN + HANDED,
				HANDED);
			for (int i = 0; i < KEPT; i++)
				kept_all[nkept++] = cur[t].kept[i];
		}
		pause_ms(pause);
	}
	/* the last wave's handed blocks: all by the main thread */
	struct worker *last = waves[(nwaves - 1) & 1];
	for (int t = 0; t < nthreads; t++)
		for (int i = 0; i < HANDED; i++)
			free(last[t].handed[i]);
	long n = (long)nwaves * nthreads;
	fprintf(stderr, "truth churn_own allocs %ld frees %ld xfrees 0 inuse 0\n",
		n * OWN, n * OWN);
	fprintf(stderr, "truth churn_handed allocs %ld frees %ld xfrees %ld inuse 0\n",
		n * HANDED, n * HANDED, n * HANDED);
	fprintf(stderr, "truth churn_kept allocs %ld frees 0 xfrees 0 inuse %ld\n",
		n * KEPT, n * KEPT);
	printf("%zu kept\n", nkept);
	return 0;
}
