/* harness.c - see harness.h. */
#define _GNU_SOURCE
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "memory.h"

const char *build_dir(void)
{
	const char *b = getenv("POOLSCOUT_BUILD");
	return b ? b : "build";
}

char *fresh_dir(const char *tag)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *d = xasprintf("%s/poolscout-test-%s-XXXXXX", tmp, tag);
	if (!mkdtemp(d)) {
		perror("mkdtemp");
		exit(1);
	}
	return d;
}

int run(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		exit(1);
	va_end(ap);
	int st = system(cmd);
	free(cmd);
	return st < 0 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int load_dir(analysis *a, const char *dir, const char *pattern)
{
	char *pat = xasprintf("%s/%s", dir, pattern ? pattern : "*.pscout");
	glob_t g;
	memset(&g, 0, sizeof g);
	glob(pat, 0, NULL, &g);
	free(pat);
	int n = (int)g.gl_pathc;
	if (!n || analysis_load(a, g.gl_pathv, n, NULL))
		n = -1;
	/* the analysis keeps its own copies of the paths */
	globfree(&g);
	return n;
}

struct site_sum sum_function(const analysis *a, const char *fn)
{
	struct site_sum s = { 0 };
	for (size_t i = 0; i < a->nsites; i++) {
		const an_site *site = &a->sites[i];
		if (strcmp(site->where.function, fn))
			continue;
		s.allocs += site->allocs;
		s.alloc_bytes += site->alloc_bytes;
		s.frees += site->frees;
		s.xfrees += site->xfrees;
		s.inuse += site->inuse_objects;
		s.peak_live += site->peak.hi;
		s.realloc_grows += site->realloc_grows;
		s.sites++;
	}
	return s;
}

uint64_t thread_function_allocs(const analysis *a, const pf_file *f,
				uint32_t tid, const char *fn)
{
	uint64_t n = 0;
	for (size_t i = 0; i < a->nstacks; i++) {
		const an_stack *st = &a->stacks[i];
		if (st->file != f || strcmp(a->sites[st->site].where.function, fn))
			continue;
		for (size_t t = 0; t < f->nthreads; t++) {
			const pf_thread *th = f->threads[t];
			if (!th || th->tid != tid)
				continue;
			const pf_entry *e = pf_entry_find(f, th->index,
							  st->stack->id);
			if (e)
				n += e->allocs;
		}
	}
	return n;
}

const an_site *only_site(const analysis *a, const char *fn)
{
	const an_site *found = NULL;
	for (size_t i = 0; i < a->nsites; i++) {
		if (strcmp(a->sites[i].where.function, fn))
			continue;
		if (found)
			fail_msg("two sites named %s", fn);
		found = &a->sites[i];
	}
	if (!found)
		fail_msg("no site named %s", fn);
	return found;
}

void done(analysis *a, char *dir)
{
	analysis_free(a);
	run("rm -rf %s", dir);
	free(dir);
}
