/* bad_names.c - names that are not UTF-8: the process renames itself and
 * its worker thread to bytes that are not valid UTF-8 (the kernel takes
 * any), so every --json view must still print a valid document. The
 * worker makes 10 allocations in worker_allocs. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>

static void *volatile sink;

__attribute__((noinline)) static void worker_allocs(void)
{
	for (int i = 0; i < 10; i++) {
		sink = malloc(24);
		free(sink);
	}
	__asm__ volatile("" ::: "memory");
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "w\xc3\x28\xff");
	worker_allocs();
	return NULL;
}

int main(void)
{
	prctl(PR_SET_NAME, "\xfe\xff main", 0, 0, 0);
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	pthread_join(t, NULL);
	return 0;
}
