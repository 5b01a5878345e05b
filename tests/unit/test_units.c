/* test_units.c - the text views' units and widths (analyzer/core/units.c):
 * counts, bytes and times with their units, bounds rounded the safe way,
 * and names cut to fit 100 columns without splitting a UTF-8 character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "units.h"

static void test_counts_and_bytes(void **state)
{
	(void)state;
	char b[32];
	/* exact below 10000, then three digits and a unit */
	assert_string_equal(fmt_count(b, 9999), "9999");
	assert_string_equal(fmt_count(b, 10000), "10.0k");
	assert_string_equal(fmt_count(b, 4560000), "4.56M");
	assert_string_equal(fmt_bytes(b, 512), "512 B");
	assert_string_equal(fmt_bytes(b, 1536), "1.50 KiB");
	assert_string_equal(fmt_rate(b, 12300), "12.3k/s");
}

static void test_time_bounds(void **state)
{
	(void)state;
	char b[32];
	/* 1023.4 ns: up is 1.03 us, down 1.02 us; an exact 850 ns stays */
	assert_string_equal(fmt_ns_up(b, 1023.4), "1.03 us");
	assert_string_equal(fmt_ns_down(b, 1023.4), "1.02 us");
	assert_string_equal(fmt_ns_up(b, 850), "850 ns");
	assert_string_equal(fmt_ns_down(b, 850), "850 ns");
	assert_string_equal(fmt_ns_up(b, 1.0 / 0.0), "forever");
}

static void test_fit_width(void **state)
{
	(void)state;
	char b[128];
	const char *s = "abcdefghij";
	/* fits exactly: itself; one under: cut in the middle */
	assert_ptr_equal(fit_width(b, sizeof b, s, 10), s);
	assert_string_equal(fit_width(b, sizeof b, s, 9), "abc...hij");
	assert_int_equal(strlen(fit_width(b, sizeof b, s, 8)), 8);
	assert_string_equal(fit_width(b, sizeof b, s, 8), "ab...hij");
	/* too narrow to cut, or no room in the buffer: left whole */
	assert_ptr_equal(fit_width(b, sizeof b, s, 7), s);
	assert_ptr_equal(fit_width(b, 9, s, 9), s);
	/* "é" is two bytes: never split, so the cut may be shorter */
	const char *u = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
	assert_string_equal(fit_width(b, sizeof b, u, 9), "\xc3\xa9...\xc3\xa9");
	assert_string_equal(fit_width(b, sizeof b, u, 10),
			    "\xc3\xa9...\xc3\xa9\xc3\xa9");
}

/* Every unit's edges: the value where a unit or a precision starts is
 * shown in it (1000 ns is "1 us"; 1024 B is "1.00 KiB"; 100k has no
 * decimal), and the largest unit is kept past its range. */
static void test_unit_edges(void **state)
{
	(void)state;
	char b[32];
	assert_string_equal(fmt_count(b, 1e6), "1.00M");
	assert_string_equal(fmt_count(b, 99990), "100.0k");
	assert_string_equal(fmt_count(b, 100000), "100k");
	assert_string_equal(fmt_count(b, 1e18), "1000P");
	assert_string_equal(fmt_bytes(b, 1023), "1023 B");
	assert_string_equal(fmt_bytes(b, 1024), "1.00 KiB");
	assert_string_equal(fmt_bytes(b, 1048576), "1.00 MiB");
	assert_string_equal(fmt_bytes(b, 10240), "10.0 KiB");
	assert_string_equal(fmt_bytes(b, 102400), "100 KiB");
	/* 1024 TiB: no unit past TiB */
	assert_string_equal(fmt_bytes(b, 1125899906842624.0), "1024 TiB");
	assert_ptr_equal(fmt_ns(b, 999), b);
	assert_string_equal(b, "999 ns");
	assert_string_equal(fmt_ns(b, 1000), "1 us");
	assert_string_equal(fmt_ns(b, 1500), "1.5 us");
	assert_string_equal(fmt_ns(b, 1e6), "1 ms");
	assert_string_equal(fmt_ns(b, 2.5e6), "2.5 ms");
	assert_string_equal(fmt_ns(b, 1e9), "1 s");
	assert_string_equal(fmt_ns(b, 3e9), "3 s");
}

