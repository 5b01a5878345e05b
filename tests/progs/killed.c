/* killed.c - programs that a signal ends, for the killed-run checks of
 * tests/integration/exit_paths.sh (run under tests/progs/kill_after_ready.c).
 * Each makes its allocations in burst() (or mid_alloc()), so the profile's
 * count of that site can be compared with the program's own, prints a
 * line starting with "ready" once they are made, and waits to be killed.
 *
 *   killed burst N [threads]   N allocations kept, "ready N", then
 *                              pause(); threads: a second thread (which
 *                              allocates once, so the writer thread starts)
 *                              sleeps beside it
 *   killed handler N           the same, with a SIGTERM handler of its own
 *                              that prints "handler" and exits 3
 *   killed query N             prints the dispositions of the signals the
 *                              preload catches as the program sees them,
 *                              across sigaction, signal, sysv_signal and
 *                              sigset calls (to compare with a run without
 *                              the preload), leaves SIGTERM at SIG_DFL
 *                              again, then does what burst does
 *   killed ignored N           prints how SIGTERM and SIGHUP are disposed,
 *                              bursts, "ready N", sleeps 1 s, prints
 *                              "survived" and exits 0
 *   killed midburst FILE [T]   allocates and frees (1000 kept at a time)
 *                              without end on T threads (default 1),
 *                              counting the allocations made into FILE (one
 *                              64-bit counter per thread, shared mapping):
 *                              "ready" after each thread made 1000
 *   killed quiet N MS          bursts N, sleeps MS ms, makes 1000 more in
 *                              late_alloc() (each freed), "ready N", pause()
 *   killed forked N [SIG]      a fork child bursts N and tells its parent,
 *                              which sends it SIGTERM (or signal SIG) and
 *                              prints "child: signal S" (or "child: exit
 *                              E") and "child pid: P"
 *   killed stuck N             bursts N, then makes the one request that
 *                              tests/progs/slow_malloc.c (preloaded after
 *                              the preload) holds up: it prints "ready
 *                              stuck" and sleeps inside the preload's hook;
 *                              "returned" if the request comes back, then
 *                              pause()
 */
#define _GNU_SOURCE
/* sigset is deprecated, and still called by programs: checked here */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void **kept;

/* the request tests/progs/slow_malloc.c holds up */
#define SLOW_MALLOC_SIZE 777777

__attribute__((noipa)) static void *burst_one(size_t size)
{
	return malloc(size);
}

__attribute__((noipa)) static void burst(long n)
{
	kept = calloc((size_t)n, sizeof *kept);
	for (long i = 0; i < n; i++)
		kept[i] = burst_one(16 + (size_t)(i % 64));
}

__attribute__((noipa)) static void *late_alloc(size_t size)
{
	return malloc(size);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void *sleeper(void *arg)
{
	(void)arg;
	free(malloc(32)); /* a second thread's hook call starts the writer */
	for (;;)
		pause();
	return NULL;
}

/* "ready" goes out with write(2), after stdout is flushed: a handler's
 * exit() that interrupted fflush() just after its write would flush the
 * same line again. */
static void say_ready(long n)
{
	fflush(stdout);
	char line[32];
	int len = snprintf(line, sizeof line, "ready %ld\n", n);
	ssize_t w = write(STDOUT_FILENO, line, (size_t)len);
	(void)w;
}

static void ready_and_wait(long n)
{
	say_ready(n);
	for (;;)
		pause();
}

static void on_term(int sig)
{
	(void)sig;
	static const char msg[] = "handler\n";
	ssize_t w = write(STDOUT_FILENO, msg, sizeof msg - 1);
	(void)w;
	exit(3);
}

static const char *handler_name(void (*h)(int))
{
	if (h == SIG_DFL)
		return "DFL";
	if (h == SIG_IGN)
		return "IGN";
	if (h == SIG_HOLD)
		return "HOLD";
	if (h == SIG_ERR)
		return "ERR";
	return h == on_term ? "on_term" : "other";
}

static void print_action(const char *when, int sig)
{
	struct sigaction a;
	if (sigaction(sig, NULL, &a) != 0) {
		printf("%s %s: sigaction failed\n", when, strsignal(sig));
		return;
	}
	unsigned long mask = 0;
	for (int s = 1; s < 64; s++)
		if (sigismember(&a.sa_mask, s))
			mask |= 1ul << s;
	/* sa_handler and sa_sigaction share their storage */
	printf("%s %s: %s%s flags=%#x mask=%#lx\n", when, strsignal(sig),
	       handler_name(a.sa_handler),
	       (a.sa_flags & SA_SIGINFO) ? " (siginfo)" : "",
	       (unsigned)a.sa_flags, mask);
}

static void query(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM,
				    SIGTERM, SIGUSR1, SIGUSR2 };
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		print_action("start", sigs[i]);
	/* the previous handler each call returns */
	printf("signal(TERM, on_term) was %s\n", handler_name(signal(SIGTERM, on_term)));
	print_action("after signal(on_term)", SIGTERM);
	printf("signal(TERM, DFL) was %s\n", handler_name(signal(SIGTERM, SIG_DFL)));
	print_action("after signal(DFL)", SIGTERM);
	printf("sysv_signal(USR1, IGN) was %s\n",
	       handler_name(sysv_signal(SIGUSR1, SIG_IGN)));
	printf("sysv_signal(USR1, DFL) was %s\n",
	       handler_name(sysv_signal(SIGUSR1, SIG_DFL)));
	print_action("after sysv_signal(DFL)", SIGUSR1);
	printf("sigset(USR2, HOLD) was %s\n", handler_name(sigset(SIGUSR2, SIG_HOLD)));
	printf("sigset(USR2, DFL) was %s\n", handler_name(sigset(SIGUSR2, SIG_DFL)));
	print_action("after sigset(DFL)", SIGUSR2);
	struct sigaction a, old;
	memset(&a, 0, sizeof a);
	a.sa_handler = SIG_DFL;
	a.sa_flags = SA_RESTART | SA_NODEFER;
	sigemptyset(&a.sa_mask);
	sigaddset(&a.sa_mask, SIGCHLD);
	sigaction(SIGHUP, &a, &old);
	printf("sigaction(HUP, DFL restart nodefer) was %s\n", handler_name(old.sa_handler));
	print_action("after sigaction(DFL)", SIGHUP);
	a.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &a, &old);
	printf("sigaction(PIPE, IGN) was %s\n", handler_name(old.sa_handler));
	print_action("after sigaction(IGN)", SIGPIPE);
	/* the program's own handler, then SIG_DFL once more: TERM ends it */
	a.sa_handler = on_term;
	a.sa_flags = 0;
	sigaction(SIGTERM, &a, &old);
	printf("sigaction(TERM, on_term) was %s\n", handler_name(old.sa_handler));
	a.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &a, &old);
	printf("sigaction(TERM, DFL) was %s\n", handler_name(old.sa_handler));
	print_action("end", SIGTERM);
	sigset_t blocked;
	sigprocmask(SIG_SETMASK, NULL, &blocked);
	printf("blocked: USR2 %d TERM %d\n", sigismember(&blocked, SIGUSR2),
	       sigismember(&blocked, SIGTERM));
}

