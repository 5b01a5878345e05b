/* html.h - the self-contained HTML pages of `report --html` and
 * `diff --html` (html.c). Each page is one file: the template, style and
 * scripts of analyzer/web/ (compiled in by mk/embed.sh) and one JSON
 * document in a <script type="application/json"> block. docs/usage.md
 * describes the document. */
#ifndef POOLSCOUT_HTML_H
#define POOLSCOUT_HTML_H

#include <stddef.h>

#include "model.h"
#include "json.h"

/* The files of analyzer/web/, by name ("report.js"), generated at build
 * time into web_assets.c; the table ends with a NULL name. */
typedef struct web_asset {
	const char *name;
	const unsigned char *data;
	size_t size;
} web_asset;
extern const web_asset web_assets[];

/* Writes the report page of a (after rank_sites()) to path: the ranked
 * sites (at most site_limit; 0: at most 500), the stacks for the flame graph, the
 * timeline and what was live at exit. Prints one line on stderr saying
 * what it wrote. Returns 0, or -errno when the file cannot be written
 * (after printing "poolscout: cannot write PATH: reason"). */
int html_report(const char *path, const analysis *a, size_t site_limit);

/* Writes the diff page to path. diff_members writes the members of the
 * `diff --json` document into the object html.c has opened (diff.c owns
 * that document); base and now give the stacks of the differential
 * flame graph. Returns as html_report(). */
int html_diff(const char *path, const analysis *base, const analysis *now,
	      void (*diff_members)(json *j, const void *ctx), const void *ctx);

#endif