/* The bounds at each unit's and each precision's edge, rounded the safe
 * way at every precision (a value just past a step moves up, or down,
 * by one step of the digit shown), and a float's noise (under 1e-9 of
 * a step) not taken for a step. */
static void test_time_bound_edges(void **state)
{
	(void)state;
	char b[32];
	/* below 1 us: whole ns, rounded the safe way */
	assert_string_equal(fmt_ns_up(b, 4.2), "5 ns");
	assert_string_equal(fmt_ns_down(b, 4.8), "4 ns");
	assert_string_equal(fmt_ns_up(b, 5), "5 ns");
	assert_string_equal(fmt_ns_up(b, 1000), "1.00 us");
	assert_string_equal(fmt_ns_up(b, 1e6), "1.00 ms");
	assert_string_equal(fmt_ns_up(b, 1e9), "1.00 s");
	/* three digits: 1.07, 10.1, 101 */
	assert_string_equal(fmt_ns_up(b, 1070), "1.07 us");
	assert_string_equal(fmt_ns_up(b, 10000), "10.0 us");
	assert_string_equal(fmt_ns_up(b, 10004), "10.1 us");
	assert_string_equal(fmt_ns_up(b, 10093), "10.1 us");
	assert_string_equal(fmt_ns_up(b, 100000), "100 us");
	assert_string_equal(fmt_ns_up(b, 100400), "101 us");
	assert_string_equal(fmt_ns_up(b, 150000), "150 us");
	assert_string_equal(fmt_ns_down(b, 150900), "150 us");
	/* 5e-10 of a step past 1.02 us is noise, not a step */
	assert_string_equal(fmt_ns_up(b, 1020.000000005), "1.02 us");
	assert_string_equal(fmt_ns_down(b, 1019.999999995), "1.02 us");
}

/* Numbers too long for the 32 bytes the caller gives (units.h) are cut
 * at 31 characters: nothing is written past the 32nd byte. */
static void test_long_numbers_fit(void **state)
{
	(void)state;
	static const struct {
		const char *(*fmt)(char *, double);
		double n;
	} longest[] = {
		{ fmt_count, -1e300 }, { fmt_count, 1e300 }, { fmt_bytes, -1e300 },
		{ fmt_bytes, 1e300 },  { fmt_ns, -1e300 },   { fmt_ns_up, 1e300 },
		{ fmt_ns_down, 1e300 }, { fmt_rate, 1e300 },
	};
	for (size_t k = 0; k < sizeof longest / sizeof longest[0]; k++) {
		char b[64];
		memset(b, 'X', sizeof b);
		longest[k].fmt(b, longest[k].n);
		assert_int_equal(strlen(b), 31);
		for (size_t i = 32; i < sizeof b; i++)
			assert_int_equal(b[i], 'X');
	}
}

/* A cut never starts inside a character, even when the name starts with
 * continuation bytes (not UTF-8): the head is then empty. The buffer may
 * be exactly width + 1. */
static void test_fit_width_edges(void **state)
{
	(void)state;
	char b[128];
	const char *bad = "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80";
	assert_string_equal(fit_width(b, sizeof b, bad, 8), "...");
	char small[9];
	assert_string_equal(fit_width(small, sizeof small, "abcdefghij", 8),
			    "ab...hij");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_bytes),
		cmocka_unit_test(test_time_bounds),
		cmocka_unit_test(test_fit_width),
		cmocka_unit_test(test_unit_edges),
		cmocka_unit_test(test_time_bound_edges),
		cmocka_unit_test(test_long_numbers_fit),
		cmocka_unit_test(test_fit_width_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
