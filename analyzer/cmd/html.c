/* html.c - the HTML pages of `report --html` and `diff --html` (html.h):
 * the one JSON document a page embeds, and the page itself, a template of
 * analyzer/web/ with its style, scripts and that document put in place of
 * its @@markers@@. Nothing in the page loads anything: it opens from disk.
 *
 * The report page's document:
 *   report        the `report --json` document (json_ranked())
 *   site_threads  per ranked site, the threads that allocate there
 *   stacks        stacks, frames leaf (the site) first, with the four
 *                 pprof values; the largest first, as many as fit
 *   timeline      per process and snapshot: the allocations in the
 *                 interval and the objects and bytes in use, allocations
 *                 per thread, the peak and what was live then by site;
 *                 and what was still live at exit, by site
 *   limits        what was left out to keep the page small
 * The diff page's: diff (the `diff --json` document), base_stacks,
 * new_stacks and limits. docs/usage.md lists every field.
 *
 * In-use memory at a snapshot is the sum over threads of their
 * allocations minus the frees of their blocks up to then (pf_tick); what
 * was live at the peak, by site, the sum of the site's entries' steps up
 * to that snapshot (pf_step). Every other number is the model's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "html.h"
#include "memory.h"
#include "present.h"
#include "units.h"

/* What one page may hold; each cut is said on the page (limits). */
#define PAGE_BUDGET (9L << 19)   /* 4.5 MiB of JSON in all ... */
#define REPORT_BUDGET (3L << 19) /* ... 1.5 MiB at most for the ranked sites */
#define STACKS_MIN (1L << 19)    /* and at least 0.5 MiB for stacks */
#define SITES_MAX 500            /* ranked sites, unless -n asks otherwise */
#define FRAMES_MAX 128           /* frames per stack, from the site up */
#define TIMELINE_POINTS 600      /* snapshots are merged beyond this */
#define TIMELINE_THREADS 12      /* the others are summed in one series */
#define LIVE_SITES_MAX 200       /* rows of the live-at-peak/exit tables */
#define SITE_THREADS_MAX 16      /* threads listed per site */

enum metric { ALLOC_OBJECTS, ALLOC_SPACE, INUSE_OBJECTS, INUSE_SPACE,
	      NMETRICS };
static const char *const metric_names[NMETRICS] = {
	"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"
};

/* A stream into a growing buffer; out of memory ends the program, as
 * xmalloc() does. */
static FILE *memstream(char **buf, size_t *len)
{
	FILE *m = open_memstream(buf, len);
	if (!m) {
		fprintf(stderr, "poolscout: out of memory (%s)\n", strerror(errno));
		exit(1);
	}
	return m;
}

/* A JSON writer on m for a page's document: compact. */
static void page_json(json *j, FILE *m)
{
	json_init(j, m);
	j->pretty = 0;
}

/* Position in a->stacks of each stack of file f, by stack id; SIZE_MAX
 * where the file has no such stack. */
static size_t *stack_positions(const analysis *a, const pf_file *f)
{
	size_t *pos = xmalloc((f->nstacks ? f->nstacks : 1) * sizeof *pos);
	for (size_t i = 0; i < f->nstacks; i++)
		pos[i] = SIZE_MAX;
	for (size_t i = 0; i < a->nstacks; i++)
		if (a->stacks[i].file == f)
			pos[a->stacks[i].stack->id] = i;
	return pos;
}

static void json_where(json *j, const an_frame *w)
{
	json_str(j, "function", w->function);
	if (w->file)
		json_str(j, "file", w->file);
	else
		json_null(j, "file");
	json_u64(j, "line", w->line);
	json_str(j, "module", w->module);
}

/* ---- stacks ------------------------------------------------------------- */

struct stack_cut {
	size_t total, shown;
	double shown_share[NMETRICS]; /* of each metric's total */
};

struct weighted {
	size_t pos;
	double weight;
};

