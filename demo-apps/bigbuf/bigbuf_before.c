/* bigbuf_before.c - scenario 7 (seed 000's 500 KB log line), before: each
 * message gets a buffer of its own size, allocated and freed per message.
 * Sizes are 512 B..2 KiB, except one message in 100 of 500 KB. The report
 * should advise a pool and warn about the size spread: a naive pool would
 * keep the 500 KB buffers forever.
 * usage: bigbuf_before [MESSAGES] */
#include <string.h>

#include "../demo.h"

#define BIG (500 * 1024)
static volatile unsigned long sink;

static size_t message_size(long i)
{
	return i % 100 == 99 ? BIG : 512 + (size_t)(i * 37 % 1536);
}

NOINLINE static char *message_buffer(size_t size)
{
	return malloc(size);
}

NOINLINE static void send_message(long i)
{
	size_t size = message_size(i);
	char *buf = message_buffer(size);
	memset(buf, 'x', size < 4096 ? size : 4096);
	buf[size - 1] = '\n';
	sink += (unsigned char)buf[size / 2];
	free(buf);
}

int main(int argc, char **argv)
{
	long n = demo_units(argc, argv, 200000);
	double start = demo_now_ms();
	for (long i = 0; i < n; i++) {
		send_message(i);
		poolscout_work_done(1);
	}
	demo_report("bigbuf_before", n, start);
	return 0;
}
