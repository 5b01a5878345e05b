/* views.h - pieces the views share: the report header line, JSON blocks
 * for totals, threads and frames. */
#ifndef POOLSCOUT_VIEWS_H
#define POOLSCOUT_VIEWS_H

#include <stdio.h>

#include "analysis.h"
#include "json.h"

/* "N profiles, N threads, duration, N allocations" plus PARTIAL/SAMPLED
 * warnings, so every text view says when its numbers are incomplete. */
void report_header(const analysis *a, FILE *out);
void json_totals(json *j, const analysis *a);
/* "threads": per-thread counts, rates and timelines (threadview.c). */
void json_threads(json *j, const analysis *a);
/* One ranked site with every field of `report --json` (docs/usage.md). */
void json_site(json *j, const analysis *a, const an_site *s);
/* "totals", "threads" and the first limit ranked "sites" (after
 * rank_sites()): the body of `report --json`. */
void json_ranked(json *j, const analysis *a, size_t limit);
/* "frames": up to max frames of a stack, leaf first. */
void json_frames(json *j, const an_stack *st, unsigned max);
/* A stack's value for a pprof sample index: alloc_objects, alloc_space,
 * inuse_objects or inuse_space. */
uint64_t stack_value(const an_stack *st, const char *index);

#endif