static int by_weight_desc(const void *pa, const void *pb)
{
	const struct weighted *a = pa, *b = pb;
	if (a->weight != b->weight)
		return a->weight < b->weight ? 1 : -1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Writes the array key: the stacks of a, each weighed by its largest
 * share of any of the four totals, heaviest first, until budget bytes of
 * JSON are written to m (the stream under j). Stacks with no value at
 * all are left out. */
static void json_stacks(json *j, FILE *m, const char *key, const analysis *a,
			long budget, struct stack_cut *cut)
{
	double total[NMETRICS] = { 0 }, shown[NMETRICS] = { 0 };
	for (size_t i = 0; i < a->nstacks; i++)
		for (int k = 0; k < NMETRICS; k++)
			total[k] += (double)stack_value(&a->stacks[i],
							metric_names[k]);
	struct weighted *order = xcalloc(a->nstacks, sizeof *order);
	size_t n = 0;
	for (size_t i = 0; i < a->nstacks; i++) {
		double w = 0;
		for (int k = 0; k < NMETRICS; k++) {
			double v = (double)stack_value(&a->stacks[i],
						       metric_names[k]);
			if (total[k] > 0 && v / total[k] > w)
				w = v / total[k];
		}
		if (w > 0)
			order[n++] = (struct weighted){ i, w };
	}
	qsort(order, n, sizeof *order, by_weight_desc);

	memset(cut, 0, sizeof *cut);
	cut->total = n;
	json_begin_array(j, key);
	long start = ftell(m);
	for (size_t i = 0; i < n && ftell(m) - start < budget; i++) {
		const an_stack *st = &a->stacks[order[i].pos];
		const an_site *s = &a->sites[st->site];
		json_begin_object(j, NULL);
		json_u64(j, "pid", st->file->pid);
		json_str(j, "site", s->where.function);
		if (s->rank)
			json_u64(j, "site_rank", (uint64_t)s->rank);
		for (int k = 0; k < NMETRICS; k++) {
			uint64_t v = stack_value(st, metric_names[k]);
			json_u64(j, metric_names[k], v);
			shown[k] += (double)v;
		}
		if (st->nframes > FRAMES_MAX)
			json_u64(j, "frames_total", st->nframes);
		json_frames(j, st, FRAMES_MAX);
		json_end_object(j);
		cut->shown++;
	}
	json_end_array(j);
	for (int k = 0; k < NMETRICS; k++)
		cut->shown_share[k] = total[k] > 0 ? shown[k] / total[k] : 1;
	free(order);
}

static void json_stack_cut(json *j, const char *key, const struct stack_cut *c)
{
	json_begin_object(j, key);
	json_u64(j, "total", c->total);
	json_u64(j, "shown", c->shown);
	json_begin_object(j, "shown_share");
	for (int k = 0; k < NMETRICS; k++)
		json_double(j, metric_names[k], c->shown_share[k]);
	json_end_object(j);
	json_u64(j, "frames_max", FRAMES_MAX);
	json_end_object(j);
}

/* ---- threads per site ----------------------------------------------------- */

struct site_thread {
	size_t site, file;
	const pf_thread *thread;
	uint64_t allocs;
};

static int by_site_file_thread(const void *pa, const void *pb)
{
	const struct site_thread *a = pa, *b = pb;
	if (a->site != b->site)
		return a->site < b->site ? -1 : 1;
	if (a->file != b->file)
		return a->file < b->file ? -1 : 1;
	return a->thread->index < b->thread->index ? -1
						   : a->thread->index > b->thread->index;
}

static int by_allocs_desc(const void *pa, const void *pb)
{
	const struct site_thread *a = pa, *b = pb;
	return a->allocs < b->allocs ? 1 : a->allocs > b->allocs ? -1 : 0;
}

/* "site_threads": for each of the first nsites ranked sites, the threads
 * that allocate there (most allocations first). */
static void json_site_threads(json *j, const analysis *a, size_t nsites)
{
	struct site_thread *rows = NULL;
	size_t n = 0, cap = 0;
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		const pf_file *f = a->set->files[fi];
		size_t *pos = stack_positions(a, f);
		for (size_t e = 0; e < f->nentries; e++) {
			const pf_entry *en = &f->entries[e];
			if (!en->allocs || en->stack_id >= f->nstacks ||
			    pos[en->stack_id] == SIZE_MAX ||
			    en->thread_index >= f->nthreads ||
			    !f->threads[en->thread_index])
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				rows = xrealloc(rows, cap * sizeof *rows);
			}
			rows[n++] = (struct site_thread){
				.site = a->stacks[pos[en->stack_id]].site,
				.file = fi,
				.thread = f->threads[en->thread_index],
				.allocs = en->allocs * pf_scale(f),
			};
		}
		free(pos);
	}
	qsort(rows, n, sizeof *rows, by_site_file_thread);
	size_t merged = 0; /* one row per (site, file, thread) */
	for (size_t i = 0; i < n; i++) {
		if (merged && rows[merged - 1].site == rows[i].site &&
		    rows[merged - 1].file == rows[i].file &&
		    rows[merged - 1].thread == rows[i].thread)
			rows[merged - 1].allocs += rows[i].allocs;
		else
			rows[merged++] = rows[i];
	}
	size_t *first = xcalloc(a->nsites + 1, sizeof *first);
	for (size_t i = 0, s = 0; s <= a->nsites; s++) {
		while (i < merged && rows[i].site < s)
			i++;
		first[s] = i;
	}
	json_begin_array(j, "site_threads");
	for (size_t r = 0; r < nsites && r < a->nsites; r++) {
		size_t s = a->ranked[r];
		struct site_thread *group = rows + first[s];
		size_t count = first[s + 1] - first[s];
		qsort(group, count, sizeof *group, by_allocs_desc);
		json_begin_object(j, NULL);
		json_u64(j, "rank", (uint64_t)a->sites[s].rank);
		json_u64(j, "count", count);
		json_begin_array(j, "threads");
		for (size_t t = 0; t < count && t < SITE_THREADS_MAX; t++) {
			json_begin_object(j, NULL);
			json_u64(j, "pid", a->set->files[group[t].file]->pid);
			json_u64(j, "tid", group[t].thread->tid);
			json_str(j, "name", group[t].thread->name);
			json_u64(j, "alloc_objects", group[t].allocs);
			json_end_object(j);
		}
		json_end_array(j);
		json_end_object(j);
	}
	json_end_array(j);
	free(first);
	free(rows);
}

