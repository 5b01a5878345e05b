/* test_wrappers.c - the wrapper rules (analyzer/core/wrappers.c) on
 * stacks built in memory, each threshold of the structural rule just
 * inside and just outside: the share of allocations where a function is
 * the site (90%), its callers (3), the places it calls the allocator
 * from (3), and whether its callers get different sizes; nested wrappers;
 * the fixed rules; --wrapper and --no-auto-wrappers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "memory.h"
#include "symbolize.h"
#include "wrappers.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
#define APP "/srv/app"

#define MAX_STACKS 64
#define MAX_FRAMES 24
static an_stack stacks[MAX_STACKS];
static size_t nstacks;
/* the frames of stacks[i]; the pointers to them it holds are a heap
 * array of exactly its frames, so that a rule reading past the last one
 * is an error under ASan (tests/asan.sh runs this suite) */
static an_frame frames[MAX_STACKS][MAX_FRAMES];

/* Adds a stack: the allocator in libc, then the frames names[0..n)
 * (innermost first) given as "function@line" (line = call site in the
 * function, which also makes its return address), with allocs
 * allocations of size_min..size_max bytes. */
static an_stack *add_frames(uint64_t allocs, uint64_t size_min,
			    uint64_t size_max, const char *const *names,
			    unsigned n)
{
	an_frame *fr = frames[nstacks];
	an_stack *st = &stacks[nstacks++];
	memset(st, 0, sizeof *st);
	fr[st->nall++] = (an_frame){ .function = "malloc", .module = LIBC,
				     .ip = 0x1000, .symbolized = 1 };
	for (unsigned i = 0; i < n; i++) {
		char name[64];
		unsigned line = 0;
		sscanf(names[i], "%63[^@]@%u", name, &line);
		an_frame *f = &fr[st->nall];
		*f = (an_frame){ .function = xstrdup(name), .file = "app.c",
				 .line = line, .module = APP, .symbolized = 1 };
		/* a return address per (function, line) */
		for (const char *c = name; *c; c++)
			f->ip = f->ip * 31 + (unsigned char)*c;
		f->ip = f->ip * 1000 + line;
		f->offset = f->ip;
		f->ip_index = st->nall++;
	}
	const an_frame **ptrs = xcalloc(st->nall, sizeof *ptrs);
	for (unsigned k = 0; k < st->nall; k++)
		ptrs[k] = &fr[k];
	st->all = ptrs;
	st->allocs = allocs;
	st->size_min = size_min;
	st->size_max = size_max;
	return st;
}

/* add_frames() with the frames as arguments, NULL-terminated. */
static an_stack *add(uint64_t allocs, uint64_t size_min, uint64_t size_max,
		     ...)
{
	const char *names[MAX_FRAMES];
	unsigned n = 0;
	va_list ap;
	va_start(ap, size_max);
	const char *spec;
	while ((spec = va_arg(ap, const char *))) {
		assert_true(n < MAX_FRAMES - 1); /* malloc takes one */
		names[n++] = spec;
	}
	va_end(ap);
	return add_frames(allocs, size_min, size_max, names, n);
}

static void reset(void)
{
	for (size_t i = 0; i < nstacks; i++) {
		for (unsigned k = 1; k < stacks[i].nall; k++)
			free((char *)stacks[i].all[k]->function);
		free((void *)stacks[i].all);
	}
	nstacks = 0;
}

/* Applies the rules; returns the site function of stack i. */
static const char *site_of(size_t i)
{
	return stacks[i].frames[0]->function;
}

static void apply(const an_opts *o)
{
	an_wrappers *w = wrappers_new(o);
	assert_non_null(w);
	wrappers_apply(w, stacks, nstacks);
	wrappers_free(w);
}

/* W called from `callers` places with different sizes. */
static void wrapper_with_callers(int callers)
{
	static const char *const names[] = { "c1@10", "c2@20", "c3@30", "c4@40" };
	for (int i = 0; i < callers; i++)
		add(100, 16 * (uint64_t)(i + 1), 16 * (uint64_t)(i + 1), "W@5",
		    names[i], "main@1", (char *)NULL);
}

static void test_callers_threshold(void **state)
{
	(void)state;
	/* the documented thresholds, literally: a test that read the macros
	 * would move with them */
	wrapper_with_callers(3); /* just inside */
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++) {
		assert_string_not_equal(site_of(i), "W");
		assert_string_equal(stacks[i].via, "W");
	}
	reset();
	wrapper_with_callers(2); /* just outside */
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++) {
		assert_string_equal(site_of(i), "W");
		assert_null(stacks[i].via);
	}
	reset();
}

/* W calls the allocator from `calls` places, from three callers. */
static void wrapper_with_calls(int calls)
{
	static const char *const at[] = { "W@1", "W@2", "W@3", "W@4" };
	static const char *const callers[] = { "c1@10", "c2@20", "c3@30" };
	for (int c = 0; c < 3; c++)
		for (int k = 0; k < calls; k++)
			add(10, 8 + (uint64_t)c, 8 + (uint64_t)c, at[k], callers[c],
			    "main@1", (char *)NULL);
}

