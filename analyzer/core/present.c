/* present.c - the shared header lines and JSON blocks (see present.h). */
#include <stdio.h>
#include <string.h>

#include "present.h"
#include "ranking.h"
#include "units.h"

#define STACKS_SHOWN 3

const char *peak_text(char *buf, const an_peak *p)
{
	if (an_peak_exact(p))
		snprintf(buf, 48, "%llu", (unsigned long long)p->hi);
	else
		snprintf(buf, 48, "%llu..%llu", (unsigned long long)p->lo,
			 (unsigned long long)p->hi);
	return buf;
}

const char *site_label(char *buf, size_t len, const an_site *s)
{
	char where[512];
	frame_label(where, sizeof where, &s->where);
	if (s->via || s->via_runtime)
		snprintf(buf, len, "%s via %s", where,
			 s->via ? s->via : s->via_runtime);
	else
		snprintf(buf, len, "%s", where);
	return buf;
}

/* A wrapper the symbolizer could not name, in the site's own module, is
 * "module+0xSTART": in a column too narrow for the whole label, its
 * "+0xSTART" alone says which, and leaves the place its room (two
 * sites of one unnamed function through one unnamed wrapper differ only
 * in their call address). */
static const char *via_short(const an_frame *f, const char *via)
{
	if (!f->module)
		return via;
	const char *base = strrchr(f->module, '/');
	base = base ? base + 1 : f->module;
	size_t b = strlen(base);
	if (b && !strncmp(via, base, b) && !strncmp(via + b, "+0x", 3))
		return via + b;
	return via;
}

/* label then via_text, cut in its middle to width (cap >= width + 1). */
static const char *whole_fit(char *buf, size_t cap, const char *label,
			     const char *via_text, size_t width)
{
	char whole[1536];
	snprintf(whole, sizeof whole, "%s%s", label, via_text);
	const char *fitted = fit_width(buf, cap, whole, width);
	if (fitted != buf)
		snprintf(buf, cap, "%s", fitted);
	return buf;
}

const char *frame_label_fit(char *buf, size_t cap, const an_frame *f,
			    const char *via, size_t width)
{
	char label[1024], name[256], loc[256], tail[256], whole[1536];
	frame_label(label, sizeof label, f);
	/* frame_label starts with the name; then the file:line or address */
	size_t n = strlen(f->function), len = strlen(label);
	if (n > len)
		n = len;
	char v[512] = "";
	if (via)
		snprintf(v, sizeof v, " via %s", via);
	size_t l = len - n, vl = strlen(v);
	if (n + l + vl <= width || width < 16 || width >= sizeof name)
		return whole_fit(buf, cap, label, v, width);
	if (via && via_short(f, via) != via) {
		snprintf(v, sizeof v, " via %s", via_short(f, via));
		vl = strlen(v);
	}
	/* the name first (up to two thirds of the width, more when the
	 * rest fits), then the wrapper, then the place, each cut in its
	 * middle */
	size_t want = 2 * width / 3;
	if (vl < width && width - vl < want)
		want = width - vl; /* the wrapper whole, if the name keeps */
	if (want < width / 3)
		want = width / 3; /* ... a third at least */
	if (want < 8)
		want = 8; /* fit_width's shortest cut */
	if (l + vl < width && width - l - vl > want)
		want = width - l - vl;
	/* a call address (no line) is what tells two sites of one function
	 * apart (they are keyed by it): it stays whole while the name
	 * keeps 8 columns */
	if (!f->file && l + vl + 8 <= width && want > width - l - vl)
		want = width - l - vl;
	size_t name_w = n < want ? n : want;
	size_t rest = width - name_w;
	const char *place = "", *wrapper = v;
	if (vl <= rest) {
		if (rest - vl >= l)
			place = label + n;
		else if (rest - vl >= 12)
			place = fit_width(loc, sizeof loc, label + n, rest - vl);
	} else if (rest >= 8) {
		wrapper = fit_width(tail, sizeof tail, v, rest);
	} else {
		wrapper = NULL;
	}
	if (wrapper) {
		snprintf(whole, sizeof whole, "%.*s", (int)n, label);
		snprintf(buf, cap, "%s%s%s",
			 fit_width(name, sizeof name, whole, name_w), place, wrapper);
		return buf;
	}
	/* too narrow for parts: the whole label cut in its middle */
	return whole_fit(buf, cap, label, v, width);
}

/* What would name the frames of a module the symbolizer found nothing
 * for, from what it found. */