/* ---- timeline -------------------------------------------------------------- */

/* Objects and bytes live per site, summed from stack counters. */
struct site_live {
	size_t site;
	int64_t objects, bytes;
};

static int by_bytes_desc(const void *pa, const void *pb)
{
	const struct site_live *a = pa, *b = pb;
	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? 1 : -1;
	if (a->objects != b->objects)
		return a->objects < b->objects ? 1 : -1;
	return a->site < b->site ? -1 : a->site > b->site;
}

/* Writes array key: the sites of live (n of them) with anything live,
 * most bytes first, at most LIVE_SITES_MAX, then "<key>_others" with
 * what the rest hold. Sorts live. */
static void json_live_sites(json *j, const char *key, const analysis *a,
			    struct site_live *live, size_t n)
{
	qsort(live, n, sizeof *live, by_bytes_desc);
	int64_t other_objects = 0, other_bytes = 0;
	size_t shown = 0, others = 0;
	json_begin_array(j, key);
	for (size_t i = 0; i < n; i++) {
		if (live[i].objects <= 0 && live[i].bytes <= 0)
			continue;
		if (shown == LIVE_SITES_MAX) {
			others++;
			other_objects += live[i].objects;
			other_bytes += live[i].bytes;
			continue;
		}
		const an_site *s = &a->sites[live[i].site];
		json_begin_object(j, NULL);
		json_where(j, &s->where);
		if (s->rank)
			json_u64(j, "rank", (uint64_t)s->rank);
		json_i64(j, "inuse_objects", live[i].objects);
		json_i64(j, "inuse_space", live[i].bytes);
		json_u64(j, "alloc_objects", s->allocs);
		json_end_object(j);
		shown++;
	}
	json_end_array(j);
	char *k = xasprintf("%s_others", key);
	json_begin_object(j, k);
	json_u64(j, "sites", others);
	json_i64(j, "inuse_objects", other_objects);
	json_i64(j, "inuse_space", other_bytes);
	json_end_object(j);
	free(k);
}

