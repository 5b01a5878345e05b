/* dlclose_self.c - a program that dlopen()s libpoolscout.so itself (not
 * through LD_PRELOAD) and dlclose()s it, then goes on: allocates, starts
 * a thread, forks, waits longer than a snapshot interval, and exits.
 *
 *   dlclose_self LIB [global]
 *
 * Prints "done" and exits 0 when it survived; a library whose writer
 * thread, fork handlers or thread-exit destructor outlive its code
 * crashes it.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

static void *thread_main(void *arg)
{
	(void)arg;
	sink = malloc(10);
	free(sink);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: dlclose_self LIB [global]\n");
		return 2;
	}
	int mode = RTLD_NOW | (argc > 2 ? RTLD_GLOBAL : RTLD_LOCAL);
	void *h = dlopen(argv[1], mode);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	sink = malloc(100);
	free(sink);
	if (dlclose(h)) {
		fprintf(stderr, "dlclose: %s\n", dlerror());
		return 3;
	}
	for (int i = 0; i < 100; i++) {
		sink = malloc(100);
		free(sink);
	}
	pthread_t t;
	pthread_create(&t, NULL, thread_main, NULL);
	pthread_join(t, NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	int status;
	waitpid(pid, &status, 0);
	usleep(300000); /* longer than the default 100 ms interval */
	printf("done\n");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 4;
}
