/* fork_faults.c - what a fork costs the child: the parent first allocates
 * once from each of 2^LEVELS distinct stacks (2^15 by default: more than
 * two of the preload's 16384-entry stack-table chunks), then forks
 * CHILDREN children one after the other. Each child allocates and frees
 * ALLOCS blocks at one site of its own (child_work), then _exits; the
 * last one first allocates from the parent's 2^LEVELS stacks again, so
 * that its stack table fills every chunk the parent's did (a chunk
 * pointer left from the parent would point into memory the reset
 * unmapped). The parent prints one line per child, from wait4's rusage:
 *
 *   child N (light|full): status S, minor faults F
 *
 * and "parent stacks 2^LEVELS". Under the preload each child's profile
 * must hold exactly its own allocations (the tables it inherited are
 * reset, whatever the parent had), and the reset must not touch memory
 * a light child does not use (the suite compares its faults with a
 * plain run's).
 *
 *   fork_faults [LEVELS [CHILDREN [ALLOCS]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

__attribute__((noinline)) static void leaf(unsigned bits)
{
	void *p = malloc(16 + (bits & 63));
	sink = p;
	free(p);
}

/* the path to leaf spells the bits of i, one frame a bit */
__attribute__((noinline)) static void spell(unsigned bits, int depth, int levels);

__attribute__((noinline)) static void zero(unsigned bits, int depth, int levels)
{
	spell(bits, depth + 1, levels);
	sink = (void *)0;
}

__attribute__((noinline)) static void one(unsigned bits, int depth, int levels)
{
	spell(bits, depth + 1, levels);
	sink = (void *)1;
}

__attribute__((noinline)) static void spell(unsigned bits, int depth, int levels)
{
	if (depth == levels)
		leaf(bits);
	else if (bits >> depth & 1)
		one(bits, depth, levels);
	else
		zero(bits, depth, levels);
	sink = (void *)2;
}

__attribute__((noinline)) static void child_work(long allocs)
{
	for (long i = 0; i < allocs; i++) {
		void *p = malloc(24);
		sink = p;
		free(p);
	}
}

int main(int argc, char **argv)
{
	int levels = argc > 1 ? atoi(argv[1]) : 15;
	int children = argc > 2 ? atoi(argv[2]) : 5;
	long allocs = argc > 3 ? atol(argv[3]) : 1000;
	if (levels < 1 || levels > 24 || children < 1 || allocs < 0) {
		fprintf(stderr, "usage: %s [LEVELS 1..24 [CHILDREN [ALLOCS]]]\n",
			argv[0]);
		return 2;
	}
	for (unsigned i = 0; i < 1u << levels; i++)
		spell(i, 0, levels);
	printf("parent stacks %u\n", 1u << levels);
	fflush(stdout);
	for (int c = 0; c < children; c++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		int full = c == children - 1;
		if (pid == 0) {
			if (full)
				for (unsigned i = 0; i < 1u << levels; i++)
					spell(i, 0, levels);
			child_work(allocs);
			_exit(0);
		}
		int status;
		struct rusage ru;
		if (wait4(pid, &status, 0, &ru) != pid) {
			perror("wait4");
			return 1;
		}
		printf("child %d (%s): status %d, minor faults %ld\n", c,
		       full ? "full" : "light", status, ru.ru_minflt);
	}
	return 0;
}
