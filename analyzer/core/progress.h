/* progress.h - "reading 3/10 files", "symbolizing 12000/131072 stacks"
 * on stderr while long analyzer work runs, when stderr is a terminal
 * and the work takes more than half a second; a line it then clears.
 * Silent otherwise: scripts and pipes see nothing. */
#ifndef POOLSCOUT_PROGRESS_H
#define POOLSCOUT_PROGRESS_H

#include <stddef.h>

/* Starts a step of total units, named what ("symbolizing stacks"). */
void progress_begin(const char *what, size_t total);
/* done units of the current step are done (cheap: call it often). */
void progress_tick(size_t done);
/* Ends the step, clearing its line if one was shown. */
void progress_end(void);

#endif
