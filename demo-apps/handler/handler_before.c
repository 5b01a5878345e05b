/* handler_before.c - scenario 2 (seeds 001, 002), before: a server whose
 * acceptor thread allocates a request context and a 4 KiB body buffer per
 * request and queues them; two workers handle and free them. Every
 * request costs two allocations, freed on another thread. It counts the
 * requests alive at once itself and prints the peak, so the tests can
 * check the pool size poolscout measures against it: as two bounds,
 * since a thread may stop between an allocator call and its count. The
 * low count runs from the body's malloc returning to its free being
 * called (inside either block's life), the high one from before the
 * calloc to after the free of the request (around both).
 * usage: handler_before [REQUESTS] */
#include <pthread.h>
#include <string.h>

#include "../demo.h"

#define QUEUE 32
#define BODY 4096

struct request {
	long id;
	int status;
	char path[64];
	char *body;
	size_t body_len;
};

static struct request *queue[QUEUE];
static unsigned head, tail;
static int done;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static volatile unsigned long sink;
static int live_lo, peak_lo, live_hi, peak_hi; /* only this thread raises
						 * the peaks */

NOINLINE static struct request *new_request(long id)
{
	int hi = __atomic_add_fetch(&live_hi, 1, __ATOMIC_SEQ_CST);
	if (hi > peak_hi)
		peak_hi = hi;
	struct request *r = calloc(1, sizeof *r);
	r->id = id;
	r->body = malloc(BODY);
	int lo = __atomic_add_fetch(&live_lo, 1, __ATOMIC_SEQ_CST);
	if (lo > peak_lo)
		peak_lo = lo;
	r->body_len = (size_t)snprintf(r->body, BODY, "{\"id\":%ld}", id);
	snprintf(r->path, sizeof r->path, "/api/items/%ld", id % 100);
	return r;
}

NOINLINE static void handle(struct request *r)
{
	r->status = r->body_len > 0 ? 200 : 400;
	sink += (unsigned long)r->status + (unsigned char)r->path[5];
	__atomic_sub_fetch(&live_lo, 1, __ATOMIC_SEQ_CST);
	free(r->body);
	free(r);
	__atomic_sub_fetch(&live_hi, 1, __ATOMIC_SEQ_CST);
	poolscout_work_done(1);
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (head == tail && !done)
			pthread_cond_wait(&cond, &lock);
		if (head == tail) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		struct request *r = queue[head++ % QUEUE];
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&lock);
		handle(r);
	}
}

int main(int argc, char **argv)
{
	long n = demo_units(argc, argv, 200000);
	double start = demo_now_ms();
	pthread_t w[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&w[i], NULL, worker, NULL);
	for (long i = 0; i < n; i++) {
		struct request *r = new_request(i);
		pthread_mutex_lock(&lock);
		while (tail - head == QUEUE)
			pthread_cond_wait(&cond, &lock);
		queue[tail++ % QUEUE] = r;
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_lock(&lock);
	done = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	demo_report("handler_before", n, start);
	fprintf(stderr, "handler_before: peak live requests %d..%d\n", peak_lo,
		peak_hi);
	return 0;
}
