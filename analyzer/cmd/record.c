/* record.c - `poolscout record`: run a command under the preload.
 *
 * Finds libpoolscout.so beside this binary (build tree) or in ../lib
 * (installed prefix), puts it first in LD_PRELOAD (so an allocator the
 * user preloads, such as tcmalloc, stays underneath it), passes the options
 * as POOLSCOUT_* variables, runs the command, and exits with its status.
 * stdout is the command's alone; the profiles written are listed on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "memory.h"
#include "profile.h"

struct record_env {
	const char *out_dir;
	const char *interval;
	const char *sample;
	const char *depth;
	int no_children;
	int site_peak;
	char **cmd;
};

/* Returns the path of libpoolscout.so, or NULL. */
static char *find_library(void)
{
	const char *override = getenv("POOLSCOUT_LIB");
	if (override && access(override, R_OK) == 0)
		return xstrdup(override);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return NULL;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	static const char *const rel[] = { "libpoolscout.so",
					   "../lib/libpoolscout.so",
					   "../lib/poolscout/libpoolscout.so" };
	for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
		char *p = xasprintf("%s/%s", self, rel[i]);
		char real[PATH_MAX];
		if (access(p, R_OK) == 0 && realpath(p, real)) {
			free(p);
			return xstrdup(real);
		}
		free(p);
	}
	return NULL;
}

static int is_number(const char *s, unsigned long min, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	return *s && !*end && !errno && v >= min && v <= max &&
	       s[0] != '-';
}

static int mkdir_p(const char *dir)
{
	char *p = xstrdup(dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

static volatile pid_t child_pid;

/* SIGTERM, SIGHUP to `record` go to the command: stopping the launcher
 * stops the profiled program (which then writes its final snapshot). */
static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

static int contains(char **names, const char *name)
{
	for (; *names; names++)
		if (!strcmp(*names, name))
			return 1;
	return 0;
}

static int parse_args(int argc, char **argv, struct record_env *env)
{
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (!strcmp(a, "--no-children")) {
			env->no_children = 1;
			continue;
		}
		if (!strcmp(a, "--site-peak")) {
			env->site_peak = 1;
			continue;
		}
		if (!v)
			return usage_error("record: %s needs a value", a);
		if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			env->out_dir = v;
		} else if (!strcmp(a, "--interval")) {
			if (!is_number(v, 1, 3600000))
				return usage_error("record: --interval expects "
						   "milliseconds in 1..3600000, "
						   "got '%s'", v);
			env->interval = v;
		} else if (!strcmp(a, "--sample")) {
			if (!is_number(v, 1, 1ul << 30))
				return usage_error("record: --sample expects N >= 1 "
						   "(record 1 in N allocations), "
						   "got '%s'", v);
			env->sample = v;
		} else if (!strcmp(a, "--depth")) {
			if (!is_number(v, 1, 256))
				return usage_error("record: --depth expects 1..256, "
						   "got '%s'", v);
			env->depth = v;
		} else {
			return usage_error("record: unknown option '%s'", a);
		}
		i++;
	}
	if (i >= argc)
		return usage_error("record: no command given; usage: poolscout "
				   "record [OPTIONS] -- CMD [ARG...]");
	env->cmd = argv + i;
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct record_env env = { .out_dir = "." };
	int rc = parse_args(argc, argv, &env);
	if (rc)
		return rc;

	char *lib = find_library();
	if (!lib)
		return usage_error("record: cannot find libpoolscout.so beside "
				   "%s or in ../lib; set POOLSCOUT_LIB", argv[0]);
	if (mkdir_p(env.out_dir))
		return usage_error("record: cannot create %s: %s", env.out_dir,
				   strerror(errno));
	char out_abs[PATH_MAX];
	if (!realpath(env.out_dir, out_abs))
		return usage_error("record: cannot resolve %s: %s", env.out_dir,
				   strerror(errno));
	if (access(out_abs, W_OK))
		return usage_error("record: cannot write to %s: %s", out_abs,
				   strerror(errno));
	char **before = pf_list_dir(out_abs);

	const char *old_preload = getenv("LD_PRELOAD");
	char *preload = old_preload && *old_preload
				? xasprintf("%s %s", lib, old_preload)
				: xstrdup(lib);
	setenv("LD_PRELOAD", preload, 1);
	setenv("POOLSCOUT_OUT", out_abs, 1);
	if (env.interval)
		setenv("POOLSCOUT_INTERVAL_MS", env.interval, 1);
	if (env.sample)
		setenv("POOLSCOUT_SAMPLE", env.sample, 1);
	if (env.depth)
		setenv("POOLSCOUT_DEPTH", env.depth, 1);
	if (env.no_children)
		setenv("POOLSCOUT_CHILDREN", "0", 1);
	if (env.site_peak)
		setenv("POOLSCOUT_SITE_PEAK", "1", 1);

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return usage_error("record: fork: %s", strerror(errno));
	if (pid == 0) {
		char buf[32];
		snprintf(buf, sizeof buf, "%d", (int)getpid());
		setenv("POOLSCOUT_ROOT_PID", buf, 1);
		execvp(env.cmd[0], env.cmd);
		fprintf(stderr, "poolscout: record: cannot run %s: %s\n",
			env.cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* Like time(1): the terminal's ^C and ^\ are for the command. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	child_pid = pid;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
					  : 128 + WTERMSIG(status);

	char **after = pf_list_dir(out_abs);
	int n = 0;
	for (char **p = after; *p; p++)
		n += !contains(before, *p);
	fprintf(stderr, "poolscout: %d profile%s written:\n", n,
		n == 1 ? "" : "s");
	for (char **p = after; *p; p++)
		if (!contains(before, *p))
			fprintf(stderr, "  %s/%s\n", out_abs, *p);
	pf_names_free(before);
	pf_names_free(after);
	free(preload);
	free(lib);
	return exit_code;
}
