/* late_frees.c - frees that happen after main is gone: main keeps
 * ATEXIT_BLOCKS blocks (atexit_alloc) freed by an atexit handler and
 * DTOR_BLOCKS blocks (dtor_alloc) freed by a destructor, starts two
 * workers that each make WORKER_PAIRS malloc/free pairs (worker_pairs)
 * after a pause, and ends with pthread_exit. The process ends when the
 * last worker does, with status 0; every block was freed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define ATEXIT_BLOCKS 50
#define DTOR_BLOCKS 30
#define WORKER_PAIRS 100

static void *atexit_kept[ATEXIT_BLOCKS];
static void *dtor_kept[DTOR_BLOCKS];
static void *volatile sink;

__attribute__((noinline)) static void atexit_alloc(void)
{
	for (int i = 0; i < ATEXIT_BLOCKS; i++)
		atexit_kept[i] = malloc(300);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void dtor_alloc(void)
{
	for (int i = 0; i < DTOR_BLOCKS; i++)
		dtor_kept[i] = malloc(500);
	__asm__ volatile("" ::: "memory");
}

static void release_atexit(void)
{
	for (int i = 0; i < ATEXIT_BLOCKS; i++)
		free(atexit_kept[i]);
}

__attribute__((destructor)) static void release_dtor(void)
{
	for (int i = 0; i < DTOR_BLOCKS; i++)
		free(dtor_kept[i]);
}

__attribute__((noinline)) static void worker_pairs(void)
{
	for (int i = 0; i < WORKER_PAIRS; i++) {
		sink = malloc(20);
		free(sink);
	}
	__asm__ volatile("" ::: "memory");
}

static void *worker(void *arg)
{
	(void)arg;
	usleep(200000);
	worker_pairs();
	return NULL;
}

int main(void)
{
	atexit_alloc();
	dtor_alloc();
	atexit(release_atexit);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	pthread_exit(NULL);
}
