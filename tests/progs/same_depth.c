/* same_depth.c - allocations from call paths that differ only in frames
 * far from the allocation, for test_exact.c's test_same_depth_paths.
 *
 * The preload reuses the previous capture of a thread (and its entry)
 * when it proves the stack unchanged; these paths are built to look
 * unchanged from the inside: the same leaf, at the same stack depth,
 * under the same eight frames of middle(), below path_a or path_b (twin
 * functions with frames of one size), below top_x or top_y. Each worker
 * thread walks them in turn -- strictly alternating, in runs of three
 * and one, and differing only at the outermost frame -- and counts every
 * allocation itself. At exit it prints, on stderr,
 *   truth PATH allocs N
 * for PATH in path_a, path_b, top_x, top_y (each over all threads).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))
#define WORKERS 2
#define ROUNDS 3000
#define DEPTH 7

static void *volatile sink;
static volatile unsigned long side_a, side_b, side_x, side_y;
static unsigned long count_a, count_b, count_x, count_y;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

NOINLINE static void leaf(unsigned n)
{
	void *p = malloc(24 + n % 8);
	sink = p;
	free(p);
}

NOINLINE static void middle(int depth, unsigned n)
{
	if (depth)
		middle(depth - 1, n);
	else
		leaf(n);
	sink = NULL; /* not a tail call */
}

/* twins: the same frame, distinct functions (their side effects differ,
 * so the compiler cannot fold them into one) */
NOINLINE static void path_a(unsigned n)
{
	middle(DEPTH, n);
	side_a++;
}

NOINLINE static void path_b(unsigned n)
{
	middle(DEPTH, n);
	side_b++;
}

NOINLINE static void top_x(unsigned n, int b)
{
	if (b)
		path_b(n);
	else
		path_a(n);
	side_x++;
}

NOINLINE static void top_y(unsigned n, int b)
{
	if (b)
		path_b(n);
	else
		path_a(n);
	side_y++;
}

static void *worker(void *arg)
{
	(void)arg;
	unsigned long a = 0, b = 0, x = 0, y = 0;
	for (unsigned i = 0; i < ROUNDS; i++) {
		/* strictly alternating a, b */
		top_x(i, (int)(i & 1));
		x++;
		*(i & 1 ? &b : &a) += 1;
		/* runs: a, a, a, b */
		top_x(i, (i & 3) == 3);
		x++;
		*((i & 3) == 3 ? &b : &a) += 1;
		/* the same path under alternating outermost frames */
		if (i & 1) {
			top_y(i, 0);
			y++;
		} else {
			top_x(i, 0);
			x++;
		}
		a++;
	}
	pthread_mutex_lock(&count_lock);
	count_a += a;
	count_b += b;
	count_x += x;
	count_y += y;
	pthread_mutex_unlock(&count_lock);
	return NULL;
}

int main(void)
{
	pthread_t t[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	/* and the main thread too */
	worker(NULL);
	fprintf(stderr, "truth path_a allocs %lu\n", count_a);
	fprintf(stderr, "truth path_b allocs %lu\n", count_b);
	fprintf(stderr, "truth top_x allocs %lu\n", count_x);
	fprintf(stderr, "truth top_y allocs %lu\n", count_y);
	return 0;
}
