/* logger_after.c - scenario 1 (seed 000), after the fix: each thread keeps
 * its own scratch buffer (the per-P slot of Go's sync.Pool, in C: a
 * thread-local cache), which keeps the capacity it grew to; the timestamp
 * and fields are formatted straight into it; the lock covers only the
 * write. Buffers that grew past CAP_LIMIT (one huge line) are released
 * instead of kept, so the cache never pins a giant buffer.
 *
 * usage: logger_after THREADS LINES_PER_THREAD > log
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poolscout.h"

#define NOINLINE __attribute__((noinline))
#define CAP_LIMIT (64 * 1024)

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static long lines_per_thread;

struct buffer {
	char *data;
	size_t len, cap;
};

static __thread struct buffer cache; /* one per thread, reused */

NOINLINE static void buffer_reserve(struct buffer *b, size_t need)
{
	if (b->len + need + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (b->len + need + 1 > cap)
		cap *= 2;
	b->data = realloc(b->data, cap);
	b->cap = cap;
}

NOINLINE static void buffer_printf(struct buffer *b, const char *fmt, long v1,
				   long v2)
{
	buffer_reserve(b, 96);
	b->len += (size_t)snprintf(b->data + b->len, b->cap - b->len, fmt, v1, v2);
}

NOINLINE static void log_line(FILE *out, long thread, long seq)
{
	struct buffer *b = &cache;
	b->len = 0;
	buffer_printf(b, "{\"ts\":\"2026-11-23T12:00:%02ld.%06ldZ\"", seq % 60,
		      seq % 1000000);
	buffer_printf(b, ",\"level\":\"info\",\"msg\":\"request served\""
			 ",\"thread\":%ld,\"seq\":%ld", thread, seq);
	buffer_printf(b, ",\"status\":%ld,\"bytes\":%ld}\n", 200, 512 + seq % 1024);
	pthread_mutex_lock(&log_lock);
	fwrite(b->data, 1, b->len, out);
	pthread_mutex_unlock(&log_lock);
	if (b->cap > CAP_LIMIT) { /* do not keep a giant buffer */
		free(b->data);
		*b = (struct buffer){ 0 };
	}
	poolscout_work_done(1);
}

static void *worker(void *arg)
{
	long thread = (long)arg;
	for (long i = 0; i < lines_per_thread; i++)
		log_line(stdout, thread, i);
	free(cache.data);
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
	fprintf(stderr, "logger_after: %ld lines in %.0f ms\n",
		threads * lines_per_thread,
		(double)(b.tv_sec - a.tv_sec) * 1e3 +
			(double)(b.tv_nsec - a.tv_nsec) / 1e6);
	return 0;
}
