/* diff.c - `poolscout diff BASE NEW`: what changed, site by site.
 *
 * Each side is a profile, a directory of profiles, or a comma-separated
 * list of profiles; a side's files are merged. Sites are matched by the
 * function name of the site (after wrapper frames are skipped), never by
 * address or line, so a rebuilt binary with edited code lines up with the
 * old one, as pprof's -diff_base does at function granularity.
 *
 * With --per N both sides are divided by N units of work. Without it,
 * when both sides recorded their units (poolscout_mark_work()), each side
 * is divided by its own count, so "allocations per request 45 -> 12" is
 * one line however long each run was.
 *
 * --json prints the table as one document; --html OUT writes it into a
 * page with a differential flame graph of the two sides (html.c).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis.h"
#include "commands.h"
#include "html.h"
#include "json.h"
#include "memory.h"
#include "uthash.h"
#include "views.h"

enum { BASE, NEW };

struct side_vals {
	double alloc_objects, alloc_space, inuse_objects, inuse_space;
	double rate, peak_live, lifetime_p50;
	int present;
};

struct dsite {
	char *function;
	const an_frame *where; /* from the side where the site allocates most */
	double where_allocs;
	struct side_vals v[2];
	double sort_key;
	UT_hash_handle hh;
};

/* Expands a side argument into a list of files (owned strings). */
static char **side_files(const char *arg, int *n)
{
	char **files = NULL;
	*n = 0;
	struct stat st;
	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		char **names = pf_list_dir(arg);
		for (char **p = names; *p; p++) {
			files = xrealloc(files, (size_t)(*n + 1) * sizeof *files);
			files[(*n)++] = xasprintf("%s/%s", arg, *p);
		}
		pf_names_free(names);
		return files;
	}
	char *copy = xstrdup(arg), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		files = xrealloc(files, (size_t)(*n + 1) * sizeof *files);
		files[(*n)++] = xstrdup(tok);
	}
	free(copy);
	return files;
}

static void add_side(struct dsite **table, const analysis *a, int side,
		     double divisor)
{
	for (size_t i = 0; i < a->nsites; i++) {
		const an_site *s = &a->sites[i];
		struct dsite *d;
		HASH_FIND_STR(*table, s->where.function, d);
		if (!d) {
			d = xcalloc(1, sizeof *d);
			d->function = xstrdup(s->where.function);
			HASH_ADD_KEYPTR(hh, *table, d->function,
					strlen(d->function), d);
		}
		struct side_vals *v = &d->v[side];
		v->present = 1;
		v->alloc_objects += (double)s->allocs / divisor;
		v->alloc_space += (double)s->alloc_bytes / divisor;
		v->inuse_objects += (double)(s->allocs - s->frees) / divisor;
		v->inuse_space += (double)(s->alloc_bytes - s->free_bytes) / divisor;
		v->rate += s->rate_per_s;
		v->peak_live += (double)s->peak_live;
		double p50 = site_lifetime_pct(s, 0.5);
		if (p50 > v->lifetime_p50)
			v->lifetime_p50 = p50;
		if ((double)s->allocs > d->where_allocs) {
			d->where_allocs = (double)s->allocs;
			d->where = &s->where;
		}
	}
}

static int by_change(const void *pa, const void *pb)
{
	const struct dsite *a = *(struct dsite *const *)pa;
	const struct dsite *b = *(struct dsite *const *)pb;
	if (a->sort_key != b->sort_key)
		return a->sort_key < b->sort_key ? 1 : -1;
	return strcmp(a->function, b->function);
}

static const char *status(const struct dsite *d)
{
	if (!d->v[BASE].present)
		return "new";
	if (!d->v[NEW].present)
		return "gone";
	return "changed";
}

static void json_vals(json *j, const char *key, const struct side_vals *v)
{
	json_begin_object(j, key);
	json_double(j, "alloc_objects", v->alloc_objects);
	json_double(j, "alloc_space", v->alloc_space);
	json_double(j, "inuse_objects", v->inuse_objects);
	json_double(j, "inuse_space", v->inuse_space);
	json_double(j, "alloc_rate_per_s", v->rate);
	json_double(j, "peak_live_objects", v->peak_live);
	json_double(j, "lifetime_ns_p50", v->lifetime_p50);
	json_end_object(j);
}

