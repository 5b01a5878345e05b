/* units.h - numbers with units for the text views, into a caller buffer
 * of at least 32 bytes. */
#ifndef POOLSCOUT_UNITS_H
#define POOLSCOUT_UNITS_H
#include <stddef.h>

const char *fmt_count(char *buf, double n);    /* 12.3k, 4.56M */
const char *fmt_bytes(char *buf, double n);    /* 512 B, 1.5 KiB */
const char *fmt_ns(char *buf, double ns);      /* 850 ns, 1.2 us, 3.4 s */
/* ns rounded up, for upper bounds: 1023.4 ns -> "1.03 us" ("forever"
 * for infinity). */
const char *fmt_ns_up(char *buf, double ns);
/* The same rounded down, for lower bounds. */
const char *fmt_ns_down(char *buf, double ns);
const char *fmt_rate(char *buf, double per_s); /* 12.3k/s */
/* s if it fits width columns, else its start and end around "..." in buf
 * (cap >= width + 1): the text views fit 100 columns. */
const char *fit_width(char *buf, size_t cap, const char *s, size_t width);

#endif
