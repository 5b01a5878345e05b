/* bigbuf_after.c - scenario 7, after: a per-thread pool of message
 * buffers (2 KiB, grown when a message needs more) that caps what it
 * takes back: a buffer grown past CAP_BACK is freed instead of kept, so
 * the 1-in-100 huge message costs one allocation and pins nothing.
 * usage: bigbuf_after [MESSAGES] */
#include <string.h>

#include "../demo.h"

#define BIG (500 * 1024)
#define POOL 4
#define CAP_BACK (64 * 1024)
static volatile unsigned long sink;

struct buf {
	char *data;
	size_t cap;
};

static __thread struct buf pool[POOL];
static __thread int pooled;

static size_t message_size(long i)
{
	return i % 100 == 99 ? BIG : 512 + (size_t)(i * 37 % 1536);
}

NOINLINE static struct buf message_buffer(size_t size)
{
	struct buf b = pooled ? pool[--pooled] : (struct buf){ NULL, 0 };
	if (b.cap < size) {
		size_t cap = size > 2048 ? size : 2048;
		free(b.data);
		b.data = malloc(cap);
		b.cap = cap;
	}
	return b;
}

NOINLINE static void put_buffer(struct buf b)
{
	if (b.cap > CAP_BACK || pooled == POOL) {
		free(b.data); /* too big to keep, or the pool is full */
		return;
	}
	pool[pooled++] = b;
}

NOINLINE static void send_message(long i)
{
	size_t size = message_size(i);
	struct buf b = message_buffer(size);
	memset(b.data, 'x', size < 4096 ? size : 4096);
	b.data[size - 1] = '\n';
	sink += (unsigned char)b.data[size / 2];
	put_buffer(b);
}

int main(int argc, char **argv)
{
	long n = demo_units(argc, argv, 200000);
	double start = demo_now_ms();
	for (long i = 0; i < n; i++) {
		send_message(i);
		poolscout_work_done(1);
	}
	while (pooled)
		free(pool[--pooled].data);
	demo_report("bigbuf_after", n, start);
	return 0;
}