static void json_side(json *j, const char *key, const analysis *a,
		      double divisor)
{
	json_begin_object(j, key);
	json_u64(j, "files", a->set->nfiles);
	json_u64(j, "work_units", a->work_units);
	json_double(j, "divisor", divisor);
	json_double(j, "alloc_objects", (double)a->allocs / divisor);
	json_double(j, "alloc_space", (double)a->alloc_bytes / divisor);
	json_double(j, "inuse_objects", (double)(a->allocs - a->frees) / divisor);
	json_double(j, "inuse_space",
		    (double)(a->alloc_bytes - a->free_bytes) / divisor);
	json_u64(j, "duration_ns", a->duration_ns);
	json_bool(j, "partial", a->partial);
	json_end_object(j);
}

/* What `diff --json` (and the page of --html) reports. */
struct diff_result {
	const analysis *a;     /* [BASE], [NEW] */
	const double *divisor; /* [BASE], [NEW] */
	const char *unit;      /* what divides, or NULL */
	struct dsite **rows;   /* by size of change */
	size_t shown;
};

/* The members of the `diff --json` document (docs/usage.md). */
static void json_diff_members(json *j, const void *ctx)
{
	const struct diff_result *r = ctx;
	json_side(j, "base", &r->a[BASE], r->divisor[BASE]);
	json_side(j, "new", &r->a[NEW], r->divisor[NEW]);
	if (r->unit)
		json_str(j, "per", r->unit);
	else
		json_null(j, "per");
	json_begin_array(j, "sites");
	for (size_t k = 0; k < r->shown; k++) {
		const struct dsite *d = r->rows[k];
		struct side_vals delta = {
			.alloc_objects = d->v[NEW].alloc_objects -
					 d->v[BASE].alloc_objects,
			.alloc_space = d->v[NEW].alloc_space - d->v[BASE].alloc_space,
			.inuse_objects = d->v[NEW].inuse_objects -
					 d->v[BASE].inuse_objects,
			.inuse_space = d->v[NEW].inuse_space - d->v[BASE].inuse_space,
			.rate = d->v[NEW].rate - d->v[BASE].rate,
			.peak_live = d->v[NEW].peak_live - d->v[BASE].peak_live,
			.lifetime_p50 = d->v[NEW].lifetime_p50 -
					d->v[BASE].lifetime_p50,
		};
		json_begin_object(j, NULL);
		json_str(j, "function", d->function);
		if (d->where->file)
			json_str(j, "file", d->where->file);
		else
			json_null(j, "file");
		json_u64(j, "line", d->where->line);
		json_str(j, "status", status(d));
		json_vals(j, "base", &d->v[BASE]);
		json_vals(j, "new", &d->v[NEW]);
		json_vals(j, "delta", &delta);
		json_end_object(j);
	}
	json_end_array(j);
}

/* "12.3k" or, for per-unit values, "45.2" */
static const char *fmt_amount(char *buf, double v, int per_unit)
{
	if (per_unit && fabs(v) < 10000) {
		snprintf(buf, 32, fabs(v) < 100 ? "%.2f" : "%.1f", v);
		return buf;
	}
	return fmt_count(buf, v);
}

static const char *fmt_delta(char *buf, double base, double now, int per_unit)
{
	char n[32];
	double d = now - base;
	fmt_amount(n, fabs(d), per_unit);
	if (base > 0)
		snprintf(buf, 64, "%s%s (%+.0f%%)", d < 0 ? "-" : "+", n,
			 100.0 * d / base);
	else
		snprintf(buf, 64, "%s%s", d < 0 ? "-" : "+", n);
	return buf;
}

