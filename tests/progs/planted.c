/* planted.c - a program with one allocation site per remedy, each with
 * counts the tests know exactly:
 *
 *   handle_request   pool     200000 x 256 B, up to 8 live, same thread
 *   append_bytes     presize  4000 objects grown 1 -> 2 -> ... -> 16 KiB
 *                             by realloc (15 growth steps each)
 *   load_table       none     2000 x 1 KiB, live until exit
 *   parse_token      stack    100000 x 24 B, freed at once
 *   produce_message  pool     50000 x 512 B, freed by the consumer thread
 *
 * The initial malloc of each append_bytes object comes from start_buffer
 * (4000 allocations of 1 byte). The program counts the messages alive at
 * once itself and prints "peak messages N" on stderr, so the tests check
 * poolscout's pool size against it (tests/integration/test_exact.c). It
 * also prints when the producer thread started (ns after main began) and
 * how long it allocated (from its first produce_message to its last).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

#define REQUESTS 200000
#define IN_FLIGHT 8
#define CHAINS 4000
#define CHAIN_STEPS 15
#define TABLE_ROWS 2000
#define TOKENS 100000
#define MESSAGES 50000

static volatile unsigned long sink;
static int messages_live, messages_peak; /* between malloc and free */
static double main_start_ns, producer_start_ns, producer_active_ns;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

NOINLINE static char *handle_request(unsigned i)
{
	char *buf = malloc(256);
	memset(buf, (int)i, 256);
	return buf;
}

NOINLINE static void serve(void)
{
	char *ring[IN_FLIGHT] = { 0 };
	for (unsigned i = 0; i < REQUESTS; i++) {
		unsigned slot = i % IN_FLIGHT;
		free(ring[slot]);
		ring[slot] = handle_request(i);
		sink += (unsigned char)ring[slot][7];
	}
	for (unsigned i = 0; i < IN_FLIGHT; i++)
		free(ring[i]);
}

NOINLINE static char *start_buffer(void)
{
	return malloc(1);
}

NOINLINE static char *append_bytes(char *buf, size_t new_size)
{
	char *p = realloc(buf, new_size);
	p[new_size - 1] = 1;
	return p;
}

NOINLINE static void build_strings(void)
{
	for (unsigned i = 0; i < CHAINS; i++) {
		char *s = start_buffer();
		for (unsigned step = 1; step <= CHAIN_STEPS; step++)
			s = append_bytes(s, (size_t)1 << step);
		sink += (unsigned char)s[0];
		free(s);
	}
}

NOINLINE static char **load_table(void)
{
	char **rows = calloc(TABLE_ROWS, sizeof *rows);
	for (unsigned i = 0; i < TABLE_ROWS; i++) {
		rows[i] = malloc(1024);
		rows[i][0] = (char)i;
	}
	return rows;
}

NOINLINE static unsigned parse_token(unsigned i)
{
	unsigned *tok = malloc(24);
	tok[0] = i;
	unsigned v = tok[0] * 3;
	free(tok);
	return v;
}

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *items[64];
	unsigned head, tail;
	int done;
};

NOINLINE static char *produce_message(unsigned i)
{
	char *m = malloc(512);
	int now = __atomic_add_fetch(&messages_live, 1, __ATOMIC_SEQ_CST);
	if (now > messages_peak) /* only the producer raises it */
		messages_peak = now;
	m[0] = (char)i;
	return m;
}

static void *producer(void *arg)
{
	struct queue *q = arg;
	producer_start_ns = now_ns() - main_start_ns;
	pthread_setname_np(pthread_self(), "producer");
	double first = 0, last = 0;
	for (unsigned i = 0; i < MESSAGES; i++) {
		double t = now_ns();
		if (!i)
			first = t;
		char *m = produce_message(i);
		last = t;
		pthread_mutex_lock(&q->lock);
		while (q->tail - q->head == 64)
			pthread_cond_wait(&q->cond, &q->lock);
		q->items[q->tail++ % 64] = m;
		pthread_cond_broadcast(&q->cond);
		pthread_mutex_unlock(&q->lock);
	}
	producer_active_ns = last - first;
	pthread_mutex_lock(&q->lock);
	q->done = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static void *consumer(void *arg)
{
	struct queue *q = arg;
	pthread_setname_np(pthread_self(), "consumer");
	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (q->head == q->tail && !q->done)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->head == q->tail && q->done) {
			pthread_mutex_unlock(&q->lock);
			return NULL;
		}
		char *m = q->items[q->head++ % 64];
		pthread_cond_broadcast(&q->cond);
		pthread_mutex_unlock(&q->lock);
		sink += (unsigned char)m[0];
		__atomic_sub_fetch(&messages_live, 1, __ATOMIC_SEQ_CST);
		free(m);
	}
}

int main(void)
{
	main_start_ns = now_ns();
	char **table = load_table();
	serve();
	build_strings();
	for (unsigned i = 0; i < TOKENS; i++)
		sink += parse_token(i);
	struct queue q = { .lock = PTHREAD_MUTEX_INITIALIZER,
			   .cond = PTHREAD_COND_INITIALIZER };
	pthread_t p, c;
	pthread_create(&p, NULL, producer, &q);
	pthread_create(&c, NULL, consumer, &q);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	printf("planted: done %lu\n", sink & 1);
	fprintf(stderr, "planted: peak messages %d\n", messages_peak);
	fprintf(stderr, "planted: producer started %.0f ns after main\n",
		producer_start_ns);
	fprintf(stderr, "planted: producer allocated for %.0f ns\n",
		producer_active_ns);
	(void)table;
	return 0;
}
