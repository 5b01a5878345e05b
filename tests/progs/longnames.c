/* longnames.c - names longer than a terminal line: the allocation site,
 * its callers and the thread name, for the 100-column check of the text
 * views (tests/integration/views.sh). Allocates 1000 blocks of 40 bytes
 * at the site and frees them. Beside it, for the stack lines and the
 * sparkline: 500 blocks of 24 bytes at deep6(), six short-named frames
 * deep (deep1 < ... < deep6 < main), and a thread named "one_block"
 * that allocates exactly one block. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#define LONG(x) x##_with_a_name_long_enough_to_need_eliding_in_every_text_view_of_poolscout_that_shows_it

void *volatile longnames_sink;

__attribute__((noinline)) void LONG(allocate_the_block)(int n)
{
	for (int i = 0; i < n; i++) {
		void *p = malloc(40);
		longnames_sink = p;
		free(p);
	}
}

__attribute__((noinline)) void LONG(call_the_allocator)(int n)
{
	LONG(allocate_the_block)(n);
	longnames_sink = 0;
}

__attribute__((noinline)) void LONG(call_the_caller)(int n)
{
	LONG(call_the_allocator)(n);
	longnames_sink = 0;
}

#define DEEP(n, next)                                   \
	__attribute__((noinline)) void deep##n(int count) \
	{                                               \
		next;                                   \
		longnames_sink = 0;                     \
	}
DEEP(6, for (int i = 0; i < count; i++) {
	void *p = malloc(24);
	longnames_sink = p;
	free(p);
})
DEEP(5, deep6(count))
DEEP(4, deep5(count))
DEEP(3, deep4(count))
DEEP(2, deep3(count))
DEEP(1, deep2(count))

static void *one_block(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "one_block");
	void *p = malloc(64);
	longnames_sink = p;
	free(p);
	return NULL;
}

int main(void)
{
	pthread_setname_np(pthread_self(), "fifteen_chars__");
	LONG(call_the_caller)(1000);
	deep1(500);
	pthread_t t;
	if (pthread_create(&t, NULL, one_block, NULL) == 0)
		pthread_join(t, NULL);
	return 0;
}
