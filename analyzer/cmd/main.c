/* main.c - the poolscout command: dispatches to a subcommand, and holds
 * the help of each. `report` is the default view: `poolscout FILE...`
 * ranks pooling candidates. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "psformat.h"

#define POOLSCOUT_VERSION "0.2.0"

/* The options every view that reads profiles shares (options.c). */
#define VIEW_OPTIONS                                                          \
	"  -n N                 show N rows (sites, functions)\n"             \
	"  --json               one JSON document (docs/usage.md lists the "  \
	"fields)\n"                                                           \
	"  --wrapper REGEX      a function of yours that wraps the allocator "\
	"(repeatable)\n"                                                      \
	"  --no-auto-wrappers   no built-in wrapper names, no structural "    \
	"wrapper rule\n"                                                      \
	"  --pid PID            only that process's profile\n"               \
	"  --thread NAME|TID    only that thread's allocations\n"            \
	"  --from T, --to T     only the snapshot intervals inside [T, T) of "\
	"the run\n"                                                           \
	"                       (1.5s, 200ms, 30us; a plain number is "       \
	"seconds)\n"                                                          \
	"  --focus REGEX        only stacks with a frame whose function "     \
	"matches\n"                                                           \
	"  --ignore REGEX       no stacks with a frame whose function "       \
	"matches\n"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
	const char *summary;
	const char *help;
} commands[] = {
	{ "record", cmd_record,
	  "record [OPTIONS] -- CMD [ARG...]",
	  "run a command under the profiler",
	  "Runs CMD with libpoolscout.so preloaded; every process of its tree\n"
	  "writes DIR/poolscout.<comm>.<pid>.pscout. Exits with CMD's status.\n\n"
	  "  -o DIR           where the profiles go (default .)\n"
	  "  --interval MS    a snapshot every MS milliseconds (default 100)\n"
	  "  --sample N       record 1 in N allocations (estimates, faster)\n"
	  "  --depth N        at most N frames per stack (default 64)\n"
	  "  --no-children    profile the first process only\n"
	  "  --site-peak      exact all-thread peaks (a shared counter per site:\n"
	  "                   slower on sites many threads use at once)\n\n"
	  "Example: poolscout record -o prof -- ./server --threads 8\n" },
	{ "report", cmd_report,
	  "report [OPTIONS] FILE...",
	  "allocation sites ranked as pooling candidates (the default view)",
	  "Ranks the allocation sites by what a remedy (pool, presize, stack,\n"
	  "arena) would save, with the numbers behind each decision and the\n"
	  "stacks that reach the site. docs/ranking.md explains the rules.\n\n"
	  "  --html OUT           one self-contained page: ranked sites, flame\n"
	  "                       graph, heap over time, leaks\n"
	  VIEW_OPTIONS
	  "\nExample: poolscout report -n 5 prof/*.pscout\n" },
	{ "top", cmd_top,
	  "top [OPTIONS] FILE...",
	  "functions by allocations, bytes or what stayed live (pprof -top)",
	  "  --alloc_objects      allocations (the default)\n"
	  "  --alloc_space        bytes allocated\n"
	  "  --inuse_objects      blocks still live at the end\n"
	  "  --inuse_space        bytes still live at the end\n"
	  "  --cum                sort by cum (the function or its callees)\n"
	  "  --lines              one row per function and line\n"
	  VIEW_OPTIONS },
	{ "threads", cmd_threads, "threads [OPTIONS] FILE...",
	  "per-thread counts, peaks, rates and a timeline",
	  VIEW_OPTIONS },
	{ "diff", cmd_diff,
	  "diff [OPTIONS] BASE NEW",
	  "what changed between two runs, site by site",
	  "BASE and NEW are each a profile, a directory of profiles or a\n"
	  "comma-separated list. Sites match by function name, so a rebuilt\n"
	  "binary with symbols lines up with the old one.\n\n"
	  "  --per N              divide both sides by N units of work (else\n"
	  "                       by the units each side recorded, if both did)\n"
	  "  --per N,M            divide the base by N units, the new side by M\n"
	  "  --html OUT           a page with the table and a differential\n"
	  "                       flame graph\n"
	  VIEW_OPTIONS
	  "\nExample: poolscout diff before/ after/\n" },
	{ "export", cmd_export,
	  "export --format F -o OUT [OPTIONS] FILE...",
	  "the profiles in a format other tools read",
	  "  --format F           pprof (go tool pprof, Pyroscope, Parca),\n"
	  "                       gperftools (google-pprof), folded (flame\n"
	  "                       graphs), json\n"
	  "  -o OUT               the output file (- for stdout)\n"
	  "  --sample-index IDX   folded: alloc_objects, alloc_space,\n"
	  "                       inuse_objects or inuse_space\n"
	  VIEW_OPTIONS },
	{ "info", cmd_info, "info [--json] FILE...",
	  "what a profile holds and whether it is whole",
	  "Command line, pid, duration, options, completeness (or where a\n"
	  "cut-short file stops), totals, peak, and the modules with what\n"
	  "was found to name their code.\n" },
};

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	fputs("usage: poolscout COMMAND [OPTIONS] FILE...\n\n", out);
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\nWith no command, FILE... gets the ranked report.\n"
	      "`poolscout help COMMAND` (or COMMAND --help) shows its options;\n"
	      "docs/usage.md has the rest.\n", out);
}

static void help(const struct command *c)
{
	printf("usage: poolscout %s\n\n%s: %s\n\n%s", c->usage, c->name,
	       c->summary, c->help);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *first = argv[1];
	if (!strcmp(first, "--version") || !strcmp(first, "version")) {
		printf("poolscout %s (profile format %u, reads %u..%u)\n",
		       POOLSCOUT_VERSION, PS_FORMAT_VERSION, PS_FORMAT_VERSION_MIN,
		       PS_FORMAT_VERSION);
		return 0;
	}
	if (!strcmp(first, "-h") || !strcmp(first, "--help") ||
	    !strcmp(first, "help")) {
		if (argc > 2) {
			const struct command *c = find(argv[2]);
			if (!c)
				return usage_error("help: no command '%s'", argv[2]);
			help(c);
			return 0;
		}
		usage(stdout);
		return 0;
	}
	const struct command *c = find(first);
	if (c) {
		/* only right after the command: `record -- ls --help` is ls's */
		if (argc > 2 &&
		    (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
			help(c);
			return 0;
		}
		return c->run(argc - 1, argv + 1);
	}
	if (first[0] != '-' && strstr(first, ".pscout"))
		return cmd_report(argc, argv);
	usage(stderr);
	return usage_error("unknown command '%s'", first);
}
