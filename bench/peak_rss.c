/* peak_rss.c - for `make bench`: an LD_PRELOAD shim that, as each process
 * of a run exits, appends "COMM VMHWM_KIB" (its name and its peak RSS
 * from /proc/self/status) to the file named by PEAK_RSS_OUT. The stack
 * and thread rows use it to measure the profiled program alone: GNU
 * time's %M is the largest process of the tree, which under `poolscout
 * record` may be record itself reading the profiles for its summary.
 *
 * Nothing here allocates: it reads and writes with the system calls. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The value of "KEY:\t..." in the text of a /proc file, or "". */
static void field(const char *text, const char *key, char *out, size_t cap)
{
	const char *p = strstr(text, key);
	size_t n = 0;
	out[0] = 0;
	if (!p)
		return;
	p += strlen(key);
	while (*p == ' ' || *p == '\t')
		p++;
	while (n + 1 < cap && p[n] && p[n] != '\n' && p[n] != ' ')
		n++;
	memcpy(out, p, n);
	out[n] = 0;
}

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv("PEAK_RSS_OUT");
	if (!path)
		return;
	char status[8192];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, status, sizeof status - 1);
	close(fd);
	if (n <= 0)
		return;
	status[n] = 0;
	char name[64], hwm[32], line[128];
	field(status, "\nName:", name, sizeof name);
	if (!name[0])
		field(status, "Name:", name, sizeof name);
	field(status, "VmHWM:", hwm, sizeof hwm);
	int len = snprintf(line, sizeof line, "%s %s\n", name, hwm);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)len) != len)
		len = 0;
	close(fd);
}
