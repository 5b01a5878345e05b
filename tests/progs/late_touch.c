/* late_touch.c - a single-threaded program whose entries change in
 * different snapshot intervals, for the snapshots a process without a
 * writer thread takes from its own hook calls (they encode only the
 * entries logged as changed since the last one: preload/writer.c).
 *
 * At ~0 ms it makes 4096 distinct stacks (fan_leaf), 500 blocks of
 * early_site() kept, one block of late_site() kept. Until ~350 ms it only
 * ticks (a malloc/free pair in tick(), so the hooks keep taking
 * snapshots). At ~350 ms late_site() allocates 300 blocks held at once,
 * late_only() (a stack never seen before) 200, and the 500 early blocks
 * are freed: entries untouched for several snapshots change again. At
 * ~600 ms late_site() allocates 700 more, held at once. It ticks until
 * ~700 ms and exits. It starts no thread.
 *
 * It prints on stderr "truth <key> <value>": the counts above, when
 * each phase began and ended (ns since main started) and when main
 * started (main_unix_ns, CLOCK_REALTIME), so a test can check every time
 * window against them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define FAN_LEVELS 12
#define EARLY_BLOCKS 500
#define LATE_B 300
#define LATE_ONLY 200
#define LATE_C 700

static void *volatile sink;
static volatile int marker;
static double start_ns;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec - start_ns;
}

static void truth(const char *key, double value)
{
	fprintf(stderr, "truth %s %.0f\n", key, value);
}

NOINLINE static void fan_leaf(void)
{
	free(malloc(16));
}

/* One distinct stack per value of bits: two call sites per level. */
NOINLINE static void fan(int level, unsigned bits)
{
	if (!level) {
		fan_leaf();
	} else if (bits & 1) {
		fan(level - 1, bits >> 1);
		marker = 1;
	} else {
		fan(level - 1, bits >> 1);
		marker = 2;
	}
}

NOINLINE static void *early_site(void)
{
	return malloc(24);
}

NOINLINE static void *late_site(void)
{
	return malloc(56);
}

NOINLINE static void *late_only(void)
{
	return malloc(72);
}

NOINLINE static void tick(void)
{
	sink = malloc(8);
	free(sink);
}

static void tick_until(double ns)
{
	while (now_ns() < ns)
		for (int i = 0; i < 64; i++)
			tick();
}

int main(void)
{
	static void *early[EARLY_BLOCKS], *held[LATE_C];
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	start_ns = 0;
	start_ns = now_ns();
	/* where the program's clock starts on the profile's (its header's
	 * start_unix_ns): the test turns the phase times into profile times */
	truth("main_unix_ns", (double)wall.tv_sec * 1e9 + (double)wall.tv_nsec);

	for (unsigned bits = 0; bits < 1u << FAN_LEVELS; bits++)
		fan(FAN_LEVELS, bits);
	for (int i = 0; i < EARLY_BLOCKS; i++)
		early[i] = early_site();
	void *first_late = late_site();
	truth("phase_a_ends_ns", now_ns());

	tick_until(350e6);
	truth("phase_b_starts_ns", now_ns());
	for (int i = 0; i < LATE_B; i++)
		held[i] = late_site();
	for (int i = 0; i < LATE_B; i++)
		free(held[i]);
	for (int i = 0; i < LATE_ONLY; i++)
		free(late_only());
	for (int i = 0; i < EARLY_BLOCKS; i++)
		free(early[i]);
	truth("phase_b_ends_ns", now_ns());

	tick_until(600e6);
	truth("phase_c_starts_ns", now_ns());
	for (int i = 0; i < LATE_C; i++)
		held[i] = late_site();
	for (int i = 0; i < LATE_C; i++)
		free(held[i]);
	truth("phase_c_ends_ns", now_ns());
	tick_until(700e6);
	free(first_late);

	truth("fan_stacks", 1 << FAN_LEVELS);
	truth("early_allocs", EARLY_BLOCKS);
	truth("late_a", 1);
	truth("late_b", LATE_B);
	truth("late_only", LATE_ONLY);
	truth("late_c", LATE_C);
	return 0;
}
