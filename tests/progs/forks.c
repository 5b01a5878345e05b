/* forks.c - children that share or copy the parent's memory in the ways
 * fork() does not: vfork, and raw clone() without CLONE_VM.
 *
 *   forks vfork        parent_work (PARENT_ALLOCS pairs) and parent_keep
 *                      (PARENT_KEEP blocks kept), then a vfork child that
 *                      runs vfork_child_body on the parent's heap (it
 *                      shares the parent's memory) and _exits:
 *                      vfork_child_work, VFORK_CHILD_ALLOCS pairs;
 *                      child_frees, CHILD_FREES of the parent's kept
 *                      blocks freed; child_keeps, CHILD_KEEPS blocks made
 *                      for the parent, which frees them after the wait;
 *                      child_grows, one kept block realloc'ed larger,
 *                      which the parent frees too; then both_alloc, from
 *                      the call site the parent calls it from next; then
 *                      a second vfork child makes one block for the
 *                      parent
 *   forks vfork-nolog  vfork, the child with no address space to spare
 *                      (RLIMIT_AS): the preload cannot map its log
 *   forks vfork-then-fork  a vfork child allocates and _exits, then a
 *                      second thread forks (the fork must not wait for
 *                      the vfork child's thread, which is the parent's)
 *   forks thread-vfork a thread that has allocated nothing vforks: the
 *                      child makes CHILD_KEEPS blocks in child_keeps,
 *                      which the thread frees after the wait
 *   forks vfork-exec   the same, but the child execs this program as
 *                      "forks exec-target", which makes EXEC_ALLOCS in
 *                      exec_target_work
 *   forks clone        parent_work, then clone(SIGCHLD) without CLONE_VM:
 *                      the child makes CLONE_CHILD_ALLOCS allocations in
 *                      clone_child_work and returns 0
 *   forks clone-vfork  parent_work and parent_keep, then
 *                      clone(CLONE_VM | CLONE_VFORK | SIGCHLD): the child
 *                      runs vfork_child_body and returns 0
 * The vfork modes print on stderr what the parent's heap saw, counted by
 * the program as it went (the child's calls too: they are on that heap):
 * "heap allocs=A frees=F live=L peak=P bytes=B live_bytes=LB resized=R
 * child=CA,CF", CA and CF what the first child allocated and freed. Exits 0 when every child exited
 * 0.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define PARENT_ALLOCS 100
#define PARENT_KEEP 20
#define VFORK_CHILD_ALLOCS 50
#define CHILD_FREES 10
#define CHILD_KEEPS 5
#define CLONE_CHILD_ALLOCS 60
#define EXEC_ALLOCS 10

#define NOINLINE __attribute__((noinline))
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static int wait_ok(pid_t pid)
{
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void *volatile sink;
/* the heap's own count (in memory the vfork child shares), and of it
 * what the first vfork child did (in_child 1; the second's is 2) */
static long allocs, frees, live, peak, bytes, live_bytes, resized;
static long child_allocs, child_freed;
static int in_child;
static void *kept[PARENT_KEEP];
static void *for_parent[CHILD_KEEPS];
static void *both[2], *second;

static void count_alloc(size_t size)
{
	allocs++;
	bytes += (long)size;
	live_bytes += (long)size;
	child_allocs += in_child == 1;
	if (++live > peak)
		peak = live;
}

static void count_free(size_t size)
{
	frees++;
	live_bytes -= (long)size;
	child_freed += in_child == 1;
	live--;
}

static void *counted_malloc(size_t size)
{
	void *p = malloc(size);
	count_alloc(size);
	return p;
}

static void counted_free(void *p, size_t size)
{
	free(p);
	count_free(size);
}

static void pairs(int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		sink = counted_malloc(size);
		counted_free(sink, size);
	}
}

NOINLINE static void parent_work(void) { pairs(PARENT_ALLOCS, 64); NO_TAIL_CALL(); }
NOINLINE static void vfork_child_work(void) { pairs(VFORK_CHILD_ALLOCS, 72); NO_TAIL_CALL(); }
NOINLINE static void clone_child_work(void) { pairs(CLONE_CHILD_ALLOCS, 88); NO_TAIL_CALL(); }
NOINLINE static void exec_target_work(void) { pairs(EXEC_ALLOCS, 96); NO_TAIL_CALL(); }

NOINLINE static void parent_keep(void)
{
	for (int i = 0; i < PARENT_KEEP; i++)
		kept[i] = counted_malloc(40);
	NO_TAIL_CALL();
}

NOINLINE static void child_frees(void)
{
	for (int i = 0; i < CHILD_FREES; i++)
		counted_free(kept[i], 40);
	NO_TAIL_CALL();
}

NOINLINE static void child_keeps(void)
{
	for (int i = 0; i < CHILD_KEEPS; i++)
		for_parent[i] = counted_malloc(568);
	NO_TAIL_CALL();
}

/* a realloc that moves: the old block freed, a new one allocated */
NOINLINE static void child_grows(void)
{
	kept[CHILD_FREES] = realloc(kept[CHILD_FREES], 4000);
	count_free(40);
	count_alloc(4000);
	resized++;
	NO_TAIL_CALL();
}

/* what a vfork child does on its parent's heap */
static void vfork_child_body(void)
{
	in_child = 1;
	vfork_child_work();
	child_frees();
	child_keeps();
	child_grows();
}