static const char *symbol_fix(const an_unsymbolized *u)
{
	if (strstr(u->status, "not found"))
		return "the file is not on this machine: analyze where the "
		       "program ran";
	if (strstr(u->status, "differs"))
		return "the file changed since the run: analyze the same build";
	if (strstr(u->status, "no module"))
		return "code outside every loaded object (JIT or freed)";
	return "stripped: install its -dbgsym package, or build with -g "
	       "and do not strip";
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
	if (a->rec_ns && a->rec_ns >= a->duration_ns / 100)
		fprintf(out, "RECORDING: took about %s of the run (%.0f%%, "
			     "estimated); rates are per second\n  of the "
			     "program's own %s\n",
			fmt_ns(b1, (double)a->rec_ns),
			100.0 * (double)a->rec_ns / (double)a->duration_ns,
			fmt_ns(b2, (double)(a->duration_ns - a->rec_ns)));
	if (a->sample_every > 1)
		fprintf(out, "SAMPLED: 1 in %u allocations recorded, at random; "
			     "counts are estimates (each site\n  says how close, "
			     "95%%); lifetimes are the recorded blocks'; a peak\n  "
			     "is lo..hi: the recorded blocks' (surely live at once) "
			     "up to %u times that\n",
			a->sample_every, a->sample_every);
	if (a->filtered)
		fprintf(out, "FILTERED:%s\n%s", a->filter_text,
			a->window_ns ? "  counts of those snapshot intervals; "
				       "sizes, lifetimes and peaks of the whole "
				       "run\n"
				     : "");
	if (a->short_procs >= AN_SHORT_PROCESSES)
		fprintf(out, "PROCESSES: %zu of the run's processes lived under "
			     "50 ms: the preload's start and\n  exit in each "
			     "(loading it, writing its profile) lengthened the "
			     "run and are in no\n  profile; the rates of a "
			     "process that waited for them read low\n",
			a->short_procs);
	if (a->cut_allocs)
		fprintf(out, "DEPTH: %s of the allocations (%.1f%%) have stacks "
			     "cut at the depth cap (--depth %u)\n  with nothing "
			     "of the program's above their site: such a site "
			     "may be a wrapper,\n  or the runtime's own code, "
			     "whose callers went unrecorded; record with a "
			     "larger --depth\n",
			fmt_count(b1, (double)a->cut_allocs),
			100.0 * (double)a->cut_allocs /
				(double)(a->allocs ? a->allocs : 1),
			a->cut_depth);
	/* runtimes that allocate behind malloc's back */
	if (a->pymalloc)
		fprintf(out, "NOTE: CPython serves small objects from its own pools "
			     "(pymalloc), not malloc;\n  run with PYTHONMALLOC=malloc "
			     "to see every object\n");
	if (a->zend_mm)
		fprintf(out, "NOTE: PHP serves its values from its own allocator "
			     "(Zend MM), not malloc: a script's\n  allocations do not "
			     "show; run with USE_ZEND_ALLOC=0 to see every one\n");
	if (a->tcl_alloc)
		fprintf(out, "NOTE: Tcl serves its objects from its own per-thread "
			     "caches (TclpAlloc), not malloc:\n  a script's objects "
			     "do not show, only the caches' refills (no setting turns "
			     "it off)\n");
	if (a->ruby_heap)
		fprintf(out, "NOTE: Ruby keeps its objects in its own heap pages, "
			     "not malloc: malloc sees\n  their buffers only (strings "
			     "over 23 B, arrays over 3, hashes; no setting turns it "
			     "off)\n");
	if (a->gslice)
		fprintf(out, "NOTE: glib before 2.76 serves g_slice_alloc (GObjects, "
			     "lists, hash table nodes) from its\n  own magazines "
			     "(GSlice), not malloc: run with G_SLICE=always-malloc to "
			     "see every one\n");
	/* modules whose missing names hide sites */
	size_t shown = 0;
	for (size_t i = 0; i < a->nunsymbolized; i++) {
		const an_unsymbolized *u = &a->unsymbolized[i];
		if (!u->allocs)
			continue;
		if (!shown++)
			fprintf(out, "NO SYMBOLS: %llu of %llu code addresses have no "
				     "name; their functions show as module+0xSTART\n",
				(unsigned long long)a->unsymbolized_frames,
				(unsigned long long)a->frames);
		if (shown > 4) {
			fprintf(out, "  ... and more modules (report --json lists "
				     "them)\n");
			break;
		}
		fprintf(out, "  %s: %s allocations\n    %s\n", u->module,
			fmt_count(b1, (double)u->allocs), symbol_fix(u));
	}
}

