/* truth.c - allocation patterns whose true numbers the program counts
 * itself, for tests/integration/test_truth.c. `truth SCENARIO` runs one
 * and prints "truth KEY VALUE" lines on stderr; the test compares
 * poolscout's numbers with those, never with another poolscout output.
 *
 *   paths       make_item() (48 B, a constructor of one type) reached from
 *               three callers whose peaks fall at different times: the
 *               site's peak is the most live at once, not a sum
 *   sequential  three threads one after another, each holding its own
 *               number of worker_buffer() blocks: the peak is the largest
 *   concurrent  two threads holding 10 blocks each at the same moment
 *               (a barrier): 20 at once, 10 on one thread
 *   turns       eight threads, all alive from first to last, take strict
 *               turns, 10 rounds: each holds 100 turn_block() blocks and
 *               hands them to main, which frees them all before the next
 *               turn: 100 at once, never more, every block freed by
 *               another thread
 *   reversed    two threads, one worker_buffer() stack: the one made
 *               first holds its 40 blocks only after the other held and
 *               freed its 30: never more than 40 at once
 *   deep        deep_site() holds 30 blocks it mallocs itself and 20 it
 *               gets through four wrappers (deep_w1..deep_w4, named with
 *               --wrapper '^deep_w'), all at once: its peak is 50, and
 *               the second stack's site frame is the fifth, past the
 *               frames the preload counts live blocks in
 *   leftover    four threads, all alive at once, each allocate and free
 *               20 kept_block() blocks, then allocate 50 and never free
 *               them: 200 live at the
 *               end, and so the process's peak, though no thread's own
 *               peak is more than 50
 *   lifetimes   short_lived() blocks held ~5 us and ~2 ms, long_lived()
 *               blocks held ~300 ms and ~1.1 s, each lifetime measured
 *   fork        ticker() allocating once a millisecond: 100 in the parent
 *               (which has a second, idle thread), then 200 in a forked
 *               child while the parent waits; each process reports its
 *               own running time
 *   periodic    400000 allocations in the strict pattern every_fourth(),
 *               then three of other_three(): a sampler that takes every
 *               Nth allocation would see only one of them
 *   phases      1000 phase_one() blocks at once, 2000 phase_two() blocks
 *               350 ms later, then 150 ms of nothing: a time window on
 *               either side of 300 ms sees one phase
 *   chains      20000 buffers grown by realloc in grow_buffer() from 16 to
 *               2048 bytes (7 growth steps each), between plain
 *               allocations in plain_block(): a sampler must keep a
 *               recorded chain whole, and count each allocation 1 in N
 *   resized     make_key() blocks of 24 B, each grown at once by realloc
 *               in grow_key() and kept (their data lives on); local_buf()
 *               and other_buf() blocks of 64 B freed at once but for 1%
 *               (20 of 2000) and 21 of 2000, shrunk by resize_buf(): a
 *               stack buffer only while at most 1% are resized
 *   mixed       make_object() blocks of 48 B, 10000: 4300 kept to the
 *               end (a database's objects), the others freed at once: the
 *               peak is the kept ones, which never die together
 *   keepers     make_record() blocks of 40 B from two call chains:
 *               keep_records() keeps 2000 for good (a program's shared
 *               objects), handle_request() makes 10000 temporaries, at
 *               most 3 live at once: the pool is the temporaries' peak
 *   processes   3 fork children each hold 100 proc_block() blocks of 64 B
 *               at one moment (they wait for each other before freeing),
 *               6 times: 1800 allocations in all, 300 live across the
 *               processes, but a pool serves one process: 100
 *   piles       2 fork children, one after the other: the first holds 200
 *               pile_block() blocks at once, the second 100, each frees
 *               them together and then makes and frees one at a time as
 *               many as make 500: in the first, 200 of its 500 live at
 *               once (40%: they pile up), a fifth of all 1000
 *   handover    two sites, each reached by a first and then a second call
 *               chain: handed_block() holds 100 blocks of 64 B through the
 *               first (a snapshot falls there), keeps 10, then 20 of 32 B
 *               through the second: its peak is the first chain's, 100
 *               and 6400 B; grown_block() does the same, then 60 blocks of
 *               128 B and 15 of 16 B through the second: 105 and 9200 B,
 *               counting the 10 the first chain still holds. With
 *               "threaded", an idle second thread runs meanwhile (the
 *               profile is then written by a writer thread)
 *   temporaries with_temp() copies its text into a block it frees before
 *               it returns (a temporary of its own), dup_text() returns
 *               a copy its caller frees: each called 100 times from
 *               each of temp_a(), temp_b() and temp_c() with 16, 32 and
 *               64 bytes. with_temp() is a site (300), dup_text() a
 *               wrapper whose callers are the sites (100 each)
 *   min_sizes   sized_new() called by min_a(), min_b() and min_c(), 50
 *               times each for 64 bytes and 50 for 16, 32 and 48 bytes:
 *               callers that differ in their smallest size only, so
 *               sized_new() is a wrapper (not one type's constructor)
 *   late_entry  two threads of one thread function: B holds 20
 *               shared_site() blocks through path_one(), A then 30
 *               through path_two() (50 at once), B frees its 20, and A
 *               makes one more through path_one(), a stack B made first:
 *               A's entry for it has the smaller stack id but the later
 *               first allocation
 *   hold        300000 hold_block() blocks of 16 bytes live at once, then
 *               every one freed (in a shuffled order): the live-pointer
 *               table must find each block it grew past
 *   inner_fork  the parent makes and frees one block, then forks; the
 *               child calls child_temp() 40 times, which frees the block
 *               it made before it makes another: 40 frees of the
 *               thread's latest block, every one asked where it died
 *               (the preload asks of the first 64 of an entry's frees)
 *   deep_runtime  stdio buffers, allocated four and more frames deep in
 *               libc (fputs, its overflow, ...): put_line() writes the
 *               first line to 30 files through path_one(), 20 of them
 *               are closed, then to 25 more through path_two(): at most
 *               35 of put_line()'s buffers live at once, more than
 *               either path held (30, 25), fewer than both (55)
 *   worker_ended  a worker thread makes one block and ends (joined); then
 *               the main thread, still running, calls main_tick() 100
 *               times, 5 ms apart: the profile's snapshots keep to the
 *               interval (the main thread has not ended)
 *   shrunk      make_list() blocks of 72 B, each shrunk at once to 24 B by
 *               realloc in fit_list() and kept; make_lists_first() blocks
 *               of 88 B, 2000 made before any is shrunk the same way: their
 *               data lives on, no pool or arena hands them out
 *   busy        busy_block() 1.5M times, each block freed at once, eight
 *               frames below main, in a loop the program times itself
 *               (wall clock, and its thread's CPU time): the CPU time it
 *               takes more recorded than not is the recording's, which
 *               the preload's estimate must come near
 *   one_cpu     four threads on one CPU (the program pins itself to the
 *               first it may use) take turns on one lock, each making and
 *               freeing 500k one_cpu_block() blocks, 2000 a turn: each
 *               waits in the run queue while another runs, so the time
 *               they were busy is near four times the run and the time
 *               they ran once it; the CPU time they take more recorded
 *               than not (their sum) is the recording's, which the
 *               run's estimate must come near
 *   paced       20 ticks of 50 ms to absolute deadlines, each making and
 *               freeing 40000 paced_block() blocks, then sleeping to the
 *               next: recorded, the run is no longer (the recording
 *               takes from the sleep), so its rates are those over it
 *   via_runtime dup_names() copies 1000 names with strdup, direct_block()
 *               mallocs 500 blocks itself, either_dup() 400 names with
 *               strdup or strndup in turn from one line, spawn_one()
 *               starts a thread (glibc allocates its thread-local
 *               storage): the runtime's function each site called
 *               (strdup; none; two of them; pthread_create)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static void *volatile sink;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void truth(const char *key, double value)
{
	fprintf(stderr, "truth %s %.0f\n", key, value);
}

/* ---- paths ---------------------------------------------------------------- */

