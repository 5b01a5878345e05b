/* unshare_user.c - allocates, then enters a new user namespace, which the
 * kernel refuses to a multithreaded process (EINVAL).
 *
 * Does UNSHARE_ALLOCS malloc/free pairs in before_unshare, calls
 * unshare(CLONE_NEWUSER) and prints "unshare: ok threads=N" (N from
 * /proc/self/status) or "unshare: <error> threads=N". Exits 0 when
 * unshare succeeded, 1 when it failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNSHARE_ALLOCS 1000

static void *volatile sink;

__attribute__((noinline)) static void before_unshare(void)
{
	for (int i = 0; i < UNSHARE_ALLOCS; i++) {
		sink = malloc(40);
		free(sink);
	}
}

static int count_threads(void)
{
	char line[256];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

int main(void)
{
	before_unshare();
	int threads = count_threads();
	int rc = unshare(CLONE_NEWUSER);
	int err = errno;
	printf("unshare: %s threads=%d\n", rc ? strerror(err) : "ok", threads);
	return rc ? 1 : 0;
}
