/* logger_before.c - scenario 1 (seed 000), before the fix: a concurrent
 * structured logger. Every thread formats each JSON log line into a
 * freshly allocated scratch buffer that starts small and grows by
 * realloc, with the timestamp and every field formatted into a string of
 * its own first; one mutex covers formatting and writing.
 *
 * usage: logger_before THREADS LINES_PER_THREAD > log
 * Each line is one unit of work (poolscout_work_done).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poolscout.h"

#define NOINLINE __attribute__((noinline))

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static long lines_per_thread;

struct buffer {
	char *data;
	size_t len, cap;
};

NOINLINE static void buffer_append(struct buffer *b, const char *s)
{
	size_t n = strlen(s);
	while (b->len + n + 1 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->data = realloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, s, n + 1);
	b->len += n;
}

NOINLINE static char *format_timestamp(long seq)
{
	char *ts = malloc(32);
	snprintf(ts, 32, "2026-11-23T12:00:%02ld.%06ldZ", seq % 60, seq % 1000000);
	return ts;
}

NOINLINE static char *format_field(const char *key, long value)
{
	char *field = malloc(48);
	snprintf(field, 48, ",\"%s\":%ld", key, value);
	return field;
}

NOINLINE static void log_line(FILE *out, long thread, long seq)
{
	pthread_mutex_lock(&log_lock);
	struct buffer b = { 0 };
	char *ts = format_timestamp(seq);
	buffer_append(&b, "{\"ts\":\"");
	buffer_append(&b, ts);
	buffer_append(&b, "\",\"level\":\"info\",\"msg\":\"request served\"");
	free(ts);
	static const char *const keys[] = { "thread", "seq", "status", "bytes" };
	long values[] = { thread, seq, 200, 512 + seq % 1024 };
	for (int i = 0; i < 4; i++) {
		char *field = format_field(keys[i], values[i]);
		buffer_append(&b, field);
		free(field);
	}
	buffer_append(&b, "}\n");
	fputs(b.data, out);
	free(b.data);
	pthread_mutex_unlock(&log_lock);
	poolscout_work_done(1);
}

static void *worker(void *arg)
{
	long thread = (long)arg;
	for (long i = 0; i < lines_per_thread; i++)
		log_line(stdout, thread, i);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 4;
	lines_per_thread = argc > 2 ? atol(argv[2]) : 50000;
	pthread_t t[64];
	if (threads < 1 || threads > 64)
		threads = 4;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	fprintf(stderr, "logger_before: %ld lines in %.0f ms\n",
		threads * lines_per_thread,
		(double)(b.tv_sec - a.tv_sec) * 1e3 +
			(double)(b.tv_nsec - a.tv_nsec) / 1e6);
	return 0;
}
