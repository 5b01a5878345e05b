/* progress.c - the progress line (see progress.h). */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

static const char *step;
static size_t step_total;
static double started, last_shown;
static int shown, enabled = -1;
static unsigned calls;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_begin(const char *what, size_t total)
{
	if (enabled < 0)
		enabled = isatty(STDERR_FILENO);
	step = what;
	step_total = total;
	started = now();
	shown = 0;
}

void progress_tick(size_t done)
{
	/* many small steps: look at the clock once in a while */
	if (!enabled || (step_total > 4096 && (++calls & 1023)))
		return;
	double t = now();
	if (t - started < 0.5 || t - last_shown < 0.2)
		return;
	last_shown = t;
	shown = 1;
	fprintf(stderr, "\rpoolscout: %s %zu/%zu  ", step, done, step_total);
}

void progress_end(void)
{
	if (shown)
		fputs("\r\033[K", stderr);
	shown = 0;
}
