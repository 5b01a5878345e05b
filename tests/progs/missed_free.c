/* missed_free.c - a block freed where the preload cannot see it (glibc's
 * __libc_free, which it does not hook), and the same address handed out
 * again at once by malloc: the preload finds an address it holds
 * allocated twice, forgets the first block (its free was missed) and
 * charges the new one, and its free, to the new block's site.
 *
 *   missed_free ROUNDS
 *
 * Each round: missed_site allocates 40 bytes, freed by __libc_free;
 * seen_site allocates 36 (the same address, from glibc's cache), freed
 * by free. It prints the truth on stderr: "truth rounds N same N"
 * (same: the rounds whose second block had the first one's address).
 */
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

extern void __libc_free(void *p);

static void *volatile sink;

static NOINLINE void *missed_site(void)
{
	return malloc(40);
}

static NOINLINE void *seen_site(void)
{
	return malloc(36); /* the same glibc size class as 40 */
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 100;
	int same = 0;
	for (int i = 0; i < rounds; i++) {
		void *p = missed_site();
		sink = p;
		__libc_free(p);
		void *q = seen_site();
		same += q == p;
		sink = q;
		free(q);
	}
	fprintf(stderr, "truth rounds %d same %d\n", rounds, same);
	return 0;
}
