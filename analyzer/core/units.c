/* units.c - numbers with units for the text views. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

const char *fmt_count(char *buf, double n)
{
	static const char suffix[] = " kMGTP";
	int i = 0;
	if (n < 10000) {
		snprintf(buf, 32, "%.0f", n);
		return buf;
	}
	while (n >= 1000 && i < 5) {
		n /= 1000;
		i++;
	}
	snprintf(buf, 32, n < 10 ? "%.2f%c" : n < 100 ? "%.1f%c" : "%.0f%c", n,
		 suffix[i]);
	return buf;
}

const char *fmt_bytes(char *buf, double n)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;
	while (n >= 1024 && i < 4) {
		n /= 1024;
		i++;
	}
	if (!i)
		snprintf(buf, 32, "%.0f B", n);
	else
		snprintf(buf, 32, n < 10 ? "%.2f %s" : n < 100 ? "%.1f %s"
							     : "%.0f %s",
			 n, unit[i]);
	return buf;
}

const char *fmt_ns(char *buf, double ns)
{
	if (ns < 1000)
		snprintf(buf, 32, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, 32, "%.3g us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, 32, "%.3g ms", ns / 1e6);
	else
		snprintf(buf, 32, "%.3g s", ns / 1e9);
	return buf;
}

/* ns at three significant digits, rounded up (up) or down: a bound
 * printed this way never moves past the true value. */
static const char *fmt_ns_bound(char *buf, double ns, int up)
{
	if (isinf(ns))
		return strcpy(buf, "forever");
	double unit = ns < 1000 ? 1 : ns < 1e6 ? 1e3 : ns < 1e9 ? 1e6 : 1e9;
	const char *name = ns < 1000 ? "ns" : ns < 1e6 ? "us" : ns < 1e9 ? "ms" : "s";
	double v = ns / unit;
	double scale = unit == 1 ? 1 : v < 10 ? 100 : v < 100 ? 10 : 1;
	v = up ? ceil(v * scale - 1e-9) / scale : floor(v * scale + 1e-9) / scale;
	snprintf(buf, 32, "%.*f %s", unit == 1 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0,
		 v, name);
	return buf;
}

const char *fmt_ns_up(char *buf, double ns)
{
	return fmt_ns_bound(buf, ns, 1);
}

const char *fmt_ns_down(char *buf, double ns)
{
	return fmt_ns_bound(buf, ns, 0);
}

const char *fmt_rate(char *buf, double per_s)
{
	char n[32];
	snprintf(buf, 32, "%s/s", fmt_count(n, per_s));
	return buf;
}

/* Backs i off a UTF-8 continuation byte, so a cut never splits a
 * character. */
static size_t char_start(const char *s, size_t i)
{
	while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
		i--;
	return i;
}

const char *fit_width(char *buf, size_t cap, const char *s, size_t width)
{
	size_t len = strlen(s);
	if (len <= width || width < 8 || cap < width + 1)
		return s;
	size_t head = char_start(s, (width - 3) / 2);
	size_t tail = len - (width - 3 - (width - 3) / 2);
	while (((unsigned char)s[tail] & 0xc0) == 0x80)
		tail++;
	snprintf(buf, cap, "%.*s...%s", (int)head, s, s + tail);
	return buf;
}
