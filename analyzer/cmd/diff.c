/* diff.c - `poolscout diff BASE NEW`: what changed, site by site.
 *
 * Each side is a profile, a directory of profiles, or a comma-separated
 * list of profiles; a side's files are merged. Sites are matched by the
 * function name of the site (after wrapper frames are skipped), never by
 * address or line, so a rebuilt binary with edited code lines up with the
 * old one, as pprof's -diff_base does at function granularity.
 *
 * With --per N both sides are divided by N units of work (--per N,M: the
 * base by N, the new side by M, for runs of different lengths of a
 * program that counts no units of its own). Without it,
 * when both sides recorded their units (poolscout_mark_work()), each side
 * is divided by its own count, so "allocations per request 45 -> 12" is
 * one line however long each run was.
 *
 * A side recorded with --sample N has estimates: a row whose change lies
 * within the 95% error of the two sides' estimates (each site's, and for a
 * site one side never recorded, the about 3N allocations a 1-in-N sampler
 * misses whole 5% of the time) is "noise", not "changed", "new" or "gone":
 * the runs may not differ there.
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

#include "commands.h"
#include "html.h"
#include "json.h"
#include "memory.h"
#include "present.h"
#include "units.h"
#include "uthash.h"

enum { BASE, NEW };

struct side_vals {
	double alloc_objects, alloc_space, inuse_objects, inuse_space;
	double rate;          /* allocations per second of the side's run */
	an_peak peak;         /* bounds: a function may hold several sites */
	double lifetime_p50;  /* upper bound: the largest site p50 bound */
	double variance;      /* of the estimated alloc_objects (sampled) */
	int present;
};

struct dsite {
	char *function;
	const an_frame *where; /* from the side where the site allocates most */
	double where_allocs;
	unsigned sites[2];     /* the sites of each side it sums */
	struct side_vals v[2];
	double sort_key;
	double error95;        /* of the change in alloc_objects (sampled) */
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
		d->sites[side]++;
		v->alloc_objects += (double)s->allocs / divisor;
		double sd = s->allocs_error95 / AN_Z95 / divisor;
		v->variance += sd * sd;
		v->alloc_space += (double)s->alloc_bytes / divisor;
		v->inuse_objects += (double)s->inuse_objects / divisor;
		v->inuse_space += (double)s->inuse_space / divisor;
		v->rate += s->rate_run_per_s;
		/* the function's peak lies between its largest site's and
		 * the sum of its sites' */
		if (s->peak.lo > v->peak.lo)
			v->peak.lo = s->peak.lo;
		v->peak.hi += s->peak.hi;
		if (s->peak.bytes_lo > v->peak.bytes_lo)
			v->peak.bytes_lo = s->peak.bytes_lo;
		v->peak.bytes_hi += s->peak.bytes_hi;
		if (s->lifetime_p50.hi_ns > v->lifetime_p50)
			v->lifetime_p50 = s->lifetime_p50.hi_ns;
		if ((double)s->allocs > d->where_allocs) {
			d->where_allocs = (double)s->allocs;
			d->where = &s->where;
		}
	}
}

/* A row's site column: the function with its place (file:line, or the
 * call's address) when the row is one site on each side; a row that sums
 * several call sites of the function names the function and how many,
 * for no one place is all of it. */
static void row_label(char *buf, size_t cap, const struct dsite *d,
		      size_t width)
{
	unsigned most = d->sites[BASE] > d->sites[NEW] ? d->sites[BASE]
						       : d->sites[NEW];
	if (most <= 1) {
		frame_label_fit(buf, cap, d->where, NULL, width);
		return;
	}
	char suffix[48], name[160];
	snprintf(suffix, sizeof suffix, " (%u call sites)", most);
	size_t sl = strlen(suffix);
	snprintf(buf, cap, "%s%s",
		 fit_width(name, sizeof name, d->function,
			   width > sl + 8 ? width - sl : 8),
		 suffix);
}

static int by_change(const void *pa, const void *pb)
{
	const struct dsite *a = *(struct dsite *const *)pa;
	const struct dsite *b = *(struct dsite *const *)pb;
	if (a->sort_key != b->sort_key)
		return a->sort_key < b->sort_key ? 1 : -1;
	return strcmp(a->function, b->function);
}

/* A 1-in-N sampler records none of T allocations with probability
 * (1 - 1/N)^T, 5% or more for T up to about 3N (N ln 20): a site a
 * sampled side never recorded may have had that many. */
#define UNSEEN_95 2.9957

