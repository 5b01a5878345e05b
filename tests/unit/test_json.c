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
#include <string.h>

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

/* The text of a document written by build() on a json as json_init left
 * it (pretty), or compact. */
/* noinline: inlined, gcc 12 warns of a dangling pointer to text */
__attribute__((noinline)) static char *document(void (*build)(json *), int pretty)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json j;
	json_init(&j, f);
	if (!pretty)
		j.pretty = 0;
	build(&j);
	json_finish(&j);
	fclose(f);
	return text;
}

static void nested(json *j)
{
	json_begin_object(j, NULL);
	json_u64(j, "a", 1);
	json_begin_array(j, "b");
	json_i64(j, NULL, -2);
	json_begin_object(j, NULL);
	json_bool(j, "c", 1);
	json_end_object(j);
	json_end_array(j);
	json_begin_object(j, "e");
	json_end_object(j);
	json_raw(j, "r", "[3,4]xyz", 5);
	json_str(j, "s", "x");
	json_end_object(j);
}

/* json_init writes pretty: one element a line, two spaces a level, a
 * comma after every element but the last, an empty object on one line,
 * a raw value's len bytes as they are. */
static void test_pretty_document(void **state)
{
	(void)state;
	char *text = document(nested, 1);
	assert_string_equal(text, "{\n"
				  "  \"a\": 1,\n"
				  "  \"b\": [\n"
				  "    -2,\n"
				  "    {\n"
				  "      \"c\": true\n"
				  "    }\n"
				  "  ],\n"
				  "  \"e\": {},\n"
				  "  \"r\": [3,4],\n"
				  "  \"s\": \"x\"\n"
				  "}\n");
	free(text);
	text = document(nested, 0);
	assert_string_equal(text,
			    "{\"a\":1,\"b\":[-2,{\"c\":true}],\"e\":{},\"r\":[3,4],\"s\":\"x\"}\n");
	free(text);
}

/* 70 arrays one in the other: deeper than the 64 levels json keeps
 * (json.h), every bracket is still closed, compact stays compact, and
 * the levels past the last one kept are indented as the last. */
static void deep(json *j)
{
	for (int i = 0; i < 70; i++)
		json_begin_array(j, NULL);
	json_u64(j, NULL, 7);
	for (int i = 0; i < 70; i++)
		json_end_array(j);
}

static void test_deep_document(void **state)
{
	(void)state;
	char want[256];
	memset(want, '[', 70);
	want[70] = '7';
	memset(want + 71, ']', 70);
	strcpy(want + 141, "\n");
	char *text = document(deep, 0);
	assert_string_equal(text, want);
	free(text);
	/* pretty: the 7 at 63 levels, 126 spaces */
	text = document(deep, 1);
	assert_non_null(strstr(text, "7\n"));
	size_t seven = (size_t)(strstr(text, "7\n") - text), spaces = 0;
	while (spaces < seven && text[seven - 1 - spaces] == ' ')
		spaces++;
	assert_int_equal(text[seven - 1 - spaces], '\n');
	assert_int_equal(spaces, 126);
	free(text);
}

/* The first and last code points of each length are kept, the overlong
 * 4-byte forms and lead bytes past 0xf4 replaced. */
static void test_utf8_range_edges(void **state)
{
	(void)state;
	expect_encoding("\xc2\x80", "[\"\xc2\x80\"]");
	expect_encoding("\xdf\xbf", "[\"\xdf\xbf\"]");
	expect_encoding("\xe0\xa0\x80", "[\"\xe0\xa0\x80\"]");
	expect_encoding("\xf0\x90\x80\x80", "[\"\xf0\x90\x80\x80\"]");
	expect_encoding("\xf0\x8f\xbf\xbf", "[\"\\ufffd\\ufffd\\ufffd\\ufffd\"]");
	expect_encoding("\xf5\x80\x80\x80", "[\"\\ufffd\\ufffd\\ufffd\\ufffd\"]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_valid_utf8_kept),
		cmocka_unit_test(test_invalid_utf8_replaced),
		cmocka_unit_test(test_pretty_document),
		cmocka_unit_test(test_deep_document),
		cmocka_unit_test(test_utf8_range_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