static int items_live, items_peak;

NOINLINE static void *make_item(void)
{
	void *p = malloc(48);
	if (++items_live > items_peak)
		items_peak = items_live;
	return p;
}

static void drop_item(void *p)
{
	items_live--;
	free(p);
}

static void *held_a[64], *held_b[64], *held_c[64];
static int path_peak[3], path_live[3];

NOINLINE static void from_a(int n)
{
	for (int i = 0; i < n; i++) {
		held_a[path_live[0]++] = make_item();
		if (path_live[0] > path_peak[0])
			path_peak[0] = path_live[0];
	}
}

NOINLINE static void from_b(int n)
{
	for (int i = 0; i < n; i++) {
		held_b[path_live[1]++] = make_item();
		if (path_live[1] > path_peak[1])
			path_peak[1] = path_live[1];
	}
}

NOINLINE static void from_c(int n)
{
	for (int i = 0; i < n; i++) {
		held_c[path_live[2]++] = make_item();
		if (path_live[2] > path_peak[2])
			path_peak[2] = path_live[2];
	}
}

static void release(void **held, int *live, int keep)
{
	while (*live > keep)
		drop_item(held[--*live]);
}

static void scenario_paths(void)
{
	int allocs = 0;
	/* phase 1: a peaks at 40 while b holds 5 */
	from_b(5);
	from_a(40);
	allocs += 45;
	release(held_a, &path_live[0], 0);
	/* phase 2: b peaks at 30 while c holds 6 */
	from_c(6);
	from_b(25);
	allocs += 31;
	release(held_b, &path_live[1], 0);
	/* phase 3: churn on c, never more than 8 */
	for (int r = 0; r < 200; r++) {
		from_c(2);
		release(held_c, &path_live[2], 6);
	}
	allocs += 400;
	release(held_c, &path_live[2], 0);
	truth("allocs", allocs);
	truth("peak", items_peak);
	/* the stacks: from_c's loop call 400, from_a 40, from_b's second
	 * call 25, from_c's first 6, from_b's first 5 */
	truth("stack_first", 400);
	truth("stack_second", 40);
	truth("stack_third", 25);
	truth("peak_a", path_peak[0]);
	truth("peak_b", path_peak[1]);
	truth("peak_c", path_peak[2]);
	truth("sum_of_path_peaks", path_peak[0] + path_peak[1] + path_peak[2]);
}

/* ---- threads ---------------------------------------------------------------- */

static pthread_barrier_t barrier;
static int use_barrier;

NOINLINE static void *worker_buffer(void)
{
	return malloc(200);
}

static void *hold_blocks(void *arg)
{
	int n = (int)(long)arg;
	void *held[128];
	for (int i = 0; i < n; i++)
		held[i] = worker_buffer();
	if (use_barrier)
		pthread_barrier_wait(&barrier); /* everyone holds n now */
	for (int i = 0; i < n; i++)
		free(held[i]);
	if (use_barrier)
		pthread_barrier_wait(&barrier);
	return NULL;
}

static void scenario_sequential(void)
{
	static const int counts[] = { 40, 25, 15 };
	for (int i = 0; i < 3; i++) {
		pthread_t t;
		pthread_create(&t, NULL, hold_blocks, (void *)(long)counts[i]);
		pthread_join(t, NULL);
	}
	truth("allocs", 80);
	truth("peak", 40);
	truth("threads", 3);
	truth("sum_of_thread_peaks", 80);
}

static void scenario_concurrent(void)
{
	use_barrier = 1;
	pthread_barrier_init(&barrier, NULL, 2);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hold_blocks, (void *)10L);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	truth("allocs", 20);
	truth("peak", 20);
	truth("thread_peak", 10);
	truth("threads", 2);
}

/* ---- turns ---------------------------------------------------------------- */

#define TURN_THREADS 8
#define TURN_BLOCKS 100
#define TURN_ROUNDS 10
static pthread_mutex_t turn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cond = PTHREAD_COND_INITIALIZER;
static int turn = -1;          /* whose turn; TURN_THREADS: main frees */
static int turn_done;          /* every thread has had its turn */
static void *turn_held[TURN_BLOCKS];
static int turn_live, turn_peak;

NOINLINE static void *turn_block(void)
{
	return malloc(5033);
}

static void *take_turn(void *arg)
{
	int me = (int)(long)arg;
	pthread_mutex_lock(&turn_lock);
	for (int r = 0; r < TURN_ROUNDS; r++) {
		while (turn != me)
			pthread_cond_wait(&turn_cond, &turn_lock);
		for (int i = 0; i < TURN_BLOCKS; i++) {
			turn_held[i] = turn_block();
			if (++turn_live > turn_peak)
				turn_peak = turn_live;
		}
		turn = TURN_THREADS; /* main's turn: it frees them */
		pthread_cond_broadcast(&turn_cond);
	}
	/* stay alive until every thread had its turn: the threads overlap
	 * in time, only their blocks never do */
	while (!turn_done)
		pthread_cond_wait(&turn_cond, &turn_lock);
	pthread_mutex_unlock(&turn_lock);
	return NULL;
}

