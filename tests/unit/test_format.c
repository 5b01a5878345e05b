/* test_format.c - the encoding primitives of include/psformat.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "psformat.h"

static void test_varint_roundtrip(void **state)
{
	(void)state;
	static const uint64_t values[] = { 0, 1, 127, 128, 255, 300, 16383,
					   16384, 1ull << 32, UINT64_MAX - 1,
					   UINT64_MAX };
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		uint8_t buf[PS_VARINT_MAX];
		size_t n = ps_varint_put(buf, values[i]);
		assert_true(n >= 1 && n <= PS_VARINT_MAX);
		const uint8_t *p = buf;
		uint64_t v;
		assert_int_equal(ps_varint_get(&p, buf + n, &v), 0);
		assert_true(v == values[i]);
		assert_ptr_equal(p, buf + n);
		/* one byte short never decodes */
		p = buf;
		assert_int_equal(ps_varint_get(&p, buf + n - 1, &v), -1);
	}
}

static void test_varint_padded_and_overlong(void **state)
{
	(void)state;
	/* the writer's padded 5-byte counts are valid LEB128 */
	const uint8_t padded[] = { 0x83, 0x80, 0x80, 0x80, 0x00 };
	const uint8_t *p = padded;
	uint64_t v;
	assert_int_equal(ps_varint_get(&p, padded + 5, &v), 0);
	assert_int_equal(v, 3);
	/* 11 continuation bytes, or bits beyond 64, are rejected */
	const uint8_t overlong[11] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0x01 };
	p = overlong;
	assert_int_equal(ps_varint_get(&p, overlong + 11, &v), -1);
	const uint8_t too_big[10] = { 0xff, 0xff, 0xff, 0xff, 0xff,
				      0xff, 0xff, 0xff, 0xff, 0x02 };
	p = too_big;
	assert_int_equal(ps_varint_get(&p, too_big + 10, &v), -1);
}

static void test_hist_buckets(void **state)
{
	(void)state;
	assert_int_equal(ps_hist_bucket(0), 0);
	assert_int_equal(ps_hist_bucket(1), 0);
	assert_int_equal(ps_hist_bucket(2), 1);
	assert_int_equal(ps_hist_bucket(3), 1);
	assert_int_equal(ps_hist_bucket(4), 2);
	assert_int_equal(ps_hist_bucket(1023), 9);
	assert_int_equal(ps_hist_bucket(1024), 10);
	assert_int_equal(ps_hist_bucket(UINT64_MAX), PS_HIST_BUCKETS - 1);
	for (unsigned b = 1; b < PS_HIST_BUCKETS - 1; b++) {
		/* each edge on both sides */
		assert_int_equal(ps_hist_bucket(ps_hist_bucket_low(b)), b);
		assert_int_equal(ps_hist_bucket(ps_hist_bucket_low(b) - 1), b - 1);
	}
	/* the last bucket holds everything from 2^47 up */
	assert_int_equal(ps_hist_bucket((1ull << 47) - 1), PS_HIST_BUCKETS - 2);
	assert_int_equal(ps_hist_bucket(1ull << 47), PS_HIST_BUCKETS - 1);
	assert_int_equal(ps_hist_bucket(1ull << 48), PS_HIST_BUCKETS - 1);
	assert_int_equal(ps_hist_bucket_low(0), 0);
}

static void test_header(void **state)
{
	(void)state;
	uint8_t h[PS_FORMAT_HEADER_SIZE];
	ps_header_put(h);
	assert_memory_equal(h, "PSCOUT\r\n", 8);
	assert_int_equal(ps_get_u32le(h + 8), PS_FORMAT_VERSION);
	assert_int_equal(ps_get_u32le(h + 12), PS_FORMAT_HEADER_SIZE);
}

/* TOTALS (v4): a fixed layout, every field where docs/format.md puts it,
 * little-endian, values of every width read back as written. */
static void test_totals_layout(void **state)
{
	(void)state;
	assert_int_equal(PS_REC_TOTALS, 12);
	assert_int_equal(PS_TOTALS_RECORD_SIZE, 40);
	const struct ps_totals t = { .offset = 0x0102030405060708ull,
				     .allocs = UINT64_MAX - 1,
				     .pid = 0xa1b2c3d4u,
				     .sample_every = 1u << 30,
				     .prev_crc = 0xdeadbeefu };
	uint8_t p[PS_TOTALS_PAYLOAD];
	ps_totals_put(p, &t);
	assert_int_equal(p[0], 0x08);
	assert_int_equal(p[7], 0x01);
	assert_int_equal(ps_get_u64le(p + 8), UINT64_MAX - 1);
	assert_int_equal(ps_get_u32le(p + 16), 0xa1b2c3d4u);
	assert_int_equal(ps_get_u32le(p + 20), 1u << 30);
	assert_int_equal(ps_get_u32le(p + 24), 0xdeadbeefu);
	struct ps_totals back;
	ps_totals_get(p, &back);
	assert_true(back.offset == t.offset && back.allocs == t.allocs);
	assert_int_equal(back.pid, t.pid);
	assert_int_equal(back.sample_every, t.sample_every);
	assert_int_equal(back.prev_crc, t.prev_crc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varint_roundtrip),
		cmocka_unit_test(test_varint_padded_and_overlong),
		cmocka_unit_test(test_hist_buckets),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_totals_layout),
	};
	return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
