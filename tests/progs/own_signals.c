/* own_signals.c - a program's handlers for signals the preload leaves
 * alone (it catches only those that end a program at their default,
 * preload/signals.c): installed with sigaction and with signal, they
 * must be installed, run, and read back as set.
 *
 *   own_signals N
 *
 * Raises SIGWINCH (handler set by sigaction) and SIGCHLD (by signal) N
 * times each. Prints on stdout "winch N chld N query ok|bad": the
 * handlers' own counts, and whether sigaction and signal read back the
 * handlers that were set.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t winch, chld;

static void on_winch(int sig)
{
	(void)sig;
	winch++;
}

static void on_chld(int sig)
{
	(void)sig;
	chld++;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10;
	struct sigaction sa, back;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_winch;
	sigemptyset(&sa.sa_mask);
	int ok = sigaction(SIGWINCH, &sa, NULL) == 0;
	ok &= signal(SIGCHLD, on_chld) != SIG_ERR;
	for (int i = 0; i < n; i++) {
		free(malloc(32));
		raise(SIGWINCH);
		raise(SIGCHLD);
	}
	memset(&back, 0, sizeof back);
	ok &= sigaction(SIGWINCH, NULL, &back) == 0 && back.sa_handler == on_winch;
	ok &= signal(SIGCHLD, SIG_DFL) == on_chld;
	printf("winch %d chld %d query %s\n", (int)winch, (int)chld,
	       ok ? "ok" : "bad");
	return 0;
}
