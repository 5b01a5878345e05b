/* growing.c - a profile that keeps growing: every allocation takes a new
 * call path (the bits of a counter spelled through left() and right(), up
 * to 2^16 paths), so every snapshot adds new stacks to the file.
 *
 *   growing MS [FILE]
 *
 * Allocates for MS milliseconds; after MS/2, deletes FILE if given (the
 * test's filler, to give a full disk room again). Prints the number of
 * allocations it made and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define LEVELS 16

static void *volatile sink;

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
		void *p = malloc(32);
		sink = p;
		free(p);
		return;
	}
	if (bits & (1u << level))
		right(bits, level + 1);
	else
		left(bits, level + 1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: growing MS [FILE]\n");
		return 2;
	}
	double start = now(), end = start + atoi(argv[1]) / 1000.0;
	const char *filler = argc > 2 ? argv[2] : NULL;
	unsigned long count = 0;
	while (now() < end) {
		for (int i = 0; i < 20; i++, count++)
			step((unsigned)count, 0);
		if (filler && now() > (start + end) / 2) {
			unlink(filler);
			filler = NULL;
		}
		usleep(200);
	}
	printf("%lu\n", count);
	return 0;
}
