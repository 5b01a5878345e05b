/* longnames.c - names longer than a terminal line: the allocation site,
 * its callers and the thread name, for the 100-column check of the text
 * views (tests/integration/views.sh). Allocates 1000 blocks of 40 bytes
 * at the site and frees them. */
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

int main(void)
{
	pthread_setname_np(pthread_self(), "fifteen_chars__");
	LONG(call_the_caller)(1000);
	return 0;
}