static void test_calls_threshold(void **state)
{
	(void)state;
	wrapper_with_calls(3);
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_string_equal(stacks[i].via, "W");
	reset();
	wrapper_with_calls(4);
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_string_equal(site_of(i), "W");
	reset();
}

/* A constructor of one type: the same size for every caller is a site;
 * one caller with another size makes it a wrapper. */
static void test_sizes_vary(void **state)
{
	(void)state;
	add(100, 48, 48, "new_item@3", "c1@10", "main@1", (char *)NULL);
	add(100, 48, 48, "new_item@3", "c2@20", "main@1", (char *)NULL);
	add(100, 48, 48, "new_item@3", "c3@30", "main@1", (char *)NULL);
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_string_equal(site_of(i), "new_item");
	reset();
	add(100, 48, 48, "new_item@3", "c1@10", "main@1", (char *)NULL);
	add(100, 48, 48, "new_item@3", "c2@20", "main@1", (char *)NULL);
	add(100, 48, 49, "new_item@3", "c3@30", "main@1", (char *)NULL);
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_string_equal(stacks[i].via, "new_item");
	reset();
}

/* W is the site in `site` allocations and passes `other` allocations
 * on to a function X that allocates itself. */
static void wrapper_with_share(uint64_t site, uint64_t other)
{
	add(site / 3, 16, 16, "W@5", "c1@10", "main@1", (char *)NULL);
	add(site / 3, 32, 32, "W@5", "c2@20", "main@1", (char *)NULL);
	add(site - 2 * (site / 3), 64, 64, "W@5", "c3@30", "main@1", (char *)NULL);
	add(other, 100, 100, "X@7", "W@6", "c1@11", "main@1", (char *)NULL);
}

static void test_site_share_threshold(void **state)
{
	(void)state;
	/* 900 of 1000 = 90%: inside */
	wrapper_with_share(900, 100);
	apply(NULL);
	assert_string_equal(stacks[0].via, "W");
	/* and X, which W calls, is W's internals */
	assert_string_equal(site_of(3), "c1");
	assert_string_equal(stacks[3].via, "W");
	reset();
	/* 900 of 1001: outside */
	wrapper_with_share(900, 101);
	apply(NULL);
	assert_string_equal(site_of(0), "W");
	reset();
}

/* A wrapper over a wrapper (xstrdup over xmalloc): found in two rounds;
 * the site names the one it called. */
static void test_nested(void **state)
{
	(void)state;
	add(10, 10, 10, "W@5", "V@3", "c1@10", "main@1", (char *)NULL);
	add(10, 20, 20, "W@5", "V@3", "c2@20", "main@1", (char *)NULL);
	add(10, 30, 30, "W@5", "V@3", "c3@30", "main@1", (char *)NULL);
	add(10, 40, 40, "W@5", "d1@40", "main@1", (char *)NULL);
	add(10, 50, 50, "W@5", "d2@50", "main@1", (char *)NULL);
	apply(NULL);
	assert_string_equal(site_of(0), "c1");
	assert_string_equal(stacks[0].via, "V");
	assert_int_equal(stacks[0].nskipped, 3); /* malloc, W, V */
	assert_string_equal(site_of(3), "d1");
	assert_string_equal(stacks[3].via, "W");
	reset();
}

/* A wrapper's internals: functions a (named) wrapper calls one or two
 * frames down, for nearly all their allocations (sqlite3Malloc ->
 * mallocWithAlarm -> sqlite3MemMalloc), are skipped with it; three frames
 * down they are not. */
static void test_wrapper_internals(void **state)
{
	(void)state;
	add(100, 16, 16, "mem_malloc@2", "with_alarm@3", "sqlite3Malloc@4",
	    "caller@10", "main@1", (char *)NULL);
	apply(NULL);
	assert_string_equal(site_of(0), "caller");
	assert_string_equal(stacks[0].via, "sqlite3Malloc");
	reset();
	add(100, 16, 16, "mem_malloc@2", "step@3", "with_alarm@3",
	    "sqlite3Malloc@4", "caller@10", "main@1", (char *)NULL);
	apply(NULL);
	assert_string_equal(site_of(0), "mem_malloc");
	reset();
	/* called by the wrapper only in 89% of its allocations: a site */
	add(89, 16, 16, "helper@2", "sqlite3Malloc@4", "caller@10", "main@1",
	    (char *)NULL);
	add(11, 16, 16, "helper@2", "other@5", "main@1", (char *)NULL);
	apply(NULL);
	assert_string_equal(site_of(0), "helper");
	reset();
	add(90, 16, 16, "helper@2", "sqlite3Malloc@4", "caller@10", "main@1",
	    (char *)NULL);
	add(10, 16, 16, "helper@2", "other@5", "main@1", (char *)NULL);
	apply(NULL);
	assert_string_equal(site_of(0), "caller");
	/* a function is a wrapper everywhere: its other caller is a site */
	assert_string_equal(site_of(1), "other");
	assert_string_equal(stacks[1].via, "helper");
	reset();
	/* a site at the outermost frame (a thread's entry, a walk cut
	 * short): nothing past the stack's last frame is looked at */
	add(100, 16, 16, "thread_entry@3", (char *)NULL);
	add(100, 32, 32, "leaf@2", "entry2@4", (char *)NULL);
	apply(NULL);
	assert_string_equal(site_of(0), "thread_entry");
	assert_null(stacks[0].via);
	assert_string_equal(site_of(1), "leaf");
	reset();
}

