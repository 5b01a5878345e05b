/* report.c - `poolscout report` (the default view): allocation sites ranked
 * as pooling candidates, each with its remedy, the reasons and numbers
 * behind it, what the remedy saves, and the stacks that reach it. Text
 * fits 100 columns; --json carries the fields docs/usage.md lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "html.h"
#include "present.h"
#include "ranking.h"
#include "units.h"

#define DEFAULT_SITES 10
#define STACKS_SHOWN 3
#define FRAMES_SHOWN 5

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

/* Formats "  ALLOCS  site < caller < ..." into line (at most 99
 * columns). */
static void stack_line(char *line, size_t cap, const an_stack *st,
		       uint64_t allocs)
{
	char n[32];
	int col = snprintf(line, cap, "      %7s  ", fmt_count(n, (double)allocs));
	for (unsigned i = 0; i < st->nframes && i < FRAMES_SHOWN; i++) {
		const char *fn = st->frames[i]->function;
		int w = (int)strlen(fn) + (i ? 3 : 0);
		/* room for " < ..." after this frame if more follow */
		int tail = i + 1 < st->nframes ? 6 : 0;
		if (col + w + tail > 99) {
			if (!i) /* the site itself: as much of its name as fits */
				col += snprintf(line + col, cap - (size_t)col, "%.*s",
						99 - col - 3, fn);
			snprintf(line + col, cap - (size_t)col, "%s...",
				 i ? " < " : "");
			return;
		}
		col += snprintf(line + col, cap - (size_t)col, "%s%s", i ? " < " : "",
				fn);
	}
}

/* The first frame where stacks x and y differ (by function, line or
 * return address), or -1 when they are the same frames. */
static int first_difference(const an_stack *x, const an_stack *y)
{
	unsigned n = x->nframes < y->nframes ? x->nframes : y->nframes;
	for (unsigned j = 0; j < n; j++) {
		const an_frame *a = x->frames[j], *b = y->frames[j];
		if (strcmp(a->function, b->function) || a->line != b->line ||
		    a->ip != b->ip)
			return (int)j;
	}
	return x->nframes == y->nframes ? -1 : (int)n;
}

/* Prints the site's top stacks; two that would read the same (they
 * differ deeper, in a line, or in the process) say what differs. */
static void print_stacks(const analysis *a, const an_site *s, FILE *out)
{
	size_t idx[STACKS_SHOWN];
	char lines[STACKS_SHOWN][512];
	size_t n = site_top_stacks(s, idx, STACKS_SHOWN);
	for (size_t i = 0; i < n; i++)
		stack_line(lines[i], sizeof lines[i], &a->stacks[s->stacks[idx[i]]],
			   s->stack_allocs[idx[i]]);
	for (size_t i = 0; i < n; i++) {
		const an_stack *st = &a->stacks[s->stacks[idx[i]]];
		fprintf(out, "%s\n", lines[i]);
		int diff = -2;
		for (size_t k = 0; k < n && diff == -2; k++)
			if (k != i && !strcmp(lines[k] + 15, lines[i] + 15))
				diff = first_difference(st,
							&a->stacks[s->stacks[idx[k]]]);
		if (diff == -2)
			continue;
		char fitted[128], at[40];
		if (diff < 0 || (unsigned)diff >= st->nframes) {
			/* the same frames from the site on: they differ in the
			 * wrapper frames below it, which the line leaves out
			 * (trial 7: cc1's three "resolve_mixers" stacks, through
			 * xrealloc and through htab_create's xcalloc) */
			char below[160] = "";
			size_t len = 0;
			for (unsigned j = 0; j < st->nskipped && len < 100; j++) {
				len += (size_t)snprintf(below + len, sizeof below - len,
							"%s%s", j ? " < " : ", through ",
							frame_label_fit(fitted, sizeof fitted,
									st->all[j], NULL, 40));
				if (len >= sizeof below)
					break; /* cut: snprintf ended it */
			}
			fprintf(out, "               (stack %u of pid %u, %u frames%s)\n",
				st->stack->id, st->file->pid, st->nframes, below);
			continue;
		}
		/* a frame without a name says its address already */
		const an_frame *fr = st->frames[diff];
		frame_label_fit(fitted, sizeof fitted, fr, NULL, 40);
		snprintf(at, sizeof at, " at 0x%llx", (unsigned long long)fr->offset);
		size_t fl = strlen(fitted), al = strlen(at);
		if (fl >= al && !strcmp(fitted + fl - al, at))
			fprintf(out, "               (stack %u: frame %d is %s)\n",
				st->stack->id, diff + 1, fitted);
		else
			fprintf(out, "               (stack %u: frame %d is %s, "
				     "+0x%llx)\n",
				st->stack->id, diff + 1, fitted,
				(unsigned long long)fr->offset);
	}
}

static void print_text(const analysis *a, int limit, FILE *out)
{
	char b1[32], b2[32], b3[48], fitted[128];
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
			fmt_bytes(b2, (double)s->inuse_space),
			frame_label_fit(fitted, sizeof fitted, &s->where,
					s->via ? s->via : s->via_runtime,
					100 - 53));
		for (int i = 0; i < s->nreasons; i++)
			print_wrapped(out, s->reasons[i]);
		if (s->remedy != REMEDY_NONE)
			fprintf(out, "      saves ~%s allocator calls and %s/s "
				     "churned\n",
				fmt_rate(b1, s->saved_calls_per_s),
				fmt_bytes(b2, s->saved_bytes_per_s));
		print_stacks(a, s, out);
		fputc('\n', out);
	}
	if ((size_t)limit < a->nsites)
		fprintf(out, "(%zu more sites; -n to see more)\n",
			a->nsites - (size_t)limit);
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
	int rc = view_opts_parse(&o, argc, argv, "report", VIEW_HTML);
	if (rc)
		return rc;
	analysis a;
	/* the page lists every stack of every process: it reads them all */
	o.model.stream = !o.html;
	rc = analysis_load(&a, o.files, o.nfiles, &o.model);
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