static void scenario_turns(void)
{
	pthread_t t[TURN_THREADS];
	for (int i = 0; i < TURN_THREADS; i++)
		pthread_create(&t[i], NULL, take_turn, (void *)(long)i);
	pthread_mutex_lock(&turn_lock);
	for (int i = 0; i < TURN_THREADS * TURN_ROUNDS; i++) {
		turn = i % TURN_THREADS;
		pthread_cond_broadcast(&turn_cond);
		while (turn != TURN_THREADS)
			pthread_cond_wait(&turn_cond, &turn_lock);
		for (int k = 0; k < TURN_BLOCKS; k++) {
			free(turn_held[k]);
			turn_live--;
		}
	}
	turn_done = 1;
	pthread_cond_broadcast(&turn_cond);
	pthread_mutex_unlock(&turn_lock);
	for (int i = 0; i < TURN_THREADS; i++)
		pthread_join(t[i], NULL);
	truth("allocs", TURN_THREADS * TURN_BLOCKS * TURN_ROUNDS);
	truth("xfrees", TURN_THREADS * TURN_BLOCKS * TURN_ROUNDS);
	truth("threads", TURN_THREADS);
	truth("peak", turn_peak);
	truth("thread_peak", TURN_BLOCKS);
	truth("sum_of_thread_peaks", TURN_THREADS * TURN_BLOCKS);
}

/* ---- deep ------------------------------------------------------------------------ */

NOINLINE static void *deep_w4(size_t n) { void *p = malloc(n); sink = p; return p; }
NOINLINE static void *deep_w3(size_t n) { void *p = deep_w4(n); sink = p; return p; }
NOINLINE static void *deep_w2(size_t n) { void *p = deep_w3(n); sink = p; return p; }
NOINLINE static void *deep_w1(size_t n) { void *p = deep_w2(n); sink = p; return p; }

NOINLINE static void deep_site(void)
{
	static void *held[50];
	for (int round = 0; round < 3; round++) {
		/* one line, so one site (function and line) with two stacks */
		for (int i = 0; i < 50; i++)
			held[i] = i < 30 ? malloc(72) : deep_w1(72);
		for (int i = 0; i < 50; i++)
			free(held[i]);
	}
}

static void scenario_deep(void)
{
	deep_site();
	truth("allocs", 150);
	truth("peak", 50);
}

/* ---- leftover ----------------------------------------------------------------- */

NOINLINE static void *kept_block(void)
{
	return malloc(40);
}

static void *volatile kept[4][50];

static void *keep_blocks(void *arg)
{
	long me = (long)arg;
	pthread_barrier_wait(&barrier); /* all four alive */
	for (int i = 0; i < 20; i++) /* freed: bytes freed too */
		free(kept_block());
	for (int i = 0; i < 50; i++)
		kept[me][i] = kept_block();
	pthread_barrier_wait(&barrier);
	return NULL;
}