void json_peak(json *j, const char *key, const an_peak *p)
{
	json_begin_object(j, key);
	json_u64(j, "lo", p->lo);
	json_u64(j, "hi", p->hi);
	json_bool(j, "exact", an_peak_exact(p));
	json_u64(j, "bytes_lo", p->bytes_lo);
	json_u64(j, "bytes_hi", p->bytes_hi);
	json_end_object(j);
}

void json_frames(json *j, const an_stack *st, unsigned max)
{
	json_begin_array(j, "frames");
	for (unsigned i = 0; i < st->nframes && i < max; i++) {
		const an_frame *f = st->frames[i];
		json_begin_object(j, NULL);
		json_str(j, "function", f->function);
		if (f->file)
			json_str(j, "file", f->file);
		else
			json_null(j, "file");
		json_u64(j, "line", f->line);
		json_str(j, "module", f->module);
		json_u64(j, "offset", f->offset);
		json_end_object(j);
	}
	json_end_array(j);
}

void json_totals(json *j, const analysis *a)
{
	json_begin_object(j, "totals");
	json_u64(j, "alloc_objects", a->allocs);
	json_u64(j, "alloc_space", a->alloc_bytes);
	json_u64(j, "inuse_objects", a->inuse_objects);
	json_u64(j, "inuse_space", a->inuse_space);
	json_u64(j, "frees", a->frees);
	json_u64(j, "cross_thread_frees", a->xfrees);
	json_peak(j, "peak_live", &a->peak);
	json_u64(j, "duration_ns", a->duration_ns);
	json_u64(j, "recording_ns", a->rec_ns);
	json_u64(j, "files", a->set->nfiles);
	json_u64(j, "threads", a->nthreads);
	json_u64(j, "work_units", a->work_units);
	json_bool(j, "partial", a->partial);
	json_u64(j, "sample_every", a->sample_every);
	if (a->filtered)
		json_str(j, "filters", a->filter_text + 1);
	else
		json_null(j, "filters");
	json_end_object(j);
}

void json_thread_fields(json *j, const an_thread *at)
{
	const pf_thread *t = at->thread;
	json_u64(j, "pid", at->file->pid);
	json_u64(j, "tid", t->tid);
	json_str(j, "name", t->name);
	json_u64(j, "alloc_objects", at->allocs);
	json_u64(j, "alloc_space", at->alloc_bytes);
	json_u64(j, "frees", at->frees);
	json_u64(j, "cross_thread_frees", at->xfrees);
	json_peak(j, "peak_live", &at->peak);
	json_double(j, "alloc_rate_per_s", at->rate_per_s);
	json_u64(j, "recording_ns", at->rec_ns);
	json_u64(j, "start_ns", t->start_ns);
	if (t->ended)
		json_u64(j, "end_ns", t->end_ns);
	else
		json_null(j, "end_ns");
}

void json_threads(json *j, const analysis *a)
{
	json_begin_array(j, "threads");
	for (size_t i = 0; i < a->nthreads; i++) {
		const an_thread *at = &a->threads[i];
		const pf_file *f = at->file;
		const pf_thread *t = at->thread;
		uint64_t k = pf_scale(f);
		json_begin_object(j, NULL);
		json_thread_fields(j, at);
		json_begin_array(j, "timeline");
		for (size_t x = 0; x < t->nticks; x++) {
			const pf_tick *tk = &t->ticks[x];
			json_begin_object(j, NULL);
			json_double(j, "t_ms", (double)f->snaps[tk->snapshot].t_ns / 1e6);
			json_u64(j, "alloc_objects", tk->allocs * k);
			json_u64(j, "alloc_space", tk->bytes * k);
			json_u64(j, "frees", tk->frees * k);
			json_end_object(j);
		}
		json_end_array(j);
		json_end_object(j);
	}
	json_end_array(j);
}

void json_unsymbolized(json *j, const analysis *a)
{
	json_begin_object(j, "symbols");
	json_u64(j, "addresses", a->frames);
	json_u64(j, "unnamed", a->unsymbolized_frames);
	json_begin_array(j, "unsymbolized");
	for (size_t i = 0; i < a->nunsymbolized; i++) {
		const an_unsymbolized *u = &a->unsymbolized[i];
		json_begin_object(j, NULL);
		json_str(j, "module", u->module);
		json_str(j, "found", u->status);
		json_u64(j, "addresses", u->frames);
		json_u64(j, "site_allocs", u->allocs);
		json_str(j, "fix", symbol_fix(u));
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
}

static int by_allocs_desc(const an_site *s, size_t i, size_t j)
{
	return s->stack_allocs[i] < s->stack_allocs[j];
}

size_t site_top_stacks(const an_site *s, size_t *out, size_t n)
{
	size_t k = 0;
	/* selection of the n largest, ties in file order */
	for (; k < n && k < s->nstacks; k++) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < s->nstacks; i++) {
			int taken = 0;
			for (size_t x = 0; x < k; x++)
				taken |= out[x] == i;
			if (taken)
				continue;
			if (best == SIZE_MAX || by_allocs_desc(s, best, i))
				best = i;
		}
		out[k] = best;
	}
	return k;
}

