/* record.c - `poolscout record`: run a command under the preload.
 *
 * Finds libpoolscout.so beside this binary (build tree) or in ../lib
 * (installed prefix), puts it first in LD_PRELOAD (so an allocator the
 * user preloads, such as tcmalloc, stays underneath it), passes the options
 * as POOLSCOUT_* variables, runs the command, and exits with its status.
 * stdout is the command's alone; the profiles written are listed on stderr.
 *
 * It refuses (exit 2, one line saying why) what would end in no profile
 * or a misleading one: a statically linked command, a library path
 * LD_PRELOAD cannot express, -o naming something other than a directory,
 * and a directory that already holds the profiles of an earlier run.
 *
 * Its closing summary costs the same for any profile: a profile that
 * stopped cleanly ends with a TOTALS record (docs/format.md) read from
 * the end of the file; only one without it (a process killed, a torn
 * tail) is read in full, as every view would read it.
 */
#define _GNU_SOURCE
#include <elf.h>
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
#include "units.h"
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

/* Creates dir and its parents. Returns 1 when it created dir itself, 0
 * when it was there, -1 on error (errno set). */
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
	int rc = mkdir(p, 0755) == 0 ? 1 : errno == EEXIST ? 0 : -1;
	free(p);
	return rc;
}

/* The file execvp would run for cmd, or NULL. Caller frees. */
static char *find_command(const char *cmd)
{
	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0 ? xstrdup(cmd) : NULL;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		char *full = xasprintf("%.*s/%s", (int)len, len ? path : ".", cmd);
		struct stat st;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(full, X_OK) == 0)
			return full;
		free(full);
		path += len + (path[len] == ':');
	}
	return NULL;
}

/* Whether file is an ELF executable without a program interpreter: the
 * dynamic loader never runs in it, so LD_PRELOAD cannot reach it. The
 * loader itself (run as a command) has none either and is fine. */
static int statically_linked(const char *file)
{
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	if (!strncmp(base, "ld-linux", 8) || !strncmp(base, "ld.so", 5))
		return 0;
	FILE *f = fopen(file, "rb");
	if (!f)
		return 0;
	Elf64_Ehdr eh;
	int is_static = 0;
	if (fread(&eh, sizeof eh, 1, f) == 1 && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    (eh.e_type == ET_EXEC || eh.e_type == ET_DYN) &&
	    eh.e_phentsize == sizeof(Elf64_Phdr)) {
		is_static = 1;
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (fseek(f, (long)(eh.e_phoff + i * sizeof ph), SEEK_SET) ||
			    fread(&ph, sizeof ph, 1, f) != 1) {
				is_static = 0;
				break;
			}
			if (ph.p_type == PT_INTERP) {
				is_static = 0;
				break;
			}
		}
	}
	fclose(f);
	return is_static;
}

/* As root, the processes of the command may drop privileges (nginx
 * workers as nobody) before they create their profiles. Returns the first
 * directory on the way to dir that others cannot search, or NULL. */
static char *unreachable_for_others(const char *dir)
{
	char *p = xstrdup(dir);
	for (char *s = p + 1;; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;
		*s = 0;
		struct stat st;
		if (stat(p, &st) == 0 && !(st.st_mode & S_IXOTH))
			return p;
		if (!c)
			break;
		*s = c;
	}
	free(p);
	return NULL;
}

/* What the summary says of the profiles a run wrote. */
struct summary {
	uint64_t allocs; /* scaled up when sampled */
	int partial, running, unreadable, processes;
	uint32_t *pids; /* of the processes counted, room for every profile */
};

/* Counts the profile at path into sum: from its TOTALS record when it
 * ends with one, else from reading it all. */