/* Called from one call site by a vfork child (its last allocation) and
 * then by the parent (its first after the child): the same stack twice,
 * but the parent's allocation is the parent's. */
NOINLINE static void both_alloc(int child)
{
	both[child] = counted_malloc(24);
	NO_TAIL_CALL();
}

/* A second vfork child, whose only allocation the parent frees. */
static int second_child(void)
{
	pid_t pid = vfork();
	if (pid == 0) {
		in_child = 2;
		second = counted_malloc(16);
		_exit(0);
	}
	return wait_ok(pid);
}

/* the parent, after the children: frees what they made for it */
static void parent_after(void)
{
	in_child = 0; /* the second child set it in our memory */
	for (int i = 0; i < CHILD_KEEPS; i++)
		counted_free(for_parent[i], 568);
	counted_free(kept[CHILD_FREES], 4000);
	counted_free(both[0], 24);
	counted_free(both[1], 24);
	counted_free(second, 16);
	char line[200];
	int n = snprintf(line, sizeof line,
			 "heap allocs=%ld frees=%ld live=%ld peak=%ld bytes=%ld "
			 "live_bytes=%ld resized=%ld child=%ld,%ld\n",
			 allocs, frees, live, peak, bytes, live_bytes, resized,
			 child_allocs, child_freed);
	if (write(2, line, (size_t)n) != n)
		_exit(3);
}

static int clone_child(void *arg)
{
	(void)arg;
	clone_child_work();
	return 0;
}

static int clone_vfork_child(void *arg)
{
	(void)arg;
	vfork_child_body();
	both_alloc(0);
	return 0;
}

static int go[2]; /* the forking thread waits for a byte on go[0] */

static void *fork_once(void *arg)
{
	char c;
	if (read(go[0], &c, 1) != 1)
		return NULL;
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	return wait_ok(pid) ? arg : NULL;
}

/* A vfork child that allocates and _exits, then a fork from another
 * thread, made before (so that this thread allocates nothing after the
 * child). */
static int vfork_then_fork(void)
{
	pthread_t th;
	void *ok = NULL;
	if (pipe(go) != 0 || pthread_create(&th, NULL, fork_once, &ok) != 0)
		return 0;
	pid_t pid = vfork();
	if (pid == 0) {
		vfork_child_work();
		_exit(0);
	}
	int waited = wait_ok(pid);
	if (write(go[1], "", 1) != 1 || pthread_join(th, &ok) != 0)
		return 0;
	return waited && ok != NULL;
}

static void *thread_vfork(void *arg)
{
	pid_t pid = vfork();
	if (pid == 0) {
		child_keeps();
		_exit(0);
	}
	int ok = wait_ok(pid);
	for (int i = 0; i < CHILD_KEEPS; i++)
		free(for_parent[i]);
	return ok ? arg : NULL;
}

/* Limits the address space to what is mapped now and 8 MiB, the limit
 * as it was into *was; 0 when it cannot be read. */
static int as_limit(struct rlimit *was)
{
	char buf[64] = "";
	int fd = open("/proc/self/statm", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0 || getrlimit(RLIMIT_AS, was) != 0)
		return 0;
	struct rlimit now = *was;
	now.rlim_cur = (rlim_t)strtoul(buf, NULL, 10) * (rlim_t)sysconf(_SC_PAGESIZE) +
		       (8u << 20);
	return setrlimit(RLIMIT_AS, &now) == 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "exec-target")) {
		exec_target_work();
		return 0;
	}
	parent_work();
	if (!strcmp(mode, "vfork-then-fork"))
		return vfork_then_fork() ? 0 : 1;
	if (!strcmp(mode, "thread-vfork")) {
		static int token;
		pthread_t th;
		void *ok = NULL;
		return pthread_create(&th, NULL, thread_vfork, &token) == 0 &&
			       pthread_join(th, &ok) == 0 && ok ? 0 : 1;
	}
	pid_t pid;
	int vf = 0;
	if (!strcmp(mode, "vfork") || !strcmp(mode, "vfork-exec") ||
	    !strcmp(mode, "vfork-nolog")) {
		parent_keep();
		vf = 1;
		struct rlimit was;
		int nolog = !strcmp(mode, "vfork-nolog");
		if (nolog && !as_limit(&was))
			return 4;
		pid = vfork();
		if (nolog && pid != 0) /* (the child keeps its own) */
			setrlimit(RLIMIT_AS, &was);
		if (pid == 0)
			vfork_child_body();
		else
			in_child = 0; /* the child set it in our memory */
		both_alloc(pid != 0); /* the child's both[0], ours both[1] */
		if (pid == 0) {
			if (!strcmp(mode, "vfork-exec"))
				execl(argv[0], argv[0], "exec-target", (char *)NULL);
			_exit(0);
		}
	} else if (!strcmp(mode, "clone") || !strcmp(mode, "clone-vfork")) {
		static char stack[256 << 10] __attribute__((aligned(16)));
		vf = !strcmp(mode, "clone-vfork");
		if (vf)
			parent_keep();
		pid = clone(vf ? clone_vfork_child : clone_child,
			    stack + sizeof stack,
			    (vf ? CLONE_VM | CLONE_VFORK : 0) | SIGCHLD, NULL);
		if (vf) {
			in_child = 0;
			both_alloc(1);
		}
	} else {
		return 2;
	}
	int ok = wait_ok(pid);
	if (vf) {
		ok &= second_child();
		parent_after();
	}
	return ok ? 0 : 1;
}
