/* commands.h - the poolscout subcommands (one file each) and what they
 * share. Each returns the process exit status: 0 success, 1 the command
 * failed, 2 bad usage or unreadable input. */
#ifndef POOLSCOUT_COMMANDS_H
#define POOLSCOUT_COMMANDS_H

#include <stdint.h>

int cmd_record(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_threads(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* Prints "poolscout: <message>" on stderr and returns 2 (usage error). */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Human units, into a caller buffer of at least 32 bytes. */
const char *fmt_count(char *buf, double n);   /* 12.3k, 4.56M */
const char *fmt_bytes(char *buf, double n);   /* 512 B, 1.5 KiB */
const char *fmt_ns(char *buf, double ns);     /* 850 ns, 1.2 us, 3.4 s */
const char *fmt_rate(char *buf, double per_s); /* 12.3k/s */

#endif
