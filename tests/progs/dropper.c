/* dropper.c - a server that drops root's privileges before it forks its
 * worker, as nginx does: main allocates, switches to uid/gid 65534
 * (nobody) when it is root, forks; the worker makes DROP_ALLOCS
 * allocations in worker_work and exits 0. Exits 0 when the worker did.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define DROP_ALLOCS 25

static void *volatile sink;

__attribute__((noinline)) static void worker_work(void)
{
	for (int i = 0; i < DROP_ALLOCS; i++) {
		sink = malloc(64);
		free(sink);
	}
	__asm__ volatile("" ::: "memory");
}

int main(void)
{
	sink = malloc(10);
	free(sink);
	if (geteuid() == 0 &&
	    (setgroups(0, NULL) || setgid(65534) || setuid(65534)))
		return 2;
	pid_t pid = fork();
	if (pid == 0) {
		worker_work();
		exit(0);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
