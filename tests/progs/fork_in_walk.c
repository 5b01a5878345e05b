/* fork_in_walk.c - fork() while another thread is inside the preload's
 * stack walk must wait until that thread has left it (capture.c: the
 * unwinders take locks a child would inherit held, and unwind.c frees
 * replaced tables only when no thread is inside a walk).
 *
 * usage: fork_in_walk WALK_OFFSET WALK_SIZE  (hex, from nm -S of
 * libpoolscout.so: the fast walk's function, `walk`), under the preload.
 *
 * A worker thread allocates from deep, varied stacks; the main thread
 * signals it until the signal lands with the worker's rip inside the
 * walk, where the handler holds it (spinning, no calls). Then another
 * thread forks: the fork must not return while the worker is held. After
 * HOLD_MS the worker is let go, and the fork must then return. Prints
 * "caught_after=N signals fork_returned_while_held=0|1" and exits 0 when
 * the fork waited, 1 when it did not, 77 when no signal landed in the walk.
 */
#define _GNU_SOURCE
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define HOLD_MS 400
#define MAX_SIGNALS 200000

static uintptr_t walk_lo, walk_hi;
static int caught, released, stop, forked;
static void *volatile sink;
static volatile int keep;

static int find_preload(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	if (strstr(info->dlpi_name, "libpoolscout.so")) {
		*(uintptr_t *)arg = info->dlpi_addr;
		return 1;
	}
	return 0;
}

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	uintptr_t rip = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
	if (rip < walk_lo || rip >= walk_hi ||
	    __atomic_load_n(&caught, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&caught, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&released, __ATOMIC_ACQUIRE))
		;
}

__attribute__((noinline)) static int dive(int depth, int salt)
{
	if (depth == 0) {
		void *p = malloc(16 + (size_t)salt);
		sink = p;
		free(p);
		return 1;
	}
	if (depth % 3 == salt % 3)
		return dive(depth - 1, salt) + keep;
	return dive(depth - 1, salt + 1) + keep;
}

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++)
		dive(20 + i % 23, i % 7);
	return NULL;
}

static void *forker(void *arg)
{
	(void)arg;
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	__atomic_store_n(&forked, 1, __ATOMIC_RELEASE);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: fork_in_walk WALK_OFFSET WALK_SIZE\n");
		return 2;
	}
	uintptr_t base = 0;
	if (!dl_iterate_phdr(find_preload, &base)) {
		fprintf(stderr, "fork_in_walk: libpoolscout.so is not loaded\n");
		return 2;
	}
	walk_lo = base + strtoull(argv[1], NULL, 16);
	walk_hi = walk_lo + strtoull(argv[2], NULL, 16);
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);

	pthread_t w, f;
	pthread_create(&w, NULL, worker, NULL);
	int sent = 0;
	struct timespec gap = { 0, 20000 };
	while (!__atomic_load_n(&caught, __ATOMIC_ACQUIRE) && sent < MAX_SIGNALS) {
		pthread_kill(w, SIGUSR2);
		sent++;
		nanosleep(&gap, NULL);
	}
	if (!__atomic_load_n(&caught, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&released, 1, __ATOMIC_RELEASE);
		pthread_join(w, NULL);
		printf("caught_after=none of %d signals\n", sent);
		return 77;
	}
	pthread_create(&f, NULL, forker, NULL);
	struct timespec hold = { 0, HOLD_MS * 1000000L };
	nanosleep(&hold, NULL);
	int early = __atomic_load_n(&forked, __ATOMIC_ACQUIRE);
	__atomic_store_n(&released, 1, __ATOMIC_RELEASE);
	pthread_join(f, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(w, NULL);
	printf("caught_after=%d signals fork_returned_while_held=%d\n", sent, early);
	return early ? 1 : 0;
}
