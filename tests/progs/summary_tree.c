/* summary_tree.c - a process tree with known allocation counts, for
 * `poolscout record`'s closing summary (tests/integration/cli.sh).
 *
 *   summary_tree [tear]
 *
 * The parent makes PARENT_ALLOCS allocations, then forks, one at a time:
 * a child that makes CHILD_ALLOCS[0] and returns from main (exit), one
 * that makes CHILD_ALLOCS[1] and calls _exit, one that makes
 * CHILD_ALLOCS[2] and returns, and one that makes EXEC_CHILD_ALLOCS
 * (half before an exec that fails, half after: its profile goes on past
 * an END) and execs this program as "summary_tree exec-target", which
 * makes EXEC_TARGET_ALLOCS (that pid writes two profiles). Each allocation is a
 * malloc and its free; nothing else allocates (no stdio: write(2)).
 *
 * With "tear", once the children have ended, the parent damages the end
 * of two of their profiles (in $POOLSCOUT_OUT) as a torn write or an
 * older writer would leave it: the first child's is cut by one byte, the
 * second's loses its last 40 bytes (its TOTALS record, docs/format.md).
 *
 * It prints "summary_tree: N allocations, P processes, F profiles" on
 * stdout: what it made, for the test to compare with record's summary.
 * Exits 0, or 1 when a child failed or a profile could not be torn.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PARENT_ALLOCS 1000
#define EXEC_CHILD_ALLOCS 150
#define EXEC_TARGET_ALLOCS 400
static const int CHILD_ALLOCS[3] = { 1100, 1200, 1300 };

static void *volatile sink;

static void allocate(int n)
{
	for (int i = 0; i < n; i++) {
		sink = malloc(24);
		free(sink);
	}
}

/* Cuts `bytes` off the end of the profile of pid, a child of ours (so of
 * our command name), in $POOLSCOUT_OUT; 0 or -1. No opendir: it would
 * allocate. */
static int tear(pid_t pid, off_t bytes)
{
	const char *dir = getenv("POOLSCOUT_OUT");
	char comm[64], path[4096];
	int fd = open("/proc/self/comm", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, comm, sizeof comm - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (!dir || n <= 1)
		return -1;
	comm[n - 1] = 0; /* its newline */
	snprintf(path, sizeof path, "%s/poolscout.%s.%d.pscout", dir, comm,
		 (int)pid);
	struct stat st;
	if (stat(path, &st) || st.st_size <= bytes)
		return -1;
	return truncate(path, st.st_size - bytes);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "exec-target")) {
		allocate(EXEC_TARGET_ALLOCS);
		return 0;
	}
	int tearing = argc > 1 && !strcmp(argv[1], "tear");
	allocate(PARENT_ALLOCS);
	int total = PARENT_ALLOCS, failed = 0;
	pid_t pids[4];
	for (int i = 0; i < 4; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			if (i == 3) {
				char *args[] = { argv[0], "exec-target", NULL };
				allocate(EXEC_CHILD_ALLOCS / 2);
				execv("/nonexistent/summary_tree", args);
				allocate(EXEC_CHILD_ALLOCS - EXEC_CHILD_ALLOCS / 2);
				execv("/proc/self/exe", args);
				_exit(127);
			}
			allocate(CHILD_ALLOCS[i]);
			if (i == 1)
				_exit(0);
			exit(0);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			failed = 1;
		pids[i] = pid;
		total += i == 3 ? EXEC_CHILD_ALLOCS + EXEC_TARGET_ALLOCS
				: CHILD_ALLOCS[i];
	}
	if (tearing && (tear(pids[0], 1) || tear(pids[1], 40)))
		failed = 1;
	char line[128];
	int n = snprintf(line, sizeof line, "summary_tree: %d allocations, %d "
			 "processes, %d profiles\n", total, 5, 6);
	if (write(1, line, (size_t)n) != n)
		failed = 1;
	return failed;
}
