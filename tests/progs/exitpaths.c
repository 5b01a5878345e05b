/* exitpaths.c - a multithreaded allocating program that a signal handler
 * ends, for the exit-path stress test (tests/integration/exit_paths.sh).
 *
 *   exitpaths HOW WHEN SEED
 *
 * HOW is what the SIGUSR1 handler does: exit (exit(42)), _exit (_exit(42)),
 * exec (execs this program as "exitpaths target", which exits 42), abort
 * (abort(): killed by SIGABRT), kill (raise(SIGKILL)).
 * WHEN picks the moment:
 *   worker  the handler runs in a worker thread, in the middle of its
 *           allocations (so often inside a hook holding a lock);
 *   final   main calls exit(0) while a killer thread keeps signalling the
 *           main thread, so the handler interrupts the final snapshot
 *           (the status is then 42, or 0 when exit() won the race).
 * Before anything else main leaks KEPT blocks from kept_blocks(), which
 * every profile that ends with a final snapshot must show live.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define WORKERS 4
#define KEPT 100

static const char *how;
static char *self_path;
static pthread_t workers[WORKERS];
static pthread_t main_thread;
static void *volatile sink;

static void on_signal(int sig)
{
	(void)sig;
	if (!strcmp(how, "exit"))
		exit(42);
	if (!strcmp(how, "_exit"))
		_exit(42);
	if (!strcmp(how, "exec")) {
		char *argv[] = { self_path, "target", NULL };
		execv(self_path, argv);
		_exit(99);
	}
	if (!strcmp(how, "abort"))
		abort();
	raise(SIGKILL);
}

/* Many distinct stacks (one per path through left and right, 2^12) make
 * the final snapshot long enough to hit. */
NOINLINE static void branch_alloc(unsigned path, int depth, size_t size);

NOINLINE static void left(unsigned path, int depth, size_t size)
{
	branch_alloc(path, depth, size);
	__asm__ volatile("" ::: "memory"); /* no tail call */
}

NOINLINE static void right(unsigned path, int depth, size_t size)
{
	branch_alloc(path, depth, size);
	__asm__ volatile("" ::: "memory");
}

NOINLINE static void branch_alloc(unsigned path, int depth, size_t size)
{
	if (depth > 0) {
		(path & 1 ? left : right)(path >> 1, depth - 1, size);
		return;
	}
	void *p = malloc(size);
	sink = p;
	free(p);
}

NOINLINE static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (;;) {
		branch_alloc(rand_r(&seed), 12, 16 + rand_r(&seed) % 64);
		void *p = calloc(1, 64);
		p = realloc(p, 200);
		free(p);
	}
	return NULL;
}

NOINLINE static void kept_blocks(void)
{
	for (int i = 0; i < KEPT; i++)
		sink = malloc(1000);
}

static void *killer(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_kill(main_thread, SIGUSR1);
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts))
		;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "target"))
		return 42;
	if (argc < 4) {
		fprintf(stderr, "usage: exitpaths exit|_exit|exec|abort|kill "
				"worker|final SEED\n");
		return 2;
	}
	how = argv[1];
	self_path = argv[0];
	unsigned seed = (unsigned)atoi(argv[3]);
	main_thread = pthread_self();
	kept_blocks();

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&workers[i], NULL, worker,
			       (void *)(uintptr_t)(seed * 7 + (unsigned)i));
	/* let a snapshot or two happen, then strike at a random moment */
	sleep_us(20000 + rand_r(&seed) % 30000);
	if (!strcmp(argv[2], "worker")) {
		sigset_t block;
		sigemptyset(&block);
		sigaddset(&block, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &block, NULL);
		pthread_kill(workers[rand_r(&seed) % WORKERS], SIGUSR1);
		sleep_us(5000000); /* the handler ends the process first */
		return 3;
	}
	pthread_t k;
	pthread_create(&k, NULL, killer, NULL);
	sleep_us(rand_r(&seed) % 2000);
	exit(0);
}
