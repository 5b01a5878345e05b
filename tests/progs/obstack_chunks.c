/* obstack_chunks.c - glibc's own obstack (its _obstack_newchunk lives in
 * libc) as an arena, in three shapes, and a pile-up that is no obstack's:
 *   obstack_chunks N
 *   straight_use()  obstack_alloc on the obstack `straight`, whose chunks
 *                   come from malloc: the site called _obstack_newchunk
 *                   (libc) for each
 *   nfmalloc()      a helper around obstack_alloc on `wrapped`, called
 *                   from three places, whose chunks come from
 *                   chunk_malloc(), a wrapper of malloc (it has three
 *                   callers of its own, each a temporary): dpkg's shape,
 *                   the obstack function inside the wrapper chain
 *   own_chunk()     the chunk allocator of `own` (used by own_use()),
 *                   which calls malloc and nothing else calls: the site,
 *                   called by _obstack_newchunk
 *   pile_block()    N blocks of 64..4096 B kept in an array and freed
 *                   together: no obstack's, an arena by the rules
 * Prints the chunks each obstack holds before it is freed (its chunk
 * list walked) and the piled blocks:
 * "obstack_chunks straight=S wrapped=W own=O pile=P". */
#include <obstack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static struct obstack straight, wrapped, own;
static void *volatile sink;

NOINLINE void *chunk_malloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		abort();
	return p;
}

NOINLINE static void *own_chunk(size_t n)
{
	void *p = malloc(n);
	sink = p;
	return p;
}

/* the chunks an obstack holds */
static long chunks(struct obstack *o)
{
	long n = 0;
	for (struct _obstack_chunk *c = o->chunk; c; c = c->prev)
		n++;
	return n;
}

#define obstack_chunk_alloc malloc
#define obstack_chunk_free free
NOINLINE static void straight_begin(void) { obstack_begin(&straight, 8000); }
NOINLINE static char *straight_use(int i)
{
	char *p = obstack_alloc(&straight, 100 + (size_t)(i % 900));
	memset(p, 1, 8);
	return p;
}
#undef obstack_chunk_alloc
#define obstack_chunk_alloc chunk_malloc
NOINLINE static void wrapped_begin(void) { obstack_begin(&wrapped, 8000); }
NOINLINE void *nfmalloc(size_t n) { return obstack_alloc(&wrapped, n); }
NOINLINE static char *use_small(int i) { return nfmalloc(24 + (size_t)(i % 8)); }
NOINLINE static char *use_medium(int i) { return nfmalloc(100 + (size_t)(i % 50)); }
NOINLINE static char *use_large(int i) { return nfmalloc(1000 + (size_t)(i % 500)); }
#undef obstack_chunk_alloc
#define obstack_chunk_alloc own_chunk
NOINLINE static void own_begin(void) { obstack_begin(&own, 8000); }
NOINLINE static char *own_use(int i) { return obstack_alloc(&own, 2000 + (size_t)(i % 300)); }

/* chunk_malloc's own callers, so that it is a wrapper by the rules */
NOINLINE static void temp_one(int i) { free(chunk_malloc(16 + (size_t)(i % 16))); }
NOINLINE static void temp_two(int i) { free(chunk_malloc(64 + (size_t)(i % 64))); }
NOINLINE static void temp_three(int i) { free(chunk_malloc(300 + (size_t)(i % 3))); }

NOINLINE static void *pile_block(int i)
{
	void *p = malloc(64 + (size_t)(i * 61 % 4033));
	sink = p;
	return p;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	long sum = 0;
	straight_begin();
	wrapped_begin();
	own_begin();
	void **pile = malloc((size_t)n * sizeof *pile);
	for (int i = 0; i < n; i++) {
		sum += straight_use(i)[0];
		sum += use_small(i)[0] + use_medium(i)[0] + use_large(i)[0];
		sum += own_use(i)[0];
		temp_one(i);
		temp_two(i);
		temp_three(i);
		pile[i] = pile_block(i);
	}
	for (int i = 0; i < n; i++)
		free(pile[i]);
	free(pile);
	long s = chunks(&straight), w = chunks(&wrapped), o = chunks(&own);
	obstack_free(&straight, NULL);
	obstack_free(&wrapped, NULL);
	obstack_free(&own, NULL);
	printf("obstack_chunks straight=%ld wrapped=%ld own=%ld pile=%d (%ld)\n",
	       s, w, o, n, sum & 1);
	return 0;
}