/* "live_at_peak": what each site of file f held when snapshot snap was
 * taken: its entries' steps up to then. */
static void json_live_at_peak(json *j, const analysis *a, const pf_file *f,
			      size_t snap)
{
	size_t *pos = stack_positions(a, f);
	struct site_live *live = xcalloc(a->nsites + 1, sizeof *live);
	for (size_t s = 0; s < a->nsites; s++)
		live[s].site = s;
	int64_t k = (int64_t)pf_scale(f);
	for (size_t e = 0; e < f->nentries; e++) {
		const pf_entry *en = &f->entries[e];
		if (en->stack_id >= f->nstacks || pos[en->stack_id] == SIZE_MAX)
			continue;
		struct site_live *l = &live[a->stacks[pos[en->stack_id]].site];
		for (size_t x = 0; x < en->nsteps && en->steps[x].snapshot <= snap;
		     x++) {
			const pf_step *st = &en->steps[x];
			l->objects += ((int64_t)st->allocs - (int64_t)st->frees) * k;
			l->bytes += ((int64_t)st->alloc_bytes -
				     (int64_t)st->free_bytes) * k;
		}
	}
	json_live_sites(j, "live_at_peak", a, live, a->nsites);
	free(live);
	free(pos);
}

/* One process's timeline: per point (a snapshot, or several merged when
 * there are more than TIMELINE_POINTS) the allocations in it and the
 * largest in-use objects and bytes; per thread its allocations. */