static void scenario_leftover(void)
{
	pthread_barrier_init(&barrier, NULL, 4);
	pthread_t t[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, keep_blocks, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	truth("live_at_end", 200);
	truth("peak", 200);
	truth("thread_peak", 50);
}

/* ---- reversed -------------------------------------------------------------------- */

static volatile int second_done;

/* One thread function for both (one stack): arg is the block count, plus
 * 1000 for the thread that waits for the other */
static void *hold_in_order(void *arg)
{
	long n = (long)arg;
	if (n >= 1000) {
		free(worker_buffer()); /* registered first, and its entry */
		while (!second_done)
			usleep(1000);
	}
	hold_blocks((void *)(n % 1000));
	second_done = 1;
	return NULL;
}

/* Two threads in the order they were made: the first waits for the
 * second to hold and free its 30 worker_buffer() blocks, then holds 40:
 * one stack, never more than 40 at once, the later holder made first. */
static void scenario_reversed(void)
{
	pthread_t a, b;
	pthread_create(&a, NULL, hold_in_order, (void *)1040L);
	usleep(20000);
	pthread_create(&b, NULL, hold_in_order, (void *)30L);
	pthread_join(b, NULL);
	pthread_join(a, NULL);
	truth("allocs", 71);
	truth("peak", 40);
}

/* ---- lifetimes --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The value of rank ceil(p * n) among n sorted lifetimes. */
static double rank_value(double *v, int n, double p)
{
	int rank = (int)(p * n + 0.999999);
	return v[(rank < 1 ? 1 : rank) - 1];
}

NOINLINE static void *short_lived(void)
{
	return malloc(64);
}

NOINLINE static void *long_lived(void)
{
	return malloc(4096);
}

static void hold(void *(*make)(void), int n, double hold_ns, int spin,
		 double *out)
{
	static void *p[1024];
	static double born[1024];
	for (int i = 0; i < n; i++) {
		p[i] = make();
		born[i] = now_ns();
		if (spin) { /* each one on its own, held by a busy wait */
			while (now_ns() - born[i] < hold_ns)
				;
			out[i] = now_ns() - born[i];
			free(p[i]);
		}
	}
	if (spin)
		return;
	struct timespec ts = { (time_t)(hold_ns / 1e9),
			       (long)((long long)hold_ns % 1000000000) };
	nanosleep(&ts, NULL);
	for (int i = 0; i < n; i++) {
		out[i] = now_ns() - born[i];
		free(p[i]);
	}
}

static void scenario_lifetimes(void)
{
	static double s[1000], l[20];
	/* 600 of 5 us, 400 of 2 ms: p50 is a 5 us one, p99 a 2 ms one */
	hold(short_lived, 600, 5e3, 1, s);
	hold(short_lived, 400, 2e6, 0, s + 600);
	qsort(s, 1000, sizeof *s, cmp_double);
	truth("short_p50_ns", rank_value(s, 1000, 0.5));
	truth("short_p99_ns", rank_value(s, 1000, 0.99));
	/* 10 of 300 ms, 10 of 1.1 s */
	hold(long_lived, 10, 300e6, 0, l);
	hold(long_lived, 10, 1100e6, 0, l + 10);
	qsort(l, 20, sizeof *l, cmp_double);
	truth("long_p50_ns", rank_value(l, 20, 0.5));
	truth("long_p99_ns", rank_value(l, 20, 0.99));
}

/* ---- fork ---------------------------------------------------------------------- */

NOINLINE static void ticker(int n)
{
	for (int i = 0; i < n; i++) {
		sink = malloc(32);
		free(sink);
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

static void *idle_thread(void *arg);

static void scenario_fork(void)
{
	/* a second thread: the parent's snapshots come from the preload's
	 * writer thread, which the child does not inherit (it snapshots
	 * from its own allocator calls) */
	pthread_t idle;
	pthread_create(&idle, NULL, idle_thread, NULL);
	double start = now_ns();
	ticker(100);
	double parent_active = now_ns() - start;
	double forked = now_ns();
	pid_t pid = fork();
	if (pid == 0) {
		double t0 = now_ns();
		ticker(200);
		double t1 = now_ns();
		truth("child_pid", getpid());
		truth("child_allocs", 200);
		truth("child_run_ns", t1 - forked);
		truth("child_active_ns", t1 - t0);
		exit(0);
	}
	waitpid(pid, NULL, 0);
	truth("parent_allocs", 100);
	truth("parent_active_ns", parent_active);
	truth("span_ns", now_ns() - start);
}

/* ---- periodic ----------------------------------------------------------------- */

NOINLINE static void every_fourth(void)
{
	free(malloc(32));
}

NOINLINE static void other_three(void)
{
	free(malloc(48)); /* not 32: identical functions would be folded */
}

static void scenario_periodic(void)
{
	for (int i = 0; i < 100000; i++) {
		every_fourth();
		other_three();
		other_three();
		other_three();
	}
	truth("every_fourth", 100000);
	truth("other_three", 300000);
	truth("peak", 1); /* each block freed before the next is made */
}

/* ---- chains ------------------------------------------------------------------- */

NOINLINE static void plain_block(void)
{
	sink = malloc(24);
	free(sink);
}

/* Grows one buffer from 16 to 2048 bytes: one malloc, 7 growth steps. */
NOINLINE static void grow_buffer(void)
{
	char *b = malloc(16);
	for (size_t cap = 32; cap <= 2048; cap *= 2) {
		b = realloc(b, cap);
		b[cap - 1] = 1;
	}
	sink = b;
	free(b);
}

static void scenario_chains(void)
{
	for (int i = 0; i < 20000; i++) {
		grow_buffer();
		plain_block();
		plain_block();
	}
	truth("chains", 20000);
	truth("steps_per_chain", 7);
	truth("grow_buffer_allocs", 20000 * 8);
	truth("plain_block", 40000);
}

/* ---- resized ------------------------------------------------------------------ */

#define RESIZED_N 2000
static void *kept_keys[RESIZED_N];

NOINLINE static char *make_key(void)
{
	return malloc(24);
}

NOINLINE static void *grow_key(void *p, size_t n)
{
	return realloc(p, n);
}

NOINLINE static void *local_buf(void)
{
	return malloc(64);
}

NOINLINE static void *other_buf(void)
{
	return malloc(64);
}

NOINLINE static void *resize_buf(void *p, size_t n)
{
	return realloc(p, n);
}

/* n blocks of make(), each freed at once but the first `resized`, which
 * are shrunk by resize_buf() first (then freed). */
static void local_blocks(void *(*make)(void), int resized)
{
	for (int i = 0; i < RESIZED_N; i++) {
		char *p = make();
		p[0] = (char)i;
		if (i < resized)
			p = resize_buf(p, 32);
		sink = p;
		free(p);
	}
}

static void scenario_resized(void)
{
	size_t grown_max = 0;
	for (int i = 0; i < RESIZED_N; i++) {
		char *p = make_key();
		memset(p, 'k', 24);
		size_t n = 100 + (size_t)i % 200;
		if (n > grown_max)
			grown_max = n;
		kept_keys[i] = grow_key(p, n);
	}
	local_blocks(local_buf, RESIZED_N / 100);
	local_blocks(other_buf, RESIZED_N / 100 + 1);
	for (int i = 0; i < RESIZED_N; i++)
		free(kept_keys[i]);
	truth("allocs", RESIZED_N);
	truth("key_resized", RESIZED_N);
	truth("key_grown", RESIZED_N);
	truth("key_grown_max", (double)grown_max);
	truth("local_resized", RESIZED_N / 100);
	truth("other_resized", RESIZED_N / 100 + 1);
}

/* ---- mixed ------------------------------------------------------------------- */

#define MIXED_N 10000
#define MIXED_KEPT 4300

NOINLINE static void *make_object(void)
{
	return malloc(48);
}

static void scenario_mixed(void)
{
	static void *kept_objects[MIXED_KEPT];
	int kept = 0;
	for (int i = 0; i < MIXED_N; i++) {
		char *p = make_object();
		p[0] = (char)i;
		/* 43 of every 100 kept */
		if (i % 100 < 43)
			kept_objects[kept++] = p;
		else
			free(p);
	}
	truth("allocs", MIXED_N);
	truth("kept", kept);
	truth("peak", kept + (kept < MIXED_N));
	sink = kept_objects;
}

/* ---- keepers ----------------------------------------------------------------- */

#define KEEPERS_KEPT 2000
#define KEEPERS_TEMPS 10000

__attribute__((noipa)) static void *make_record(void)
{
	return malloc(40);
}

NOINLINE static void keep_records(void **kept)
{
	for (int i = 0; i < KEEPERS_KEPT; i++)
		kept[i] = make_record();
}

NOINLINE static void handle_request(int i, void **window, int *live, int *peak)
{
	/* a window of up to 3 records: the oldest goes when it is full */
	if (window[i % 3]) {
		free(window[i % 3]);
		--*live;
	}
	window[i % 3] = make_record();
	if (++*live > *peak)
		*peak = *live;
}

static void scenario_keepers(void)
{
	static void *kept[KEEPERS_KEPT];
	void *window[3] = { NULL, NULL, NULL };
	int live = 0, peak = 0;
	keep_records(kept);
	for (int i = 0; i < KEEPERS_TEMPS; i++)
		handle_request(i, window, &live, &peak);
	for (int i = 0; i < 3; i++)
		free(window[i]);
	truth("kept", KEEPERS_KEPT);
	truth("temps", KEEPERS_TEMPS);
	truth("temps_peak", peak);
	truth("peak", KEEPERS_KEPT + peak);
	sink = kept;
}

/* ---- processes --------------------------------------------------------------- */

#define PROC_CHILDREN 3
#define PROC_HELD 100
#define PROC_ROUNDS 6 /* a sixth of its blocks live at once: no pile-up */

__attribute__((noipa)) static void *proc_block(void)
{
	return malloc(64);
}

static void scenario_processes(void)
{
	/* one ready pipe for all, a go pipe per child: a child that is done
	 * with a round cannot take another's go */
	int ready[2], go[PROC_CHILDREN][2];
	if (pipe(ready))
		exit(2);
	for (int c = 0; c < PROC_CHILDREN; c++)
		if (pipe(go[c]))
			exit(2);
	for (int c = 0; c < PROC_CHILDREN; c++) {
		if (fork() != 0)
			continue;
		/* each round: hold PROC_HELD, say so, free them once every
		 * child holds its own (the parent says go) */
		for (int r = 0; r < PROC_ROUNDS; r++) {
			void *held[PROC_HELD];
			for (int i = 0; i < PROC_HELD; i++)
				held[i] = proc_block();
			char x = 'r';
			if (write(ready[1], &x, 1) != 1 || read(go[c][0], &x, 1) != 1)
				_exit(2);
			for (int i = 0; i < PROC_HELD; i++)
				free(held[i]);
		}
		_exit(0);
	}
	for (int r = 0; r < PROC_ROUNDS; r++) {
		char x;
		for (int c = 0; c < PROC_CHILDREN; c++)
			if (read(ready[0], &x, 1) != 1)
				exit(2);
		/* every child holds its blocks now */
		for (int c = 0; c < PROC_CHILDREN; c++)
			if (write(go[c][1], "g", 1) != 1)
				exit(2);
	}
	while (wait(NULL) > 0)
		;
	truth("processes", PROC_CHILDREN);
	truth("allocs", PROC_CHILDREN * PROC_HELD * PROC_ROUNDS);
	truth("process_peak", PROC_HELD);
	truth("all_peak", PROC_CHILDREN * PROC_HELD);
}

/* ---- phases ------------------------------------------------------------------- */

NOINLINE static void phase_one(void)
{
	for (int i = 0; i < 1000; i++)
		free(malloc(40));
}

NOINLINE static void phase_two(void)
{
	for (int i = 0; i < 2000; i++)
		free(malloc(40));
}

static void *idle_thread(void *arg)
{
	(void)arg;
	free(malloc(1)); /* its first allocation starts the writer thread */
	pause();         /* never returns: exit ends it */
	return NULL;
}

static void scenario_phases(void)
{
	/* a second thread, so the preload's writer thread takes a snapshot
	 * every 100 ms (a single-threaded process snapshots from its own
	 * allocator calls, and sleeps through none) */
	pthread_t idle;
	pthread_create(&idle, NULL, idle_thread, NULL);
	struct timespec settle = { 0, 20000000 };
	nanosleep(&settle, NULL);
	double start = now_ns();
	phase_one();
	double one = now_ns() - start;
	struct timespec ts = { 0, 350000000 };
	nanosleep(&ts, NULL);
	double two_at = now_ns() - start;
	phase_two();
	ts.tv_nsec = 150000000;
	nanosleep(&ts, NULL);
	truth("phase_one_allocs", 1000);
	truth("phase_one_ends_ns", one);
	truth("phase_two_allocs", 2000);
	truth("phase_two_starts_ns", two_at);
}

/* ---- hold -------------------------------------------------------------------- */

#define HELD 300000

NOINLINE static void *hold_block(void)
{
	return malloc(16);
}

static void scenario_hold(void)
{
	void **held = calloc(HELD, sizeof *held);
	for (int i = 0; i < HELD; i++)
		held[i] = hold_block();
	/* a fixed shuffle (xorshift), so the frees do not follow the
	 * allocation order */
	unsigned x = 2463534242u;
	for (int i = HELD - 1; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		int j = (int)(x % (unsigned)(i + 1));
		void *t = held[i];
		held[i] = held[j];
		held[j] = t;
	}
	for (int i = 0; i < HELD; i++)
		free(held[i]);
	free(held);
	truth("held", HELD);
	truth("peak", HELD);
}

/* ---- bytes ---------------------------------------------------------------- */

/* Two blocks at a time from one site, one through each of two call
 * paths: 16 bytes each, held across a snapshot, then 1000 each. The
 * site's peak stays two blocks while its bytes grow, after the smaller
 * peak was written; each stack's own peak is one block of 1000 bytes,
 * so only the site's node can say 2000 exactly. (noipa: the two paths
 * must stay two functions of two callers each, not one folded into the
 * other, which the wrapper rules would find a wrapper of four.) */
__attribute__((noipa)) static void *sized_block(size_t n)
{
	return malloc(n);
}

__attribute__((noipa)) static void *left_path(size_t n)
{
	return sized_block(n);
}

__attribute__((noipa)) static void *right_path(size_t n)
{
	return sized_block(n);
}

NOINLINE static void tick_blocks(void)
{
	for (int i = 0; i < 20000; i++) {
		void *volatile p = malloc(8);
		free(p);
	}
}

static void scenario_bytes(void)
{
	void *volatile a = left_path(16), *volatile b = right_path(16);
	usleep(300 * 1000); /* three snapshot intervals */
	/* a process without a writer thread snapshots from its allocator
	 * calls, looking at the clock every so many: give it calls */
	tick_blocks();
	free(a);
	free(b);
	a = left_path(1000);
	b = right_path(1000);
	free(a);
	free(b);
	truth("peak", 2);
	truth("peak_bytes", 2000);
}

/* ---- piles ---------------------------------------------------------------- */

__attribute__((noipa)) static void *pile_block(size_t n)
{
	return malloc(n);
}

static void scenario_piles(void)
{
	for (int c = 0; c < 2; c++) {
		pid_t pid = fork();
		if (pid < 0)
			exit(2);
		if (pid == 0) {
			static void *held[200];
			int n = 200 / (c + 1);
			for (int i = 0; i < n; i++)
				held[i] = pile_block(32 + (size_t)(i % 7) * 8);
			for (int i = 0; i < n; i++)
				free(held[i]);
			for (int i = n; i < 500; i++)
				free(pile_block(32));
			_exit(0);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			exit(2);
	}
	truth("processes", 2);
	truth("pile_peak", 200);
	truth("pile_allocs", 500);
	truth("allocs", 1000);
}

/* ---- min_sizes ------------------------------------------------------------ */

__attribute__((noipa)) static void *sized_new(size_t n)
{
	return malloc(n);
}

static int min_calls[3];

#define MIN_CALLER(name, who, small)                                          \
	__attribute__((noipa)) static void name(void)                        \
	{                                                                     \
		for (int i = 0; i < 50; i++) {                                \
			free(sized_new(small));                               \
			free(sized_new(64));                                  \
			min_calls[who] += 2;                                  \
		}                                                             \
	}
MIN_CALLER(min_a, 0, 16)
MIN_CALLER(min_b, 1, 32)
MIN_CALLER(min_c, 2, 48)

static void scenario_min_sizes(void)
{
	min_a();
	min_b();
	min_c();
	truth("min_a", min_calls[0]);
	truth("min_b", min_calls[1]);
	truth("min_c", min_calls[2]);
}

/* ---- late_entry ----------------------------------------------------------- */

__attribute__((noipa)) static void *shared_site(void)
{
	return malloc(48);
}

__attribute__((noipa)) static void *path_one(void)
{
	return shared_site();
}

__attribute__((noipa)) static void *path_two(void)
{
	return shared_site();
}

/* One script per thread: wait for a semaphore, hold n blocks through a
 * path, post one, free every block held. Both threads run role(), and
 * role_hold() has one call site: B's path_one() stack is A's too. */
enum { OP_WAIT, OP_HOLD_ONE, OP_HOLD_TWO, OP_POST, OP_FREE, OP_END };
struct role_op {
	int op, n;
	sem_t *sem;
};
struct role_script {
	const struct role_op *ops;
	void *held[64];
	int nheld;
};

__attribute__((noipa)) static void role_hold(struct role_script *r, int two, int n)
{
	for (int i = 0; i < n; i++)
		r->held[r->nheld++] = two ? path_two() : path_one();
}

static void *role(void *arg)
{
	struct role_script *r = arg;
	for (const struct role_op *o = r->ops; o->op != OP_END; o++) {
		if (o->op == OP_WAIT)
			sem_wait(o->sem);
		else if (o->op == OP_POST)
			sem_post(o->sem);
		else if (o->op == OP_FREE)
			while (r->nheld)
				free(r->held[--r->nheld]);
		else
			role_hold(r, o->op == OP_HOLD_TWO, o->n);
	}
	return NULL;
}

static void scenario_late_entry(void)
{
	sem_t b_held, a_held, b_freed;
	sem_init(&b_held, 0, 0);
	sem_init(&a_held, 0, 0);
	sem_init(&b_freed, 0, 0);
	const struct role_op b_ops[] = {
		{ OP_HOLD_ONE, 20, NULL }, { OP_POST, 0, &b_held },
		{ OP_WAIT, 0, &a_held }, { OP_FREE, 0, NULL },
		{ OP_POST, 0, &b_freed }, { OP_END, 0, NULL },
	};
	const struct role_op a_ops[] = {
		{ OP_WAIT, 0, &b_held }, { OP_HOLD_TWO, 30, NULL },
		{ OP_POST, 0, &a_held }, { OP_WAIT, 0, &b_freed },
		{ OP_HOLD_ONE, 1, NULL }, { OP_FREE, 0, NULL }, { OP_END, 0, NULL },
	};
	static struct role_script a, b;
	a.ops = a_ops;
	b.ops = b_ops;
	pthread_t ta, tb;
	pthread_create(&tb, NULL, role, &b);
	pthread_create(&ta, NULL, role, &a);
	pthread_join(tb, NULL);
	pthread_join(ta, NULL);
	truth("peak", 50);
	truth("allocs", 51);
}

/* ---- temporaries ---------------------------------------------------------- */

static const char temp_text[64] = "a text long enough for every copy made of it here";
static volatile size_t temp_sum;

__attribute__((noipa)) static size_t with_temp(size_t n)
{
	char *copy = malloc(n);
	memcpy(copy, temp_text, n);
	size_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (unsigned char)copy[i];
	free(copy);
	return sum;
}

__attribute__((noipa)) static char *dup_text(size_t n)
{
	char *copy = malloc(n);
	memcpy(copy, temp_text, n);
	return copy;
}

static int temp_calls[3];

/* Each caller calls both itself (a shared helper inlined into them would
 * be one caller of each, at one line). */
#define USE_BOTH(who, n)                                                      \
	do {                                                                  \
		temp_sum += with_temp(n);                                     \
		char *copy_ = dup_text(n);                                    \
		temp_sum += (unsigned char)copy_[(n) - 1];                    \
		free(copy_);                                                  \
		temp_calls[who]++;                                            \
	} while (0)

__attribute__((noipa)) static void temp_a(void)
{
	for (int i = 0; i < 100; i++)
		USE_BOTH(0, 16);
}

__attribute__((noipa)) static void temp_b(void)
{
	for (int i = 0; i < 100; i++)
		USE_BOTH(1, 32);
}

__attribute__((noipa)) static void temp_c(void)
{
	for (int i = 0; i < 100; i++)
		USE_BOTH(2, 64);
}

static void scenario_temporaries(void)
{
	temp_a();
	temp_b();
	temp_c();
	truth("with_temp", temp_calls[0] + temp_calls[1] + temp_calls[2]);
	truth("temp_a", temp_calls[0]);
	truth("temp_b", temp_calls[1]);
	truth("temp_c", temp_calls[2]);
}

/* ---- handover ------------------------------------------------------------- */

/* A site's count passes from its one stack to two: its node must hold
 * the first stack's blocks from the start, whatever the second adds.
 * Two callers each, noipa: two sites, not wrappers of each other. */
__attribute__((noipa)) static void *handed_block(size_t n)
{
	return malloc(n);
}

__attribute__((noipa)) static void *handed_first(size_t n)
{
	return handed_block(n);
}

__attribute__((noipa)) static void *handed_second(size_t n)
{
	return handed_block(n);
}

__attribute__((noipa)) static void *grown_block(size_t n)
{
	return malloc(n);
}

__attribute__((noipa)) static void *grown_first(size_t n)
{
	return grown_block(n);
}

__attribute__((noipa)) static void *grown_second(size_t n)
{
	return grown_block(n);
}

static void hold_n(void **held, int *live, int n, void *(*get)(size_t),
		   size_t size, int *peak, size_t *bytes, size_t *peak_bytes)
{
	for (int i = 0; i < n; i++) {
		held[(*live)++] = get(size);
		*bytes += size;
		if (*live > *peak)
			*peak = *live;
		if (*bytes > *peak_bytes)
			*peak_bytes = *bytes;
	}
}

static void handover(int threaded)
{
	static void *handed[200], *grown[300];
	int nh = 0, ng = 0, peak_h = 0, peak_g = 0;
	size_t bytes_h = 0, bytes_g = 0, peak_bytes_h = 0, peak_bytes_g = 0;
	pthread_t idle;
	if (threaded)
		pthread_create(&idle, NULL, idle_thread, NULL);
	hold_n(handed, &nh, 100, handed_first, 64, &peak_h, &bytes_h, &peak_bytes_h);
	hold_n(grown, &ng, 100, grown_first, 64, &peak_g, &bytes_g, &peak_bytes_g);
	usleep(300 * 1000); /* snapshots see the first chains alone */
	tick_blocks();
	while (nh > 10) {
		free(handed[--nh]);
		bytes_h -= 64;
	}
	while (ng > 10) {
		free(grown[--ng]);
		bytes_g -= 64;
	}
	hold_n(handed, &nh, 20, handed_second, 32, &peak_h, &bytes_h, &peak_bytes_h);
	hold_n(grown, &ng, 20, grown_second, 32, &peak_g, &bytes_g, &peak_bytes_g);
	hold_n(grown, &ng, 60, grown_second, 128, &peak_g, &bytes_g, &peak_bytes_g);
	hold_n(grown, &ng, 15, grown_second, 16, &peak_g, &bytes_g, &peak_bytes_g);
	truth("handed_peak", peak_h);
	truth("handed_peak_bytes", (double)peak_bytes_h);
	truth("grown_peak", peak_g);
	truth("grown_peak_bytes", (double)peak_bytes_g);
	while (nh)
		free(handed[--nh]);
	while (ng)
		free(grown[--ng]);
}

static void scenario_handover(void)
{
	handover(0);
}

static void scenario_handover_threaded(void)
{
	handover(1);
}

/* ---- inner_fork ----------------------------------------------------------- */

#define INNER_TEMPS 40

NOINLINE static void child_temp(void)
{
	void *p = malloc(24);
	sink = p;
	free(p);
}

NOINLINE static void parent_temp(void)
{
	void *p = malloc(24);
	sink = p;
	free(p);
}

static void scenario_inner_fork(void)
{
	parent_temp();
	pid_t pid = fork();
	if (pid < 0)
		exit(2);
	if (pid == 0) {
		for (int i = 0; i < INNER_TEMPS; i++)
			child_temp();
		truth("child_pid", getpid());
		truth("child_temps", INNER_TEMPS);
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		exit(2);
}

/* ---- deep_runtime ---------------------------------------------------------- */

#define DEEP_FIRST 30
#define DEEP_CLOSED 20
#define DEEP_SECOND 25

/* the first write to a file allocates its buffer, deep inside libc */
NOINLINE static void put_line(FILE *f)
{
	fputs("line\n", f);
	__asm__ volatile("" ::: "memory");
}

NOINLINE static void path_one_line(FILE *f)
{
	put_line(f);
	__asm__ volatile("" ::: "memory");
}

NOINLINE static void path_two_line(FILE *f)
{
	put_line(f);
	__asm__ volatile("" ::: "memory");
}

static void scenario_deep_runtime(void)
{
	static FILE *files[DEEP_FIRST + DEEP_SECOND];
	for (int i = 0; i < DEEP_FIRST + DEEP_SECOND; i++)
		if (!(files[i] = fopen("/dev/null", "w")))
			exit(2);
	for (int i = 0; i < DEEP_FIRST; i++)
		path_one_line(files[i]);
	for (int i = 0; i < DEEP_CLOSED; i++)
		fclose(files[i]);
	for (int i = DEEP_FIRST; i < DEEP_FIRST + DEEP_SECOND; i++)
		path_two_line(files[i]);
	for (int i = DEEP_CLOSED; i < DEEP_FIRST + DEEP_SECOND; i++)
		fclose(files[i]);
	truth("put_line", DEEP_FIRST + DEEP_SECOND);
	truth("put_line_peak", DEEP_FIRST - DEEP_CLOSED + DEEP_SECOND);
}

/* ---- worker_ended ---------------------------------------------------------- */

static void *one_block_worker(void *arg)
{
	(void)arg;
	free(malloc(16));
	return NULL;
}

NOINLINE static void main_tick(void)
{
	free(malloc(16));
	struct timespec ts = { 0, 5000000 };
	nanosleep(&ts, NULL);
}

static void scenario_worker_ended(void)
{
	pthread_t w;
	if (pthread_create(&w, NULL, one_block_worker, NULL) || pthread_join(w, NULL))
		exit(2);
	double start = now_ns();
	for (int i = 0; i < 100; i++)
		main_tick();
	truth("main_ticks", 100);
	truth("main_run_ns", now_ns() - start);
}

/* ---- shrunk ----------------------------------------------------------------- */

/* graphviz's edge lists: a list made for a node (72 B), shrunk by the
 * first append to 3 slots (24 B) and kept by the graph. At
 * make_list() each block lives from its malloc to its realloc, one at a
 * time; make_lists_first() makes all of them before any is shrunk. Their
 * data lives on in fit_list()'s blocks: neither a pool nor an arena can
 * hand such blocks out. (Sizes no other scenario uses: the compiler folds
 * identical functions into one.) */
#define SHRUNK_N 2000
static void *shrunk_lists[2 * SHRUNK_N];

NOINLINE static void *make_list(void)
{
	return malloc(72);
}

NOINLINE static void *make_lists_first(void)
{
	return malloc(88);
}

NOINLINE static void *fit_list(void *p)
{
	return realloc(p, 24);
}

static void scenario_shrunk(void)
{
	for (int i = 0; i < SHRUNK_N; i++) {
		char *p = make_list();
		p[0] = (char)i;
		shrunk_lists[i] = fit_list(p);
	}
	for (int i = 0; i < SHRUNK_N; i++) {
		char *p = make_lists_first();
		p[0] = (char)i;
		shrunk_lists[SHRUNK_N + i] = p;
	}
	for (int i = 0; i < SHRUNK_N; i++)
		shrunk_lists[SHRUNK_N + i] = fit_list(shrunk_lists[SHRUNK_N + i]);
	for (int i = 0; i < 2 * SHRUNK_N; i++)
		free(shrunk_lists[i]);
	truth("make_list", SHRUNK_N);
	truth("make_lists_first", SHRUNK_N);
	truth("shrunk_each", SHRUNK_N);
}

/* ---- busy ------------------------------------------------------------------- */

#define BUSY_N 1500000

NOINLINE static void busy_block(int i)
{
	char *volatile p = malloc(24 + (size_t)(i & 7));
	free(p);
}

/* eight frames: a stack deep enough that recording is costly */
NOINLINE static void busy_8(int i) { busy_block(i); __asm__ volatile(""); }
NOINLINE static void busy_7(int i) { busy_8(i); __asm__ volatile(""); }
NOINLINE static void busy_6(int i) { busy_7(i); __asm__ volatile(""); }
NOINLINE static void busy_5(int i) { busy_6(i); __asm__ volatile(""); }
NOINLINE static void busy_4(int i) { busy_5(i); __asm__ volatile(""); }
NOINLINE static void busy_3(int i) { busy_4(i); __asm__ volatile(""); }
NOINLINE static void busy_2(int i) { busy_3(i); __asm__ volatile(""); }

/* ---- via_runtime -------------------------------------------------------------- */

static char *volatile dups[1000];

NOINLINE static void dup_names(void)
{
	for (int i = 0; i < 1000; i++)
		dups[i] = strdup(i & 1 ? "odd name" : "even name");
	for (int i = 0; i < 1000; i++)
		free(dups[i]);
}

NOINLINE static void direct_block(void)
{
	for (int i = 0; i < 500; i++) {
		char *volatile p = malloc(40);
		free(p);
	}
}

NOINLINE static void either_dup(void)
{
	for (int i = 0; i < 400; i++) {
		char *volatile p = i & 1 ? strdup("either") : strndup("either", 3);
		free(p);
	}
}

static void *returns_at_once(void *arg)
{
	return arg;
}

NOINLINE static void spawn_one(void)
{
	pthread_t t;
	pthread_create(&t, NULL, returns_at_once, NULL);
	pthread_join(t, NULL);
}

static void scenario_via_runtime(void)
{
	dup_names();
	direct_block();
	either_dup();
	spawn_one();
	truth("dup_names", 1000);
	truth("direct_block", 500);
	truth("either_dup", 400);
}

static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- paced -------------------------------------------------------------------- */

NOINLINE static void paced_block(int i)
{
	char *volatile p = malloc(40 + (size_t)(i & 15));
	free(p);
}

static void scenario_paced(void)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	double t0 = now_ns();
	for (int tick = 0; tick < 20; tick++) {
		for (int i = 0; i < 40000; i++)
			paced_block(i);
		deadline.tv_nsec += 50000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_nsec -= 1000000000L;
			deadline.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
	}
	truth("paced_allocs", 800000);
	truth("paced_run_ns", now_ns() - t0);
}

/* ---- one_cpu ----------------------------------------------------------------- */

#define ONE_CPU_THREADS 4
#define ONE_CPU_N 500000
#define ONE_CPU_TURN 2000

static pthread_mutex_t one_cpu_lock = PTHREAD_MUTEX_INITIALIZER;
static double one_cpu_total; /* the threads' CPU time, under the lock */

NOINLINE static void one_cpu_block(int i)
{
	char *volatile p = malloc(32 + (size_t)(i & 7));
	free(p);
}

static void *one_cpu_thread(void *arg)
{
	(void)arg;
	double c0 = cpu_ns();
	for (int i = 0; i < ONE_CPU_N; i += ONE_CPU_TURN) {
		pthread_mutex_lock(&one_cpu_lock);
		for (int k = 0; k < ONE_CPU_TURN; k++)
			one_cpu_block(k);
		pthread_mutex_unlock(&one_cpu_lock);
	}
	double c1 = cpu_ns();
	pthread_mutex_lock(&one_cpu_lock);
	one_cpu_total += c1 - c0;
	pthread_mutex_unlock(&one_cpu_lock);
	return NULL;
}

static void scenario_one_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set)) {
				CPU_ZERO(&set);
				CPU_SET(c, &set);
				sched_setaffinity(0, sizeof set, &set);
				break;
			}
	}
	pthread_t t[ONE_CPU_THREADS];
	double t0 = now_ns();
	for (int i = 0; i < ONE_CPU_THREADS; i++)
		pthread_create(&t[i], NULL, one_cpu_thread, NULL);
	for (int i = 0; i < ONE_CPU_THREADS; i++)
		pthread_join(t[i], NULL);
	truth("one_cpu_allocs", ONE_CPU_THREADS * ONE_CPU_N);
	truth("one_cpu_loop_ns", now_ns() - t0);
	truth("one_cpu_cpu_ns", one_cpu_total);
}

