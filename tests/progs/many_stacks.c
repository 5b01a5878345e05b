/* many_stacks.c - 2^LEVELS distinct allocation stacks (131072 at 17):
 * each allocation's call path spells the bits of its index through two
 * functions, left() and right(), on two threads (half each). Used to
 * measure the analyzer on a profile with very many stacks (make
 * bench-analyzer).
 *
 *   many_stacks [hold]
 *
 * hold: the threads keep their blocks and end; the main thread then
 * frees all 131072, so the next snapshot finds that many entries of
 * threads that have ended touched at once (each by another thread). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LEVELS 17
static void *volatile sink;
static int hold;
static void *held[1u << LEVELS];

static void step(unsigned bits, int level);

__attribute__((noinline)) static void left(unsigned bits, int level)
{
	step(bits, level);
	sink = (void *)0;
}

__attribute__((noinline)) static void right(unsigned bits, int level)
{
	step(bits, level);
	sink = (void *)1;
}

__attribute__((noinline)) static void step(unsigned bits, int level)
{
	if (level == LEVELS) {
		void *p = malloc(16 + (bits & 63));
		sink = p;
		if (hold)
			held[bits] = p;
		else
			free(p);
		return;
	}
	if (bits & (1u << level))
		right(bits, level + 1);
	else
		left(bits, level + 1);
}

static void *worker(void *arg)
{
	unsigned base = (unsigned)(unsigned long)arg;
	for (unsigned i = 0; i < (1u << LEVELS) / 2; i++)
		step(base + i, 0);
	return NULL;
}

int main(int argc, char **argv)
{
	hold = argc > 1 && !strcmp(argv[1], "hold");
	pthread_t t[2];
	for (unsigned long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(i << (LEVELS - 1)));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; hold && i < (1u << LEVELS); i++)
		free(held[i]);
	return 0;
}
