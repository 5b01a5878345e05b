/* info.c - `poolscout info`: what a profile holds and whether it is whole.
 * Per file: process, command line, duration, options, completeness (and
 * where a cut-short file stops), tables, totals, and the module list with
 * what the symbolizer found for each module. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "json.h"
#include "present.h"
#include "units.h"

static size_t count_stacks(const pf_file *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->nstacks; i++)
		n += f->stacks[i] != NULL;
	return n;
}

static void build_id_hex(const pf_module *m, char *out)
{
	for (uint32_t i = 0; i < m->build_id_len; i++)
		sprintf(out + 2 * i, "%02x", m->build_id[i]);
	out[2 * m->build_id_len] = 0;
}

static void print_text(const an_process *t, sym_ctx *sym)
{
	char a[48], b[48], fitted[128];
	const pf_file *f = t->file;
	printf("file:          %s\n",
	       fit_width(fitted, sizeof fitted, f->path, 100 - 15));
	/* the command wrapped at 100 columns, under its first word */
	printf("command:      ");
	size_t col = 14;
	for (uint32_t i = 0; i < f->argc; i++) {
		const char *arg = fit_width(fitted, sizeof fitted, f->argv[i],
					    100 - 15);
		size_t w = strlen(arg) + 1;
		if (i && col + w > 100) {
			printf("\n              ");
			col = 14;
		}
		printf(" %s", arg);
		col += w;
	}
	printf("\n");
	printf("executable:    %s\n",
	       fit_width(fitted, sizeof fitted, f->exe, 100 - 15));
	printf("pid:           %u (parent %u)%s\n", f->pid, f->ppid,
	       f->flags & PS_PROC_FLAG_FORKED ? ", forked from a profiled process"
					      : "");
	time_t start = (time_t)(f->start_real_ns / 1000000000u);
	struct tm tm;
	gmtime_r(&start, &tm);
	strftime(a, sizeof a, "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("started:       %s\n", a);
	printf("duration:      %s\n", fmt_ns(a, (double)f->duration_ns));
	if (f->version >= 8)
		printf("recording:     %s, estimated, summed over its %u "
		       "thread%s\n",
		       fmt_ns(a, (double)t->rec_ns), t->nthreads,
		       t->nthreads == 1 ? "" : "s");
	const char *sig = f->end_reason == PS_END_SIGNAL
				  ? sigabbrev_np((int)f->end_signal)
				  : NULL;
	if (f->complete && f->end_reason == PS_END_SIGNAL)
		printf("complete:      yes (ended by signal %u, SIG%s)\n",
		       f->end_signal, sig ? sig : "?");
	else if (f->complete)
		printf("complete:      yes (ended by %s)\n",
		       pf_end_reason_name(f->end_reason));
	else
		printf("complete:      NO - partial: %s; read %llu of %llu bytes, "
		       "up to snapshot %zu\n",
		       f->partial_why, (unsigned long long)f->good_size,
		       (unsigned long long)f->file_size, f->nsnaps);
	if (f->sample_every > 1)
		printf("sampling:      1 in %u allocations recorded; counts are "
		       "estimates (x%u)\n", f->sample_every, f->sample_every);
	else
		printf("sampling:      none; every allocation counted\n");
	printf("snapshots:     %zu, every %u ms\n", f->nsnaps, f->interval_ms);
	printf("stacks:        %zu (depth cap %u)\n", count_stacks(f), f->depth);
	printf("threads:       %u\n", t->nthreads);
	printf("allocations:   %llu (%s)\n", (unsigned long long)t->allocs,
	       fmt_bytes(a, (double)t->alloc_bytes));
	printf("frees:         %llu (%s), %llu by another thread\n",
	       (unsigned long long)t->frees, fmt_bytes(b, (double)t->free_bytes),
	       (unsigned long long)t->xfrees);
	printf("live at end:   %llu objects (%s)\n",
	       (unsigned long long)(t->allocs - t->frees),
	       fmt_bytes(a, (double)(t->alloc_bytes - t->free_bytes)));
	printf("peak live:     %s objects, %s bytes%s\n", peak_text(a, &t->peak),
	       peak_text(b, &(an_peak){ t->peak.bytes_lo, t->peak.bytes_hi, 0, 0 }),
	       an_peak_exact(&t->peak) ? "" : " (bounds: threads overlapped)");
	if (t->unknown_frees || t->unrecorded_allocs)
		printf("untracked:     %llu frees of blocks allocated before "
		       "profiling; %llu allocations made inside the profiler\n",
		       (unsigned long long)t->unknown_frees,
		       (unsigned long long)t->unrecorded_allocs);
	if (f->work_units)
		printf("units of work: %llu\n", (unsigned long long)f->work_units);
	printf("modules:       %zu\n", f->nmodules);
	for (size_t i = 0; i < f->nmodules; i++) {
		const pf_module *m = &f->modules[i];
		if (!m->id)
			continue;
		char hex[130];
		build_id_hex(m, hex);
		const char *status = sym ? sym_module_status(sym, m) : "not opened";
		/* a long path loses its middle: the line fits 100 columns */
		int room = 100 - 2 - 3 - (int)strlen(status), len = (int)strlen(m->path);
		if (len > room && room > 20)
			printf("  %.*s...%s [%s]\n", room / 2 - 2, m->path,
			       m->path + len - (room - (room / 2 - 2) - 3), status);
		else
			printf("  %s [%s]\n", m->path, status);
		if (m->build_id_len)
			printf("    build-id %s%s\n", hex,
			       m->unload_epoch ? ", unloaded during the run" : "");
	}
}

