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

/* 1 / ln(1 - 1/N), the factor of every draw (computed once) */
static double inverse_log_keep;
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

/* 1 / ln(1 - 1/N) for --sample N: the factor of each draw of its skips */
static double draw_factor(void)
{
	return 1.0 / ln_1p(-1.0 / (double)ps_opt.sample_every);
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
	inverse_log_keep = draw_factor();
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

/* ln(u) for a normal u > 0 from a table: u = m 2^e with m in [1, 2),
 * m = c (1 + t) where c = 1 + i/256 is the table point at or below m
 * (i: m's top 8 fraction bits) and 0 <= t < 2^-8, so that six terms of
 * the series of ln(1 + t) leave an error under t^7/7 < 2^-58; no
 * division, and a short chain where ln() above has a long one (a draw
 * per recorded allocation, and per 32 timed calls, pays for this). t is
 * m times c's rounded inverse, less 1: within 2^-52 of the true t. The
 * table is filled on first use (fill_ln_table); until then, and in
 * the thread that fills it while it does, ln() answers. */
#define LN_TABLE_BITS 8
#define LN_TABLE_SIZE (1u << LN_TABLE_BITS)
static double ln_point[LN_TABLE_SIZE], inverse_point[LN_TABLE_SIZE];
static int ln_table_state; /* 0: empty, 1: being filled, 2: ready */

static void fill_ln_table(void)
{
	int empty = 0;
	if (!__atomic_compare_exchange_n(&ln_table_state, &empty, 1, 0,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	for (unsigned i = 0; i < LN_TABLE_SIZE; i++) {
		double c = 1.0 + (double)i / LN_TABLE_SIZE;
		ln_point[i] = ln(c);
		inverse_point[i] = 1.0 / c;
	}
	__atomic_store_n(&ln_table_state, 2, __ATOMIC_RELEASE);
}

static double ln_fast(double u)
{
	uint64_t bits;
	memcpy(&bits, &u, sizeof bits);
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	unsigned i = (unsigned)(bits >> (52 - LN_TABLE_BITS)) &
		     (LN_TABLE_SIZE - 1);
	bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
	double m;
	memcpy(&m, &bits, sizeof m);
	double t = m * inverse_point[i] - 1.0, t2 = t * t;
	/* t - t^2/2 + t^3/3 - t^4/4 + t^5/5 - t^6/6, in pairs of terms so
	 * that they are computed side by side */
	double series = t - t2 * ((1.0 / 2 - t * (1.0 / 3)) +
				  t2 * ((1.0 / 4 - t * (1.0 / 5)) +
					t2 * (1.0 / 6)));
	return (double)e * 6.93147180369123816490e-01 +
	       ((double)e * 1.90821492927058770002e-10 +
		(ln_point[i] + series));
}

/* Failures before the first success of trials that succeed with
 * probability p, where inverse = 1 / ln(1 - p):
 * floor(ln U / ln(1 - p)) for U in (0, 1]. */
static uint32_t geometric(double inverse)
{
	double u = ((double)(next_random() >> 11) + 1.0) * 0x1p-53;
	double lnu;
	if (PS_LIKELY(__atomic_load_n(&ln_table_state, __ATOMIC_ACQUIRE) == 2)) {
		lnu = ln_fast(u);
	} else {
		fill_ln_table();
		lnu = ln(u);
	}
	/* the conversion truncates: the floor of a positive number (ln u
	 * within rounding of 0 at u = 1 may come out of the other sign: no
	 * skips) */
	double skips = lnu * inverse;
	if (!(skips > 0))
		return 0;
	return skips < 4e9 ? (uint32_t)skips : 4000000000u;
}

uint32_t ps_sample_skip(void)
{
	double inverse = inverse_log_keep;
	if (PS_UNLIKELY(inverse == 0.0)) /* before ps_sample_init */
		inverse = draw_factor();
	return geometric(inverse);
}

uint32_t ps_rec_skip(void)
{
	_Static_assert(PS_REC_EVERY == 32, "ln(1 - 1/PS_REC_EVERY) below");
	return geometric(1.0 / -0.031748698314580301); /* 1 / ln(31/32) */
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
