/* dtor_exit.c - exit() from a signal handler while the loader runs the
 * destructors: the program's own destructor (run before the preload's)
 * raises SIGUSR1, whose handler calls exit(42). glibc then skips the rest
 * of the destructors, the preload's among them. main keeps 100 blocks of
 * 48 bytes from kept_blocks() and returns 0. */
#include <signal.h>
#include <stdlib.h>

void *volatile kept[100];

static void on_usr1(int sig)
{
	(void)sig;
	exit(42);
}

__attribute__((destructor)) static void program_dtor(void)
{
	raise(SIGUSR1);
}

__attribute__((noinline)) static void kept_blocks(void)
{
	for (int i = 0; i < 100; i++)
		kept[i] = malloc(48);
}

int main(void)
{
	signal(SIGUSR1, on_usr1);
	kept_blocks();
	return 0;
}