static void print_json(json *j, const an_process *t, sym_ctx *sym)
{
	const pf_file *f = t->file;
	json_begin_object(j, NULL);
	json_str(j, "file", f->path);
	json_u64(j, "pid", f->pid);
	json_u64(j, "ppid", f->ppid);
	json_str(j, "executable", f->exe);
	json_str(j, "comm", f->comm);
	json_begin_array(j, "argv");
	for (uint32_t i = 0; i < f->argc; i++)
		json_str(j, NULL, f->argv[i]);
	json_end_array(j);
	json_u64(j, "start_unix_ns", f->start_real_ns);
	json_u64(j, "duration_ns", f->duration_ns);
	if (f->version >= 8)
		json_u64(j, "recording_ns", t->rec_ns);
	else
		json_null(j, "recording_ns");
	json_bool(j, "complete", f->complete);
	if (f->complete) {
		json_str(j, "end_reason", pf_end_reason_name(f->end_reason));
		if (f->end_reason == PS_END_SIGNAL)
			json_u64(j, "end_signal", f->end_signal);
	} else {
		json_str(j, "partial", f->partial_why);
	}
	json_u64(j, "bytes_read", f->good_size);
	json_u64(j, "file_size", f->file_size);
	json_u64(j, "sample_every", f->sample_every);
	json_u64(j, "interval_ms", f->interval_ms);
	json_u64(j, "snapshots", f->nsnaps);
	json_u64(j, "stacks", count_stacks(f));
	json_u64(j, "threads", t->nthreads);
	json_begin_object(j, "totals");
	json_u64(j, "alloc_objects", t->allocs);
	json_u64(j, "alloc_space", t->alloc_bytes);
	json_u64(j, "frees", t->frees);
	json_u64(j, "free_space", t->free_bytes);
	json_u64(j, "cross_thread_frees", t->xfrees);
	json_u64(j, "inuse_objects", t->allocs - t->frees);
	json_u64(j, "inuse_space", t->alloc_bytes - t->free_bytes);
	json_peak(j, "peak_live", &t->peak);
	json_u64(j, "unknown_frees", t->unknown_frees);
	json_u64(j, "unrecorded_allocs", t->unrecorded_allocs);
	json_u64(j, "work_units", f->work_units);
	json_end_object(j);
	json_begin_array(j, "modules");
	for (size_t i = 0; i < f->nmodules; i++) {
		const pf_module *m = &f->modules[i];
		if (!m->id)
			continue;
		char hex[130];
		build_id_hex(m, hex);
		json_begin_object(j, NULL);
		json_str(j, "path", m->path);
		json_str(j, "build_id", hex);
		json_u64(j, "base", m->base);
		json_bool(j, "unloaded", m->unload_epoch != 0);
		if (sym)
			json_str(j, "symbols", sym_module_status(sym, m));
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
}

int cmd_info(int argc, char **argv)
{
	int as_json = 0, first = 1;
	for (first = 1; first < argc && argv[first][0] == '-'; first++) {
		if (!strcmp(argv[first], "--json"))
			as_json = 1;
		else
			return usage_error("info: unknown option '%s'", argv[first]);
	}
	if (options_after_files(argc, argv, first, "info"))
		return 2;
	if (first >= argc)
		return usage_error("info: no profile given; usage: poolscout info "
				   "[--json] FILE...");
	analysis a;
	an_opts quick = { .processes_only = 1 };
	int rc = analysis_load(&a, argv + first, argc - first, &quick);
	if (rc) {
		analysis_free(&a);
		return rc;
	}
	json j;
	json_init(&j, stdout);
	if (as_json)
		json_begin_array(&j, NULL);
	for (size_t i = 0; i < a.set->nfiles; i++) {
		if (as_json) {
			print_json(&j, &a.processes[i], a.sym);
		} else {
			if (i)
				printf("\n");
			print_text(&a.processes[i], a.sym);
		}
	}
	if (as_json) {
		json_end_array(&j);
		json_finish(&j);
	}
	analysis_free(&a);
	return 0;
}