/* The 95% error of the change in alloc_objects: the two sides' estimates'
 * combined, plus, for a site one sampled side has not, what that side may
 * have missed. 0 when neither side is sampled. */
static double change_error95(const struct dsite *d, const analysis *a,
			     const double *divisor)
{
	double e = AN_Z95 * sqrt(d->v[BASE].variance + d->v[NEW].variance);
	for (int side = BASE; side <= NEW; side++)
		if (!d->v[side].present && a[side].sample_every > 1)
			e += UNSEEN_95 * a[side].sample_every / divisor[side];
	return e;
}

static const char *status(const struct dsite *d)
{
	if (d->error95 > 0 && fabs(d->v[NEW].alloc_objects -
				   d->v[BASE].alloc_objects) <= d->error95)
		return "noise";
	if (!d->v[BASE].present)
		return "new";
	if (!d->v[NEW].present)
		return "gone";
	if (d->v[NEW].alloc_objects == d->v[BASE].alloc_objects)
		return "same";
	return "changed";
}

/* One side's values under key; with base, the change from base to v. */
static void json_vals(json *j, const char *key, const struct side_vals *v,
		      const struct side_vals *base)
{
	static const struct side_vals zero;
	const struct side_vals *b = base ? base : &zero;
	json_begin_object(j, key);
	json_double(j, "alloc_objects", v->alloc_objects - b->alloc_objects);
	json_double(j, "alloc_space", v->alloc_space - b->alloc_space);
	json_double(j, "inuse_objects", v->inuse_objects - b->inuse_objects);
	json_double(j, "inuse_space", v->inuse_space - b->inuse_space);
	json_double(j, "alloc_rate_per_s", v->rate - b->rate);
	json_double(j, "peak_live_objects", (double)v->peak.hi - (double)b->peak.hi);
	if (!base)
		json_double(j, "peak_live_objects_lo", (double)v->peak.lo);
	json_double(j, "lifetime_ns_p50", v->lifetime_p50 - b->lifetime_p50);
	json_end_object(j);
}

static void json_side(json *j, const char *key, const analysis *a,
		      double divisor)
{
	json_begin_object(j, key);
	json_u64(j, "files", a->set->nfiles);
	json_u64(j, "work_units", a->work_units);
	json_u64(j, "sample_every", a->sample_every > 1 ? a->sample_every : 1);
	json_double(j, "divisor", divisor);
	json_double(j, "alloc_objects", (double)a->allocs / divisor);
	json_double(j, "alloc_space", (double)a->alloc_bytes / divisor);
	json_double(j, "inuse_objects", (double)a->inuse_objects / divisor);
	json_double(j, "inuse_space", (double)a->inuse_space / divisor);
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
		json_begin_object(j, NULL);
		json_str(j, "function", d->function);
		if (d->where->file)
			json_str(j, "file", d->where->file);
		else
			json_null(j, "file");
		json_u64(j, "line", d->where->line);
		json_str(j, "status", status(d));
		json_vals(j, "base", &d->v[BASE], NULL);
		json_vals(j, "new", &d->v[NEW], NULL);
		json_vals(j, "delta", &d->v[NEW], &d->v[BASE]);
		json_double(j, "alloc_objects_error95", d->error95);
		json_end_object(j);
	}
	json_end_array(j);
}

/* "12.3k" or, for per-unit values, "45.2" (under 0.005 but not 0, as
 * "5.0e-06": a site that allocates once in 200000 units is not 0.00) */
