/* sample.c - sampling (--sample N): which allocations are recorded, and
 * which blocks a free must look up.
 *
 * Each allocation is recorded with probability 1/N, independently: a
 * thread draws the number of allocations to skip before the next recorded
 * one from the geometric distribution (mean N - 1), so the choice cannot
 * fall into step with a periodic allocation pattern the way "every Nth"
 * does, and every count scaled by N is an unbiased estimate.
 *
 * Only recorded blocks are in the live table, and most frees are of
 * blocks that were not recorded: a counting filter of the recorded
 * blocks' addresses (one byte per 16 bytes of address space, 2^20 slots,
 * mmap'd when sampling is on; see ps_sample_slot) lets such a free
 * skip the table without a lock. A zero counter means "certainly not
 * recorded"; a counter that reached 255 stays there, and so do the slots
 * of the pinned range (the hooks' bootstrap pool), whose blocks must
 * never reach the allocator's free.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ps_internal.h"

#define FILTER_SIZE (1u << PS_SAMPLE_FILTER_BITS)
#define STICKY 255

uint8_t *ps_sample_filter;
#define filter ps_sample_filter

/* ln(1 - 1/N), the denominator of every draw (computed once) */
static double log_keep;
static uintptr_t pinned_lo;
static size_t pinned_len;

/* ln(1 + x) for x > -1, as 2 atanh(x / (2 + x)): the series in
 * s = x / (2 + x), summed until its terms no longer count; within a few
 * ulp. Ours rather than libm's, so that the preload does not load libm
 * into every process for two logarithms (a process pays for each
 * library it loads, and a build starts hundreds). */
static double ln_1p(double x)
{
	double s = x / (2.0 + x), s2 = s * s, power = s, sum = 0.0;
	for (int k = 1; k < 200; k += 2) {
		double term = power / k;
		sum += term;
		if (term == 0.0 || (term < 0 ? -term : term) <
					   (sum < 0 ? -sum : sum) * 0x1p-60)
			break;
		power *= s2;
	}
	return 2.0 * sum;
}

/* ln(1 + x) for x = m - 1, m in [sqrt(1/2), sqrt(2)): the same series,
 * |s| <= 0.1716, so its terms fall by s^2 <= 0.0295 each and eleven of
 * them reach the last bit; summed by Horner, without the loop's
 * divisions (a draw per recorded allocation pays for this). */
static double ln_1p_near_1(double x)
{
	static const double odd_inverse[] = {
		1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13, 1.0 / 11,
		1.0 / 9,  1.0 / 7,  1.0 / 5,  1.0 / 3,  1.0,
	};
	double s = x / (2.0 + x), s2 = s * s, sum = 0.0;
	for (unsigned i = 0; i < sizeof odd_inverse / sizeof *odd_inverse; i++)
		sum = sum * s2 + odd_inverse[i];
	return 2.0 * s * sum;
}

/* ln(u) for a normal u > 0: u = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln u = e ln 2 + ln(1 + (m - 1)), m - 1 exact; ln 2 in two parts so
 * that e ln 2 carries no rounding (fdlibm's split). */
static double ln(double u)
{
	uint64_t bits;
	memcpy(&bits, &u, sizeof bits);
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
	double m;
	memcpy(&m, &bits, sizeof m); /* in [1, 2) */
	if (m > 1.4142135623730951) {
		m *= 0.5;
		e++;
	}
	return (double)e * 6.93147180369123816490e-01 +
	       ((double)e * 1.90821492927058770002e-10 + ln_1p_near_1(m - 1.0));
}

/* Sets the slots of the pinned range to STICKY: it is at most 16 MiB
 * (else every slot is). */
static void pin(uint8_t *f)
{
	if (pinned_len >= (size_t)FILTER_SIZE << PS_SAMPLE_GRANULE_BITS) {
		__builtin_memset(f, STICKY, FILTER_SIZE);
		return;
	}
	const uintptr_t granule = (uintptr_t)1 << PS_SAMPLE_GRANULE_BITS;
	uintptr_t end = pinned_lo + pinned_len;
	for (uintptr_t a = pinned_lo & ~(granule - 1); a < end; a += granule)
		f[ps_sample_slot(a)] = STICKY;
}

void ps_sample_init(const void *pinned, size_t len)
{
	if (ps_opt.sample_every <= 1 || filter)
		return;
	log_keep = ln_1p(-1.0 / (double)ps_opt.sample_every);
	void *m = mmap(NULL, FILTER_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return; /* no filter: every free looks up */
	pinned_lo = (uintptr_t)pinned;
	pinned_len = len;
	pin(m);
	__atomic_store_n(&filter, (uint8_t *)m, __ATOMIC_RELEASE);
}

/* xorshift64*: one thread's stream, seeded from its id and the clock */
static uint64_t next_random(void)
{
	uint64_t x = ps_tls.rng;
	if (PS_UNLIKELY(!x))
		x = ((uint64_t)syscall(SYS_gettid) << 32) ^ ps_ticks() ^
		    (uintptr_t)&ps_tls;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	ps_tls.rng = x ? x : 0x9e3779b97f4a7c15ull;
	return x * 0x2545f4914f6cdd1dull;
}

/* Failures before the first success of trials that succeed with
 * probability p, where log_keep = ln(1 - p): floor(ln U / ln(1 - p)) for
 * U in (0, 1]. */
static uint32_t geometric(double log_keep_p)
{
	double u = ((double)(next_random() >> 11) + 1.0) / 9007199254740992.0;
	double skips = __builtin_floor(ln(u) / log_keep_p);
	return skips < 4e9 ? (uint32_t)skips : 4000000000u;
}

uint32_t ps_sample_skip(void)
{
	double denominator = log_keep;
	if (PS_UNLIKELY(denominator == 0.0)) /* before ps_sample_init */
		denominator = ln_1p(-1.0 / (double)ps_opt.sample_every);
	return geometric(denominator);
}

uint32_t ps_rec_skip(void)
{
	_Static_assert(PS_REC_EVERY == 32, "ln(1 - 1/PS_REC_EVERY) below");
	return geometric(-0.031748698314580301); /* ln(31/32) */
}

static inline uint8_t *counter(uintptr_t p)
{
	return &filter[ps_sample_slot(p)];
}

void ps_sample_mark(uintptr_t p)
{
	if (!filter)
		return;
	uint8_t *c = counter(p), v = __atomic_load_n(c, __ATOMIC_RELAXED);
	while (v != STICKY && !__atomic_compare_exchange_n(
				      c, &v, (uint8_t)(v + 1), 1,
				      __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

void ps_sample_unmark(uintptr_t p)
{
	if (!filter)
		return;
	uint8_t *c = counter(p), v = __atomic_load_n(c, __ATOMIC_RELAXED);
	while (v && v != STICKY &&
	       !__atomic_compare_exchange_n(c, &v, (uint8_t)(v - 1), 1,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void ps_sample_reset_child(void)
{
	/* the child inherits the parent's filter and live table contents;
	 * the table is emptied (livetab.c), so the filter starts over */
	if (filter) {
		__builtin_memset(filter, 0, FILTER_SIZE);
		pin(filter);
	}
}
