/* report.c - `poolscout report` (the default view): allocation sites ranked
 * as pooling candidates, each with its remedy, the reasons and numbers
 * behind it, what the remedy saves, and the stacks that reach it. Text
 * fits 100 columns; --json carries the fields product.md lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "commands.h"
#include "html.h"
#include "memory.h"
#include "views.h"

#define DEFAULT_SITES 10
#define STACKS_SHOWN 3
#define FRAMES_SHOWN 5

static int by_allocs_desc(const an_site *s, size_t i, size_t j)
{
	return s->stack_allocs[i] < s->stack_allocs[j];
}

/* Site's stack positions ordered by allocations, into out (cap n). */
static size_t top_stacks(const an_site *s, size_t *out, size_t n)
{
	size_t *idx = xcalloc(s->nstacks ? s->nstacks : 1, sizeof *idx);
	for (size_t i = 0; i < s->nstacks; i++)
		idx[i] = i;
	/* insertion sort: a site has few stacks, and ties keep file order */
	for (size_t i = 1; i < s->nstacks; i++)
		for (size_t j = i; j > 0 && by_allocs_desc(s, idx[j - 1], idx[j]);
		     j--) {
			size_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	size_t k = s->nstacks < n ? s->nstacks : n;
	memcpy(out, idx, k * sizeof *out);
	free(idx);
	return k;
}

void report_header(const analysis *a, FILE *out)
{
	char b1[32], b2[32], b3[32];
	fprintf(out, "%zu profile%s, %zu thread%s, %s, %s allocations (%s)\n",
		a->set->nfiles, a->set->nfiles == 1 ? "" : "s", a->nthreads,
		a->nthreads == 1 ? "" : "s", fmt_ns(b1, (double)a->duration_ns),
		fmt_count(b2, (double)a->allocs),
		fmt_bytes(b3, (double)a->alloc_bytes));
	if (a->partial)
		fprintf(out, "PARTIAL: a profile was cut short; numbers stop at "
			     "its last snapshot\n");
	if (a->sample_every > 1)
		fprintf(out, "SAMPLED: 1 in %u allocations recorded; counts are "
			     "estimates\n", a->sample_every);
}

/* Prints "      - text", wrapping at 100 columns under the text. */
static void print_wrapped(FILE *out, const char *text)
{
	const char *p = text;
	int first = 1;
	while (*p) {
		size_t room = 100 - 8, len = strlen(p);
		if (len > room) {
			len = room;
			while (len > 0 && p[len] != ' ')
				len--;
			if (!len)
				len = room;
		}
		fprintf(out, "      %s %.*s\n", first ? "-" : " ", (int)len, p);
		p += len;
		while (*p == ' ')
			p++;
		first = 0;
	}
}

static void print_stack_line(const an_stack *st, uint64_t allocs, FILE *out)
{
	char n[32];
	int col = fprintf(out, "      %7s  ", fmt_count(n, (double)allocs));
	for (unsigned i = 0; i < st->nframes && i < FRAMES_SHOWN; i++) {
		const char *fn = st->frames[i].function;
		int w = (int)strlen(fn) + (i ? 3 : 0);
		if (col + w > 99) {
			fputs(" < ...", out);
			break;
		}
		col += fprintf(out, "%s%s", i ? " < " : "", fn);
	}
	fputc('\n', out);
}

static void print_text(const analysis *a, int limit, FILE *out)
{
	char b1[32], b2[32], b3[32], label[512];
	report_header(a, out);
	fprintf(out, "\n%4s  %-7s  %9s  %13s  %10s  %s\n", "rank", "remedy",
		"saves", "alloc_objects", "inuse", "site");
	for (size_t r = 0; r < a->nsites && (int)r < limit; r++) {
		const an_site *s = &a->sites[a->ranked[r]];
		double share = a->allocs ? 100.0 * (double)s->allocs /
						   (double)a->allocs
					 : 0;
		char saves[32];
		if (s->remedy == REMEDY_NONE)
			snprintf(saves, sizeof saves, "-");
		else
			fmt_rate(saves, s->saved_calls_per_s);
		snprintf(b3, sizeof b3, "%s %3.0f%%", fmt_count(b1, (double)s->allocs),
			 share);
		fprintf(out, "%4d  %-7s  %9s  %13s  %10s  %s\n", s->rank,
			remedy_name(s->remedy), saves, b3,
			fmt_bytes(b2, (double)(s->alloc_bytes - s->free_bytes)),
			frame_label(label, sizeof label, &s->where));
		for (int i = 0; i < s->nreasons; i++)
			print_wrapped(out, s->reasons[i]);
		if (s->remedy != REMEDY_NONE)
			fprintf(out, "      saves ~%s allocator calls and %s/s "
				     "churned\n",
				fmt_rate(b1, s->saved_calls_per_s),
				fmt_bytes(b2, s->saved_bytes_per_s));
		size_t idx[STACKS_SHOWN];
		size_t n = top_stacks(s, idx, STACKS_SHOWN);
		for (size_t i = 0; i < n; i++)
			print_stack_line(&a->stacks[s->stacks[idx[i]]],
					 s->stack_allocs[idx[i]], out);
		fputc('\n', out);
	}
	if ((size_t)limit < a->nsites)
		fprintf(out, "(%zu more sites; -n to see more)\n",
			a->nsites - (size_t)limit);
}

void json_frames(json *j, const an_stack *st, unsigned max)
{
	json_begin_array(j, "frames");
	for (unsigned i = 0; i < st->nframes && i < max; i++) {
		const an_frame *f = &st->frames[i];
		json_begin_object(j, NULL);
		json_str(j, "function", f->function);
		if (f->file)
			json_str(j, "file", f->file);
		else
			json_null(j, "file");
		json_u64(j, "line", f->line);
		json_str(j, "module", f->module);
		json_end_object(j);
	}
	json_end_array(j);
}

void json_totals(json *j, const analysis *a)
{
	json_begin_object(j, "totals");
	json_u64(j, "alloc_objects", a->allocs);
	json_u64(j, "alloc_space", a->alloc_bytes);
	json_u64(j, "inuse_objects", a->allocs - a->frees);
	json_u64(j, "inuse_space", a->alloc_bytes - a->free_bytes);
	json_u64(j, "frees", a->frees);
	json_u64(j, "cross_thread_frees", a->xfrees);
	json_u64(j, "duration_ns", a->duration_ns);
	json_u64(j, "files", a->set->nfiles);
	json_u64(j, "threads", a->nthreads);
	json_u64(j, "work_units", a->work_units);
	json_bool(j, "partial", a->partial);
	json_u64(j, "sample_every", a->sample_every);
	json_end_object(j);
}

void json_site(json *j, const analysis *a, const an_site *s)
{
	json_begin_object(j, NULL);
	json_u64(j, "rank", (uint64_t)s->rank);
	json_str(j, "function", s->where.function);
	if (s->where.file)
		json_str(j, "file", s->where.file);
	else
		json_null(j, "file");
	json_u64(j, "line", s->where.line);
	json_str(j, "module", s->where.module);
	json_str(j, "remedy", remedy_name(s->remedy));
	json_begin_array(j, "reasons");
	for (int i = 0; i < s->nreasons; i++)
		json_str(j, NULL, s->reasons[i]);
	json_end_array(j);
	json_u64(j, "alloc_objects", s->allocs);
	json_u64(j, "alloc_space", s->alloc_bytes);
	json_u64(j, "inuse_objects", s->allocs - s->frees);
	json_u64(j, "inuse_space", s->alloc_bytes - s->free_bytes);
	json_u64(j, "frees", s->frees);
	json_u64(j, "cross_thread_frees", s->xfrees);
	json_u64(j, "peak_live_objects", s->peak_live);
	json_u64(j, "thread_peak_live_objects", s->thread_peak_live);
	json_u64(j, "size_min", s->size_min);
	json_u64(j, "size_max", s->size_max);
	json_double(j, "lifetime_ns_p50", s->lifetime_p50_ns);
	json_double(j, "lifetime_ns_p99", s->lifetime_p99_ns);
	json_double(j, "cross_thread_free_ratio", s->xfree_ratio);
	json_double(j, "alloc_rate_per_s", s->rate_per_s);
	json_u64(j, "realloc_growth_steps", s->realloc_grows);
	json_u64(j, "realloc_steps_max", s->chain_steps_max);
	json_u64(j, "pool_size", s->pool_size);
	json_u64(j, "reserve_bytes", s->reserve_bytes);
	json_begin_object(j, "saves");
	json_double(j, "allocator_calls_per_s", s->saved_calls_per_s);
	json_double(j, "bytes_per_s", s->saved_bytes_per_s);
	json_end_object(j);
	json_begin_array(j, "size_histogram");
	for (unsigned b = 0; b < PS_HIST_BUCKETS; b++) {
		if (!s->size_hist[b])
			continue;
		json_begin_object(j, NULL);
		json_u64(j, "from", ps_hist_bucket_low(b));
		json_u64(j, "count", s->size_hist[b]);
		json_end_object(j);
	}
	json_end_array(j);
	json_begin_array(j, "stacks");
	size_t idx[STACKS_SHOWN];
	size_t n = top_stacks(s, idx, STACKS_SHOWN);
	for (size_t i = 0; i < n; i++) {
		json_begin_object(j, NULL);
		json_u64(j, "alloc_objects", s->stack_allocs[idx[i]]);
		json_frames(j, &a->stacks[s->stacks[idx[i]]], 64);
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
}

void json_ranked(json *j, const analysis *a, size_t limit)
{
	json_totals(j, a);
	json_threads(j, a);
	json_begin_array(j, "sites");
	for (size_t r = 0; r < a->nsites && r < limit; r++)
		json_site(j, a, &a->sites[a->ranked[r]]);
	json_end_array(j);
}

static void print_json(const analysis *a, int limit, FILE *out)
{
	json j;
	json_init(&j, out);
	json_begin_object(&j, NULL);
	json_ranked(&j, a, (size_t)limit);
	json_end_object(&j);
	json_finish(&j);
}

int cmd_report(int argc, char **argv)
{
	view_opts o = { 0 };
	int rc = view_opts_parse(&o, argc, argv, "report", 0);
	if (rc)
		return rc;
	analysis a;
	rc = analysis_load(&a, &o);
	if (rc) {
		analysis_free(&a);
		return rc;
	}
	rank_sites(&a);
	if (o.html) {
		rc = html_report(o.html, &a, (size_t)o.limit) ? 1 : 0;
		analysis_free(&a);
		return rc;
	}
	int limit = o.limit ? o.limit : (o.json ? 1000000 : DEFAULT_SITES);
	if (o.json)
		print_json(&a, limit, stdout);
	else
		print_text(&a, limit, stdout);
	analysis_free(&a);
	return 0;
}
