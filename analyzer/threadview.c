/* threadview.c - `poolscout threads`: every thread of every profile with
 * its allocations, bytes, frees, cross-thread frees, rate, and its
 * allocation timeline over the snapshots (a sparkline in text, the full
 * series in JSON). Thread names come from pthread_setname_np or comm. */
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "commands.h"
#include "views.h"

#define SPARK_WIDTH 24

static double thread_seconds(const pf_file *f, const pf_thread *t)
{
	uint64_t end = t->ended && t->end_ns ? t->end_ns : f->duration_ns;
	uint64_t ns = end > t->start_ns ? end - t->start_ns : 0;
	return (double)(ns ? ns : 1000000) / 1e9;
}

/* Allocations per snapshot interval, folded into at most SPARK_WIDTH
 * columns, drawn with the eight block characters. */
static void sparkline(const pf_file *f, const pf_thread *t, char *out)
{
	double col[SPARK_WIDTH] = { 0 }, max = 0;
	size_t nsnaps = f->nsnaps ? f->nsnaps : 1;
	size_t width = nsnaps < SPARK_WIDTH ? nsnaps : SPARK_WIDTH;
	for (size_t i = 0; i < t->nticks; i++) {
		size_t c = t->ticks[i].snapshot * width / nsnaps;
		col[c] += (double)t->ticks[i].allocs;
	}
	for (size_t c = 0; c < width; c++)
		if (col[c] > max)
			max = col[c];
	static const char *const blocks[] = { " ", "\u2581", "\u2582", "\u2583",
					      "\u2584", "\u2585", "\u2586",
					      "\u2587", "\u2588" };
	out[0] = 0;
	for (size_t c = 0; c < width; c++) {
		int level = max > 0 ? (int)(col[c] / max * 8 + 0.999) : 0;
		strcat(out, blocks[level > 8 ? 8 : level]);
	}
}

void json_threads(json *j, const analysis *a)
{
	json_begin_array(j, "threads");
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		uint64_t k = pf_scale(f);
		for (size_t ti = 0; ti < f->nthreads; ti++) {
			const pf_thread *t = f->threads[ti];
			if (!t)
				continue;
			json_begin_object(j, NULL);
			json_u64(j, "pid", f->pid);
			json_u64(j, "tid", t->tid);
			json_str(j, "name", t->name);
			json_u64(j, "alloc_objects", t->allocs * k);
			json_u64(j, "alloc_space", t->alloc_bytes * k);
			json_u64(j, "frees", t->frees * k);
			json_u64(j, "cross_thread_frees", t->xfrees * k);
			json_double(j, "alloc_rate_per_s",
				    (double)(t->allocs * k) / thread_seconds(f, t));
			json_u64(j, "start_ns", t->start_ns);
			if (t->ended)
				json_u64(j, "end_ns", t->end_ns);
			else
				json_null(j, "end_ns");
			json_begin_array(j, "timeline");
			for (size_t i = 0; i < t->nticks; i++) {
				const pf_tick *tk = &t->ticks[i];
				json_begin_object(j, NULL);
				json_double(j, "t_ms",
					    (double)f->snaps[tk->snapshot].t_ns / 1e6);
				json_u64(j, "alloc_objects", tk->allocs * k);
				json_u64(j, "alloc_space", tk->bytes * k);
				json_u64(j, "frees", tk->frees * k);
				json_end_object(j);
			}
			json_end_array(j);
			json_end_object(j);
		}
	}
	json_end_array(j);
}

static void print_text(const analysis *a, FILE *out)
{
	char b1[32], b2[32], b3[32], b4[32], b5[32], spark[SPARK_WIDTH * 3 + 1];
	report_header(a, out);
	fprintf(out, "\n%7s %7s %-15s %8s %9s %8s %7s %9s  %s\n", "pid", "tid",
		"name", "allocs", "bytes", "frees", "xfrees", "rate",
		"timeline");
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		uint64_t k = pf_scale(f);
		for (size_t ti = 0; ti < f->nthreads; ti++) {
			const pf_thread *t = f->threads[ti];
			if (!t)
				continue;
			sparkline(f, t, spark);
			fprintf(out, "%7u %7u %-15.15s %8s %9s %8s %7s %9s  %s\n",
				f->pid, t->tid, t->name[0] ? t->name : "?",
				fmt_count(b1, (double)(t->allocs * k)),
				fmt_bytes(b2, (double)(t->alloc_bytes * k)),
				fmt_count(b3, (double)(t->frees * k)),
				fmt_count(b4, (double)(t->xfrees * k)),
				fmt_rate(b5, (double)(t->allocs * k) /
						     thread_seconds(f, t)),
				spark);
		}
	}
}

int cmd_threads(int argc, char **argv)
{
	view_opts o = { 0 };
	int rc = view_opts_parse(&o, argc, argv, "threads", 0);
	if (rc)
		return rc;
	analysis a;
	rc = analysis_load(&a, &o);
	if (rc == 0) {
		if (o.json) {
			json j;
			json_init(&j, stdout);
			json_begin_object(&j, NULL);
			json_totals(&j, &a);
			json_threads(&j, &a);
			json_end_object(&j);
			json_finish(&j);
		} else {
			print_text(&a, stdout);
		}
	}
	analysis_free(&a);
	return rc;
}