static void json_process_timeline(json *j, const analysis *a, const pf_file *f)
{
	size_t nsnaps = f->nsnaps;
	uint64_t k = pf_scale(f);
	uint64_t *allocs = xcalloc(nsnaps, sizeof *allocs);
	uint64_t *bytes = xcalloc(nsnaps, sizeof *bytes);
	int64_t *live_objects = xcalloc(nsnaps, sizeof *live_objects);
	int64_t *live_bytes = xcalloc(nsnaps, sizeof *live_bytes);
	for (size_t t = 0; t < f->nthreads; t++) {
		const pf_thread *th = f->threads[t];
		for (size_t i = 0; th && i < th->nticks; i++) {
			const pf_tick *tk = &th->ticks[i];
			allocs[tk->snapshot] += tk->allocs * k;
			bytes[tk->snapshot] += tk->bytes * k;
			live_objects[tk->snapshot] +=
				((int64_t)tk->allocs - (int64_t)tk->frees) * (int64_t)k;
			live_bytes[tk->snapshot] +=
				((int64_t)tk->bytes - (int64_t)tk->free_bytes) *
				(int64_t)k;
		}
	}
	size_t peak = 0;
	for (size_t i = 1; i < nsnaps; i++) {
		live_objects[i] += live_objects[i - 1];
		live_bytes[i] += live_bytes[i - 1];
		if (live_bytes[i] > live_bytes[peak])
			peak = i;
	}
	size_t group = (nsnaps + TIMELINE_POINTS - 1) / TIMELINE_POINTS;
	if (!group)
		group = 1;
	size_t npoints = (nsnaps + group - 1) / group;

	json_begin_object(j, NULL);
	json_u64(j, "pid", f->pid);
	json_str(j, "comm", f->comm ? f->comm : "");
	json_u64(j, "interval_ms", f->interval_ms);
	json_u64(j, "snapshots", nsnaps);
	json_u64(j, "snapshots_per_point", group);
	json_bool(j, "complete", f->complete);
	json_begin_array(j, "points");
	for (size_t p = 0; p < npoints; p++) {
		size_t lo = p * group, hi = lo + group < nsnaps ? lo + group : nsnaps;
		uint64_t pa = 0, pb = 0;
		int64_t lo_max = live_objects[lo], lb_max = live_bytes[lo];
		for (size_t i = lo; i < hi; i++) {
			pa += allocs[i];
			pb += bytes[i];
			if (live_objects[i] > lo_max)
				lo_max = live_objects[i];
			if (live_bytes[i] > lb_max)
				lb_max = live_bytes[i];
		}
		json_begin_object(j, NULL);
		json_double(j, "t_ms", (double)f->snaps[hi - 1].t_ns / 1e6);
		json_u64(j, "alloc_objects", pa);
		json_u64(j, "alloc_space", pb);
		json_i64(j, "inuse_objects", lo_max);
		json_i64(j, "inuse_space", lb_max);
		json_end_object(j);
	}
	json_end_array(j);

	/* threads, most allocations first; the rest as one series */
	const pf_thread **order = xcalloc(f->nthreads, sizeof *order);
	size_t nthreads = 0;
	for (size_t t = 0; t < f->nthreads; t++)
		if (f->threads[t])
			order[nthreads++] = f->threads[t];
	for (size_t i = 1; i < nthreads; i++) /* insertion sort: stable */
		for (size_t x = i; x > 0 && order[x - 1]->allocs < order[x]->allocs;
		     x--) {
			const pf_thread *tmp = order[x];
			order[x] = order[x - 1];
			order[x - 1] = tmp;
		}
	/* one series per thread, at most TIMELINE_THREADS; the rest summed */
	size_t shown = nthreads <= TIMELINE_THREADS + 1 ? nthreads
						       : TIMELINE_THREADS;
	uint64_t *series = xcalloc(npoints, sizeof *series);
	json_begin_array(j, "threads");
	for (size_t i = 0; i <= shown && i < nthreads; i++) {
		memset(series, 0, npoints * sizeof *series);
		size_t upto = i < shown ? i + 1 : nthreads;
		for (size_t t = i; t < upto; t++)
			for (size_t x = 0; x < order[t]->nticks; x++)
				series[order[t]->ticks[x].snapshot / group] +=
					order[t]->ticks[x].allocs * k;
		json_begin_object(j, NULL);
		if (i < shown) {
			json_u64(j, "tid", order[i]->tid);
			json_str(j, "name", order[i]->name);
		} else {
			char *name = xasprintf("%zu other threads", nthreads - shown);
			json_null(j, "tid");
			json_str(j, "name", name);
			free(name);
		}
		json_begin_array(j, "alloc_objects");
		for (size_t p = 0; p < npoints; p++)
			json_u64(j, NULL, series[p]);
		json_end_array(j);
		json_end_object(j);
	}
	json_end_array(j);
	free(series);
	free(order);

	if (nsnaps) {
		json_begin_object(j, "peak");
		json_u64(j, "snapshot", peak);
		json_double(j, "t_ms", (double)f->snaps[peak].t_ns / 1e6);
		json_i64(j, "inuse_objects", live_objects[peak]);
		json_i64(j, "inuse_space", live_bytes[peak]);
		json_end_object(j);
		json_live_at_peak(j, a, f, peak);
	} else {
		json_null(j, "peak");
		json_null(j, "live_at_peak");
	}
	json_end_object(j);
	free(allocs);
	free(bytes);
	free(live_objects);
	free(live_bytes);
}

static void json_timeline(json *j, const analysis *a)
{
	json_begin_object(j, "timeline");
	json_begin_array(j, "processes");
	for (size_t fi = 0; fi < a->set->nfiles; fi++)
		json_process_timeline(j, a, a->set->files[fi]);
	json_end_array(j);
	/* what was live at exit: the last counters of every site */
	struct site_live *live = xcalloc(a->nsites, sizeof *live);
	for (size_t s = 0; s < a->nsites; s++) {
		const an_site *site = &a->sites[s];
		live[s] = (struct site_live){ s, (int64_t)site->inuse_objects,
					      (int64_t)site->inuse_space };
	}
	json_bool(j, "ended_cleanly", !a->partial);
	json_live_sites(j, "live_at_end", a, live, a->nsites);
	free(live);
	json_end_object(j);
}

/* ---- the page ----------------------------------------------------------- */

static const web_asset *find_asset(const char *name, size_t len)
{
	for (const web_asset *w = web_assets; w->name; w++)
		if (strlen(w->name) == len && !memcmp(w->name, name, len))
			return w;
	return NULL;
}

/* The JSON document, safe inside a <script> block: no "<" at all (so no
 * "</script" and no "<!--"), and U+2028/U+2029 escaped. Outside strings
 * JSON has neither, so the escapes only ever land inside strings. */
