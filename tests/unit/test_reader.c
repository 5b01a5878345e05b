/* test_reader.c - the reader on synthetic profiles: a valid file reads
 * with the right numbers; a file cut at any byte reads as partial or fails
 * with a message, never crashes; corruption is reported with the offset;
 * counts that do not add up are rejected; and every input in the fuzz
 * corpus (tests/fuzz/corpus) still reads without a crash. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "harness.h"
#include "profile.h"
#include "psformat.h"
#include "pswriter.h"

/* ---- a tiny profile writer for tests ------------------------------------ */

static uint8_t file[65536];
static struct pswriter w = { .buf = file };
static size_t process_end;
#define flen (w.len)

static void v(uint64_t x) { pw_v(&w, x); }
static void s(const char *str) { pw_str(&w, str); }
static void begin(uint32_t type) { pw_begin(&w, type); }
static void end(void) { pw_end(&w); }

/* One process, one module, two stacks, one thread, two snapshots, END.
 * allocs/frees of the second snapshot are parameters so tests can make
 * them inconsistent. Returns the offset where the last snapshot starts. */
static size_t make_profile(uint64_t allocs2, uint64_t frees2, int with_end)
{
	pw_header(&w);
	begin(PS_REC_PROCESS);
	v(4242); v(1); v(0); v(1700000000000000000ull); v(1000); v(100);
	v(64); v(1); s("/bin/prog"); s("prog"); v(2); s("prog"); s("--x");
	end();
	process_end = flen;
	begin(PS_REC_MODULE);
	v(1); v(1); v(0x400000); s("/nonexistent/prog"); v(0); v(1);
	v(0x1000); v(0x2000); v(0x1000); v(5);
	end();
	begin(PS_REC_STACK);
	v(1); v(1); v(2); v(0x401234); v(0x401500);
	end();
	begin(PS_REC_STACK);
	v(2); v(1); v(1); v(0x401300);
	end();
	begin(PS_REC_THREAD);
	v(1); v(4242); s("main"); v(0); v(0); v(0);
	end();
	begin(PS_REC_SNAPSHOT);
	v(1); v(100000000); v(2000000000); v(0);
	v(1); /* entries */
	v(1); v(1); v(PS_ENT_HAS_HIST); v(10); v(640); v(4); v(256); v(0); v(0);
	v(64); v(64); v(6);
	v(1); v(6); v(10); /* size hist: bucket 6 */
	v(1); v(10); v(4); /* life hist: bucket 10 */
	v(1); v(1); v(6); /* stack peaks */
	v(0); /* thread totals */
	end();
	size_t last = flen;
	begin(PS_REC_SNAPSHOT);
	v(2); v(200000000); v(2000000000); v(7);
	v(2);
	v(1); v(1); v(PS_ENT_HAS_HIST); v(allocs2); v(allocs2 * 64); v(frees2);
	v(frees2 * 64); v(1); v(64); v(64); v(64); v(8);
	v(1); v(6); v(allocs2);
	v(1); v(10); v(frees2);
	v(1); v(2); v(0); v(5); v(500); v(0); v(0); v(0); v(0); v(100); v(100);
	v(0);
	v(1); v(1); v(8);
	v(1); v(1); v(3); v(2);
	end();
	if (with_end) {
		begin(PS_REC_END);
		v(PS_END_EXIT); v(210000000);
		end();
	}
	return last;
}

static void test_valid(void **state)
{
	(void)state;
	char err[512];
	make_profile(20, 12, 1);
	pf_file *f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	assert_non_null(f);
	assert_true(f->complete);
	assert_int_equal(f->pid, 4242);
	assert_int_equal(f->argc, 2);
	assert_string_equal(f->argv[1], "--x");
	assert_int_equal(f->nsnaps, 2);
	assert_int_equal(f->work_units, 7);
	pf_entry *e = pf_entry_find(f, 1, 1);
	assert_non_null(e);
	assert_int_equal(e->allocs, 20);
	assert_int_equal(e->frees, 12);
	assert_int_equal(e->xfrees, 1);
	assert_int_equal(e->size_hist[6], 20);
	assert_int_equal(f->stacks[1]->peak_live, 8);
	pf_thread *t = f->threads[1];
	assert_string_equal(t->name, "main");
	assert_int_equal(t->allocs, 25);
	assert_int_equal(t->unknown_frees, 3);
	/* timeline: 10 in the first interval, 10 + 5 in the second */
	assert_int_equal(t->nticks, 2);
	assert_int_equal(t->ticks[0].allocs, 10);
	assert_int_equal(t->ticks[1].allocs, 15);
	const pf_module *m = pf_module_for(f, 0x401234, 1);
	assert_non_null(m);
	assert_null(pf_module_for(f, 0x401234, 0)); /* loaded at epoch 1 */
	assert_null(pf_module_for(f, 0x409000, 1));
	pf_free(f);
}