/* A wrapper chain: do_x, called only by x1 (one caller: no wrapper by
 * itself), is one when x1 then is (three callers, sizes that vary) and x1
 * passes at least 90% of what it allocates through do_x; the sites are
 * x1's callers. x1 with two callers, or with 11% of its allocations made
 * directly, and do_x stays the site. */
static void chain(int callers, uint64_t through, uint64_t direct)
{
	static const char *const at[] = { "c1@10", "c2@20", "c3@30" };
	for (int i = 0; i < callers; i++)
		add(through / (uint64_t)callers, 16 * (uint64_t)(i + 1),
		    16 * (uint64_t)(i + 1), "do_x@5", "x1@3", at[i], "main@1",
		    (char *)NULL);
	if (direct)
		add(direct, 8, 8, "x1@4", "c1@11", "main@1", (char *)NULL);
}

static void test_wrapper_chain(void **state)
{
	(void)state;
	chain(3, 300, 0);
	apply(NULL);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(site_of(i), i == 0 ? "c1" : i == 1 ? "c2" : "c3");
		assert_string_equal(stacks[i].via, "x1");
		assert_int_equal(stacks[i].nskipped, 3); /* malloc, do_x, x1 */
	}
	reset();
	chain(2, 300, 0); /* x1 with two callers: no wrapper, nor do_x */
	apply(NULL);
	assert_string_equal(site_of(0), "do_x");
	assert_null(stacks[0].via);
	reset();
	chain(3, 90, 10); /* 90 of x1's 100 through do_x: inside */
	apply(NULL);
	assert_string_equal(site_of(0), "c1");
	assert_string_equal(site_of(3), "c1"); /* x1's own call: x1 is a wrapper */
	reset();
	chain(3, 90, 11); /* 90 of 101: outside */
	apply(NULL);
	assert_string_equal(site_of(0), "do_x");
	reset();
	/* (a link whose caller wraps only as a named wrapper's internals is
	 * no chain: test_wrapper_internals, mem_malloc three frames down) */
}

/* Fixed rules: runtime frames and std:: code are skipped, never named as
 * "via"; known names need no structure unless --no-auto-wrappers;
 * --wrapper adds names. */
static void test_fixed_rules(void **state)
{
	(void)state;
	an_stack *st = add(5, 8, 8, "std::vector<int>::_M_realloc_insert@9",
			   "fill@12", "main@1", (char *)NULL);
	frames[st - stacks][0].function = "operator new(unsigned long)";
	frames[st - stacks][0].module = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
	add(5, 8, 8, "xmalloc@4", "only_caller@8", "main@1", (char *)NULL);
	add(5, 8, 8, "my_alloc@4", "user@8", "main@1", (char *)NULL);
	apply(NULL);
	assert_string_equal(site_of(0), "fill");
	assert_null(stacks[0].via); /* std:: is the runtime */
	assert_string_equal(site_of(1), "only_caller");
	assert_string_equal(stacks[1].via, "xmalloc");
	assert_string_equal(site_of(2), "my_alloc");

	const char *res[] = { "^my_alloc$" };
	an_opts user = { .wrappers = res, .nwrappers = 1 };
	apply(&user);
	assert_string_equal(site_of(2), "user");
	assert_string_equal(stacks[2].via, "my_alloc");

	an_opts no_auto = { .no_auto_wrappers = 1 };
	apply(&no_auto);
	assert_string_equal(site_of(0), "fill"); /* still the runtime */
	assert_string_equal(site_of(1), "xmalloc");
	reset();

	/* no structural rule either */
	wrapper_with_callers(4);
	apply(&no_auto);
	for (size_t i = 0; i < nstacks; i++)
		assert_string_equal(site_of(i), "W");
	reset();

	const char *bad[] = { "([" };
	an_opts broken = { .wrappers = bad, .nwrappers = 1 };
	assert_null(wrappers_new(&broken));
}

/* Every frame a wrapper: the innermost frame is the site. */
static void test_all_runtime(void **state)
{
	(void)state;
	an_stack *st = add(5, 8, 8, (char *)NULL);
	apply(NULL);
	assert_string_equal(site_of(0), "malloc");
	assert_int_equal(st->nskipped, 0);
	reset();
}