static void summarize_profile(const char *path, struct summary *sum)
{
	uint32_t pid;
	struct ps_totals totals;
	if (pf_read_totals(path, &totals) == 0) {
		/* a TOTALS record follows an END: the profile is complete */
		sum->allocs += totals.allocs * totals.sample_every;
		pid = totals.pid;
	} else {
		char err[512];
		pf_file *f = pf_read(path, err, sizeof err);
		if (!f) {
			sum->unreadable++;
			return;
		}
		for (size_t i = 0; i < f->nentries; i++)
			sum->allocs += f->entries[i].allocs * pf_scale(f);
		/* not ended: a process still alive (a daemon the command
		 * left behind) is running, not cut short */
		if (!f->complete) {
			if (f->pid && (kill((pid_t)f->pid, 0) == 0 || errno == EPERM))
				sum->running++;
			else
				sum->partial++;
		}
		pid = f->pid;
		pf_free(f);
	}
	int seen = 0; /* an exec'd image writes a file of its own */
	for (int k = 0; k < sum->processes; k++)
		seen |= sum->pids[k] == pid;
	if (!seen)
		sum->pids[sum->processes++] = pid;
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
	if (strpbrk(lib, " :\t\n"))
		return usage_error("record: the path of libpoolscout.so, '%s', "
				   "holds a space or a colon, which LD_PRELOAD "
				   "cannot express; install it under a path "
				   "without them, or point POOLSCOUT_LIB at a "
				   "copy or link there", lib);
	char *cmd_file = find_command(env.cmd[0]);
	if (cmd_file && statically_linked(cmd_file))
		return usage_error("record: %s is statically linked: the dynamic "
				   "loader never runs in it, so LD_PRELOAD "
				   "cannot load libpoolscout.so into it and "
				   "nothing would be recorded", cmd_file);
	free(cmd_file);
	int created = mkdir_p(env.out_dir);
	if (created < 0)
		return usage_error("record: cannot create the directory %s: %s",
				   env.out_dir, strerror(errno));
	char out_abs[PATH_MAX];
	if (!realpath(env.out_dir, out_abs))
		return usage_error("record: cannot resolve %s: %s", env.out_dir,
				   strerror(errno));
	struct stat out_st;
	if (stat(out_abs, &out_st) || !S_ISDIR(out_st.st_mode))
		return usage_error("record: -o %s is not a directory: profiles "
				   "are files in a directory (one per process)",
				   env.out_dir);
	if (access(out_abs, W_OK))
		return usage_error("record: cannot write to %s: %s", out_abs,
				   strerror(errno));
	char **before = pf_list_dir(out_abs);
	if (before[0]) {
		size_t n = 0;
		while (before[n])
			n++;
		pf_names_free(before);
		return usage_error("record: %s already holds %zu profile%s of an "
				   "earlier run, and reading the directory would "
				   "merge both runs; record into a new directory "
				   "(-o DIR) or remove them first", out_abs, n,
				   n == 1 ? "" : "s");
	}
	if (geteuid() == 0) {
		/* Processes that drop privileges (workers running as nobody)
		 * must be able to create their profiles: a directory we made
		 * is made sticky and writable by all, like /tmp (each file is
		 * still created 0600 with O_EXCL|O_NOFOLLOW by its owner). */
		if (created)
			chmod(out_abs, 01777);
		char *blocked = unreachable_for_others(out_abs);
		if (blocked) {
			fprintf(stderr, "poolscout: record: note: %s is not "
				"searchable by other users: processes that drop "
				"root's privileges will not be able to write their "
				"profiles into %s\n", blocked, out_abs);
			free(blocked);
		}
	}

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

	/* A parent that ignores SIGCHLD would have the kernel reap the
	 * command before we can read its status; the command gets the
	 * disposition it would have had without us. */
	struct sigaction chld_default, chld_old;
	memset(&chld_default, 0, sizeof chld_default);
	chld_default.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &chld_default, &chld_old);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return usage_error("record: fork: %s", strerror(errno));
	if (pid == 0) {
		if (chld_old.sa_handler == SIG_IGN)
			signal(SIGCHLD, SIG_IGN);
		char buf[32];
		snprintf(buf, sizeof buf, "%d", (int)getpid());
		setenv("POOLSCOUT_ROOT_PID", buf, 1);
		execvp(env.cmd[0], env.cmd);
		fprintf(stderr, "poolscout: record: cannot run %s: %s\n",
			env.cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* One line as it starts: what, which pid, where the profiles go. */
	fprintf(stderr, "poolscout: recording %s (pid %d) into %s\n",
		env.cmd[0], (int)pid, out_abs);
	/* Like time(1): the terminal's ^C and ^\ are for the command. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	child_pid = pid;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	int status = 0;
	pid_t waited;
	while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (waited < 0) {
		fprintf(stderr, "poolscout: record: cannot wait for %s: %s\n",
			env.cmd[0], strerror(errno));
		status = 1 << 8; /* exit status 1 */
	}
	int exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
					  : 128 + WTERMSIG(status);

	char **after = pf_list_dir(out_abs);
	int n = 0;
	for (char **p = after; *p; p++)
		n += !contains(before, *p);
	if (n == 0) {
		fprintf(stderr, "poolscout: no profile written: no process of "
			"the command loaded libpoolscout.so, or none could "
			"write into %s (see the messages above)\n", out_abs);
	} else {
		/* One summary as it ends: what was recorded, where to look. */
		struct summary sum = { .pids = xcalloc((size_t)n + 1,
						       sizeof *sum.pids) };
		int shown = 0;
		for (char **p = after; *p; p++) {
			if (contains(before, *p))
				continue;
			char *path = xasprintf("%s/%s", out_abs, *p);
			summarize_profile(path, &sum);
			free(path);
		}
		char count[32];
		fprintf(stderr, "poolscout: %d profile%s written (%d process%s, %s "
			"allocations%s%s%s):\n", n, n == 1 ? "" : "s", sum.processes,
			sum.processes == 1 ? "" : "es",
			fmt_count(count, (double)sum.allocs),
			sum.partial ? ", some cut short" : "",
			sum.running ? ", some still running" : "",
			sum.unreadable ? ", some unreadable" : "");
		for (char **p = after; *p; p++) {
			if (contains(before, *p))
				continue;
			if (shown++ == 8) {
				fprintf(stderr, "  ... and %d more in %s\n", n - 8,
					out_abs);
				break;
			}
			fprintf(stderr, "  %s/%s\n", out_abs, *p);
		}
		fprintf(stderr, "next: poolscout report %s/*.pscout   (or report "
			"--html report.html, top, threads)\n", out_abs);
		free(sum.pids);
	}
	pf_names_free(before);
	pf_names_free(after);
	free(preload);
	free(lib);
	return exit_code;
}