static void json_pct(json *j, const char *key, const an_pct *p)
{
	char lo[64], hi[64];
	snprintf(lo, sizeof lo, "%s_lo", key);
	snprintf(hi, sizeof hi, "%s", key);
	/* the upper bound keeps the field's historic name */
	json_double(j, hi, p->hi_ns);
	json_double(j, lo, p->lo_ns);
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
	json_u64(j, "offset", s->where.offset);
	if (s->via)
		json_str(j, "via", s->via);
	else
		json_null(j, "via");
	if (s->via_runtime)
		json_str(j, "via_runtime", s->via_runtime);
	else
		json_null(j, "via_runtime");
	json_str(j, "remedy", remedy_name(s->remedy));
	json_begin_array(j, "reasons");
	for (int i = 0; i < s->nreasons; i++)
		json_str(j, NULL, s->reasons[i]);
	json_end_array(j);
	json_u64(j, "alloc_objects", s->allocs);
	json_double(j, "alloc_objects_error95", s->allocs_error95);
	json_u64(j, "alloc_space", s->alloc_bytes);
	json_u64(j, "inuse_objects", s->inuse_objects);
	json_u64(j, "inuse_space", s->inuse_space);
	json_u64(j, "frees", s->frees);
	json_u64(j, "cross_thread_frees", s->xfrees);
	json_u64(j, "peak_live_objects", s->peak.hi);
	json_peak(j, "peak_live", &s->peak);
	json_u64(j, "thread_peak_live_objects", s->thread_peak.hi);
	json_peak(j, "thread_peak_live", &s->thread_peak);
	json_u64(j, "alloc_threads", s->alloc_threads);
	json_u64(j, "alloc_processes", s->alloc_procs);
	json_u64(j, "size_min", s->size_min);
	json_u64(j, "size_max", s->size_max);
	json_pct(j, "lifetime_ns_p50", &s->lifetime_p50);
	json_pct(j, "lifetime_ns_p99", &s->lifetime_p99);
	json_double(j, "cross_thread_free_ratio", s->xfree_ratio);
	json_double(j, "alloc_rate_per_s", s->rate_per_s);
	json_double(j, "alloc_rate_peak_per_s", s->rate_peak_per_s);
	json_double(j, "alloc_rate_run_per_s", s->rate_run_per_s);
	json_u64(j, "first_alloc_ns", s->first_alloc_ns);
	json_u64(j, "last_alloc_ns", s->last_alloc_ns);
	json_u64(j, "live_at_peak_objects", s->live_at_peak_objects);
	json_u64(j, "live_at_peak_space", s->live_at_peak_space);
	json_u64(j, "realloc_growth_steps", s->realloc_grows);
	json_u64(j, "realloc_steps_max", s->chain_steps_max);
	json_u64(j, "realloc_resized_objects", s->resized);
	json_u64(j, "realloc_resized_grown_objects", s->resized_grown);
	json_u64(j, "realloc_resized_size_max", s->resized_size_max);
	json_u64(j, "pool_size", s->pool_size);
	json_u64(j, "pool_size_max", s->pool_size_max);
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
	size_t n = site_top_stacks(s, idx, STACKS_SHOWN);
	for (size_t i = 0; i < n; i++) {
		const an_stack *st = &a->stacks[s->stacks[idx[i]]];
		json_begin_object(j, NULL);
		json_u64(j, "alloc_objects", s->stack_allocs[idx[i]]);
		json_u64(j, "inuse_objects",
			 st->allocs > st->frees ? st->allocs - st->frees : 0);
		json_peak(j, "peak_live", &st->peak);
		json_frames(j, st, 64);
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
}

void json_ranked(json *j, const analysis *a, size_t limit)
{
	json_totals(j, a);
	json_threads(j, a);
	json_unsymbolized(j, a);
	json_begin_array(j, "sites");
	for (size_t r = 0; r < a->nsites && r < limit; r++)
		json_site(j, a, &a->sites[a->ranked[r]]);
	json_end_array(j);
}