static void scenario_busy(void)
{
	double t0 = now_ns(), c0 = cpu_ns();
	for (int i = 0; i < BUSY_N; i++)
		busy_2(i);
	double c1 = cpu_ns();
	truth("busy_allocs", BUSY_N);
	truth("busy_loop_ns", now_ns() - t0);
	truth("busy_loop_cpu_ns", c1 - c0);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*run)(void);
	} scenarios[] = {
		{ "paths", scenario_paths },
		{ "sequential", scenario_sequential },
		{ "concurrent", scenario_concurrent },
		{ "turns", scenario_turns },
		{ "leftover", scenario_leftover },
		{ "deep", scenario_deep },
		{ "reversed", scenario_reversed },
		{ "lifetimes", scenario_lifetimes },
		{ "fork", scenario_fork },
		{ "phases", scenario_phases },
		{ "periodic", scenario_periodic },
		{ "chains", scenario_chains },
		{ "hold", scenario_hold },
		{ "resized", scenario_resized },
		{ "mixed", scenario_mixed },
		{ "keepers", scenario_keepers },
		{ "processes", scenario_processes },
		{ "bytes", scenario_bytes },
		{ "handover", scenario_handover },
		{ "handover_threaded", scenario_handover_threaded },
		{ "temporaries", scenario_temporaries },
		{ "piles", scenario_piles },
		{ "min_sizes", scenario_min_sizes },
		{ "late_entry", scenario_late_entry },
		{ "inner_fork", scenario_inner_fork },
		{ "deep_runtime", scenario_deep_runtime },
		{ "worker_ended", scenario_worker_ended },
		{ "shrunk", scenario_shrunk },
		{ "busy", scenario_busy },
		{ "one_cpu", scenario_one_cpu },
		{ "via_runtime", scenario_via_runtime },
		{ "paced", scenario_paced },
	};
	for (size_t i = 0; argc > 1 && i < sizeof scenarios / sizeof *scenarios; i++) {
		if (!strcmp(argv[1], scenarios[i].name)) {
			scenarios[i].run();
			return 0;
		}
	}
	fprintf(stderr, "usage: truth paths|sequential|concurrent|turns|leftover|deep|reversed|lifetimes|fork|"
			"phases|periodic|chains|hold|resized|mixed|keepers|processes|bytes|\n"
			"handover|handover_threaded|temporaries|piles|min_sizes|\n"
			"late_entry|inner_fork|deep_runtime|worker_ended|shrunk|busy|\n"
			"one_cpu|via_runtime|paced\n");
	return 2;
}
