/* slow_malloc.c - an allocator under the preload that takes its time, for
 * the deferred-signal checks of tests/integration/exit_paths.sh: preloaded
 * after libpoolscout.so, it is the "real" malloc the preload's hook calls.
 * A request of SLOW_MALLOC_SIZE bytes (tests/progs/killed.c's "stuck"
 * mode makes one) prints "ready stuck" on stdout and sleeps
 * $SLOW_MALLOC_MS ms (default 60000) before it allocates: a signal sent
 * then lands inside the preload's hook. Every other request, and every
 * free, is glibc's as usual.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define SLOW_MALLOC_SIZE 777777

void *__libc_malloc(size_t size);

void *malloc(size_t size)
{
	if (size == SLOW_MALLOC_SIZE) {
		static const char line[] = "ready stuck\n";
		ssize_t w = write(STDOUT_FILENO, line, sizeof line - 1);
		(void)w;
		long ms = 60000;
		const char *env = getenv("SLOW_MALLOC_MS");
		if (env)
			ms = atol(env);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
		/* a signal with a handler that returns (the preload's, when
		 * it puts the signal off) wakes nanosleep early: sleep on */
		while (nanosleep(&ts, &ts) != 0)
			;
	}
	return __libc_malloc(size);
}
