/* options.c - the POOLSCOUT_* environment variables, read from one table.
 *
 * Runs before the C runtime may be fully up (from the first hook), so it
 * reads envp directly, parses numbers by hand and prints with write(2).
 * A bad value earns one warning line and the default; never an abort.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ps_internal.h"

struct ps_options ps_opt = {
	.out_dir = ".",
	.interval_ms = 100,
	.depth = 64,
	.sample_every = 1,
	.children = 1,
	.file_mode = 0600,
	.catch_signals = 1,
};

enum opt_kind { OPT_UINT, OPT_BOOL, OPT_OCTAL, OPT_PATH, OPT_CHOICE };

/* OPT_CHOICE values, in enum order, NULL-terminated */
static const char *const unwinder_names[] = { "fast", "libunwind", "check", NULL };

static const struct option_def {
	const char *name;
	enum opt_kind kind;
	void *target;
	unsigned min, max;
	const char *const *choices;
} option_table[] = {
	{ "POOLSCOUT_OUT", OPT_PATH, ps_opt.out_dir, 0, 0, NULL },
	{ "POOLSCOUT_INTERVAL_MS", OPT_UINT, &ps_opt.interval_ms, 1, 3600000, NULL },
	{ "POOLSCOUT_DEPTH", OPT_UINT, &ps_opt.depth, 1, PS_MAX_DEPTH, NULL },
	{ "POOLSCOUT_SAMPLE", OPT_UINT, &ps_opt.sample_every, 1, 1u << 30, NULL },
	{ "POOLSCOUT_CHILDREN", OPT_BOOL, &ps_opt.children, 0, 1, NULL },
	{ "POOLSCOUT_FILE_MODE", OPT_OCTAL, &ps_opt.file_mode, 0, 0777, NULL },
	{ "POOLSCOUT_SITE_PEAK", OPT_BOOL, &ps_opt.site_peak, 0, 1, NULL },
	{ "POOLSCOUT_UNWIND", OPT_CHOICE, &ps_opt.unwinder, 0, 0, unwinder_names },
	{ "POOLSCOUT_KEEP_DEEPBIND", OPT_BOOL, &ps_opt.keep_deepbind, 0, 1, NULL },
	{ "POOLSCOUT_CATCH_SIGNALS", OPT_BOOL, &ps_opt.catch_signals, 0, 1, NULL },
};

void ps_warn(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof buf, "poolscout: ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	int saved = errno;
	ssize_t r = write(STDERR_FILENO, buf, (size_t)n);
	(void)r;
	errno = saved;
}

extern char **environ;

char **ps_environ(void)
{
	static char text[64 << 10];
	static char *vars[1024];
	static int loaded;
	if (environ)
		return environ;
	if (loaded)
		return vars;
	loaded = 1;
	int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;
	while (fd >= 0 && len < sizeof text - 1 &&
	       (n = read(fd, text + len, sizeof text - 1 - len)) > 0)
		len += (size_t)n;
	if (fd >= 0)
		close(fd);
	text[len] = 0;
	size_t count = 0;
	for (size_t i = 0; i < len && count < sizeof vars / sizeof *vars - 1;) {
		vars[count++] = text + i;
		i += strlen(text + i) + 1;
	}
	vars[count] = NULL;
	return vars;
}

const char *ps_env_get(char **envp, const char *name)
{
	size_t len = strlen(name);
	for (char **e = envp; e && *e; e++)
		if (!strncmp(*e, name, len) && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

const char *ps_preload_next(const char **list, size_t *len)
{
	const char *name = *list;
	if (!name || !*name)
		return NULL;
	*len = strcspn(name, ": ");
	*list = name + *len + (name[*len] != 0);
	return name;
}

/* Parses a decimal number with an optional K/M/G suffix, or an octal one.
 * Returns 0 on success. */
static int parse_number(const char *s, unsigned base, unsigned long long *out)
{
	unsigned long long v = 0;
	const char *p = s;
	if (!*p)
		return -1;
	for (; *p >= '0' && *p <= (base == 8 ? '7' : '9'); p++) {
		v = v * base + (unsigned)(*p - '0');
		if (v > (1ull << 40))
			return -1;
	}
	if (p == s)
		return -1;
	if (base == 10 && *p) {
		switch (*p | 0x20) {
		case 'k': v <<= 10; p++; break;
		case 'm': v <<= 20; p++; break;
		case 'g': v <<= 30; p++; break;
		}
	}
	if (*p)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "1", "on", "yes", "true" };
	static const char *const no[] = { "0", "off", "no", "false" };
	for (unsigned i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

void ps_options_load(char **envp)
{
	/* One pass over the environment (every process reads it at start,
	 * and it may hold hundreds of variables): each option's first
	 * value, as ps_env_get would find it. */
	enum { NOPTIONS = sizeof option_table / sizeof *option_table };
	const char *vals[NOPTIONS] = { NULL };
	for (char **e = envp; e && *e; e++) {
		if (strncmp(*e, "POOLSCOUT_", 10))
			continue;
		for (size_t i = 0; i < NOPTIONS; i++) {
			size_t len = strlen(option_table[i].name);
			if (!vals[i] && !strncmp(*e, option_table[i].name, len) &&
			    (*e)[len] == '=')
				vals[i] = *e + len + 1;
		}
	}
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *d = &option_table[i];
		const char *val = vals[i];
		unsigned long long n;
		if (!val)
			continue;
		switch (d->kind) {
		case OPT_PATH:
			if (*val && strlen(val) < sizeof ps_opt.out_dir) {
				strcpy(d->target, val);
				continue;
			}
			break;
		case OPT_BOOL:
			if (!parse_bool(val, d->target))
				continue;
			break;
		case OPT_CHOICE: {
			int found = 0;
			for (int c = 0; d->choices[c] && !found; c++)
				if (!strcasecmp(val, d->choices[c])) {
					*(int *)d->target = c;
					found = 1;
				}
			if (found)
				continue;
			break;
		}
		case OPT_UINT:
		case OPT_OCTAL:
			if (!parse_number(val, d->kind == OPT_OCTAL ? 8 : 10, &n) &&
			    n >= d->min && n <= d->max) {
				*(unsigned *)d->target = (unsigned)n;
				continue;
			}
			break;
		}
		ps_warn("ignoring %s=%s: expected %s; using the default",
			d->name, val,
			d->kind == OPT_PATH   ? "a directory path" :
			d->kind == OPT_BOOL   ? "1/0, on/off, yes/no" :
			d->kind == OPT_OCTAL  ? "an octal file mode such as 0600" :
			d->kind == OPT_CHOICE ? "fast, libunwind or check" :
						"a number in range");
	}
}
