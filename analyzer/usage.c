/* usage.c - the one way the analyzer reports bad usage or bad input. */
#include <stdarg.h>
#include <stdio.h>

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
