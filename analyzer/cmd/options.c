/* options.c - the options every view shares, and the one way the
 * analyzer reports bad usage. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "commands.h"

int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("poolscout: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/* Parses a time in the run: "1.5s", "200ms", "30us", "5" (seconds).
 * Returns 0 and sets *ns, or -1. */
static int parse_time(const char *s, uint64_t *ns)
{
	char *end;
	double v = strtod(s, &end);
	double unit = 1e9;
	if (!strcmp(end, "ms"))
		unit = 1e6;
	else if (!strcmp(end, "us"))
		unit = 1e3;
	else if (!strcmp(end, "ns"))
		unit = 1;
	else if (*end && strcmp(end, "s"))
		return -1;
	if (end == s || !(v >= 0) || v * unit > 1e18)
		return -1;
	*ns = (uint64_t)(v * unit);
	return 0;
}

int view_opt_one(view_opts *o, int argc, char **argv, int *i,
		 const char *cmd, int flags)
{
	const char *arg = argv[*i];
	o->model.wrappers = o->wrappers;
	int needs_value = !strcmp(arg, "--pid") || !strcmp(arg, "--thread") ||
			  !strcmp(arg, "--from") || !strcmp(arg, "--to") ||
			  !strcmp(arg, "--focus") || !strcmp(arg, "--ignore");
	if (needs_value && *i + 1 >= argc)
		return usage_error("%s: %s needs a value", cmd, arg);
	if (needs_value) {
		const char *v = argv[++*i];
		char *end;
		if (!strcmp(arg, "--pid")) {
			unsigned long pid = strtoul(v, &end, 10);
			if (*end || !pid || pid > UINT32_MAX)
				return usage_error("%s: --pid expects a process "
						   "id, got '%s'", cmd, v);
			o->model.pid = (uint32_t)pid;
		} else if (!strcmp(arg, "--thread")) {
			o->model.thread = v;
		} else if (!strcmp(arg, "--from") || !strcmp(arg, "--to")) {
			uint64_t ns;
			if (parse_time(v, &ns))
				return usage_error("%s: %s expects a time in the "
						   "run such as 1.5s or 200ms, got "
						   "'%s'", cmd, arg, v);
			if (arg[2] == 'f')
				o->model.from_ns = ns;
			else
				o->model.to_ns = ns ? ns : 1;
		} else if (!strcmp(arg, "--focus")) {
			o->model.focus = v;
		} else {
			o->model.ignore = v;
		}
		if (o->model.to_ns && o->model.from_ns >= o->model.to_ns)
			return usage_error("%s: --from must come before --to", cmd);
		return 1;
	}
	if (!strcmp(arg, "--json")) {
		o->json = 1;
	} else if ((flags & VIEW_HTML) && !strcmp(arg, "--html")) {
		if (*i + 1 >= argc)
			return usage_error("%s: --html needs a file name", cmd);
		o->html = argv[++*i];
	} else if (!strcmp(arg, "-n")) {
		char *end;
		if (*i + 1 >= argc)
			return usage_error("%s: -n needs a number", cmd);
		long n = strtol(argv[++*i], &end, 10);
		if (*end || n < 1 || n > 1000000)
			return usage_error("%s: -n expects 1..1000000, got '%s'",
					   cmd, argv[*i]);
		o->limit = (int)n;
	} else if (!strcmp(arg, "--wrapper")) {
		if (*i + 1 >= argc)
			return usage_error("%s: --wrapper needs a regular "
					   "expression", cmd);
		if (o->model.nwrappers == MAX_WRAPPER_OPTS)
			return usage_error("%s: at most %d --wrapper", cmd,
					   MAX_WRAPPER_OPTS);
		o->wrappers[o->model.nwrappers++] = argv[++*i];
	} else if (!strcmp(arg, "--no-auto-wrappers")) {
		o->model.no_auto_wrappers = 1;
	} else if ((flags & VIEW_TOP_FLAGS) &&
		   (!strcmp(arg, "--alloc_objects") ||
		    !strcmp(arg, "--alloc_space") ||
		    !strcmp(arg, "--inuse_objects") ||
		    !strcmp(arg, "--inuse_space"))) {
		o->sample_index = arg + 2;
	} else if ((flags & VIEW_TOP_FLAGS) && !strcmp(arg, "--cum")) {
		o->cum = 1;
	} else if ((flags & VIEW_TOP_FLAGS) && !strcmp(arg, "--lines")) {
		o->lines = 1;
	} else {
		return 0;
	}
	return 1;
}

int options_after_files(int argc, char **argv, int first, const char *cmd)
{
	for (int i = first; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1])
			return usage_error("%s: '%s' after the files: options go "
					   "before them", cmd, argv[i]);
	return 0;
}

int view_opts_parse(view_opts *o, int argc, char **argv, const char *cmd,
		    int flags)
{
	int i;
	o->model.wrappers = o->wrappers;
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "--")) {
			i++;
			break;
		}
		if (arg[0] != '-' || !arg[1]) {
			if (options_after_files(argc, argv, i, cmd))
				return 2;
			break;
		}
		int rc = view_opt_one(o, argc, argv, &i, cmd, flags);
		if (rc == 2)
			return 2;
		if (!rc)
			return usage_error("%s: unknown option '%s'", cmd, arg);
	}
	o->files = argv + i;
	o->nfiles = argc - i;
	if (!o->nfiles && !(flags & VIEW_NO_FILES))
		return usage_error("%s: no profile given", cmd);
	return 0;
}
