/* main.c - the poolscout command: dispatches to a subcommand. `report` is
 * the default view: `poolscout FILE...` ranks pooling candidates. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "record", cmd_record,
	  "record [-o DIR] [--interval MS] [--sample N] [--depth N] "
	  "[--no-children] [--site-peak] -- CMD [ARG...]" },
	{ "report", cmd_report, "report [-n N] [--json | --html OUT] [WRAPPERS] FILE..." },
	{ "top", cmd_top,
	  "top [--alloc_objects|--alloc_space|--inuse_objects|--inuse_space] "
	  "[--cum] [--lines] [-n N] [--json] [WRAPPERS] FILE..." },
	{ "threads", cmd_threads, "threads [--json] [WRAPPERS] FILE..." },
	{ "diff", cmd_diff, "diff [--json | --html OUT] [--per N] [-n N] [WRAPPERS] BASE NEW" },
	{ "export", cmd_export,
	  "export --format pprof|gperftools|folded|json -o OUT "
	  "[--sample-index IDX] [WRAPPERS] FILE..." },
	{ "info", cmd_info, "info [--json] FILE..." },
};

static void usage(FILE *out)
{
	fputs("usage: poolscout COMMAND [OPTIONS] FILE...\n\n", out);
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(out, "  poolscout %s\n", commands[i].usage);
	fputs("\nWRAPPERS: [--wrapper REGEX]... [--no-auto-wrappers] (your own "
	      "allocation wrappers;\n          turn off the automatic ones).\n"
	      "With no command, FILE... gets the ranked report. "
	      "See docs/usage.md.\n", out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	if (argv[1][0] != '-' && strstr(argv[1], ".pscout"))
		return cmd_report(argc, argv);
	usage(stderr);
	return usage_error("unknown command '%s'", argv[1]);
}