/* A function counts once per stack in what passes through it, however
 * often the stack passes it: W, the site of every allocation, called
 * from three places with different sizes, each of which W itself called
 * three frames further up (a callback; not so close that the callers
 * would be W's internals): W is still a wrapper (100% of what passes W
 * has W as the site, not 50%). */
static void test_recursion_counts_once(void **state)
{
	(void)state;
	add(100, 16, 16, "W@5", "c1@10", "m1@11", "m2@12", "W@8", "main@1",
	    (char *)NULL);
	add(100, 32, 32, "W@5", "c2@20", "m1@11", "m2@12", "W@8", "main@1",
	    (char *)NULL);
	add(100, 48, 48, "W@5", "c3@30", "m1@11", "m2@12", "W@8", "main@1",
	    (char *)NULL);
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++) {
		assert_string_equal(site_of(i), i == 0 ? "c1" : i == 1 ? "c2" : "c3");
		assert_string_equal(stacks[i].via, "W");
	}
	reset();
}

/* A chain link at exactly the site share: do_x is the site of 90 of the
 * 100 allocations that pass through it (10 more come from Y, which do_x
 * calls); x1 passes 90 of its 100 through do_x and has three callers:
 * the chain holds, x1's callers are the sites. */
static void test_chain_link_share_edge(void **state)
{
	(void)state;
	chain(3, 90, 0);
	add(10, 100, 100, "Y@7", "do_x@6", "x1@3", "c1@10", "main@1",
	    (char *)NULL);
	apply(NULL);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(site_of(i), i == 0 ? "c1" : i == 1 ? "c2" : "c3");
		assert_string_equal(stacks[i].via, "x1");
	}
	reset();
}

/* A link has fewer callers than a wrapper needs (3): ctor, called from
 * g, h and k with the same sizes each (16 and 32: no wrapper, one type's
 * constructor), is no link even though g, called from three places with
 * sizes of their own, would be a wrapper over it. ctor stays the site. */
static void test_link_needs_few_callers(void **state)
{
	(void)state;
	add(10, 16, 16, "ctor@5", "g@1", "e1@10", "main@1", (char *)NULL);
	add(10, 32, 32, "ctor@5", "g@1", "e2@20", "main@1", (char *)NULL);
	add(10, 16, 16, "ctor@5", "g@1", "e3@30", "main@1", (char *)NULL);
	add(10, 16, 16, "ctor@5", "h@2", "main@2", (char *)NULL);
	add(10, 32, 32, "ctor@5", "h@2", "main@3", (char *)NULL);
	add(10, 16, 16, "ctor@5", "k@3", "main@4", (char *)NULL);
	add(10, 32, 32, "ctor@5", "k@3", "main@5", (char *)NULL);
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++) {
		assert_string_equal(site_of(i), "ctor");
		assert_null(stacks[i].via);
	}
	reset();
}

/* A link may call the allocator from up to 3 places (as a wrapper may):
 * do_x calls it from three lines, x1 is its one caller; the chain holds. */
static void test_link_with_three_calls(void **state)
{
	(void)state;
	add(100, 16, 16, "do_x@5", "x1@3", "c1@10", "main@1", (char *)NULL);
	add(100, 32, 32, "do_x@6", "x1@3", "c2@20", "main@1", (char *)NULL);
	add(100, 48, 48, "do_x@7", "x1@3", "c3@30", "main@1", (char *)NULL);
	apply(NULL);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(site_of(i), i == 0 ? "c1" : i == 1 ? "c2" : "c3");
		assert_string_equal(stacks[i].via, "x1");
		assert_int_equal(stacks[i].nskipped, 3); /* malloc, do_x, x1 */
	}
	reset();
}

/* The first known name (operator new and delete) is a wrapper by name in
 * any module: an application's own operator new is skipped like the
 * runtime's, and named as "via" (it is not the runtime's). */
static void test_first_known_name(void **state)
{
	(void)state;
	add(5, 8, 8, "operator new(unsigned long)@4", "make_obj@8", "main@1",
	    (char *)NULL);
	apply(NULL);
	assert_string_equal(site_of(0), "make_obj");
	assert_string_equal(stacks[0].via, "operator new(unsigned long)");
	reset();
}

/* A tower of `levels` levels, innermost first. Level i is the wrapper
 * L_i, called by the next level up and from two places of its own (a_i,
 * b_i), the top level from three (a_n, b_n, c_n); every stack a size of
 * its own. Without links, each round of the structural rule reveals one
 * more level. With links, L_i is a chain link: its one caller is X_i,
 * which a_i, b_i and L_(i+1) call; each chain is revealed only when the
 * one under it is kept, one chain round each. */
