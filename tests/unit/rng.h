/* rng.h - the unit tests' random stream (xorshift64*): reproducible,
 * seeded by each test file through rng_state. */
#ifndef POOLSCOUT_TEST_RNG_H
#define POOLSCOUT_TEST_RNG_H
#include <stdint.h>

static uint64_t rng_state; /* tentative: the file including this sets the seed */

/* The next number of the stream (rng_state must not be 0). */
static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}
#endif
