/* test_json.c - the JSON writer's strings (analyzer/json.c): escapes, and
 * names that are not valid UTF-8 (from binaries, /proc, thread names)
 * still give a valid document. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "json.h"

/* The document json_str(NULL, value) makes inside an array, compact. */
static char *encode(const char *value)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json j;
	json_init(&j, f);
	j.pretty = 0;
	json_begin_array(&j, NULL);
	json_str(&j, NULL, value);
	json_end_array(&j);
	fclose(f);
	return text;
}

static void expect_encoding(const char *value, const char *want)
{
	char *got = encode(value);
	assert_string_equal(got, want);
	free(got);
}

static void test_escapes(void **state)
{
	(void)state;
	expect_encoding("plain", "[\"plain\"]");
	expect_encoding("q\"b\\n\nr\rt\t", "[\"q\\\"b\\\\n\\nr\\rt\\t\"]");
	expect_encoding("\x01\x1f", "[\"\\u0001\\u001f\"]");
}

static void test_valid_utf8_kept(void **state)
{
	(void)state;
	/* 2, 3 and 4-byte sequences, the edges of the ranges */
	expect_encoding("caf\xc3\xa9", "[\"caf\xc3\xa9\"]");
	expect_encoding("\xe2\x82\xac \xef\xbf\xbf", "[\"\xe2\x82\xac \xef\xbf\xbf\"]");
	expect_encoding("\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
			"[\"\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"]");
	expect_encoding("\x7f", "[\"\x7f\"]");
}

static void test_invalid_utf8_replaced(void **state)
{
	(void)state;
	/* a lone continuation byte, a lone lead byte, bytes never valid */
	expect_encoding("a\x80z", "[\"a\\ufffdz\"]");
	expect_encoding("a\xc3z", "[\"a\\ufffdz\"]");
	expect_encoding("\xff\xfe", "[\"\\ufffd\\ufffd\"]");
	/* overlong forms, a surrogate, above U+10FFFF */
	expect_encoding("\xc0\xaf", "[\"\\ufffd\\ufffd\"]");
	expect_encoding("\xe0\x80\xaf", "[\"\\ufffd\\ufffd\\ufffd\"]");
	expect_encoding("\xed\xa0\x80", "[\"\\ufffd\\ufffd\\ufffd\"]");
	expect_encoding("\xf4\x90\x80\x80", "[\"\\ufffd\\ufffd\\ufffd\\ufffd\"]");
	/* a sequence cut short by the end of the string */
	expect_encoding("x\xe2\x82", "[\"x\\ufffd\\ufffd\"]");
	/* invalid bytes in keys too */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json j;
	json_init(&j, f);
	j.pretty = 0;
	json_begin_object(&j, NULL);
	json_u64(&j, "k\xff", 1);
	json_end_object(&j);
	fclose(f);
	assert_string_equal(text, "{\"k\\ufffd\":1}");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_valid_utf8_kept),
		cmocka_unit_test(test_invalid_utf8_replaced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
