/* lost_batch.c - a snapshot that cannot go out between two that could.
 * Single-threaded, so the preload takes its snapshots from the hooks:
 * each phase's allocations are followed by tick(), which sleeps past
 * POOLSCOUT_INTERVAL_MS (run it with 20 or less) and then makes 300
 * malloc/free pairs, enough hook calls for the next snapshot to be taken
 * in them.
 *
 *   lost_batch same|new
 *
 * Phase 1: 1000 blocks in site_a, then tick (a batch written).
 * Phase 2: closes every descriptor above 2 (the profile's too, as daemons
 * and subprocess children do), opens a file of its own, "mine" in the
 * current directory, at the number the profile had and writes a line to
 * it, and lowers its descriptor limit to 3, so the preload can open its
 * file again neither by descriptor nor by path;
 * then 500 blocks in site_a ("same": no new stack, the lost batch only
 * raises counts) or in site_b ("new": the lost batch declares a stack),
 * then tick (that batch is lost).
 * Phase 3: the limit back, then 700 blocks in site_c (a new stack), tick,
 * and exit.
 * Every site is called from the same place (one indirect call in one
 * loop), so the stacks of phase 2 are those of phase 1 in "same" mode.
 * Prints "site_a N site_b N site_c N mine N" (what it made, and the size
 * of "mine": 6 bytes, its line, when the preload left it alone) and exits
 * 0, or 2 when it could not set things up. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *kept[2200];
static int nkept;
static int made[3];

__attribute__((noinline)) static void site_a(void)
{
	kept[nkept++] = malloc(24);
	made[0]++;
}

__attribute__((noinline)) static void site_b(void)
{
	kept[nkept++] = malloc(40);
	made[1]++;
}

__attribute__((noinline)) static void site_c(void)
{
	kept[nkept++] = malloc(56);
	made[2]++;
}

__attribute__((noinline)) static void tick(void)
{
	usleep(60 * 1000);
	for (int i = 0; i < 300; i++)
		free(malloc(8));
}

/* The descriptor of this process's profile (poolscout.*.pscout), or -1. */
static int profile_fd(void)
{
	int found = -1;
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *d;
	char path[64], target[4096];
	while (dir && (d = readdir(dir))) {
		snprintf(path, sizeof path, "/proc/self/fd/%s", d->d_name);
		ssize_t n = readlink(path, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strstr(target, "/poolscout.") && strstr(target, ".pscout"))
			found = atoi(d->d_name);
	}
	if (dir)
		closedir(dir);
	return found;
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "same") && strcmp(argv[1], "new"))) {
		fprintf(stderr, "usage: lost_batch same|new\n");
		return 2;
	}
	struct {
		void (*fn)(void);
		int n;
	} phase[3] = {
		{ site_a, 1000 },
		{ strcmp(argv[1], "new") ? site_a : site_b, 500 },
		{ site_c, 700 },
	};
	/* the profile is open once something was allocated; its number is
	 * looked up now, so that what opendir allocates is declared before
	 * phase 2 */
	free(malloc(1));
	int profile = profile_fd(), mine = -1;
	struct rlimit saved;
	if (profile < 3 || getrlimit(RLIMIT_NOFILE, &saved))
		return 2;
	for (int p = 0; p < 3; p++) {
		if (p == 1) {
			struct rlimit tight = { 3, saved.rlim_max };
			if (syscall(SYS_close_range, 3, ~0u, 0))
				return 2;
			mine = open("mine", O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (mine < 0 || dup2(mine, profile) != profile ||
			    close(mine) || write(profile, "mine!\n", 6) != 6 ||
			    setrlimit(RLIMIT_NOFILE, &tight))
				return 2;
			mine = profile;
		}
		if (p == 2 && setrlimit(RLIMIT_NOFILE, &saved))
			return 2;
		for (int i = 0; i < phase[p].n; i++)
			phase[p].fn();
		tick();
	}
	struct stat st;
	if (fstat(mine, &st))
		return 2;
	printf("site_a %d site_b %d site_c %d mine %lld\n", made[0], made[1],
	       made[2], (long long)st.st_size);
	return 0;
}
