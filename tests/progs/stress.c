/* stress.c - the hazards a preload must survive, one mode per run:
 *
 *   threads N      N short-lived threads (50 at a time), each doing
 *                  THREAD_ALLOCS allocations in thread_work, then exiting
 *   fork N         4 threads allocate non-stop while main forks N children;
 *                  each child does CHILD_ALLOCS in child_work and exits
 *   exec           EXEC_ALLOCS in before_exec, then execs itself in mode
 *                  exec-child, which does EXEC_ALLOCS in after_exec
 *   dlopen N       N rounds of dlopen(plugin.so), 10 allocations in
 *                  plugin_work, dlclose
 *   signal MS      a 20 kHz timer whose handler allocates, while the
 *                  main loop allocates, for MS milliseconds; prints
 *                  "stress: handler calls N" on stderr at the end
 *   spin MS        allocates in spin_work for MS milliseconds (the test
 *                  sends SIGKILL before it ends), printing "ready"
 *   pthread_exit   main ends with pthread_exit while workers still run
 *   exit_fork      main ends with pthread_exit; 300 ms later its worker
 *                  forks a child whose thread makes 300 x 100 allocations
 *                  in fork_work, 1 ms apart, and exits; the worker waits
 *   _exit CODE     allocates in before_exit then calls _exit(CODE)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define THREAD_ALLOCS 1000
#define CHILD_ALLOCS 100
#define EXEC_ALLOCS 10

static void *volatile sink;
static volatile int stop;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

NOINLINE static void churn(int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		void *p = malloc(size + (size_t)(i & 7));
		sink = p;
		free(p);
	}
}

NOINLINE static void *thread_work(void *arg)
{
	(void)arg;
	churn(THREAD_ALLOCS, 48);
	return NULL;
}

static int mode_threads(int n)
{
	pthread_t t[50];
	for (int done = 0; done < n;) {
		int wave = n - done < 50 ? n - done : 50;
		for (int i = 0; i < wave; i++)
			if (pthread_create(&t[i], NULL, thread_work, NULL))
				return 1;
		for (int i = 0; i < wave; i++)
			pthread_join(t[i], NULL);
		done += wave;
	}
	return 0;
}

static void *busy(void *arg)
{
	(void)arg;
	while (!stop)
		churn(100, 64);
	return NULL;
}

NOINLINE static void child_work(void)
{
	for (int i = 0; i < CHILD_ALLOCS; i++) {
		void *p = malloc(128);
		sink = p;
		free(p);
	}
}

static int mode_fork(int n)
{
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, busy, NULL);
	int bad = 0;
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			child_work();
			exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		bad += !WIFEXITED(st) || WEXITSTATUS(st);
	}
	stop = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return bad;
}

NOINLINE static void before_exec(void) { churn(EXEC_ALLOCS, 200); }
NOINLINE static void after_exec(void) { churn(EXEC_ALLOCS, 300); }

static int mode_dlopen(const char *self, int n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s", self);
	char *slash = strrchr(path, '/');
	snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash - path) - 1,
		 "plugin.so");
	for (int i = 0; i < n; i++) {
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 1;
		}
		void (*run)(void) = (void (*)(void))dlsym(h, "plugin_run");
		run();
		dlclose(h);
	}
	return 0;
}

static volatile sig_atomic_t alarm_calls;

static void on_alarm(int sig)
{
	(void)sig;
	alarm_calls++;
	void *p = malloc(16); /* not async-signal-safe, and programs do it */
	sink = p;
	free(p);
}

static int mode_signal(int ms)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 50 }, { 0, 50 } };
	setitimer(ITIMER_REAL, &it, NULL);
	double end = now() + ms / 1000.0;
	while (now() < end)
		churn(1000, 32);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	fprintf(stderr, "stress: handler calls %d\n", (int)alarm_calls);
	return 0;
}

NOINLINE static void spin_work(void) { churn(1000, 24); }

static int mode_spin(int ms)
{
	double end = now() + ms / 1000.0;
	printf("ready\n");
	fflush(stdout);
	while (now() < end)
		spin_work();
	return 0;
}

static void *late_worker(void *arg)
{
	(void)arg;
	usleep(200000);
	churn(500, 40);
	return NULL;
}

NOINLINE static void fork_work(void) { churn(100, 40); }

static void *fork_child_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 300; i++) {
		fork_work();
		usleep(1000);
	}
	return NULL;
}

/* After main's pthread_exit (seen by the writer): the child of a fork is
 * a process of its own, whose main thread is the forking one. */
static void *exit_fork_worker(void *arg)
{
	(void)arg;
	usleep(300000);
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t t;
		pthread_create(&t, NULL, fork_child_thread, NULL);
		pthread_join(t, NULL);
		exit(0);
	}
	int status = 1;
	waitpid(pid, &status, 0);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int n = argc > 2 ? atoi(argv[2]) : 0;
	if (!strcmp(mode, "threads"))
		return mode_threads(n);
	if (!strcmp(mode, "fork"))
		return mode_fork(n);
	if (!strcmp(mode, "exec")) {
		before_exec();
		execl(argv[0], argv[0], "exec-child", (char *)NULL);
		return 1;
	}
	if (!strcmp(mode, "exec-child")) {
		after_exec();
		return 0;
	}
	if (!strcmp(mode, "dlopen"))
		return mode_dlopen(argv[0], n);
	if (!strcmp(mode, "signal"))
		return mode_signal(n);
	if (!strcmp(mode, "spin"))
		return mode_spin(n);
	if (!strcmp(mode, "exit_fork")) {
		pthread_t t;
		pthread_create(&t, NULL, exit_fork_worker, NULL);
		pthread_exit(NULL);
	}
	if (!strcmp(mode, "pthread_exit")) {
		pthread_t t[3];
		for (int i = 0; i < 3; i++)
			pthread_create(&t[i], NULL, late_worker, NULL);
		pthread_exit(NULL);
	}
	if (!strcmp(mode, "_exit")) {
		churn(77, 10);
		_exit(n);
	}
	fprintf(stderr, "usage: stress MODE [N]\n");
	return 2;
}
