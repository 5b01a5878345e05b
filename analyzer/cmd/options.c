/* options.c - the options every view shares, and the one way the
 * analyzer reports bad usage. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

int view_opt_one(view_opts *o, int argc, char **argv, int *i,
		 const char *cmd, int flags)
{
	const char *arg = argv[*i];
	o->model.wrappers = o->wrappers;
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
		if (arg[0] != '-' || !arg[1])
			break;
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