static void put_script_json(FILE *out, const char *doc, size_t len)
{
	const unsigned char *p = (const unsigned char *)doc;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '<') {
			fputs("\\u003c", out);
		} else if (p[i] == 0xe2 && i + 2 < len && p[i + 1] == 0x80 &&
			   (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
			fputs(p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", out);
			i += 2;
		} else {
			fputc(p[i], out);
		}
	}
}

static void put_html_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*s, out);
		}
	}
}

/* Copies template name to path with its markers replaced: @@data@@ by the
 * document, @@title@@ by title, @@asset:NAME@@ by that file of
 * analyzer/web/. Returns 0 or -errno (after printing why). */
static int write_page(const char *path, const char *name, const char *title,
		      const char *doc, size_t len)
{
	const web_asset *tpl = find_asset(name, strlen(name));
	if (!tpl) {
		fprintf(stderr, "poolscout: page template %s is not built in\n",
			name);
		return -ENOENT;
	}
	FILE *out = fopen(path, "w");
	if (!out) {
		int err = errno;
		fprintf(stderr, "poolscout: cannot write %s: %s\n", path,
			strerror(err));
		return -err;
	}
	const char *p = (const char *)tpl->data, *end = p + tpl->size;
	while (p < end) {
		const char *m = memmem(p, (size_t)(end - p), "@@", 2);
		const char *close = m ? memmem(m + 2, (size_t)(end - m - 2), "@@", 2)
				      : NULL;
		if (!close) {
			fwrite(p, 1, (size_t)(end - p), out);
			break;
		}
		fwrite(p, 1, (size_t)(m - p), out);
		const char *key = m + 2;
		size_t klen = (size_t)(close - key);
		const web_asset *w;
		if (klen == 4 && !memcmp(key, "data", 4)) {
			put_script_json(out, doc, len);
		} else if (klen == 5 && !memcmp(key, "title", 5)) {
			put_html_text(out, title);
		} else if (klen > 6 && !memcmp(key, "asset:", 6) &&
			   (w = find_asset(key + 6, klen - 6))) {
			fwrite(w->data, 1, w->size, out);
		} else { /* not a marker: keep the "@@", look on after it */
			fputs("@@", out);
			p = m + 2;
			continue;
		}
		p = close + 2;
	}
	int failed = ferror(out);
	if (fclose(out) || failed) {
		int err = errno ? errno : EIO;
		fprintf(stderr, "poolscout: cannot write %s: %s\n", path,
			strerror(err));
		return -err;
	}
	return 0;
}

static void say_written(const char *path, const char *what)
{
	struct stat st;
	char size[32];
	fmt_bytes(size, stat(path, &st) ? 0 : (double)st.st_size);
	fprintf(stderr, "poolscout: wrote %s (%s; %s)\n", path, size, what);
}

/* The command name of a's first profile, "?" when it has none. */
static const char *program_name(const analysis *a)
{
	const pf_file *f = a->set->nfiles ? a->set->files[0] : NULL;
	return f && f->comm ? f->comm : "?";
}

/* "threads" as in `report --json` (json_threads()) without each thread's
 * timeline: the page's timeline holds them, merged into fewer points. */
static void json_threads_brief(json *j, const analysis *a)
{
	json_begin_array(j, "threads");
	for (size_t i = 0; i < a->nthreads; i++) {
		json_begin_object(j, NULL);
		json_thread_fields(j, &a->threads[i]);
		json_end_object(j);
	}
	json_end_array(j);
}

/* The `report --json` document of the first sites ranked sites into
 * *doc. When it would be larger than REPORT_BUDGET, first the threads'
 * timelines are left out (*brief_threads set), then sites. Returns how
 * many sites it holds. */
