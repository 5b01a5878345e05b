/* commands.h - the poolscout subcommands (one file each, on top of the
 * core in ../core) and the option parsing they share. Each returns the
 * process exit status: 0 success, 1 the command failed, 2 bad usage or
 * unreadable input. */
#ifndef POOLSCOUT_COMMANDS_H
#define POOLSCOUT_COMMANDS_H

#include <stdint.h>

#include "model.h"

int cmd_record(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_threads(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* Options shared by the views that read profiles. */
#define MAX_WRAPPER_OPTS 32
typedef struct view_opts {
	int json;
	const char *html;         /* report --html OUT: the page's path */
	int limit;                /* -n; 0: the view's default */
	const char *wrappers[MAX_WRAPPER_OPTS];
	an_opts model;            /* points at wrappers */
	const char *sample_index; /* top: alloc_objects, ... */
	int cum, lines;
	char **files;
	int nfiles;
} view_opts;

enum {
	VIEW_TOP_FLAGS = 1,  /* --alloc_objects ... --cum --lines */
	VIEW_NO_FILES = 2,   /* files are not required (diff takes its own) */
	VIEW_EXPORT = 4,     /* --format, -o, --sample-index are the caller's */
	VIEW_HTML = 8,       /* --html OUT */
};

/* Parses the options common to the views (-n, --json, --wrapper,
 * --no-auto-wrappers, and the top flags when allowed); stops at the first
 * argument that is not an option (the files). Returns 0, or 2 after
 * printing a usage message. */
int view_opts_parse(view_opts *o, int argc, char **argv, const char *cmd,
		    int flags);
/* Parses one common option at argv[*i] (advancing *i past its value);
 * returns 1 if it was one, 0 if not, 2 after a usage message. */
int view_opt_one(view_opts *o, int argc, char **argv, int *i,
		 const char *cmd, int flags);

/* Prints "poolscout: <message>" on stderr and returns 2 (usage error). */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error (2) when an argument from first on looks like an option
 * ("-x", not "-"): a file list is last. Else 0. */
int options_after_files(int argc, char **argv, int first, const char *cmd);

#endif
