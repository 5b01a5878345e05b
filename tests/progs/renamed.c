/* renamed.c - a process that names itself after its first allocation
 * (prctl, as a daemon does: "tmux: server") and ends by returning from
 * main: its thread is listed under the new name. It allocates once
 * before and once after. */
#include <stdlib.h>
#include <sys/prctl.h>

int main(void)
{
	void *volatile p = malloc(16);
	free(p);
	prctl(PR_SET_NAME, "renamed-late", 0, 0, 0);
	p = malloc(32);
	free(p);
	return 0;
}
