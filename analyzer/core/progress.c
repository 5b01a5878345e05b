/* progress.c - the progress line (see progress.h): a stack of steps,
 * drawn at most five times a second. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define MAX_DEPTH 4

static struct step {
	const char *what;
	size_t done, total;
} steps[MAX_DEPTH];
static int depth; /* steps begun and not ended (may exceed MAX_DEPTH) */
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
	if (!depth)
		started = now();
	if (depth < MAX_DEPTH)
		steps[depth] = (struct step){ what, 0, total };
	depth++;
}

void progress_tick(size_t done)
{
	if (depth > 0 && depth <= MAX_DEPTH)
		steps[depth - 1].done = done;
	/* many small steps: look at the clock once in a while */
	if (!enabled || depth <= 0 ||
	    (steps[(depth <= MAX_DEPTH ? depth : MAX_DEPTH) - 1].total > 4096 &&
	     (++calls & 1023)))
		return;
	double t = now();
	if (t - started < 0.5 || t - last_shown < 0.2)
		return;
	last_shown = t;
	shown = 1;
	fputs("\rpoolscout:", stderr);
	for (int i = 0; i < depth && i < MAX_DEPTH; i++)
		fprintf(stderr, "%s %s %zu/%zu", i ? "," : "", steps[i].what,
			steps[i].done, steps[i].total);
	fputs("\033[K", stderr);
}

void progress_end(void)
{
	if (depth > 0)
		depth--;
	if (!depth && shown) {
		fputs("\r\033[K", stderr);
		shown = 0;
	}
}
