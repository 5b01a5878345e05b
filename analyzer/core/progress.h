/* progress.h - "reading profiles 3/10, symbolizing stacks 12000/131072"
 * on stderr while long analyzer work runs, when stderr is a terminal
 * and the work takes more than half a second; a line it then clears.
 * Steps nest (a file's stacks within the files): the line shows each.
 * Silent otherwise: scripts and pipes see nothing. */
#ifndef POOLSCOUT_PROGRESS_H
#define POOLSCOUT_PROGRESS_H

#include <stddef.h>

/* Starts a step of total units, named what ("symbolizing stacks"),
 * inside the step under way if any (at most 4 deep). */
void progress_begin(const char *what, size_t total);
/* done units of the innermost step are done (cheap: call it often). */
void progress_tick(size_t done);
/* Ends the innermost step; the line is cleared when the outermost ends. */
void progress_end(void);

#endif
