/* top.c - `poolscout top`: pprof's -top for the four heap sample kinds.
 *
 * Each stack carries four values: alloc_objects, alloc_space (everything
 * allocated), inuse_objects, inuse_space (what was still live at the end).
 * flat charges a stack's value to its site (the first frame after the
 * allocator wrappers, which pprof also drops); cum charges it once to
 * every function (or line, with --lines) on the stack. Rows sort by flat,
 * or by cum with --cum, and show percentages of the total and a running
 * sum, as `pprof -top` does. The exports feed the same stacks to pprof,
 * so `go tool pprof -top` shows the same numbers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "memory.h"
#include "present.h"
#include "units.h"
#include "uthash.h"

#define DEFAULT_ROWS 20

struct row {
	char *key;
	const an_frame *frame;
	uint64_t flat, cum;
	double flat_var, cum_var; /* sampled: variances of the estimates */
	size_t last_stack; /* stack that last added to cum (count once) */
	UT_hash_handle hh;
};

/* The row of frame f: its function; with --lines its function and line,
 * or without a line its call address, the place frame_label() names (one
 * row per call, as report keeps one site per call: a row summing every
 * call of the function would name one address and count them all). */
static struct row *row_for(struct row **rows, const an_frame *f, int lines)
{
	char *key = !lines  ? xstrdup(f->function)
		    : f->file ? xasprintf("%s\t%s:%u", f->function, f->file,
					  f->line)
			      : xasprintf("%s\t%s+0x%llx", f->function,
					  f->module ? f->module : "?",
					  (unsigned long long)f->offset);
	struct row *r;
	HASH_FIND_STR(*rows, key, r);
	if (r) {
		free(key);
		return r;
	}
	r = xcalloc(1, sizeof *r);
	r->key = key;
	r->frame = f;
	r->last_stack = (size_t)-1;
	HASH_ADD_KEYPTR(hh, *rows, r->key, strlen(r->key), r);
	return r;
}

static int sort_cum;

static int by_value(const void *pa, const void *pb)
{
	const struct row *a = *(struct row *const *)pa;
	const struct row *b = *(struct row *const *)pb;
	uint64_t va = sort_cum ? a->cum : a->flat, vb = sort_cum ? b->cum : b->flat;
	if (va != vb)
		return va < vb ? 1 : -1;
	uint64_t wa = sort_cum ? a->flat : a->cum, wb = sort_cum ? b->flat : b->cum;
	if (wa != wb)
		return wa < wb ? 1 : -1;
	return strcmp(a->key, b->key);
}

static const char *fmt_value(char *buf, double v, const char *index)
{
	return strstr(index, "space") ? fmt_bytes(buf, v) : fmt_count(buf, v);
}

/* Sampled 1 in k: the variance of a stack's estimate v. Each block is
 * recorded with probability 1/k, so a count estimate k n has variance
 * n k^2 (1 - 1/k) = v (k - 1); a byte estimate, with the stack's mean
 * block size m standing for each block's, v m (k - 1). A realloc chain
 * is recorded whole or not at all: the stack's allocs_var / allocs
 * (model.h) says how much more its steps make it vary. */
static double stack_variance(const an_stack *st, const char *index,
			     uint64_t v, uint32_t k)
{
	if (k <= 1 || !v)
		return 0;
	double m = 1;
	if (!strcmp(index, "alloc_space") && st->allocs)
		m = (double)st->alloc_bytes / (double)st->allocs;
	else if (!strcmp(index, "inuse_space") && st->allocs > st->frees)
		m = (double)(st->alloc_bytes - st->free_bytes) /
		    (double)(st->allocs - st->frees);
	double chains = st->allocs && st->allocs_var > (double)st->allocs
				? st->allocs_var / (double)st->allocs
				: 1;
	return (double)v * m * (double)(k - 1) * chains;
}

/* The 95% half-width of an estimate of variance var. */
static double error95(double var)
{
	return AN_Z95 * sqrt(var);
}