static void tower(unsigned levels, int links)
{
	char names[24][16];
	const char *path[24];
	unsigned depth = 0;
	uint64_t size = 8;
	for (unsigned i = 1; i <= levels; i++) {
		snprintf(names[depth], sizeof names[0], "L%u@%u", i, i);
		path[depth] = names[depth];
		depth++;
		if (links) {
			snprintf(names[depth], sizeof names[0], "X%u@%u", i, 50 + i);
			path[depth] = names[depth];
			depth++;
		}
		for (int c = 0; c < (i == levels ? 3 : 2); c++) {
			char caller[16];
			snprintf(caller, sizeof caller, "%c%u@%u", "abc"[c], i,
				 100 + i);
			path[depth] = caller;
			path[depth + 1] = "main@1";
			add_frames(10, size, size, path, depth + 2);
			size += 8;
		}
	}
}

/* The rounds are bounded (16, then one more where the chain step
 * recounts): a tower of 17 wrappers is found whole, its top one's
 * callers are the sites; of 18, the top one stays a site. */
static void test_round_limit(void **state)
{
	(void)state;
	tower(17, 0);
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_true(site_of(i)[0] == 'a' || site_of(i)[0] == 'b' ||
			    site_of(i)[0] == 'c');
	assert_string_equal(stacks[nstacks - 1].via, "L17");
	assert_string_equal(site_of(nstacks - 1), "c17");
	reset();
	tower(18, 0);
	apply(NULL);
	for (size_t i = 0; i < nstacks - 3; i++)
		assert_true(site_of(i)[0] == 'a' || site_of(i)[0] == 'b');
	for (size_t i = nstacks - 3; i < nstacks; i++) {
		assert_string_equal(site_of(i), "L18");
		assert_string_equal(stacks[i].via, "L17");
	}
	reset();
}

/* Code from the C++ library's headers (a file under /usr/include/c++/,
 * inlined into the application's module, its name not std::) is skipped
 * like the runtime and never named as "via". */
static void test_cxx_header_frames(void **state)
{
	(void)state;
	an_stack *st = add(5, 8, 8, "grow_storage@9", "fill@12", "main@1",
			   (char *)NULL);
	frames[st - stacks][1].file = "/usr/include/c++/12/bits/vector.tcc";
	apply(NULL);
	assert_string_equal(site_of(0), "fill");
	assert_int_equal(st->nskipped, 2); /* malloc, grow_storage */
	assert_null(st->via);
	reset();
}

/* The chain rounds are bounded (8): a tower of 8 chains is found whole,
 * of 9 the top link stays a site. */
static void test_chain_round_limit(void **state)
{
	(void)state;
	tower(8, 1);
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_true(site_of(i)[0] == 'a' || site_of(i)[0] == 'b' ||
			    site_of(i)[0] == 'c');
	assert_string_equal(site_of(nstacks - 1), "c8");
	assert_string_equal(stacks[nstacks - 1].via, "X8");
	reset();
	tower(9, 1);
	apply(NULL);
	for (size_t i = 0; i < nstacks - 3; i++)
		assert_true(site_of(i)[0] == 'a' || site_of(i)[0] == 'b');
	for (size_t i = nstacks - 3; i < nstacks; i++)
		assert_string_equal(site_of(i), "L9");
	reset();
}

/* Each test starts with no stacks, even after one that failed. */
/* The preload's site candidates: from the first frame past malloc. */
static const pf_stack watched = { .cand_start = 1, .cand_count = 4 };

/* W (a wrapper by the structural rule: three callers, three sizes) whose
 * blocks are freed 100 per stack, all checked, inside[c] of them (all
 * stacks together) while candidate c was the innermost one still
 * running (c = 0 is W, c = 1 its caller), the rest with none running. W is inlined into its callers when
 * `inlined` (one return address for both). */
static void owned_blocks(const uint64_t inside[2], int inlined)
{
	static const char *const callers[] = { "c1@10", "c2@20", "c3@30" };
	for (int i = 0; i < 3; i++) {
		an_stack *st = add(100, 16 * (uint64_t)(i + 1),
				   16 * (uint64_t)(i + 1), "W@5", callers[i],
				   "main@1", (char *)NULL);
		st->stack = &watched;
		st->frees = 100;
		for (int c = 0; c < 2; c++)
			st->inner_frees[c] = inside[c] / 3 + (i < (int)(inside[c] % 3));
		/* every free checked: the rest with none running */
		st->inner_frees[4] = 100 - st->inner_frees[0] - st->inner_frees[1];
		if (inlined) {
			an_frame *w = (an_frame *)st->all[1];
			an_frame *caller = (an_frame *)st->all[2];
			w->inlined = 1;
			caller->ip_index = w->ip_index;
			for (unsigned k = 3; k < st->nall; k++)
				((an_frame *)st->all[k])->ip_index--;
		}
	}
}

/* A function whose blocks die while it still runs (half of its frees or
 * more) uses them itself: it is the site, never a wrapper of its
 * callers; just under half, the structural rule stands. Frees while only
 * its caller ran, or while it ran inlined into its caller (whose frame it
 * is then), say nothing about it. */
