/* reallocs.c - realloc chains whose every number the program knows, for
 * tests/integration/test_exact.c. A realloc counts as an allocation of
 * the new size at the realloc's line (the new block's site) and ends the
 * old block there "resized" (grown when the new size is larger); a block
 * that grew from its predecessor continues its growth chain (steps: how
 * many growths led to it), and the chain ends when its last block is
 * freed. CHAINS times, one after the other:
 *
 *   grow_start    malloc(16)
 *   grow_steps    realloc to 32, 64, 128 (three growths), then free
 *   same_start    malloc(64)
 *   same_steps    realloc to 64, twice (no growth), then free
 *   shrink_start  malloc(256)
 *   shrink_step   realloc to 100 (smaller)
 *   regrow_step   realloc to 300 (a growth after a shrink: one step),
 *                 then free
 *   drop_start    malloc(40), then realloc to 0 (a free)
 *   up_start      malloc(20)
 *   up_step       realloc to 64 (a growth)
 *   down_step     realloc to 32 (no growth here, but the chain goes on,
 *                 one step long, and ends here when freed)
 *   kept_start    malloc(8)
 *   kept_step     realloc to 80 (a growth), never freed: its chain has
 *                 not ended at exit
 *   plain_blocks  calloc(4, 8), aligned_alloc(64, 64), posix_memalign,
 *                 memalign, valloc and pvalloc, each freed (no realloc
 *                 at all)
 *
 * It prints, on stderr, per function: "realloc FUNCTION allocs N grows N
 * steps_max N chains N steps_sum N final_max N resized N grown N
 * resized_max N frees N".
 *
 * With the argument "fork" it then makes INHERITED blocks in
 * inherited_blocks and forks: the child, whose profile is a file of its
 * own (it knows none of them), frees all but one and grows the last in
 * child_regrow (a realloc of a block it never allocated: no chain, no
 * growth), frees that, and exits; it prints "realloc child_regrow ..."
 * and "truth unknown_frees_child N" (the blocks it freed or resized that it
 * did not allocate). */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define CHAINS 25

static void *volatile sink;

NOINLINE static char *grow_start(void)
{
	return malloc(16);
}

NOINLINE static void grow_steps(char *p)
{
	for (int g = 1; g <= 3; g++)
		p = realloc(p, (size_t)16 << g);
	sink = p;
	free(p);
}

NOINLINE static char *same_start(void)
{
	return malloc(64);
}

NOINLINE static void same_steps(char *p)
{
	for (int i = 0; i < 2; i++)
		p = realloc(p, 64);
	sink = p;
	free(p);
}

NOINLINE static char *shrink_start(void)
{
	return malloc(256);
}

NOINLINE static char *shrink_step(char *p)
{
	return realloc(p, 100);
}

NOINLINE static void regrow_step(char *p)
{
	p = realloc(p, 300);
	sink = p;
	free(p);
}

NOINLINE static void drop_start(void)
{
	char *p = malloc(40);
	sink = p;
	sink = realloc(p, 0);
}

NOINLINE static char *up_start(void)
{
	return malloc(20); /* not 16: gcc would fold it into grow_start */
}

NOINLINE static char *up_step(char *p)
{
	return realloc(p, 64);
}

NOINLINE static void down_step(char *p)
{
	p = realloc(p, 32);
	sink = p;
	free(p);
}

static void *kept[CHAINS];

NOINLINE static char *kept_start(void)
{
	return malloc(8);
}

NOINLINE static void kept_step(char *p, int i)
{
	kept[i] = realloc(p, 80);
}

NOINLINE static void plain_blocks(void)
{
	void *p = calloc(4, 8);
	sink = p;
	free(p);
	p = aligned_alloc(64, 64);
	sink = p;
	free(p);
	if (posix_memalign(&p, 32, 24) == 0) {
		sink = p;
		free(p);
	}
	p = memalign(32, 48);
	sink = p;
	free(p);
	p = valloc(10);
	sink = p;
	free(p);
	p = pvalloc(10);
	sink = p;
	free(p);
}

static void truth(const char *fn, long allocs, long grows, long steps_max,
		  long chains, long steps_sum, long final_max, long resized,
		  long grown, long resized_max, long frees)
{
	fprintf(stderr, "realloc %s allocs %ld grows %ld steps_max %ld chains "
			"%ld steps_sum %ld final_max %ld resized %ld grown %ld "
			"resized_max %ld frees %ld\n",
		fn, allocs, grows, steps_max, chains, steps_sum, final_max,
		resized, grown, resized_max, frees);
}

#define INHERITED 6

NOINLINE static void inherited_blocks(char **out)
{
	for (int i = 0; i < INHERITED; i++)
		out[i] = malloc(24);
}

NOINLINE static void child_regrow(char *p)
{
	p = realloc(p, 500);
	sink = p;
	free(p);
}

static int fork_child(void)
{
	char *blocks[INHERITED];
	inherited_blocks(blocks);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		for (int i = 0; i < INHERITED - 1; i++)
			free(blocks[i]);
		child_regrow(blocks[INHERITED - 1]);
		truth("child_regrow", 1, 0, 0, 0, 0, 0, 0, 0, 0, 1);
		fprintf(stderr, "truth unknown_frees_child %d\n", INHERITED);
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return 1;
	for (int i = 0; i < INHERITED; i++)
		free(blocks[i]);
	return 0;
}

int main(int argc, char **argv)
{
	for (int i = 0; i < CHAINS; i++) {
		grow_steps(grow_start());
		same_steps(same_start());
		regrow_step(shrink_step(shrink_start()));
		drop_start();
		down_step(up_step(up_start()));
		kept_step(kept_start(), i);
		plain_blocks();
	}
	const long n = CHAINS;
	/* each block's end: resized by the next realloc, or freed */
	truth("grow_start", n, 0, 0, 0, 0, 0, n, n, 32, n);
	truth("grow_steps", 3 * n, 3 * n, 3, n, 3 * n, 128, 2 * n, 2 * n, 128,
	      3 * n);
	truth("same_start", n, 0, 0, 0, 0, 0, n, 0, 0, n);
	truth("same_steps", 2 * n, 0, 0, 0, 0, 0, n, 0, 0, 2 * n);
	truth("shrink_start", n, 0, 0, 0, 0, 0, n, 0, 0, n);
	truth("shrink_step", n, 0, 0, 0, 0, 0, n, n, 300, n);
	truth("regrow_step", n, n, 1, n, n, 300, 0, 0, 0, n);
	truth("drop_start", n, 0, 0, 0, 0, 0, 0, 0, 0, n);
	truth("up_start", n, 0, 0, 0, 0, 0, n, n, 64, n);
	truth("up_step", n, n, 1, 0, 0, 0, n, 0, 0, n);
	truth("down_step", n, 0, 0, n, n, 32, 0, 0, 0, n);
	truth("kept_start", n, 0, 0, 0, 0, 0, n, n, 80, n);
	truth("kept_step", n, n, 1, 0, 0, 0, 0, 0, 0, 0);
	truth("plain_blocks", 6 * n, 0, 0, 0, 0, 0, 0, 0, 0, 6 * n);
	if (argc > 1 && !strcmp(argv[1], "fork"))
		return fork_child();
	return 0;
}
