/* threads.c - `poolscout threads`: every thread of every profile with
 * its allocations, bytes, frees, cross-thread frees, rate over its active
 * time, peak of live blocks, and its allocation timeline over the
 * snapshots (a sparkline in text, the full series in JSON). Thread names
 * come from pthread_setname_np or comm. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "present.h"
#include "units.h"

#define SPARK_WIDTH 24

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

static void print_text(const analysis *a, FILE *out)
{
	char b1[32], b2[32], b3[32], b4[32], b5[32], b6[48];
	char spark[SPARK_WIDTH * 3 + 1];
	report_header(a, out);
	fprintf(out, "\n%7s %7s %-15s %8s %9s %8s %7s %9s %9s  %s\n", "pid", "tid",
		"name", "allocs", "bytes", "frees", "xfrees", "rate", "peak",
		"timeline");
	for (size_t i = 0; i < a->nthreads; i++) {
		const an_thread *at = &a->threads[i];
		const pf_file *f = at->file;
		const pf_thread *t = at->thread;
		sparkline(f, t, spark);
		fprintf(out, "%7u %7u %-15.15s %8s %9s %8s %7s %9s %9s  %s\n",
			f->pid, t->tid, t->name[0] ? t->name : "?",
			fmt_count(b1, (double)at->allocs),
			fmt_bytes(b2, (double)at->alloc_bytes),
			fmt_count(b3, (double)at->frees),
			fmt_count(b4, (double)at->xfrees),
			fmt_rate(b5, at->rate_per_s), peak_text(b6, &at->peak),
			spark);
	}
}

int cmd_threads(int argc, char **argv)
{
	view_opts o = { 0 };
	int rc = view_opts_parse(&o, argc, argv, "threads", 0);
	if (rc)
		return rc;
	analysis a;
	o.model.stream = 1;
	rc = analysis_load(&a, o.files, o.nfiles, &o.model);
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