int cmd_top(int argc, char **argv)
{
	view_opts o = { 0 };
	int rc = view_opts_parse(&o, argc, argv, "top", VIEW_TOP_FLAGS);
	if (rc)
		return rc;
	const char *index = o.sample_index ? o.sample_index : "alloc_objects";
	analysis a;
	o.model.stream = 1;
	rc = analysis_load(&a, o.files, o.nfiles, &o.model);
	if (rc) {
		analysis_free(&a);
		return rc;
	}
	struct row *rows = NULL;
	uint64_t total = 0;
	for (size_t i = 0; i < a.nstacks; i++) {
		const an_stack *st = &a.stacks[i];
		uint64_t v = stack_value(st, index);
		double var = stack_variance(st, index, v, a.sample_every);
		total += v;
		struct row *site = row_for(&rows, st->frames[0], o.lines);
		site->flat += v;
		site->flat_var += var;
		for (unsigned k = 0; k < st->nframes; k++) {
			struct row *r = row_for(&rows, st->frames[k], o.lines);
			if (r->last_stack != i) {
				r->cum += v;
				r->cum_var += var;
				r->last_stack = i;
			}
		}
	}
	size_t n = HASH_COUNT(rows), i = 0;
	struct row **sorted = xcalloc(n ? n : 1, sizeof *sorted);
	struct row *r, *tmp;
	HASH_ITER(hh, rows, r, tmp) sorted[i++] = r;
	sort_cum = o.cum;
	qsort(sorted, n, sizeof *sorted, by_value);
	size_t limit = o.limit ? (size_t)o.limit : (o.json ? n : DEFAULT_ROWS);
	if (limit > n)
		limit = n;
	double pct = total ? 100.0 / (double)total : 0, sum = 0;

	if (o.json) {
		json j;
		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		json_str(&j, "sample_index", index);
		json_u64(&j, "total", total);
		json_bool(&j, "partial", a.partial);
		json_u64(&j, "sample_every", a.sample_every);
		json_begin_array(&j, "rows");
		for (i = 0; i < limit; i++) {
			r = sorted[i];
			sum += (double)r->flat;
			json_begin_object(&j, NULL);
			json_str(&j, "function", r->frame->function);
			if (o.lines) {
				json_str(&j, "file", r->frame->file ? r->frame->file
								    : "");
				json_u64(&j, "line", r->frame->line);
			}
			json_u64(&j, "flat", r->flat);
			json_double(&j, "flat_pct", (double)r->flat * pct);
			json_double(&j, "sum_pct", sum * pct);
			json_u64(&j, "cum", r->cum);
			json_double(&j, "cum_pct", (double)r->cum * pct);
			if (a.sample_every > 1) {
				json_double(&j, "flat_error95", error95(r->flat_var));
				json_double(&j, "cum_error95", error95(r->cum_var));
			}
			json_end_object(&j);
		}
		json_end_array(&j);
		json_end_object(&j);
		json_finish(&j);
	} else {
		char b1[32], b2[32], fitted[128];
		uint64_t shown = 0;
		for (i = 0; i < limit; i++)
			shown += sorted[i]->flat;
		report_header(&a, stdout);
		printf("Showing %s: %s of %s total (%.2f%%), %zu of %zu rows\n",
		       index, fmt_value(b1, (double)shown, index),
		       fmt_value(b2, (double)total, index), (double)shown * pct,
		       limit, n);
		int sampled = a.sample_every > 1;
		printf("%10s %s%6s %6s %10s %6s  %s\n", "flat",
		       sampled ? "  +-95% " : "", "flat%", "sum%", "cum", "cum%",
		       o.lines ? "function (file:line)" : "function");
		for (i = 0; i < limit; i++) {
			r = sorted[i];
			sum += (double)r->flat;
			char head[96], err[16] = "";
			/* sampled: how close flat is (95%), as report's sites */
			if (sampled)
				snprintf(err, sizeof err, " %6.1f%% ",
					 r->flat ? 100.0 * error95(r->flat_var) /
							   (double)r->flat
						 : 0.0);
			int w = snprintf(head, sizeof head,
					 "%10s%s %5.2f%% %5.2f%% %10s %5.2f%%  ",
					 fmt_value(b1, (double)r->flat, index), err,
					 (double)r->flat * pct, sum * pct,
					 fmt_value(b2, (double)r->cum, index),
					 (double)r->cum * pct);
			printf("%s%s\n", head,
			       o.lines ? frame_label_fit(fitted, sizeof fitted,
							 r->frame, NULL,
							 (size_t)(100 - w))
				       : fit_width(fitted, sizeof fitted,
						   r->frame->function,
						   (size_t)(100 - w)));
		}
	}
	HASH_ITER(hh, rows, r, tmp) {
		HASH_DEL(rows, r);
		free(r->key);
		free(r);
	}
	free(sorted);
	analysis_free(&a);
	return 0;
}
