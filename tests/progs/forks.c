/* forks.c - children that share or copy the parent's memory in the ways
 * fork() does not: vfork, and raw clone() without CLONE_VM.
 *
 *   forks vfork        parent_work (PARENT_ALLOCS), then a vfork child
 *                      that makes VFORK_CHILD_ALLOCS allocations in
 *                      vfork_child_work (on the parent's heap: it shares
 *                      the parent's memory) and _exits
 *   forks vfork-exec   the same, but the child execs this program as
 *                      "forks exec-target", which makes EXEC_ALLOCS in
 *                      exec_target_work
 *   forks clone        parent_work, then clone(SIGCHLD) without CLONE_VM:
 *                      the child makes CLONE_CHILD_ALLOCS allocations in
 *                      clone_child_work and returns 0
 *   forks clone-vfork  clone(CLONE_VM | CLONE_VFORK | SIGCHLD): the child
 *                      makes VFORK_CHILD_ALLOCS in vfork_child_work
 * Exits 0 when every child exited 0.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PARENT_ALLOCS 100
#define VFORK_CHILD_ALLOCS 50
#define CLONE_CHILD_ALLOCS 60
#define EXEC_ALLOCS 10

#define NOINLINE __attribute__((noinline))
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static void *volatile sink;

static void pairs(int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		sink = malloc(size);
		free(sink);
	}
}

NOINLINE static void parent_work(void) { pairs(PARENT_ALLOCS, 64); NO_TAIL_CALL(); }
NOINLINE static void vfork_child_work(void) { pairs(VFORK_CHILD_ALLOCS, 72); NO_TAIL_CALL(); }
NOINLINE static void clone_child_work(void) { pairs(CLONE_CHILD_ALLOCS, 88); NO_TAIL_CALL(); }
NOINLINE static void exec_target_work(void) { pairs(EXEC_ALLOCS, 96); NO_TAIL_CALL(); }

static int clone_child(void *arg)
{
	(void)arg;
	clone_child_work();
	return 0;
}

static int clone_vfork_child(void *arg)
{
	(void)arg;
	vfork_child_work();
	return 0;
}

static int wait_ok(pid_t pid)
{
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "exec-target")) {
		exec_target_work();
		return 0;
	}
	parent_work();
	pid_t pid;
	if (!strcmp(mode, "vfork") || !strcmp(mode, "vfork-exec")) {
		pid = vfork();
		if (pid == 0) {
			vfork_child_work();
			if (!strcmp(mode, "vfork-exec"))
				execl(argv[0], argv[0], "exec-target", (char *)NULL);
			_exit(0);
		}
	} else if (!strcmp(mode, "clone") || !strcmp(mode, "clone-vfork")) {
		static char stack[256 << 10] __attribute__((aligned(16)));
		int vf = !strcmp(mode, "clone-vfork");
		pid = clone(vf ? clone_vfork_child : clone_child,
			    stack + sizeof stack,
			    (vf ? CLONE_VM | CLONE_VFORK : 0) | SIGCHLD, NULL);
	} else {
		return 2;
	}
	return wait_ok(pid) ? 0 : 1;
}