static void test_owned_blocks(void **state)
{
	(void)state;
	owned_blocks((const uint64_t[2]){ 150, 0 }, 0); /* 150 of 300 */
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_string_equal(site_of(i), "W");
	reset();
	owned_blocks((const uint64_t[2]){ 149, 0 }, 0);
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++) {
		assert_string_not_equal(site_of(i), "W");
		assert_string_equal(stacks[i].via, "W");
	}
	reset();
	owned_blocks((const uint64_t[2]){ 0, 300 }, 0); /* the callers' */
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_string_equal(stacks[i].via, "W");
	reset();
	owned_blocks((const uint64_t[2]){ 300, 0 }, 1); /* inlined */
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_string_equal(stacks[i].via, "W");
	reset();
	/* a free while a function it called still ran is made inside it
	 * too: W under xmalloc (a wrapper by name) */
	static const char *const callers[] = { "c1@10", "c2@20", "c3@30" };
	for (int i = 0; i < 3; i++) {
		an_stack *st = add(100, 8 + (uint64_t)i, 8 + (uint64_t)i,
				   "xmalloc@2", "W@5", callers[i], "main@1",
				   (char *)NULL);
		st->stack = &watched;
		st->frees = 100;
		st->inner_frees[0] = 100;
	}
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_string_equal(site_of(i), "W");
	reset();
	/* with no candidates watched (a version 5 file), no evidence */
	owned_blocks((const uint64_t[2]){ 300, 0 }, 0);
	for (size_t i = 0; i < nstacks; i++)
		stacks[i].stack = NULL;
	apply(NULL);
	for (size_t i = 0; i < nstacks; i++)
		assert_string_equal(stacks[i].via, "W");
	reset();
}

static int fresh(void **state)
{
	(void)state;
	reset();
	return 0;
}

/* Sets frame k (1 = innermost after malloc) of stack st to a name too
 * long for add()'s "function@line". */
static void rename_frame(an_stack *st, unsigned k, const char *name)
{
	an_frame *f = &frames[st - stacks][k];
	free((char *)f->function);
	f->function = xstrdup(name);
}

/* Sets frame k (1 = innermost after malloc) of stack st to what the
 * symbolizer makes of ELF symbol sym (sym_demangle): its name, and
 * whether it is Rust's standard library. */
static void symbol_frame(an_stack *st, unsigned k, const char *sym)
{
	an_frame *f = &frames[st - stacks][k];
	int runtime;
	free((char *)f->function);
	f->function = sym_demangle(sym, &runtime);
	f->runtime = (unsigned char)runtime;
}

/* What readers see of a symbol: Rust names, legacy (each ending in a
 * hash, with a .llvm. suffix or not) and v0, demangled without their
 * hash; C++ names demangled; anything else as it is. The standard
 * library's are the runtime: paths rooted at alloc, core, std and the
 * __rustc shims; an inherent impl of their types; their traits for
 * their types or for a type of no crate. Not a program's functions, its
 * types in std's traits, std's types in its traits, nor C++'s core::. */
