/* memory.h - allocation helpers for the analyzer: on exhaustion they print
 * one line and exit 1 (the analyzer is a batch tool; there is nothing
 * useful to do with half a report). */
#ifndef POOLSCOUT_MEMORY_H
#define POOLSCOUT_MEMORY_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* printf into a new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
