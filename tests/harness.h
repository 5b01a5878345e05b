/* harness.h - helpers for the cmocka tests that run programs under
 * `poolscout record` and inspect the profiles through the analysis API. */
#ifndef POOLSCOUT_TEST_HARNESS_H
#define POOLSCOUT_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "ranking.h"

/* Skips the current cmocka test loudly: prints "SKIP name: reason" (the
 * line tests/run.sh lists, and fails on under CI=true), then skip().
 * Use it instead of a bare skip(), which run.sh treats as a failure. */
#define skip_because(name, ...)                                          \
	do {                                                             \
		printf("SKIP %s: ", name);                               \
		printf(__VA_ARGS__);                                     \
		printf("\n");                                            \
		fflush(stdout);                                          \
		skip();                                                  \
	} while (0)

/* The build directory (POOLSCOUT_BUILD, default "build"). */
const char *build_dir(void);
/* A fresh empty directory under $TMPDIR; the caller frees the string. */
char *fresh_dir(const char *tag);
/* Runs a shell command; returns its exit status (or -1). */
int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Loads every profile in dir (matching glob pattern, NULL: *.pscout)
 * into a; returns the number of files. */
int load_dir(analysis *a, const char *dir, const char *pattern);

struct site_sum {
	uint64_t allocs, alloc_bytes, frees, xfrees, inuse, peak_live,
		realloc_grows, sites;
};
/* Sums every site whose function is fn. */
struct site_sum sum_function(const analysis *a, const char *fn);
/* The one site whose function is fn; fails the test when there is none
 * or more than one. */
const an_site *only_site(const analysis *a, const char *fn);
/* Frees a, removes the directory dir and frees its name. */
void done(analysis *a, char *dir);
/* Allocations from function fn made by thread tid of file f. */
uint64_t thread_function_allocs(const analysis *a, const pf_file *f,
				uint32_t tid, const char *fn);

#endif
