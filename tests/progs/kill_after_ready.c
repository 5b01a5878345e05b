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
 * signal. -a: if the command is still running MS ms after the signal,
 * print "again" and send it a second time (once). Its output is passed on, then one line: "status: signal N",
 * "status: signal N core", "status: exit N", or "status: timeout" (30 s,
 * then SIGKILL). Exit status 0, or 2 on bad usage.
 */
#define _GNU_SOURCE
#include <pthread.h>
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

/* -a: a thread that sends sig again if the child is still running after
 * ms ms (the reading loop is blocked on the child's output meanwhile). */
static int again_sig;
static long again_wait_ms;

static void *again(void *arg)
{
	(void)arg;
	struct timespec ts = { again_wait_ms / 1000, (again_wait_ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
	siginfo_t info;
	memset(&info, 0, sizeof info);
	/* WNOWAIT: the main thread still reaps it and reads its status */
	if (waitid(P_PID, (id_t)child, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    info.si_pid == 0) {
		static const char line[] = "again\n";
		ssize_t w = write(STDOUT_FILENO, line, sizeof line - 1);
		(void)w;
		kill(child, again_sig);
	}
	return NULL;
}

static void send_again_after(int sig, long ms)
{
	pthread_t t;
	again_sig = sig;
	again_wait_ms = ms;
	if (pthread_create(&t, NULL, again, NULL) == 0)
		pthread_detach(t);
}

int main(int argc, char **argv)
{
	static const int defaulted[] = { SIGHUP, SIGINT, SIGPIPE, SIGALRM,
					 SIGTERM, SIGUSR1, SIGUSR2 };
	int ignored[16], nignored = 0;
	long delay_ms = 0, again_ms = -1;
	int opt;
	while ((opt = getopt(argc, argv, "+i:d:a:")) != -1) {
		if (opt == 'i' && nignored < 16)
			ignored[nignored++] = atoi(optarg);
		else if (opt == 'd')
			delay_ms = atol(optarg);
		else if (opt == 'a')
			again_ms = atol(optarg);
		else
			return 2;
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: kill_after_ready [-i SIG]... [-d MS] [-a MS] SIG CMD...\n");
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
			if (again_ms >= 0)
				send_again_after(sig, again_ms);
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
