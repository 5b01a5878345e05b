/* wrapped.c - an allocation wrapper called from three sites, for the
 * stripped-binary tests (tests/integration/test_truth.c). The test builds
 * it with symbols, keeps that copy to read the true addresses with nm,
 * and runs a stripped copy, where poolscout must find the wrapper by the
 * shape of the stacks alone and name the callers as the sites.
 *
 *   my_xmalloc   the wrapper: checks for NULL, nothing else
 *   site_small   1000 x my_xmalloc(24)
 *   site_medium  2000 x my_xmalloc(100..163)
 *   site_large   3000 x my_xmalloc(1000..1255)
 *   new_record   one fixed type (56 B), itself called from three places:
 *                a site in its own right, not a wrapper (700 in all)
 *
 * `wrapped medium` runs site_medium alone: my_xmalloc has one caller
 * there, so that run alone shows no wrapper (the diff test).
 *
 * `wrapped rare` runs site_small, site_medium, one my_xmalloc(1000) from
 * site_large (rare_large) and load_a, load_b: recorded 1 in 64, the rare
 * third caller is most likely missed (views.sh: the "maybe a wrapper"
 * note), and new_record has two callers but one size. `wrapped two`: the
 * same without rare_large.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static void *volatile sink;

NOINLINE void *my_xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fputs("out of memory\n", stderr);
		abort();
	}
	return p;
}

NOINLINE void site_small(void)
{
	for (int i = 0; i < 1000; i++) {
		sink = my_xmalloc(24);
		free(sink);
	}
}

NOINLINE void site_medium(void)
{
	for (int i = 0; i < 2000; i++) {
		sink = my_xmalloc(100 + (size_t)(i % 64));
		free(sink);
	}
}

NOINLINE void site_large(void)
{
	for (int i = 0; i < 3000; i++) {
		sink = my_xmalloc(1000 + (size_t)(i % 256));
		free(sink);
	}
}

NOINLINE void rare_large(void)
{
	sink = my_xmalloc(1000);
	free(sink);
}

NOINLINE void *new_record(void)
{
	return malloc(56);
}

NOINLINE void load_a(void)
{
	for (int i = 0; i < 100; i++)
		free(new_record());
}

NOINLINE void load_b(void)
{
	for (int i = 0; i < 200; i++)
		free(new_record());
}

NOINLINE void load_c(void)
{
	for (int i = 0; i < 400; i++)
		free(new_record());
}

/* 96 KiB of read-only data: the linker puts .rodata between .text and
 * .eh_frame_hdr, so every function starts more than 64 KiB before that
 * table, and the start offsets it holds (32-bit, relative to it) use all
 * four bytes: the analyzer must read each of them right to name the
 * unnamed functions. */
__attribute__((used)) static const char far_away[96 << 10] = { 1 };

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "medium")) {
		site_medium();
		return 0;
	}
	if (argc > 1 && (!strcmp(argv[1], "rare") || !strcmp(argv[1], "two"))) {
		site_small();
		site_medium();
		if (!strcmp(argv[1], "rare"))
			rare_large();
		load_a();
		load_b();
		return 0;
	}
	site_small();
	site_medium();
	site_large();
	load_a();
	load_b();
	load_c();
	return 0;
}
