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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_bytes),
		cmocka_unit_test(test_time_bounds),
		cmocka_unit_test(test_fit_width),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