static void test_rust_demangle(void **state)
{
	(void)state;
	static const struct {
		const char *sym, *name;
		int runtime;
	} cases[] = {
		{ "_ZN5alloc7raw_vec11finish_grow17h29670bc8d8346527E.llvm.12147610521193969065",
		  "alloc::raw_vec::finish_grow", 1 },
		{ "_ZN5alloc3fmt6format12format_inner17h1cd6946385d11318E",
		  "alloc::fmt::format::format_inner", 1 },
		{ "_ZN50_$LT$$RF$mut$u20$W$u20$as$u20$core..fmt..Write$GT$9write_str17h1da1ffe75c121031E",
		  "<&mut W as core::fmt::Write>::write_str", 1 },
		{ "_ZN8rust_std10build_list17h0123456789abcdefE",
		  "rust_std::build_list", 0 },
		{ "_ZN9alloc_ext4grow17h0123456789abcdefE", "alloc_ext::grow", 0 },
		{ "_RNvCs1234_4stdx4grow", "stdx::grow", 0 },
		{ "_ZN70_$LT$$RF$mut$u20$alloc..string..String$u20$as$u20$core..fmt..Write$GT$9write_str17h0123456789abcdefE",
		  "<&mut alloc::string::String as core::fmt::Write>::write_str", 1 },
		{ "_ZN57_$LT$$RF$mut$u20$app..Log$u20$as$u20$core..fmt..Write$GT$9write_str17h0123456789abcdefE",
		  "<&mut app::Log as core::fmt::Write>::write_str", 0 },
		{ "_ZN47_$LT$app..Foo$u20$as$u20$core..clone..Clone$GT$5clone17h0123456789abcdefE",
		  "<app::Foo as core::clone::Clone>::clone", 0 },
		{ "_ZN49_$LT$$RF$app..Foo$u20$as$u20$core..fmt..Debug$GT$3fmt17h0123456789abcdefE",
		  "<&app::Foo as core::fmt::Debug>::fmt", 0 },
		{ "_ZN55_$LT$alloc..vec..Vec$LT$T$GT$$u20$as$u20$app..Trait$GT$1f17h0123456789abcdefE",
		  "<alloc::vec::Vec<T> as app::Trait>::f", 0 },
		{ "_RNvCsaAtC9ulHmL7_8rust_std10build_list", "rust_std::build_list", 0 },
		{ "_RNvCsfLfy6EI15iL_7___rustc12___rust_alloc",
		  "__rustc::__rust_alloc", 1 },
		{ "_RNvMs3_NtCslNYArtu3iFV_5alloc7raw_vecINtB5_6RawVecINtNtB7_3vec3VechEE8grow_oneCsjrHSEGnQ3l9_3std",
		  "<alloc::raw_vec::RawVec<alloc::vec::Vec<u8>>>::grow_one", 1 },
		{ "_RINvXs_NvMNtCslNYArtu3iFV_5alloc5sliceSp9to_vec_inhNtB5_10ConvertVec6to_vecNtNtBa_5alloc6GlobalECsjrHSEGnQ3l9_3std",
		  "<u8 as <[_]>::to_vec_in::ConvertVec>::to_vec::<alloc::alloc::Global>", 1 },
		{ "_RINvNtCsgEmfK2I1SDS_4core4hint9black_boxNtCs6xxl1lAjzDf_1a3FooEBE_",
		  "core::hint::black_box::<a::Foo>", 1 },
		/* v0 trait impls: the crate of the impl, not the type */
		{ "_RNvXs_Cs6xxl1lAjzDf_1aNtB4_3FooNtNtCsgEmfK2I1SDS_4core5clone5Clone5cloneB4_",
		  "<a::Foo as core::clone::Clone>::clone", 0 },
		{ "_RNvXs1g_NtCsgEmfK2I1SDS_4core3fmtRNtCs6xxl1lAjzDf_1a3FooNtB6_5Debug3fmtBy_",
		  "<&a::Foo as core::fmt::Debug>::fmt", 1 },
		/* v0 default methods: by the trait's path */
		{ "_RNvYNtCs6xxl1lAjzDf_1a3FooNtB4_4Make4makeB4_",
		  "<a::Foo as a::Make>::make", 0 },
		{ "_RNvYNtCs6xxl1lAjzDf_1a3FooNtNtCsgEmfK2I1SDS_4core4iter8Iterator7collectB4_",
		  "<a::Foo as core::iter::Iterator>::collect", 1 },
		{ "_ZN4core6Buffer4growEm", "core::Buffer::grow(unsigned long)", 0 },
		{ "_ZNSt6vectorIiSaIiEE9push_backERKi",
		  "std::vector<int, std::allocator<int> >::push_back(int const&)", 0 },
		{ "malloc", "malloc", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int runtime = -1;
		char *d = sym_demangle(cases[i].sym, &runtime);
		assert_string_equal(d, cases[i].name);
		if (runtime != cases[i].runtime)
			fail_msg("%s: runtime %d, expected %d", cases[i].name,
				 runtime, cases[i].runtime);
		free(d);
	}
	int runtime = -1;
	assert_null(sym_demangle(NULL, &runtime));
	assert_int_equal(runtime, 0);
}

/* Rust's standard library is the runtime, as std:: is for C++: Vec
 * growth (finish_grow < grow_one), format! (format_inner), a trait impl
 * of std's, the allocator shims and code inlined from
 * /rustc/<commit>/library/ are skipped and never named "via"; the
 * program's own functions, a C++ namespace core::, a Rust impl of a
 * program's type and one using std:: in its name are sites. */
static void test_rust_runtime(void **state)
{
	(void)state;
	an_stack *vec = add(300, 32, 128, "finish@1", "grow@2", "build_list@3",
			    "main@1", (char *)NULL);
	symbol_frame(vec, 1, "_ZN5alloc7raw_vec11finish_grow17h29670bc8d8346527E.llvm.12147610521193969065");
	symbol_frame(vec, 2, "_RNvMs3_NtCslNYArtu3iFV_5alloc7raw_vecINtB5_6RawVecINtNtB7_3vec3VechEE8grow_oneCsjrHSEGnQ3l9_3std");
	an_stack *fmt = add(100, 7, 12, "fmt@1", "make_name@4", "main@2",
			    (char *)NULL);
	symbol_frame(fmt, 1, "_ZN5alloc3fmt6format12format_inner17h1cd6946385d11318E");
	an_stack *impl = add(100, 24, 24, "to_vec@1", "copy_name@5", "main@3",
			     (char *)NULL);
	symbol_frame(impl, 1, "_RINvXs_NvMNtCslNYArtu3iFV_5alloc5sliceSp9to_vec_inhNtB5_10ConvertVec6to_vecNtNtBa_5alloc6GlobalECsjrHSEGnQ3l9_3std");
	an_stack *shim = add(100, 48, 48, "__rust_alloc@1", "make_box@6",
			     "main@4", (char *)NULL);
	an_stack *inl = add(100, 16, 16, "grow_inline@9", "fill@7", "main@5",
			    (char *)NULL);
	frames[inl - stacks][1].file = "/rustc/59807616e/library/alloc/src/raw_vec.rs";
	an_stack *cxx = add(100, 64, 64, "grow@1", "user@8", "main@6",
			    (char *)NULL);
	symbol_frame(cxx, 1, "_ZN4core6Buffer4growEm");
	an_stack *own = add(100, 40, 40, "clone@1", "dup@9", "main@7",
			    (char *)NULL);
	symbol_frame(own, 1, "_ZN47_$LT$app..Foo$u20$as$u20$core..clone..Clone$GT$5clone17h0123456789abcdefE");
	an_stack *as_std = add(100, 56, 56, "write@1", "save@10", "main@8",
			       (char *)NULL);
	rename_frame(as_std, 1, "<app::Log as std::io::Write>::write");
	apply(NULL);
	assert_string_equal(site_of(0), "build_list");
	assert_int_equal(vec->nskipped, 3); /* malloc, finish_grow, grow_one */
	assert_null(vec->via);
	assert_string_equal(site_of(1), "make_name");
	assert_null(fmt->via);
	assert_string_equal(site_of(2), "copy_name");
	assert_null(impl->via);
	assert_string_equal(site_of(3), "make_box");
	assert_null(shim->via);
	assert_string_equal(site_of(4), "fill");
	assert_null(inl->via);
	assert_string_equal(site_of(5), "core::Buffer::grow(unsigned long)");
	assert_string_equal(site_of(6), "<app::Foo as core::clone::Clone>::clone");
	assert_string_equal(site_of(7), "<app::Log as std::io::Write>::write");
	reset();
}

/* A caller's size range is the union of its stacks': c1 calls new_item
 * from one line on two paths (from main and from other), 48 B on one,
 * 64 B on the other; c2 and c3 ask 48..64 B in one stack each. All three
 * callers then ask 48..64: one type's sizes, no wrapper. Had c1 kept the
 * first stack's largest size (48), the sizes would vary. Smallest sizes
 * likewise: c1 48 and 32 merged to 32..48, as c2's and c3's. */
static void test_caller_sizes_merge(void **state)
{
	(void)state;
	/* c1's two stacks, then c2's and c3's: {size_min, size_max} */
	static const uint64_t sizes[2][4][2] = {
		{ { 48, 48 }, { 64, 64 }, { 48, 64 }, { 48, 64 } },
		{ { 48, 48 }, { 32, 32 }, { 32, 48 }, { 32, 48 } },
	};
	for (int c = 0; c < 2; c++) {
		const uint64_t (*z)[2] = sizes[c];
		add(100, z[0][0], z[0][1], "new_item@3", "c1@10", "main@1",
		    (char *)NULL);
		add(100, z[1][0], z[1][1], "new_item@3", "c1@10", "other@2",
		    "main@1", (char *)NULL);
		add(100, z[2][0], z[2][1], "new_item@3", "c2@20", "main@1",
		    (char *)NULL);
		add(100, z[3][0], z[3][1], "new_item@3", "c3@30", "main@1",
		    (char *)NULL);
		apply(NULL);
		for (size_t i = 0; i < nstacks; i++)
			assert_string_equal(site_of(i), "new_item");
		reset();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_callers_threshold, fresh),
		cmocka_unit_test_setup(test_calls_threshold, fresh),
		cmocka_unit_test_setup(test_sizes_vary, fresh),
		cmocka_unit_test_setup(test_site_share_threshold, fresh),
		cmocka_unit_test_setup(test_nested, fresh),
		cmocka_unit_test_setup(test_wrapper_chain, fresh),
		cmocka_unit_test_setup(test_wrapper_internals, fresh),
		cmocka_unit_test_setup(test_fixed_rules, fresh),
		cmocka_unit_test_setup(test_all_runtime, fresh),
		cmocka_unit_test_setup(test_owned_blocks, fresh),
		cmocka_unit_test_setup(test_recursion_counts_once, fresh),
		cmocka_unit_test_setup(test_chain_link_share_edge, fresh),
		cmocka_unit_test_setup(test_link_needs_few_callers, fresh),
		cmocka_unit_test_setup(test_link_with_three_calls, fresh),
		cmocka_unit_test_setup(test_first_known_name, fresh),
		cmocka_unit_test_setup(test_round_limit, fresh),
		cmocka_unit_test_setup(test_cxx_header_frames, fresh),
		cmocka_unit_test_setup(test_chain_round_limit, fresh),
		cmocka_unit_test_setup(test_rust_demangle, fresh),
		cmocka_unit_test_setup(test_rust_runtime, fresh),
		cmocka_unit_test_setup(test_caller_sizes_merge, fresh),
	};
	return cmocka_run_group_tests_name("wrapper rules", tests, NULL, NULL);
}
