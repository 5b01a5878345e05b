/* release_race.c - frees by other threads while their owners end, for the
 * preload's grace period (preload/threads.c): what an ended thread leaves
 * is freed only once every thread seen counting a free has come out of
 * it. Several threads must be inside such frees at once when the writer
 * looks, so four freers do nothing but free blocks of ended threads.
 *
 *   release_race ROUNDS
 *
 * Each round a maker thread allocates FREERS x PER_FREER blocks in
 * make_blocks and ends; once it is joined, the FREERS freer threads free
 * them (PER_FREER each: every free by another thread than the owner, who
 * has ended). The test records with a 1 ms snapshot interval, so the
 * writer retires makers while freers are busy. It prints the truth on
 * stderr: "truth allocs N xfrees N".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))
#define FREERS 4
#define PER_FREER 2000

static void *blocks[FREERS][PER_FREER];
static pthread_barrier_t go, done;
static int rounds;
static unsigned long allocs, xfrees[FREERS];

static NOINLINE void make_blocks(void)
{
	for (int f = 0; f < FREERS; f++)
		for (int i = 0; i < PER_FREER; i++)
			blocks[f][i] = malloc(32 + (size_t)(i & 7) * 8);
}

static void *maker(void *arg)
{
	(void)arg;
	make_blocks();
	return NULL;
}

static void *freer(void *arg)
{
	int f = (int)(long)arg;
	for (int r = 0; r < rounds; r++) {
		pthread_barrier_wait(&go);
		for (int i = 0; i < PER_FREER; i++)
			if (blocks[f][i]) {
				free(blocks[f][i]);
				xfrees[f]++;
			}
		pthread_barrier_wait(&done);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	rounds = argc > 1 ? atoi(argv[1]) : 100;
	pthread_t th[FREERS], m;
	pthread_barrier_init(&go, NULL, FREERS + 1);
	pthread_barrier_init(&done, NULL, FREERS + 1);
	for (long f = 0; f < FREERS; f++)
		if (pthread_create(&th[f], NULL, freer, (void *)f))
			return 1;
	for (int r = 0; r < rounds; r++) {
		if (pthread_create(&m, NULL, maker, NULL))
			return 1;
		pthread_join(m, NULL);
		for (int f = 0; f < FREERS; f++)
			for (int i = 0; i < PER_FREER; i++)
				allocs += blocks[f][i] != NULL;
		pthread_barrier_wait(&go);
		pthread_barrier_wait(&done);
	}
	for (int f = 0; f < FREERS; f++)
		pthread_join(th[f], NULL);
	unsigned long x = 0;
	for (int f = 0; f < FREERS; f++)
		x += xfrees[f];
	fprintf(stderr, "truth allocs %lu xfrees %lu\n", allocs, x);
	return 0;
}
