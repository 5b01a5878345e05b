/* handler_after.c - scenario 2, after: requests come from a pool (a free
 * list under the queue's lock, the shared pool the report asked for,
 * since workers free what the acceptor allocates). put_request() resets
 * every field before the object goes back, so no request sees the last
 * one's data; with --check each new request verifies that and the
 * program fails if anything stale survived.
 * usage: handler_after [REQUESTS] [--check] */
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
	struct request *next_free;
};

static struct request *queue[QUEUE];
static unsigned head, tail;
static int done, check, stale;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct request *free_list; /* under lock */
static volatile unsigned long sink;

/* Called with lock held. */
NOINLINE static struct request *get_request(void)
{
	struct request *r = free_list;
	if (r) {
		free_list = r->next_free;
		r->next_free = NULL;
		return r;
	}
	r = calloc(1, sizeof *r);
	r->body = calloc(1, BODY);
	return r;
}

/* Called with lock held: clears the state, keeps the body buffer. */
NOINLINE static void put_request(struct request *r)
{
	char *body = r->body;
	memset(body, 0, r->body_len + 1);
	memset(r, 0, sizeof *r);
	r->body = body;
	r->next_free = free_list;
	free_list = r;
}

static int is_clean(const struct request *r)
{
	for (size_t i = 0; i < BODY; i++)
		if (r->body[i])
			return 0;
	return r->id == 0 && r->status == 0 && r->path[0] == 0 &&
	       r->body_len == 0;
}

NOINLINE static void fill_request(struct request *r, long id)
{
	if (check && !is_clean(r))
		stale++;
	r->id = id;
	r->body_len = (size_t)snprintf(r->body, BODY, "{\"id\":%ld}", id);
	snprintf(r->path, sizeof r->path, "/api/items/%ld", id % 100);
}

NOINLINE static void handle(struct request *r)
{
	r->status = r->body_len > 0 ? 200 : 400;
	sink += (unsigned long)r->status + (unsigned char)r->path[5];
	pthread_mutex_lock(&lock);
	put_request(r);
	pthread_mutex_unlock(&lock);
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
	check = argc > 2 && !strcmp(argv[2], "--check");
	double start = demo_now_ms();
	pthread_t w[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&w[i], NULL, worker, NULL);
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&lock);
		struct request *r = get_request();
		pthread_mutex_unlock(&lock);
		fill_request(r, i);
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
	while (free_list) {
		struct request *r = free_list;
		free_list = r->next_free;
		free(r->body);
		free(r);
	}
	demo_report("handler_after", n, start);
	if (check && stale) {
		fprintf(stderr, "handler_after: %d requests saw stale data\n", stale);
		return 1;
	}
	return 0;
}
