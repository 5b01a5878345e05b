/* ranking.h - which remedy each site needs, why, what it would save, and
 * the order of the report (docs/ranking.md explains every rule). */
#ifndef POOLSCOUT_RANKING_H
#define POOLSCOUT_RANKING_H

#include "model.h"

/* Thresholds (docs/ranking.md, "The rules"). */
#define RARE_ALLOCS 1000       /* fewer allocations than this: none */
#define RARE_RATE 100.0        /* or fewer per second of the run: none */
#define RETAINED_RATIO 0.5     /* fewer of them freed than this: none */
#define LONG_LIVED_NS 1e9      /* half of them surely live longer: none */
#define PRESIZE_SHARE 0.5      /* realloc growth steps among its allocations */
#define STACK_MAX_SIZE 1024    /* tiny ... */
#define STACK_MAX_LIVE 2       /* ... never more than this live per thread */
#define STACK_MAX_P99_NS 100e3 /* ... freed within 100 us */
#define STACK_MAX_RESIZED 0.01 /* ... and at most this share resized by realloc */
#define STACK_SAMPLED_POWER 30 /* sampled 1 in N: a stack site needs N^2 times
				* this many allocations, so that if a tenth of
				* its blocks overlapped another, some 3 pairs
				* would be recorded (and the peak show 2) */
#define ARENA_SPREAD 16.0      /* size spread (max/min) of arena sites ... */
#define ARENA_MIN_LIVE 64      /* ... with this many live at once */
#define ARENA_PILE_UP 0.25     /* or this share of all of them live at once */
#define SPREAD_WARN 8.0        /* pools with a wider spread get a cap */
#define SHARED_POOL_RATIO 0.1  /* cross-thread frees above: a shared pool */
#define LIFETIME_AS_RECORDED 0.9 /* the program's own share of the run at
				  * or under which lifetimes are said to be as
				  * recorded, beside the program's own */

/* Classifies and scores every site and fills a->ranked (best first). */
void rank_sites(analysis *a);
const char *remedy_name(enum remedy r);

#endif