int cmd_diff(int argc, char **argv)
{
	int as_json = 0, limit = 0;
	const char *html = NULL;
	double per = 0;
	int i;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--json")) {
			as_json = 1;
		} else if (!strcmp(argv[i], "--html") && i + 1 < argc) {
			html = argv[++i];
		} else if (!strcmp(argv[i], "--per") && i + 1 < argc) {
			char *end;
			per = strtod(argv[++i], &end);
			if (*end || !(per > 0))
				return usage_error("diff: --per expects a positive "
						   "number of units, got '%s'", argv[i]);
		} else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			limit = atoi(argv[++i]);
			if (limit < 1)
				return usage_error("diff: -n expects N >= 1");
		} else {
			return usage_error("diff: unknown option '%s'", argv[i]);
		}
	}
	if (argc - i != 2)
		return usage_error("diff: usage: poolscout diff [--json | --html OUT] "
				   "[--per N] "
				   "BASE NEW (each a file, a directory of "
				   "profiles, or a comma-separated list)");
	analysis a[2];
	memset(a, 0, sizeof a);
	char **files[2];
	int nfiles[2], rc = 0;
	for (int s = 0; s < 2 && !rc; s++) {
		files[s] = side_files(argv[i + s], &nfiles[s]);
		if (!nfiles[s]) {
			rc = usage_error("diff: %s: no profiles there", argv[i + s]);
			break;
		}
		view_opts o = { 0 };
		o.files = files[s];
		o.nfiles = nfiles[s];
		rc = analysis_load(&a[s], &o);
	}
	if (rc) {
		analysis_free(&a[0]);
		analysis_free(&a[1]);
		return rc;
	}

	double divisor[2] = { 1, 1 };
	const char *unit = NULL;
	if (per > 0) {
		divisor[BASE] = divisor[NEW] = per;
		unit = "--per";
	} else if (a[BASE].work_units && a[NEW].work_units) {
		divisor[BASE] = (double)a[BASE].work_units;
		divisor[NEW] = (double)a[NEW].work_units;
		unit = "recorded units of work";
	}
	int per_unit = unit != NULL;

	struct dsite *table = NULL;
	add_side(&table, &a[BASE], BASE, divisor[BASE]);
	add_side(&table, &a[NEW], NEW, divisor[NEW]);
	size_t n = HASH_COUNT(table), k = 0;
	struct dsite **rows = xcalloc(n ? n : 1, sizeof *rows), *d, *tmp;
	HASH_ITER(hh, table, d, tmp) {
		d->sort_key = fabs(d->v[NEW].alloc_objects -
				   d->v[BASE].alloc_objects);
		rows[k++] = d;
	}
	qsort(rows, n, sizeof *rows, by_change);
	size_t shown = limit ? (size_t)limit : (as_json || html ? n : 20);
	if (shown > n)
		shown = n;

	struct diff_result result = { a, divisor, unit, rows, shown };
	if (html) {
		if (html_diff(html, &a[BASE], &a[NEW], json_diff_members, &result))
			rc = 1;
	} else if (as_json) {
		json j;
		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		json_diff_members(&j, &result);
		json_end_object(&j);
		json_finish(&j);
	} else {
		char b1[64], b2[64], b3[64], b4[64], b5[64];
		printf("base: ");
		report_header(&a[BASE], stdout);
		printf("new:  ");
		report_header(&a[NEW], stdout);
		if (per > 0)
			printf("per unit of work: both sides divided by %g (--per)\n",
			       per);
		else if (unit)
			printf("per unit of work: base %llu units, new %llu units "
			       "(recorded by the program)\n",
			       (unsigned long long)a[BASE].work_units,
			       (unsigned long long)a[NEW].work_units);
		const char *what = per_unit ? "allocations per unit" : "alloc_objects";
		printf("\n%-7s %9s %9s %17s %10s %10s  %s\n", "", "base", "new",
		       "delta", "bytes", "bytes", "site");
		printf("%-7s %-28s %21s\n", "", what, "(base -> new)");
		for (k = 0; k < shown; k++) {
			d = rows[k];
			char label[512];
			printf("%-7s %9s %9s %17s %10s %10s  %s\n", status(d),
			       fmt_amount(b1, d->v[BASE].alloc_objects, per_unit),
			       fmt_amount(b2, d->v[NEW].alloc_objects, per_unit),
			       fmt_delta(b3, d->v[BASE].alloc_objects,
					 d->v[NEW].alloc_objects, per_unit),
			       fmt_bytes(b4, d->v[BASE].alloc_space),
			       fmt_bytes(b5, d->v[NEW].alloc_space),
			       frame_label(label, sizeof label, d->where));
		}
		double tb = (double)a[BASE].allocs / divisor[BASE];
		double tn = (double)a[NEW].allocs / divisor[NEW];
		printf("%-7s %9s %9s %17s %10s %10s  %s\n", "total",
		       fmt_amount(b1, tb, per_unit), fmt_amount(b2, tn, per_unit),
		       fmt_delta(b3, tb, tn, per_unit),
		       fmt_bytes(b4, (double)a[BASE].alloc_bytes / divisor[BASE]),
		       fmt_bytes(b5, (double)a[NEW].alloc_bytes / divisor[NEW]),
		       "(all sites)");
		if (n > shown)
			printf("(%zu more sites; -n to see more)\n", n - shown);
	}
	HASH_ITER(hh, table, d, tmp) {
		HASH_DEL(table, d);
		free(d->function);
		free(d);
	}
	free(rows);
	for (int s = 0; s < 2; s++) {
		for (int f = 0; f < nfiles[s]; f++)
			free(files[s][f]);
		free(files[s]);
		analysis_free(&a[s]);
	}
	return rc;
}
