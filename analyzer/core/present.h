/* present.h - how the model's objects read, shared by every command: the
 * header lines each text view starts with (what was read, and every
 * reason its numbers may be incomplete), and the JSON form of totals,
 * threads, sites, stacks and frames (docs/usage.md lists the fields).
 * Commands select from the model and call these; no command calls
 * another. */
#ifndef POOLSCOUT_PRESENT_H
#define POOLSCOUT_PRESENT_H

#include <stdio.h>

#include "json.h"
#include "model.h"

/* "N profiles, N threads, duration, N allocations", then a PARTIAL,
 * SAMPLED and missing-symbols line where they apply. */
void report_header(const analysis *a, FILE *out);
/* "function (file:line) via wrapper" into buf. */
const char *site_label(char *buf, size_t len, const an_site *s);
/* frame_label() of f, then " via VIA" when via is not NULL, in at most
 * width bytes (cap >= width + 1): a name too long is cut in its middle
 * first, so that the file:line or call address and the wrapper stay
 * whole (a call address while the name keeps 8 columns; an unnamed
 * wrapper of the frame's own module, "module+0xSTART", is shortened
 * to "+0xSTART" when the whole does not fit); only when those alone do
 * not fit is the whole label cut. */
const char *frame_label_fit(char *buf, size_t cap, const an_frame *f,
			    const char *via, size_t width);
/* Up to n of the site's stack slots (indexes into s->stacks and
 * s->stack_allocs), most allocations first, ties in file order. */
size_t site_top_stacks(const an_site *s, size_t *out, size_t n);
/* "N" for an exact peak, "LO..HI" for a bounded one (buf >= 48 bytes). */
const char *peak_text(char *buf, const an_peak *p);

void json_totals(json *j, const analysis *a);
/* "threads": per-thread counts, peaks, rates and timelines. */
/* A thread's fields as `report --json` writes them ("pid" ... "end_ns"),
 * inside an object the caller opened. */
void json_thread_fields(json *j, const an_thread *at);
void json_threads(json *j, const analysis *a);
/* "unsymbolized": modules whose frames have no names, and the fix. */
void json_unsymbolized(json *j, const analysis *a);
/* One ranked site with every field of `report --json`. */
void json_site(json *j, const analysis *a, const an_site *s);
/* "totals", "threads", "unsymbolized" and the first limit ranked
 * "sites" (after rank_sites()): the body of `report --json`. */
void json_ranked(json *j, const analysis *a, size_t limit);
/* "frames": up to max frames of a stack, leaf first. */
void json_frames(json *j, const an_stack *st, unsigned max);
/* A peak as {"lo", "hi", "exact", "bytes_lo", "bytes_hi"} under key. */
void json_peak(json *j, const char *key, const an_peak *p);

#endif