static const char *fmt_amount(char *buf, double v, int per_unit)
{
	if (per_unit && v != 0 && fabs(v) < 0.005) {
		snprintf(buf, 32, "%.1e", v);
		return buf;
	}
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
	int limit = 0;
	const char *html = NULL;
	double per[2] = { 0, 0 };
	view_opts o = { 0 };
	int i;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--html") && i + 1 < argc) {
			html = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--per") && i + 1 < argc) {
			char *end;
			per[BASE] = per[NEW] = strtod(argv[++i], &end);
			if (*end == ',' && end[1])
				per[NEW] = strtod(end + 1, &end);
			if (*end || !(per[BASE] > 0) || per[BASE] > 1e18 ||
			    !(per[NEW] > 0) || per[NEW] > 1e18)
				return usage_error("diff: --per expects a positive "
						   "number of units (or two, base,new), "
						   "got '%s'", argv[i]);
			continue;
		}
		int rc = view_opt_one(&o, argc, argv, &i, "diff", 0);
		if (rc == 2)
			return 2;
		if (!rc)
			return usage_error("diff: unknown option '%s'", argv[i]);
	}
	int as_json = o.json;
	limit = o.limit;
	if (options_after_files(argc, argv, i, "diff"))
		return 2;
	if (argc - i != 2)
		return usage_error("diff: usage: poolscout diff [--json | --html OUT] "
				   "[--per N[,M]] [-n N] [--wrapper RE] [--no-auto-wrappers] "
				   "BASE NEW (each a file, a directory of "
				   "profiles, or a comma-separated list)");
	analysis a[2];
	memset(a, 0, sizeof a);
	/* the page's flame graph wants every stack of every process */
	o.model.stream = !html;
	char **files[2] = { NULL, NULL };
	int nfiles[2] = { 0, 0 }, rc = 0;
	for (int s = 0; s < 2 && !rc; s++) {
		files[s] = side_files(argv[i + s], &nfiles[s]);
		if (!nfiles[s])
			rc = usage_error("diff: %s: no profiles there", argv[i + s]);
	}
	/* One verdict per function on both sides: the structural wrapper
	 * rule decides over the stacks of both runs together, so a function
	 * that one run reaches from fewer callers is not a site there and a
	 * wrapper in the other (a row "gone" beside one "new"). */
	char **decided = NULL;
	if (!rc && !o.model.no_auto_wrappers) {
		char **both = xcalloc((size_t)(nfiles[0] + nfiles[1]) + 1,
				      sizeof *both);
		memcpy(both, files[0], (size_t)nfiles[0] * sizeof *both);
		memcpy(both + nfiles[0], files[1], (size_t)nfiles[1] * sizeof *both);
		decided = analysis_decide_wrappers(both, nfiles[0] + nfiles[1],
						   &o.model, &rc);
		free(both);
		o.model.decided_wrappers = (const char *const *)decided;
	}
	for (int s = 0; s < 2 && !rc; s++)
		rc = analysis_load(&a[s], files[s], nfiles[s], &o.model);
	analysis_wrappers_free(decided);
	o.model.decided_wrappers = NULL;
	if (rc) {
		analysis_free(&a[0]);
		analysis_free(&a[1]);
		return rc;
	}

	double divisor[2] = { 1, 1 };
	const char *unit = NULL;
	if (per[BASE] > 0) {
		divisor[BASE] = per[BASE];
		divisor[NEW] = per[NEW];
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
		d->error95 = change_error95(d, a, divisor);
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
		if (per[BASE] > 0 && per[BASE] == per[NEW])
			printf("per unit of work: both sides divided by %g (--per)\n",
			       per[BASE]);
		else if (per[BASE] > 0)
			printf("per unit of work: base divided by %g, new by %g "
			       "(--per)\n", per[BASE], per[NEW]);
		else if (unit)
			printf("per unit of work: base %llu units, new %llu units "
			       "(recorded by the program)\n",
			       (unsigned long long)a[BASE].work_units,
			       (unsigned long long)a[NEW].work_units);
		if (a[BASE].sample_every > 1 || a[NEW].sample_every > 1)
			printf("noise: a change within the sampling's 95%% error; "
			       "the runs may not differ there\n");
		const char *what = per_unit ? "allocations per unit" : "alloc_objects";
		printf("\n%-7s %9s %9s %17s %10s %10s  %s\n", "", "base", "new",
		       "delta", "bytes", "bytes", "site");
		printf("%-7s %-28s %21s\n", "", what, "(base -> new)");
		char (*labels)[128] = xcalloc(shown ? shown : 1, sizeof *labels);
		for (k = 0; k < shown; k++)
			row_label(labels[k], sizeof labels[k], rows[k], 100 - 69);
		for (k = 0; k < shown; k++) {
			d = rows[k];
			printf("%-7s %9s %9s %17s %10s %10s  %s\n", status(d),
			       fmt_amount(b1, d->v[BASE].alloc_objects, per_unit),
			       fmt_amount(b2, d->v[NEW].alloc_objects, per_unit),
			       fmt_delta(b3, d->v[BASE].alloc_objects,
					 d->v[NEW].alloc_objects, per_unit),
			       fmt_bytes(b4, d->v[BASE].alloc_space),
			       fmt_bytes(b5, d->v[NEW].alloc_space), labels[k]);
			/* a label another row shares (names cut in their
			 * middle): the whole name under it */
			int shared = 0;
			for (size_t other = 0; other < shown && !shared; other++)
				shared = other != k && !strcmp(labels[other], labels[k]);
			if (shared)
				printf("%-7s %s\n", "", d->function);
		}
		free(labels);
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
