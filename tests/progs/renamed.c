/* renamed.c - a process that names itself after its first allocation
 * (prctl, as a daemon does: "tmux: server") and ends by returning from
 * main: its thread is listed under the new name. It allocates once
 * before and once after.
 *
 *   renamed fork: names itself "a/b c\x7f" instead, then forks a child
 *   that allocates once: the child's profile is named after that name,
 *   each of '/', ' ' and 0x7f made '_' (poolscout.a_b_c_.PID.pscout). */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fork_child = argc > 1 && !strcmp(argv[1], "fork");
	void *volatile p = malloc(16);
	free(p);
	prctl(PR_SET_NAME, fork_child ? "a/b c\x7f" : "renamed-late", 0, 0, 0);
	p = malloc(32);
	free(p);
	if (fork_child) {
		pid_t pid = fork();
		if (pid == 0) {
			p = malloc(48);
			free(p);
			_exit(0);
		}
		int status;
		if (pid < 0 || waitpid(pid, &status, 0) != pid || status)
			return 1;
	}
	return 0;
}
