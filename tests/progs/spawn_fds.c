/* spawn_fds.c - the profile's descriptor must not reach a new image:
 * this program allocates (so that its profile is open), then runs the
 * same shell command through posix_spawn, system, popen and fork+execl.
 * The command prints how many of its open descriptors name this
 * process's profile (poolscout.spawn_fds.PID...): 0 each time, so
 * "spawn 0 system 0 popen 0 execl 0" on stdout. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(void)
{
	for (int i = 0; i < 100; i++)
		free(malloc(32));
	char cmd[256];
	snprintf(cmd, sizeof cmd,
		 "n=0; for f in /proc/$$/fd/*; do case $(readlink $f) in "
		 "*/poolscout.spawn_fds.%d.*) n=$((n + 1));; esac; done; "
		 "echo $n", (int)getpid());
	char *argv[] = { "sh", "-c", cmd, NULL };
	pid_t pid;
	printf("spawn ");
	fflush(stdout);
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0)
		waitpid(pid, NULL, 0);
	printf("system ");
	fflush(stdout);
	if (system(cmd) != 0)
		return 1;
	printf("popen ");
	FILE *p = popen(cmd, "r");
	char line[64];
	while (p && fgets(line, sizeof line, p))
		fputs(line, stdout);
	if (p)
		pclose(p);
	printf("execl ");
	fflush(stdout);
	if (fork() == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(1);
	}
	wait(NULL);
	return 0;
}
