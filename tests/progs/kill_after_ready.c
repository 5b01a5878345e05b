/* kill_after_ready.c - runs a command, sends it a signal once it prints a
 * line starting with "ready", and says exactly how it ended (for
 * tests/integration/exit_paths.sh: a shell's $? cannot tell exit(143)
 * from death by SIGTERM, nor say whether a core was dumped).
 *
 *   kill_after_ready [-i SIG]... [-d MS] SIG CMD [ARG...]
 *
 * The command starts with SIGHUP, SIGINT, SIGPIPE, SIGALRM, SIGTERM,
 * SIGUSR1 and SIGUSR2 at SIG_DFL (a shell running the tests in the
 * background would have it ignore SIGINT), except each -i SIG, which it
 * inherits ignored. -d: wait MS ms after the ready line before the
 * signal. Its output is passed on, then one line: "status: signal N",
 * "status: signal N core", "status: exit N", or "status: timeout" (30 s,
 * then SIGKILL). Exit status 0, or 2 on bad usage.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;
static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	kill(child, SIGKILL);
}

int main(int argc, char **argv)
{
	static const int defaulted[] = { SIGHUP, SIGINT, SIGPIPE, SIGALRM,
					 SIGTERM, SIGUSR1, SIGUSR2 };
	int ignored[16], nignored = 0;
	long delay_ms = 0;
	int opt;
	while ((opt = getopt(argc, argv, "+i:d:")) != -1) {
		if (opt == 'i' && nignored < 16)
			ignored[nignored++] = atoi(optarg);
		else if (opt == 'd')
			delay_ms = atol(optarg);
		else
			return 2;
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: kill_after_ready [-i SIG]... [-d MS] SIG CMD...\n");
		return 2;
	}
	int sig = atoi(argv[optind]);
	int out[2];
	if (pipe(out) != 0)
		return 2;
	fflush(stdout);
	child = fork();
	if (child < 0)
		return 2;
	if (child == 0) {
		for (size_t i = 0; i < sizeof defaulted / sizeof *defaulted; i++)
			signal(defaulted[i], SIG_DFL);
		for (int i = 0; i < nignored; i++)
			signal(ignored[i], SIG_IGN);
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		execvp(argv[optind + 1], argv + optind + 1);
		perror(argv[optind + 1]);
		_exit(127);
	}
	close(out[1]);
	signal(SIGALRM, on_alarm);
	alarm(30);
	FILE *in = fdopen(out[0], "r");
	char line[4096];
	int sent = 0;
	while (in && fgets(line, sizeof line, in)) {
		fputs(line, stdout);
		fflush(stdout);
		if (!sent && !strncmp(line, "ready", 5)) {
			if (delay_ms) {
				struct timespec ts = { delay_ms / 1000,
						       (delay_ms % 1000) * 1000000 };
				nanosleep(&ts, NULL);
			}
			kill(child, sig);
			sent = 1;
		}
	}
	int status;
	while (waitpid(child, &status, 0) < 0)
		;
	if (timed_out)
		printf("status: timeout\n");
	else if (WIFSIGNALED(status))
		printf("status: signal %d%s\n", WTERMSIG(status),
		       WCOREDUMP(status) ? " core" : "");
	else
		printf("status: exit %d\n", WEXITSTATUS(status));
	return 0;
}