static size_t ranked_document(const analysis *a, size_t sites,
			      int *brief_threads, char **doc, size_t *len)
{
	*brief_threads = 0;
	for (;;) {
		FILE *m = memstream(doc, len);
		json j;
		page_json(&j, m);
		json_begin_object(&j, NULL);
		if (*brief_threads) {
			json_totals(&j, a);
			json_threads_brief(&j, a);
			json_begin_array(&j, "sites");
			for (size_t r = 0; r < sites; r++)
				json_site(&j, a, &a->sites[a->ranked[r]]);
			json_end_array(&j);
		} else {
			json_ranked(&j, a, sites);
		}
		json_end_object(&j);
		fclose(m);
		if (*len <= (size_t)REPORT_BUDGET || (*brief_threads && sites <= 1))
			return sites;
		free(*doc);
		if (!*brief_threads) {
			*brief_threads = 1;
			continue;
		}
		size_t fewer = (size_t)((double)sites * REPORT_BUDGET /
					(double)*len * 0.9);
		sites = fewer >= 1 && fewer < sites ? fewer : sites - 1;
	}
}

int html_report(const char *path, const analysis *a, size_t site_limit)
{
	char *ranked = NULL, *doc = NULL;
	size_t ranked_len = 0, len = 0;
	int brief_threads;
	if (!site_limit)
		site_limit = SITES_MAX;
	size_t sites = ranked_document(a, a->nsites < site_limit ? a->nsites
								  : site_limit,
				       &brief_threads, &ranked, &ranked_len);
	FILE *m = memstream(&doc, &len);
	struct stack_cut cut;
	json j;
	page_json(&j, m);
	json_begin_object(&j, NULL);
	json_raw(&j, "report", ranked, ranked_len);
	json_site_threads(&j, a, sites);
	json_timeline(&j, a);
	long room = PAGE_BUDGET - ftell(m);
	json_stacks(&j, m, "stacks", a, room > STACKS_MIN ? room : STACKS_MIN,
		    &cut);
	json_begin_object(&j, "limits");
	json_u64(&j, "sites_total", a->nsites);
	json_u64(&j, "sites_shown", sites);
	json_bool(&j, "report_thread_timelines", !brief_threads);
	json_stack_cut(&j, "stacks", &cut);
	json_u64(&j, "timeline_points_max", TIMELINE_POINTS);
	json_u64(&j, "timeline_threads_max", TIMELINE_THREADS);
	json_u64(&j, "live_sites_max", LIVE_SITES_MAX);
	json_end_object(&j);
	json_end_object(&j);
	fclose(m);
	free(ranked);

	char *title = xasprintf("poolscout report: %s%s", program_name(a),
				a->set->nfiles > 1 ? " and its processes" : "");
	int rc = write_page(path, "report.html", title, doc, len);
	if (!rc) {
		char *what = xasprintf("%zu of %zu sites, %zu of %zu stacks",
				       sites, a->nsites, cut.shown, cut.total);
		say_written(path, what);
		free(what);
	}
	free(title);
	free(doc);
	return rc;
}

int html_diff(const char *path, const analysis *base, const analysis *now,
	      void (*diff_members)(json *j, const void *ctx), const void *ctx)
{
	char *doc = NULL;
	size_t len = 0;
	FILE *m = memstream(&doc, &len);
	struct stack_cut cut[2];
	json j;
	page_json(&j, m);
	json_begin_object(&j, NULL);
	json_begin_object(&j, "diff");
	diff_members(&j, ctx);
	json_end_object(&j);
	long room = (PAGE_BUDGET - ftell(m)) / 2;
	if (room < STACKS_MIN / 2)
		room = STACKS_MIN / 2;
	json_stacks(&j, m, "base_stacks", base, room, &cut[0]);
	json_stacks(&j, m, "new_stacks", now, room, &cut[1]);
	json_begin_object(&j, "limits");
	json_stack_cut(&j, "base_stacks", &cut[0]);
	json_stack_cut(&j, "new_stacks", &cut[1]);
	json_end_object(&j);
	json_end_object(&j);
	fclose(m);

	char *title = xasprintf("poolscout diff: %s \xe2\x86\x92 %s",
				program_name(base), program_name(now));
	int rc = write_page(path, "diff.html", title, doc, len);
	if (!rc) {
		char *what = xasprintf("%zu and %zu stacks", cut[0].shown,
				       cut[1].shown);
		say_written(path, what);
		free(what);
	}
	free(title);
	free(doc);
	return rc;
}