/* ---- midburst ---------------------------------------------------------- */

static volatile uint64_t *counters;

__attribute__((noipa)) static void *mid_alloc(size_t size)
{
	return malloc(size);
}

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static int threads_ready, threads_total;

static void *mid_worker(void *arg)
{
	long k = (long)arg;
	void *ring[1000] = { 0 };
	for (uint64_t i = 0;; i++) {
		size_t slot = i % 1000;
		free(ring[slot]);
		ring[slot] = mid_alloc(24 + (size_t)(i % 100));
		counters[k] = i + 1;
		if (i + 1 == 1000) {
			pthread_mutex_lock(&ready_lock);
			if (++threads_ready == threads_total)
				say_ready(0);
			pthread_mutex_unlock(&ready_lock);
		}
	}
	return NULL;
}

static int midburst(const char *path, int nthreads)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 4096) != 0) {
		perror(path);
		return 2;
	}
	counters = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (counters == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	threads_total = nthreads;
	pthread_t th;
	for (long k = 1; k < nthreads; k++)
		pthread_create(&th, NULL, mid_worker, (void *)k);
	mid_worker((void *)0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: killed MODE N|FILE [...]\n");
		return 2;
	}
	const char *mode = argv[1];
	long n = atol(argv[2]);
	if (!strcmp(mode, "burst")) {
		if (argc > 3 && !strcmp(argv[3], "threads")) {
			pthread_t th;
			pthread_create(&th, NULL, sleeper, NULL);
			sleep_ms(50);
		}
		burst(n);
		ready_and_wait(n);
	} else if (!strcmp(mode, "handler")) {
		struct sigaction a;
		memset(&a, 0, sizeof a);
		a.sa_handler = on_term;
		sigaction(SIGTERM, &a, NULL);
		burst(n);
		ready_and_wait(n);
	} else if (!strcmp(mode, "query")) {
		query();
		burst(n);
		ready_and_wait(n);
	} else if (!strcmp(mode, "ignored")) {
		struct sigaction t, h;
		sigaction(SIGTERM, NULL, &t);
		sigaction(SIGHUP, NULL, &h);
		printf("TERM %s HUP %s\n", handler_name(t.sa_handler),
		       handler_name(h.sa_handler));
		burst(n);
		say_ready(n);
		sleep_ms(1000);
		printf("survived\n");
		return 0;
	} else if (!strcmp(mode, "midburst")) {
		return midburst(argv[2], argc > 3 ? atoi(argv[3]) : 1);
	} else if (!strcmp(mode, "forked")) {
		int done[2];
		if (pipe(done) != 0)
			return 2;
		pid_t pid = fork();
		if (pid == 0) {
			burst(n);
			char c = 'x';
			ssize_t w = write(done[1], &c, 1);
			(void)w;
			for (;;)
				pause();
		}
		char c;
		ssize_t r = read(done[0], &c, 1);
		(void)r;
		kill(pid, argc > 3 ? atoi(argv[3]) : SIGTERM);
		int status;
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status))
			printf("child: signal %d\n", WTERMSIG(status));
		else
			printf("child: exit %d\n", WEXITSTATUS(status));
		printf("child pid: %d\n", (int)pid);
		return 0;
	} else if (!strcmp(mode, "stuck")) {
		burst(n);
		fflush(stdout);
		void *held_up = burst_one(SLOW_MALLOC_SIZE);
		static const char line[] = "returned\n";
		ssize_t w = write(STDOUT_FILENO, line, sizeof line - 1);
		(void)w;
		free(held_up);
		for (;;)
			pause();
	} else if (!strcmp(mode, "quiet")) {
		burst(n);
		sleep_ms(argc > 3 ? atol(argv[3]) : 200);
		for (int i = 0; i < 1000; i++)
			free(late_alloc(40));
		ready_and_wait(n);
	}
	fprintf(stderr, "killed: unknown mode %s\n", mode);
	return 2;
}