static void test_every_truncation(void **state)
{
	(void)state;
	char err[512];
	size_t last = make_profile(20, 12, 1);
	size_t full = flen;
	for (size_t cut = 0; cut < full; cut++) {
		pf_file *f = pf_read_mem("t.pscout", file, cut, err, sizeof err);
		if (cut < process_end) {
			/* no whole PROCESS record: an error, with the name */
			assert_null(f);
			assert_non_null(strstr(err, "t.pscout: offset"));
			continue;
		}
		assert_non_null(f);
		assert_false(f->complete);
		assert_true(f->partial_why[0] != 0);
		/* cut inside the second snapshot: the first one is there */
		if (cut > last && cut < full - 20) {
			pf_entry *e = pf_entry_find(f, 1, 1);
			assert_non_null(e);
			assert_int_equal(e->allocs, 10);
		}
		pf_free(f);
	}
}

static void test_bad_crc_names_offset(void **state)
{
	(void)state;
	char err[512];
	size_t last = make_profile(20, 12, 1);
	file[last + 10] ^= 0x40;
	pf_file *f = pf_read_mem("bad.pscout", file, flen, err, sizeof err);
	assert_null(f);
	char want[64];
	snprintf(want, sizeof want, "bad.pscout: offset %zu: expected crc32", last);
	assert_non_null(strstr(err, want));
}

static void test_bad_magic_and_version(void **state)
{
	(void)state;
	char err[512];
	make_profile(20, 12, 1);
	file[0] = 'X';
	assert_null(pf_read_mem("m.pscout", file, flen, err, sizeof err));
	assert_non_null(strstr(err, "offset 0: expected the poolscout magic"));
	make_profile(20, 12, 1);
	ps_put_u32le(file + 8, 99);
	assert_null(pf_read_mem("v.pscout", file, flen, err, sizeof err));
	assert_non_null(strstr(err, "offset 8: expected format version 1, found 99"));
}

static void test_counts_must_add_up(void **state)
{
	(void)state;
	char err[512];
	make_profile(20, 30, 1); /* more frees than allocations */
	assert_null(pf_read_mem("c.pscout", file, flen, err, sizeof err));
	assert_non_null(strstr(err, "expected counts that add up"));
	make_profile(9, 2, 1); /* fewer frees than the last snapshot */
	assert_null(pf_read_mem("d.pscout", file, flen, err, sizeof err));
	assert_non_null(strstr(err, "never decrease"));
}

static void test_every_byte_flip(void **state)
{
	(void)state;
	char err[512];
	make_profile(20, 12, 1);
	static uint8_t copy[sizeof file];
	size_t n = flen;
	for (size_t i = 0; i < n; i++) {
		memcpy(copy, file, n);
		copy[i] ^= 0xff;
		pf_file *f = pf_read_mem("flip", copy, n, err, sizeof err);
		pf_free(f); /* either outcome is fine; no crash, no leak */
	}
}

static void test_fuzz_corpus(void **state)
{
	(void)state;
	const char *dir = "tests/fuzz/corpus";
	DIR *d = opendir(dir);
	if (!d)
		skip_because("unit_reader/corpus", "cannot open %s (run from "
			     "the source tree's top directory)", dir);
	struct dirent *de;
	int n = 0;
	char err[512];
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		pf_free(pf_read(path, err, sizeof err));
		n++;
	}
	closedir(d);
	assert_true(n > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_bad_crc_names_offset),
		cmocka_unit_test(test_bad_magic_and_version),
		cmocka_unit_test(test_counts_must_add_up),
		cmocka_unit_test(test_every_byte_flip),
		cmocka_unit_test(test_fuzz_corpus),
	};
	return cmocka_run_group_tests_name("reader", tests, NULL, NULL);
}
