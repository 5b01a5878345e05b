/* growing.c - a profile that keeps growing: every allocation takes a new
 * call path (the bits of a counter spelled through left() and right(), up
 * to 2^16 paths), so every snapshot adds new stacks to the file.
 *
 *   growing MS [FILE|-] [fork]
 *
 * Allocates for MS milliseconds; after MS/2, once the file system that
 * holds FILE (if given: the test's filler) is full, deletes FILE to give
 * it room again; if it is not full by MS, it goes on until it is (at
 * most 30 s in all), so a slow machine still sees the disk fill. With "fork", it then
 * lowers its file size limit to 1 KiB above its own profile's size
 * ($POOLSCOUT_OUT/poolscout.growing.PID.pscout) and forks a child that
 * makes 100 allocations in child_blocks() and exits: the child's profile
 * is a file of its own, far under that limit. Prints the number of
 * allocations it made and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LEVELS 16

static void *volatile sink;

static void step(unsigned bits, int level);

__attribute__((noinline)) static void left(unsigned bits, int level)
{
	step(bits, level);
	sink = (void *)0;
}

__attribute__((noinline)) static void right(unsigned bits, int level)
{
	step(bits, level);
	sink = (void *)1;
}

__attribute__((noinline)) static void step(unsigned bits, int level)
{
	if (level == LEVELS) {
		void *p = malloc(32);
		sink = p;
		free(p);
		return;
	}
	if (bits & (1u << level))
		right(bits, level + 1);
	else
		left(bits, level + 1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void child_blocks(void)
{
	for (int i = 0; i < 100; i++) {
		void *p = malloc(24);
		sink = p;
		free(p);
	}
}

/* Lowers RLIMIT_FSIZE to 1 KiB above this process's profile, then forks
 * a child that allocates; returns the child's exit status. */
static int fork_under_limit(void)
{
	const char *dir = getenv("POOLSCOUT_OUT");
	char path[4096];
	snprintf(path, sizeof path, "%s/poolscout.growing.%d.pscout",
		 dir ? dir : ".", (int)getpid());
	struct stat st;
	if (stat(path, &st))
		return 1;
	struct rlimit rl = { (rlim_t)st.st_size + 1024, (rlim_t)st.st_size + 1024 };
	if (setrlimit(RLIMIT_FSIZE, &rl))
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		child_blocks();
		exit(0);
	}
	int status = 1;
	waitpid(pid, &status, 0);
	return status;
}

/* Whether the file system that holds path has no block left. */
static int full(const char *path)
{
	struct statvfs sv;
	return statvfs(path, &sv) == 0 && sv.f_bavail == 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: growing MS [FILE|-] [fork]\n");
		return 2;
	}
	double start = now(), end = start + atoi(argv[1]) / 1000.0;
	const char *filler = argc > 2 && strcmp(argv[2], "-") ? argv[2] : NULL;
	unsigned long count = 0;
	while (now() < end || (filler && now() < start + 30)) {
		for (int i = 0; i < 20; i++, count++)
			step((unsigned)count, 0);
		if (filler && now() > (start + end) / 2 && full(filler)) {
			unlink(filler);
			filler = NULL;
		}
		usleep(200);
	}
	printf("%lu\n", count);
	fflush(stdout);
	if (argc > 3 && !strcmp(argv[3], "fork"))
		return fork_under_limit() ? 1 : 0;
	return 0;
}
