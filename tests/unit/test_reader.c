/* test_reader.c - the reader on synthetic profiles: a valid file reads
 * with the right numbers in each format version (1, 2, and 3 with its
 * frame tree, ENTRIES records and deflated records); version 4's TOTALS
 * record is found from the end only when whole and the file's own, and a
 * full read rejects one that disagrees with the file; a file cut at any
 * byte reads as partial or fails with a message, never crashes;
 * corruption is reported with the offset; counts that do not add up are
 * rejected; and every input in the fuzz corpus (tests/fuzz/corpus) still
 * reads without a crash. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
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

static uint32_t version = PS_FORMAT_VERSION;
/* (v8) thread 1's recording and busy time, (v9) its on-CPU time, in
 * make_profile's first and second snapshots */
static uint64_t rec_first = 2000000, rec_second = 5000000;
static uint64_t busy_first = 9000000, busy_second = 19000000;
static uint64_t cpu_first = 7000000, cpu_second = 11000000;

static uint64_t zz(int64_t x)
{
	return (uint64_t)x << 1 ^ (uint64_t)(x >> 63);
}

/* Rewrites the records from offset `from` to the end of the file as
 * DEFLATE records of one raw deflate stream, as the preload writes them:
 * a new DEFLATE record starts at each offset in cuts (ascending, above
 * from), and cuts[i] becomes that record's offset. */
static void deflate_records(size_t from, size_t *cuts, int ncuts)
{
	static uint8_t plain[sizeof file];
	size_t n = flen - from;
	memcpy(plain, file + from, n);
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	w.len = from;
	size_t in = 0;
	for (int piece = 0; piece <= ncuts; piece++) {
		size_t upto = piece < ncuts ? cuts[piece] - from : n;
		if (piece > 0)
			cuts[piece - 1] = w.len;
		begin(PS_REC_DEFLATE);
		zs.next_in = plain + in;
		zs.avail_in = (uInt)(upto - in);
		zs.next_out = file + w.len;
		zs.avail_out = (uInt)(sizeof file - w.len - 4);
		assert_int_equal(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
		assert_int_equal(zs.avail_in, 0);
		w.len = (size_t)(zs.next_out - file);
		end();
		in = upto;
	}
	deflateEnd(&zs);
}

/* make_profile's records before its snapshots: one process, one module,
 * two stacks, one thread, in the layout of format `version`. */
static void make_preamble(void)
{
	int v2 = version >= 2, v3 = version >= 3;
	pw_header(&w);
	ps_put_u32le(w.buf + 8, version);
	begin(PS_REC_PROCESS);
	v(4242); v(1); v(0); v(1700000000000000000ull); v(1000); v(100);
	v(64); v(1); s("/bin/prog"); s("prog"); v(2); s("prog"); s("--x");
	end();
	process_end = flen;
	begin(PS_REC_MODULE);
	v(1); v(1); v(0x400000); s("/nonexistent/prog"); v(0); v(1);
	v(0x1000); v(0x2000); v(0x1000); v(5);
	end();
	if (v3) {
		/* frames 1: 0x401500 (outermost), 2: 0x401234 below it,
		 * 3: 0x401300; stack 1 is frame 2, stack 2 frame 3 */
		begin(PS_REC_FRAMES);
		v(1); v(3);
		v(1); v(zz(0x401500));
		v(1); v(zz(0x401234 - 0x401500));
		v(3); v(zz(0x401300));
		end();
		begin(PS_REC_STACKS);
		v(1); v(2);
		v(zz(2)); v(1); v(0); v(2); /* candidates: both frames */
		v(zz(1)); v(1); v(0); v(1);
		end();
	} else {
		begin(PS_REC_STACK);
		v(1); v(1); v(2); v(0x401234); v(0x401500);
		if (v2) {
			v(0); v(2); /* candidates: both frames */
		}
		end();
		begin(PS_REC_STACK);
		v(2); v(1); v(1); v(0x401300);
		if (v2) {
			v(0); v(1);
		}
		end();
	}
	begin(PS_REC_THREAD);
	v(1); v(4242); s("main"); v(0); v(0); v(0);
	end();
}

/* One process, one module, two stacks, one thread, two snapshots, END, in
 * the layout of format `version` (1, 2 or 3). allocs/frees of the second
 * snapshot are parameters so tests can make them inconsistent. Returns
 * the offset where the last snapshot starts (version 3: the DEFLATE
 * record that holds it). */
static size_t make_profile(uint64_t allocs2, uint64_t frees2, int with_end)
{
	int v2 = version >= 2, v3 = version >= 3;
	make_preamble();
	begin(PS_REC_SNAPSHOT);
	v(1); v(100000000); v(2000000000); v(0);
	if (v3) {
		v(0); /* entries: in an ENTRIES record */
	} else {
		v(1);
		v(1); v(1); v(PS_ENT_HAS_HIST); v(10); v(640); v(4); v(256); v(0);
		v(0); v(64); v(64); v(6);
		if (v2) {
			v(384); v(1001); v(90001); v(80001); /* peak bytes, times */
		}
		v(1); v(6); v(10); /* size hist: bucket 6 */
		v(1); v(10); v(4); /* life hist: bucket 10 */
	}
	v(1); v(1); v(6); /* stack peaks */
	if (version >= 8) { /* thread totals */
		v(1); v(1); v(0); v(0); v(rec_first); v(busy_first);
		if (version >= 9)
			v(cpu_first);
	} else {
		v(0);
	}
	if (v2) {
		v(2); /* node peaks */
		v(1); v(0x401234); v(6); v(384);
		v(1); v(0); v(6); v(384);
		v(0); /* all-thread node peaks */
	}
	end();
	if (v3) {
		/* the same entry as differences: one size (64), so no bytes */
		begin(PS_REC_ENTRIES);
		v(1);
		v(zz(1)); v(zz(1)); v(PS_ENT_HAS_HIST | PS_ENT_V3_ONE_SIZE);
		v(10); v(4); v(64); v(10 - 6);
		v(zz(1001)); v(90001 - 1001); v(zz(80001 - 90001));
		v(1); v(10); v(4); /* life hist: bucket 10 */
		end();
	}
	size_t last = flen;
	begin(PS_REC_SNAPSHOT);
	v(2); v(200000000); v(2000000000); v(7);
	if (v3) {
		/* trailing sections first, entries after */
		v(0);
		v(1); v(1); v(8);
		v(1); v(1); v(3); v(2);
		if (version >= 8) {
			v(rec_second); v(busy_second);
		}
		if (version >= 9)
			v(cpu_second);
		v(1); v(1); v(0x401234); v(8); v(512);
		v(0);
		end();
		/* two ENTRIES records, one entry each */
		begin(PS_REC_ENTRIES);
		v(1);
		v(zz(1)); v(zz(1));
		v(PS_ENT_HAS_HIST | PS_ENT_V3_ONE_SIZE | PS_ENT_V3_XFREES);
		v(allocs2); v(frees2); v(1); v(64);
		v(allocs2 >= 8 ? allocs2 - 8 : allocs2);
		v(zz(1001)); v(190001 - 1001);
		if (frees2)
			v(zz(195001 - 190001));
		v(1); v(10); v(frees2);
		end();
		begin(PS_REC_ENTRIES);
		v(1);
		/* stack 2: 5 live, never freed, no histograms */
		v(zz(1)); v(zz(2)); v(PS_ENT_V3_ONE_SIZE);
		v(5); v(0); v(100); v(5);
		v(zz(1001)); v(0);
	} else {
		v(2);
	}
	if (!v3) {
	v(1); v(1); v(PS_ENT_HAS_HIST); v(allocs2); v(allocs2 * 64); v(frees2);
	v(frees2 * 64); v(1); v(64); v(64); v(64); v(8);
	if (v2) {
		v(512); v(1001); v(190001); v(frees2 ? 195001 : 0);
	}
	v(1); v(6); v(allocs2);
	v(1); v(10); v(frees2);
	v(1); v(2); v(0); v(5); v(500); v(0); v(0); v(0); v(0); v(100); v(100);
	v(0);
	if (v2) {
		v(0); v(1001); v(1001); v(0); /* 5 live: never freed */
	}
	v(1); v(1); v(8);
	v(1); v(1); v(3); v(2);
	if (version >= 8) {
		v(rec_second); v(busy_second);
	}
	if (version >= 9)
		v(cpu_second);
	if (v2) {
		v(1); v(1); v(0x401234); v(8); v(512);
		v(0);
	}
	}
	end();
	if (with_end) {
		begin(PS_REC_END);
		v(PS_END_EXIT); v(210000000);
		end();
	}
	if (v3)
		deflate_records(process_end, &last, 1);
	return last;
}

static void test_valid(void **state)
{
	(void)state;
	char err[512];
	make_profile(20, 12, 1);
	pf_file *f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	if (!f)
		fail_msg("%s", err);
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
	uint64_t size_hist[PS_HIST_BUCKETS];
	pf_entry_hists(f, e, size_hist, NULL);
	assert_int_equal(size_hist[6], 20);
	assert_int_equal(f->stacks[1]->peak_live, 8);
	pf_thread *t = f->threads[1];
	assert_string_equal(t->name, "main");
	assert_int_equal(t->allocs, 25);
	assert_int_equal(t->unknown_frees, 3);
	/* timeline: 10 in the first interval, 10 + 5 in the second */
	assert_int_equal(t->nticks, 2);
	assert_int_equal(t->ticks[0].allocs, 10);
	assert_int_equal(t->ticks[1].allocs, 15);
	/* (v8) the recording's time: 2 ms by the first, 5 by the second */
	uint64_t rec = version >= 8 ? rec_second : 0;
	assert_int_equal(t->rec_ns, rec);
	assert_int_equal(t->ticks[0].rec_ns, version >= 8 ? rec_first : 0);
	assert_int_equal(t->ticks[1].rec_ns, version >= 8 ? rec - rec_first : 0);
	assert_int_equal(t->busy_ns, version >= 8 ? busy_second : 0);
	assert_int_equal(t->ticks[0].busy_ns, version >= 8 ? busy_first : 0);
	assert_int_equal(t->ticks[1].busy_ns,
			 version >= 8 ? busy_second - busy_first : 0);
	/* (v9) of that, the time it ran: 7 ms, then 4 */
	assert_int_equal(t->cpu_ns, version >= 9 ? cpu_second : 0);
	assert_int_equal(t->ticks[0].cpu_ns, version >= 9 ? cpu_first : 0);
	assert_int_equal(t->ticks[1].cpu_ns,
			 version >= 9 ? cpu_second - cpu_first : 0);
	const pf_module *m = pf_module_for(f, 0x401234, 1);
	assert_non_null(m);
	assert_null(pf_module_for(f, 0x401234, 0)); /* loaded at epoch 1 */
	assert_null(pf_module_for(f, 0x409000, 1));
	/* the entry's history: 10 then 10 more */
	assert_int_equal(e->nsteps, 2);
	assert_int_equal(e->steps[0].allocs, 10);
	assert_int_equal(e->steps[1].allocs, 10);
	assert_int_equal(e->steps[1].frees, 8);
	assert_int_equal(e->steps[1].snapshot, 1);
	assert_int_equal(f->stacks[1]->depth, 2);
	assert_int_equal(f->stacks[1]->ips[0], 0x401234);
	assert_int_equal(f->stacks[1]->ips[1], 0x401500);
	assert_int_equal(f->stacks[2]->depth, 1);
	assert_int_equal(f->stacks[2]->ips[0], 0x401300);
	if (version >= 2) {
		assert_int_equal(e->peak_bytes, 512);
		assert_int_equal(e->first_alloc_ticks, 1001);
		assert_int_equal(e->last_alloc_ticks, 190001);
		assert_int_equal(e->last_free_ticks, 195001);
		assert_int_equal(f->stacks[1]->cand_start, 0);
		assert_int_equal(f->stacks[1]->cand_count, 2);
		const pf_node_peak *np = pf_node_peak_find(f, 1, 0x401234);
		assert_non_null(np);
		assert_int_equal(np->peak, 8); /* the latest value wins */
		assert_int_equal(np->peak_bytes, 512);
		np = pf_node_peak_find(f, 1, 0);
		assert_non_null(np);
		assert_int_equal(np->peak, 6);
		assert_null(pf_node_peak_find(f, 2, 0x401234));
		assert_null(pf_node_peak_find(f, 0, 0x401234));
	} else {
		assert_int_equal(f->stacks[1]->cand_count, 0);
		assert_int_equal(e->first_alloc_ticks, 0);
		assert_int_equal(f->nnode_peaks, 0);
	}
	pf_free(f);
}

static void test_valid_version1(void **state)
{
	version = 1;
	test_valid(state);
	version = PS_FORMAT_VERSION;
}

/* version 7: thread totals without the recording's time */
static void test_valid_version7(void **state)
{
	version = 7;
	test_valid(state);
	version = PS_FORMAT_VERSION;
}

/* version 8: thread totals without the on-CPU time */
static void test_valid_version8(void **state)
{
	version = 8;
	test_valid(state);
	version = PS_FORMAT_VERSION;
}

/* The counted lists a count is checked for against the bytes left in its
 * record, each item taking at least its fewest bytes. */
enum counted {
	COUNTED_ENTRIES,     /* a SNAPSHOT's entries (v1, v2): 12, 16 (v2) */
	COUNTED_ENTRIES_V3,  /* an ENTRIES record's (v3): 7 */
	COUNTED_FRAMES,      /* FRAMES: 2 bytes an item */
	COUNTED_STACKS,      /* STACKS: 4 */
	COUNTED_STACK_PEAKS, /* a SNAPSHOT's stack peaks: 2 */
	COUNTED_TOTALS,      /* its thread totals: 3, 5 (v8), 6 (v9) */
	COUNTED_NODES,       /* its node peaks (v2): 4 */
	COUNTED_GNODES,      /* its all-thread node peaks (v2): 3 */
};

/* make_preamble(), then a record whose list `which` counts `declared`
 * and holds n items of the fewest bytes each; the SNAPSHOT's other
 * lists are empty. */
static void write_counted(enum counted which, uint64_t declared, uint64_t n)
{
	make_preamble();
	if (which == COUNTED_FRAMES) {
		begin(PS_REC_FRAMES);
		v(4); v(declared); /* after the preamble's 3 */
		for (uint64_t i = 0; i < n; i++) {
			v(1); v(zz(1)); /* each below the one before */
		}
		end();
		return;
	}
	if (which == COUNTED_STACKS) {
		begin(PS_REC_STACKS);
		v(3); v(declared); /* after the preamble's 2 */
		for (uint64_t i = 0; i < n; i++) {
			v(zz(i ? 0 : 1)); v(1); v(0); v(0); /* frame 1 */
		}
		end();
		return;
	}
	begin(PS_REC_SNAPSHOT);
	v(1); v(1); v(1); v(0);
	/* entries of nothing yet, without histograms */
	v(which == COUNTED_ENTRIES ? declared : 0);
	for (uint64_t i = 0; which == COUNTED_ENTRIES && i < n; i++) {
		v(1); v(1); v(0);
		for (int k = 0; k < (version >= 2 ? 13 : 9); k++)
			v(0);
	}
	v(which == COUNTED_STACK_PEAKS ? declared : 0);
	for (uint64_t i = 0; which == COUNTED_STACK_PEAKS && i < n; i++) {
		v(1); v(5);
	}
	v(which == COUNTED_TOTALS ? declared : 0);
	unsigned fields = version >= 9 ? 6 : version >= 8 ? 5 : 3;
	for (uint64_t i = 0; which == COUNTED_TOTALS && i < n; i++) {
		v(1);
		for (unsigned k = 1; k < fields; k++)
			v(0);
	}
	if (version >= 2) {
		v(which == COUNTED_NODES ? declared : 0);
		for (uint64_t i = 0; which == COUNTED_NODES && i < n; i++) {
			v(1); v(5); v(1); v(1);
		}
		v(which == COUNTED_GNODES ? declared : 0);
		for (uint64_t i = 0; which == COUNTED_GNODES && i < n; i++) {
			v(5); v(1); v(1);
		}
	}
	end();
	if (which == COUNTED_ENTRIES_V3) {
		/* entries of nothing yet, of one size (0 B) */
		begin(PS_REC_ENTRIES);
		v(declared);
		for (uint64_t i = 0; i < n; i++) {
			v(zz(!i)); v(zz(!i)); v(PS_ENT_V3_ONE_SIZE);
			v(0); v(0); v(0); v(0);
		}
		end();
	}
}

/* A list of 20 items of the fewest bytes each, followed by fewer bytes
 * than one more item takes, reads; the same bytes counted 21 are refused
 * by name, "of at most 20". So an item's fewest bytes, taken one more,
 * refuses a good list, one fewer lets the bad count through to another
 * error (in each version where the size changed): 20 items and what
 * follows make 21 of one byte fewer. */
static void test_counts_at_their_bound(void **state)
{
	(void)state;
	static const struct {
		enum counted which;
		uint32_t version;
		const char *what;
	} cases[] = {
		/* versions 1 and 2: its node lists are empty, 2 or 4 bytes */
		{ COUNTED_ENTRIES, 1, "entry count" },
		{ COUNTED_ENTRIES, 2, "entry count" },
		{ COUNTED_ENTRIES_V3, 9, "entry count" },
		{ COUNTED_FRAMES, 9, "frame count" },
		{ COUNTED_STACKS, 9, "stack count" },
		/* version 1: no node lists after it, 1 byte left */
		{ COUNTED_STACK_PEAKS, 1, "stack peak count" },
		{ COUNTED_TOTALS, 7, "thread total count" },
		{ COUNTED_TOTALS, 8, "thread total count" },
		{ COUNTED_TOTALS, 9, "thread total count" },
		{ COUNTED_NODES, 9, "node peak count" },
		{ COUNTED_GNODES, 9, "all-thread node peak count" },
	};
	char err[512], want[128];
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		version = cases[i].version;
		write_counted(cases[i].which, 20, 20);
		pf_file *f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
		if (!f)
			fail_msg("%s, version %u, 20 of 20: %s", cases[i].what,
				 version, err);
		pf_free(f);
		write_counted(cases[i].which, 21, 20);
		f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
		assert_null(f);
		snprintf(want, sizeof want, "expected %s of at most 20, found 21",
			 cases[i].what);
		if (!strstr(err, want))
			fail_msg("%s, version %u, 21 of 20: %s", cases[i].what,
				 version, err);
	}
	version = PS_FORMAT_VERSION;
}

/* A thread's recording time is cumulative: less than before is an error
 * (the writer never lowers it), equal is not. */
static void test_recording_time_goes_back(void **state)
{
	(void)state;
	char err[512];
	rec_first = rec_second + 1;
	make_profile(20, 12, 1);
	pf_file *f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	assert_null(f);
	if (!strstr(err, "expected thread 1's recording time to be at least "
			 "the 5000001 ns of before, found 5000000"))
		fail_msg("got: %s", err);
	rec_first = rec_second;
	make_profile(20, 12, 1);
	f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	if (!f)
		fail_msg("%s", err);
	assert_int_equal(f->threads[1]->rec_ns, rec_second);
	assert_int_equal(f->threads[1]->ticks[1].rec_ns, 0);
	pf_free(f);
	rec_first = 2000000;
	/* the CPU time alike */
	busy_first = busy_second + 1;
	make_profile(20, 12, 1);
	f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	assert_null(f);
	if (!strstr(err, "expected thread 1's busy time to be at least the "
			 "19000001 ns of before, found 19000000"))
		fail_msg("got: %s", err);
	busy_first = 9000000;
	/* and the on-CPU time */
	cpu_first = cpu_second + 1;
	make_profile(20, 12, 1);
	f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	assert_null(f);
	if (!strstr(err, "expected thread 1's on-CPU time to be at least the "
			 "11000001 ns of before, found 11000000"))
		fail_msg("got: %s", err);
	cpu_first = cpu_second;
	make_profile(20, 12, 1);
	f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	if (!f)
		fail_msg("%s", err);
	assert_int_equal(f->threads[1]->ticks[1].cpu_ns, 0);
	pf_free(f);
	cpu_first = 7000000;
}

static void test_valid_version2(void **state)
{
	version = 2;
	test_valid(state);
	version = PS_FORMAT_VERSION;
}

/* A version 2 file whose one STACK record has depth frames: 0 to 256
 * read, 257 does not. */
static pf_file *read_v2_stack(uint32_t depth, char *err, size_t errlen)
{
	pw_header(&w);
	ps_put_u32le(w.buf + 8, 2);
	begin(PS_REC_PROCESS);
	v(4242); v(1); v(0); v(1700000000000000000ull); v(1000); v(100);
	v(64); v(1); s("/bin/prog"); s("prog"); v(0);
	end();
	begin(PS_REC_STACK);
	v(1); v(1); v(depth);
	for (uint32_t i = 0; i < depth; i++)
		v(0x401000 + 16 * (uint64_t)i);
	v(0); v(depth);
	end();
	begin(PS_REC_END);
	v(PS_END_EXIT); v(1);
	end();
	return pf_read_mem("v2.pscout", file, flen, err, errlen);
}

static void test_stack_record_depth(void **state)
{
	(void)state;
	char err[512];
	static const uint32_t fine[] = { 0, 1, 256 };
	for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
		pf_file *f = read_v2_stack(fine[i], err, sizeof err);
		if (!f)
			fail_msg("depth %u: %s", fine[i], err);
		assert_int_equal(f->stacks[1]->depth, fine[i]);
		if (fine[i])
			assert_int_equal(f->stacks[1]->ips[fine[i] - 1],
					 0x401000 + 16 * (uint64_t)(fine[i] - 1));
		assert_true(f->complete);
		pf_free(f);
	}
	assert_null(read_v2_stack(257, err, sizeof err));
	assert_non_null(strstr(err, "stack depth"));
	assert_non_null(strstr(err, "0..256, found 257"));
}

/* Rebuilds a version 3 file whose records after the PROCESS record are
 * given by body(), deflated in one DEFLATE record; returns the reader's
 * verdict (NULL with err set, or the file). */
static pf_file *read_v3(void (*body)(void), char *err, size_t errlen)
{
	pw_header(&w);
	begin(PS_REC_PROCESS);
	v(7); v(1); v(0); v(1); v(1); v(100); v(64); v(1); s("/p"); s("p"); v(0);
	end();
	size_t from = flen;
	body();
	deflate_records(from, NULL, 0);
	return pf_read_mem("v3.pscout", file, flen, err, errlen);
}

static void frames_out_of_turn(void)
{
	begin(PS_REC_FRAMES);
	v(2); v(1); v(1); v(zz(0x1000)); /* frame 2 first */
	end();
}

static void stack_of_unknown_frame(void)
{
	begin(PS_REC_FRAMES);
	v(1); v(1); v(1); v(zz(0x1000));
	end();
	begin(PS_REC_STACKS);
	v(1); v(1); v(zz(5)); v(0); v(0); v(0);
	end();
}

static void stack_too_deep(void)
{
	begin(PS_REC_FRAMES);
	v(1); v(300);
	for (int i = 0; i < 300; i++) {
		v(1); v(zz(16));
	}
	end();
	begin(PS_REC_STACKS);
	v(1); v(1); v(zz(300)); v(0); v(0); v(0);
	end();
}

static void entries_first(void)
{
	begin(PS_REC_ENTRIES);
	v(0);
	end();
}

static void process_inside(void)
{
	begin(PS_REC_PROCESS);
	v(7); v(1); v(0); v(1); v(1); v(100); v(64); v(1); s("/p"); s("p"); v(0);
	end();
}

static void half_a_record(void)
{
	begin(PS_REC_END);
	v(PS_END_EXIT); v(1);
	end();
	flen -= 3; /* its crc cut: the deflated record holds part of one */
}

/* One frame, one stack of it, one thread and a snapshot: what an
 * ENTRIES record after them may name. */
static void one_stack_snapshot(void)
{
	begin(PS_REC_FRAMES);
	v(1); v(1); v(1); v(zz(0x1000));
	end();
	begin(PS_REC_STACKS);
	v(1); v(1); v(zz(1)); v(0); v(0); v(1);
	end();
	begin(PS_REC_THREAD);
	v(1); v(7); s("main"); v(0); v(0); v(0);
	end();
	begin(PS_REC_SNAPSHOT);
	v(1); v(1000); v(1000000000); v(0); v(0); v(0); v(0); v(0); v(0);
	end();
}

/* one_stack_snapshot(), then an ENTRIES record holding one entry of 3
 * allocations of 8 B (one size) with these flags (cross-thread frees'
 * flag set when xfrees), frees and xfrees, its peak peak_gap below 3,
 * times 100 (and 5 later for a free); the record stays open for the
 * entry's further fields. */
static uint64_t entry_allocs = 3; /* one_size_entry()'s allocations */

static void one_size_entry(uint64_t flags, uint64_t frees, uint64_t xfrees,
			   uint64_t peak_gap)
{
	one_stack_snapshot();
	begin(PS_REC_ENTRIES);
	v(1);
	v(zz(1)); v(zz(1));
	v(PS_ENT_V3_ONE_SIZE | flags | (xfrees ? PS_ENT_V3_XFREES : 0));
	v(entry_allocs); v(frees);
	if (xfrees)
		v(xfrees);
	v(8); v(peak_gap);
	v(zz(100)); v(0);
	if (frees)
		v(zz(5));
}

/* One frame, one stack, one thread, a snapshot, and an ENTRIES record
 * whose one entry claims a peak below zero (4 allocations past 3). */
static void peak_below_zero(void)
{
	one_size_entry(0, 0, 0, 4);
	end();
}

static void deep_enough(void)
{
	begin(PS_REC_FRAMES);
	v(1); v(256);
	for (int i = 0; i < 256; i++) {
		v(1); v(zz(-16));
	}
	end();
	begin(PS_REC_STACKS);
	v(1); v(2); v(zz(256)); v(0); v(3); v(4); v(zz(-256)); v(0); v(0); v(0);
	end();
	begin(PS_REC_END);
	v(PS_END_EXIT); v(1);
	end();
}

/* Version 3's records: frames and stacks in turn, frames declared before
 * a stack names them, stacks of at most 256 frames, entries after their
 * snapshot, deflated records holding whole records and no PROCESS. */
static void test_version3_records(void **state)
{
	(void)state;
	char err[512];
	static const struct {
		void (*body)(void);
		const char *want;
	} bad[] = {
		{ frames_out_of_turn, "expected frame id 1 (ids follow one another), found 2" },
		{ stack_of_unknown_frame, "expected a frame declared before (0..1), found 5" },
		{ stack_too_deep, "expected a stack of at most 256 frames" },
		{ entries_first, "expected a SNAPSHOT record before its entries" },
		{ process_inside, "other than DEFLATE and TOTALS inside a deflated record, found 1" },
		{ half_a_record, "expected the deflated record to hold whole records" },
		{ peak_below_zero, "expected the allocations beyond the peak to be at most" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_null(read_v3(bad[i].body, err, sizeof err));
		if (!strstr(err, bad[i].want))
			fail_msg("case %zu: %s", i, err);
		/* inner records are named by their DEFLATE record's offset */
		assert_non_null(strstr(err, "v3.pscout: offset"));
	}
	pf_file *f = read_v3(deep_enough, err, sizeof err);
	if (!f)
		fail_msg("%s", err);
	assert_true(f->complete);
	assert_int_equal(f->stacks[1]->depth, 256);
	/* frame k is at -16 k: innermost (frame 256) first */
	assert_int_equal(f->stacks[1]->ips[255], (uint64_t)-16);
	assert_int_equal(f->stacks[1]->ips[0], (uint64_t)-4096);
	assert_int_equal(f->stacks[1]->cand_start, 3);
	assert_int_equal(f->stacks[2]->depth, 0);
	pf_free(f);

	/* a corrupt stream (its crc fixed) is an error, not a crash */
	make_profile(20, 12, 1);
	size_t off = process_end;
	uint32_t len = ps_get_u32le(file + off + 4);
	file[off + 8 + len / 2] ^= 0x55;
	ps_put_u32le(file + off + 8 + len, (uint32_t)crc32(0, file + off, 8 + len));
	pf_free(pf_read_mem("z.pscout", file, flen, err, sizeof err));
}

/* One entry of 3 allocations of 8 B, all freed, whose lifetime
 * histogram has the buckets hist_b[0..hist_n) (one count each). */
static uint64_t hist_b[3];
static int hist_n;

static void hist_entry(void)
{
	one_size_entry(PS_ENT_HAS_HIST, 3, 0, 0);
	v((uint64_t)hist_n);
	for (int i = 0; i < hist_n; i++) {
		v(hist_b[i]); v(1);
	}
	end();
	begin(PS_REC_END);
	v(PS_END_EXIT); v(1);
	end();
}

/* A histogram's buckets come in increasing order: each repeated or
 * out-of-order one, also after the first pair, is refused. */
static void test_hist_bucket_order(void **state)
{
	(void)state;
	char err[512];
	static const struct {
		uint64_t b[3];
		int n, ok;
	} cases[] = {
		{ { 2, 3, 5 }, 3, 1 },
		{ { 3, 2, 5 }, 3, 0 },
		{ { 2, 2, 5 }, 3, 0 },
		{ { 2, 5, 4 }, 3, 0 },
		{ { 2, 5, 5 }, 3, 0 },
		{ { 0, 0, 0 }, 1, 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		memcpy(hist_b, cases[i].b, sizeof hist_b);
		hist_n = cases[i].n;
		pf_file *f = read_v3(hist_entry, err, sizeof err);
		if (cases[i].ok) {
			if (!f)
				fail_msg("case %zu: %s", i, err);
			uint64_t life[PS_HIST_BUCKETS];
			pf_entry_hists(f, &f->entries[0], NULL, life);
			for (int k = 0; k < cases[i].n; k++)
				assert_int_equal(life[cases[i].b[k]], 1);
			pf_free(f);
		} else {
			assert_null(f);
			if (!strstr(err, "expected histogram buckets in increasing order"))
				fail_msg("case %zu: %s", i, err);
		}
	}
}

/* One entry of 3 allocations (8 B each), `resized_frees` frees, its
 * blocks resized by realloc (version 5): resized, grown, largest size;
 * resized_fields 0 sets the flag but leaves the fields out (a version 4
 * file, whose reader ignores the bit). */
static uint64_t resized_frees, resized_v[3];
static int resized_fields = 1;

static void resized_entry(void)
{
	one_size_entry(PS_ENT_V5_RESIZED, resized_frees, 0, 0);
	if (resized_fields) {
		v(resized_v[0]); v(resized_v[1]); v(resized_v[2]);
	}
	end();
	begin(PS_REC_END);
	v(PS_END_EXIT); v(1);
	end();
}

/* Version 5's blocks resized by realloc: read back, each rule that they
 * add up (grown <= resized <= frees, a size for the grown ones) at its
 * limit and one past it, and version 4 files leave them out. */
static void test_resized_fields(void **state)
{
	(void)state;
	char err[512];
	static const struct {
		uint64_t frees, resized, grown, size;
		int ok;
	} cases[] = {
		{ 2, 2, 2, 100, 1 }, /* every limit reached */
		{ 2, 3, 2, 100, 0 }, /* more resized than frees */
		{ 2, 1, 2, 100, 0 }, /* more grown than resized */
		{ 2, 2, 0, 100, 0 }, /* a size but nothing grown */
		{ 2, 2, 1, 0, 0 },   /* grown to no size */
		{ 3, 1, 0, 0, 1 },   /* shrunk only */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		resized_frees = cases[i].frees;
		resized_v[0] = cases[i].resized;
		resized_v[1] = cases[i].grown;
		resized_v[2] = cases[i].size;
		pf_file *f = read_v3(resized_entry, err, sizeof err);
		if (!cases[i].ok) {
			assert_null(f);
			if (!strstr(err, "expected resized blocks that add up "
					 "(grown <= resized <= frees, a size for the grown)"))
				fail_msg("case %zu: %s", i, err);
			continue;
		}
		if (!f)
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(f->nentries, 1);
		pf_reallocs r;
		pf_entry_reallocs(f, &f->entries[0], &r);
		assert_int_equal(r.resized, cases[i].resized);
		assert_int_equal(r.resized_grown, cases[i].grown);
		assert_int_equal(r.resized_size_max, cases[i].size);
		assert_int_equal(r.grows, 0);
		assert_int_equal(f->entries[0].frees, cases[i].frees);
		pf_free(f);
	}
	/* version 4: the bit means nothing, no fields follow */
	resized_frees = 2;
	resized_fields = 0;
	read_v3(resized_entry, err, sizeof err);
	ps_put_u32le(file + 8, 4);
	pf_file *f = pf_read_mem("v4.pscout", file, flen, err, sizeof err);
	resized_fields = 1;
	if (!f)
		fail_msg("%s", err);
	pf_reallocs r;
	pf_entry_reallocs(f, &f->entries[0], &r);
	assert_int_equal(r.resized, 0);
	assert_int_equal(f->entries[0].has_reallocs, 0);
	assert_true(f->complete);
	pf_free(f);
}

/* A one-entry profile whose times are first, latest and freed (ticks + 1,
 * 0 = never) for 3 allocations and `frees` frees. */
static size_t make_timed(uint64_t first, uint64_t latest, uint64_t freed,
			 uint64_t frees)
{
	pw_header(&w);
	begin(PS_REC_PROCESS);
	v(4242); v(1); v(0); v(1); v(1000); v(100); v(64); v(1); s("/p"); s("p");
	v(0);
	end();
	begin(PS_REC_STACK);
	v(1); v(0); v(1); v(0x401234); v(0); v(1);
	end();
	begin(PS_REC_THREAD);
	v(1); v(4242); s("main"); v(0); v(0); v(0);
	end();
	size_t at = flen;
	begin(PS_REC_SNAPSHOT);
	v(1); v(1000); v(1000000000); v(0);
	v(1);
	v(1); v(1); v(0); v(3); v(30); v(frees); v(frees * 10); v(0); v(0);
	v(10); v(10); v(3); v(30);
	v(first); v(latest); v(freed);
	v(0); v(0); v(0); v(0);
	end();
	return at;
}

/* Times must match the counts, each rule on both sides. */
static void test_times_must_match(void **state)
{
	(void)state;
	char err[512];
	pf_file *f;
	make_timed(400, 500, 600, 1);
	f = pf_read_mem("ok.pscout", file, flen, err, sizeof err);
	assert_non_null(f);
	pf_free(f);
	make_timed(500, 500, 0, 0); /* first == latest, nothing freed: fine */
	f = pf_read_mem("ok.pscout", file, flen, err, sizeof err);
	assert_non_null(f);
	pf_free(f);
	static const uint64_t bad[][4] = {
		{ 501, 500, 600, 1 }, /* first after the latest */
		{ 0, 500, 600, 1 },   /* allocations without a first time */
		{ 400, 0, 600, 1 },   /* ... without a latest time */
		{ 400, 500, 0, 1 },   /* a free without a free time */
		{ 400, 500, 600, 0 }, /* a free time without a free */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		size_t at = make_timed(bad[i][0], bad[i][1], bad[i][2], bad[i][3]);
		assert_null(pf_read_mem("times.pscout", file, flen, err, sizeof err));
		assert_non_null(strstr(err, "expected allocation and free times"));
		/* the offset is the entry's, inside the snapshot record */
		char want[64];
		/* record header 8, then seq 1, t_ns 2, tick_hz 5, units 1,
		 * count 1 bytes */
		snprintf(want, sizeof want, "times.pscout: offset %zu:", at + 18);
		assert_non_null(strstr(err, want));
	}
}

/* ---- the TOTALS record (v4) ---------------------------------------------- */

/* Appends a TOTALS record to the file, with t's fields (offset and
 * prev_crc filled in as the writer would when 0). */
static void add_totals(struct ps_totals t)
{
	if (!t.offset)
		t.offset = flen;
	if (!t.prev_crc)
		t.prev_crc = ps_get_u32le(file + flen - 4);
	begin(PS_REC_TOTALS);
	ps_totals_put(file + flen, &t);
	flen += PS_TOTALS_PAYLOAD;
	end();
}

/* make_profile's file (25 allocations: 20 on stack 1, 5 on stack 2) and
 * the totals it adds up to. */
static const struct ps_totals true_totals = { .allocs = 25, .pid = 4242,
					       .sample_every = 1 };

/* Reads the file, expecting an error naming the TOTALS record's offset
 * plus field_at, and saying want. */
static void expect_totals_error(size_t totals_at, size_t field_at,
				const char *want)
{
	char err[512], at[64];
	pf_file *f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	if (f)
		fail_msg("read a file whose TOTALS record says %s", want);
	snprintf(at, sizeof at, "t.pscout: offset %zu: ", totals_at + field_at);
	if (!strstr(err, at) || !strstr(err, want))
		fail_msg("wanted \"%s...%s\", got: %s", at, want, err);
}

static void test_totals_record(void **state)
{
	(void)state;
	char err[512];
	struct ps_totals t;
	/* without one (a killed process, or version 3): the full read only */
	make_profile(20, 12, 1);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), -ENODATA);
	make_profile(20, 12, 1);
	size_t at = flen;
	add_totals(true_totals);
	pf_file *f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	if (!f)
		fail_msg("%s", err);
	assert_true(f->complete);
	assert_int_equal(f->partial_why[0], 0);
	pf_free(f);
	memset(&t, 0, sizeof t);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), 0);
	assert_int_equal(t.allocs, 25);
	assert_int_equal(t.pid, 4242);
	assert_int_equal(t.sample_every, 1);
	assert_int_equal(t.offset, at);

	/* after an END for an exec that failed, records go on, up to the
	 * next END and its TOTALS record */
	make_profile(20, 12, 1);
	add_totals(true_totals);
	begin(PS_REC_END);
	v(PS_END_EXIT); v(220000000);
	end();
	at = flen;
	add_totals(true_totals);
	f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	if (!f)
		fail_msg("%s", err);
	assert_true(f->complete);
	assert_int_equal(f->end_t_ns, 220000000);
	pf_free(f);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), 0);
	assert_int_equal(t.offset, at);

	/* a version 3 file has no such record */
	version = 3;
	make_profile(20, 12, 1);
	add_totals(true_totals);
	version = PS_FORMAT_VERSION;
	assert_int_equal(pf_read_totals_mem(file, flen, &t), -ENODATA);
	assert_null(pf_read_mem("t.pscout", file, flen, err, sizeof err));
	assert_non_null(strstr(err, "expected a record type 1..11, found 12"));
}

/* One that lies, however well formed, is an error of the full read (the
 * end alone cannot tell allocations that do not add up). */
static void test_totals_that_lie(void **state)
{
	(void)state;
	struct ps_totals t, lie;
	make_profile(20, 12, 1);
	size_t at = flen;
	lie = true_totals;
	lie.allocs = 26;
	add_totals(lie);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), 0);
	expect_totals_error(at, 16, "expected the TOTALS record's allocations "
				    "to be 25 (what the entries add up to), "
				    "found 26");

	make_profile(20, 12, 1);
	lie = true_totals;
	lie.pid = 4243;
	add_totals(lie);
	expect_totals_error(at, 24, "pid 4242 and sample rate 1 in the TOTALS "
				    "record, found 4243 and 1");
	make_profile(20, 12, 1);
	lie = true_totals;
	lie.sample_every = 2;
	add_totals(lie);
	expect_totals_error(at, 24, "found 4242 and 2");
	/* the end alone takes a sample rate the header could hold, 1 in
	 * 2^30 at most, and a pid: one more, 0, or pid 0, is no TOTALS */
	make_profile(20, 12, 1);
	lie = true_totals;
	lie.sample_every = 1u << 30;
	add_totals(lie);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), 0);
	assert_int_equal(t.sample_every, 1u << 30);
	make_profile(20, 12, 1);
	lie.sample_every = (1u << 30) + 1;
	add_totals(lie);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), -ENODATA);
	make_profile(20, 12, 1);
	lie.sample_every = 0;
	add_totals(lie);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), -ENODATA);
	make_profile(20, 12, 1);
	lie = true_totals;
	lie.pid = 0;
	add_totals(lie);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), -ENODATA);

	/* not where it stands, or after another record than the one before:
	 * a foreign tail, never taken for the file's */
	make_profile(20, 12, 1);
	lie = true_totals;
	lie.offset = at - 1;
	add_totals(lie);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), -ENODATA);
	expect_totals_error(at, 8, "expected the TOTALS record's own offset");
	make_profile(20, 12, 1);
	lie = true_totals;
	lie.prev_crc = ps_get_u32le(file + flen - 4) ^ 1;
	add_totals(lie);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), -ENODATA);
	expect_totals_error(at, 32, "expected the crc32 of the record before");

	/* only right after an END, and once */
	make_profile(20, 12, 0);
	at = flen;
	add_totals(true_totals);
	expect_totals_error(at, 0, "expected a TOTALS record only right after "
				   "an END record, found it after ENTRIES");
	make_profile(20, 12, 1);
	add_totals(true_totals);
	at = flen;
	add_totals(true_totals);
	expect_totals_error(at, 0, "found it after TOTALS");

	/* of its one size */
	make_profile(20, 12, 1);
	at = flen;
	begin(PS_REC_TOTALS);
	ps_totals_put(file + flen, &true_totals);
	flen += PS_TOTALS_PAYLOAD + 1;
	end();
	assert_int_equal(pf_read_totals_mem(file, flen, &t), -ENODATA);
	expect_totals_error(at, 4, "expected a TOTALS payload of 28 bytes, "
				   "found 29");
}

/* Torn: cut short by a byte (or any number), or followed by one, the end
 * of the file is not a TOTALS record of its own; the file reads as far as
 * it goes, its END there. */
static void test_totals_torn(void **state)
{
	(void)state;
	char err[512];
	struct ps_totals t;
	make_profile(20, 12, 1);
	size_t at = flen;
	add_totals(true_totals);
	size_t full = flen;
	for (size_t cut = at; cut < full; cut++) {
		assert_int_equal(pf_read_totals_mem(file, cut, &t), -ENODATA);
		pf_file *f = pf_read_mem("t.pscout", file, cut, err, sizeof err);
		if (!f)
			fail_msg("cut at %zu: %s", cut, err);
		assert_true(f->complete); /* its END is whole */
		assert_int_equal(pf_entry_find(f, 1, 1)->allocs, 20);
		if (cut > at)
			assert_non_null(strstr(f->partial_why, "cut short"));
		pf_free(f);
	}
	/* a byte past it */
	file[flen++] = 0;
	assert_int_equal(pf_read_totals_mem(file, flen, &t), -ENODATA);
	/* any byte of it, or of the crc32 before it, changed: not found */
	flen = full;
	static uint8_t copy[sizeof file];
	for (size_t i = at - 4; i < full; i++) {
		memcpy(copy, file, full);
		copy[i] ^= 0x01;
		int rc = pf_read_totals_mem(copy, full, &t);
		assert_int_equal(rc, -ENODATA);
	}
}

/* The same from a file: two small reads; a file that cannot be opened is
 * -errno, one that is not a regular file has no TOTALS record. */
static void test_totals_from_a_file(void **state)
{
	(void)state;
	char path[] = "/tmp/poolscout-totals-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	make_profile(20, 12, 1);
	add_totals(true_totals);
	assert_int_equal(write(fd, file, flen), (ssize_t)flen);
	struct ps_totals t;
	assert_int_equal(pf_read_totals(path, &t), 0);
	assert_int_equal(t.allocs, 25);
	assert_int_equal(ftruncate(fd, (off_t)flen - 1), 0);
	assert_int_equal(pf_read_totals(path, &t), -ENODATA);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pf_read_totals(path, &t), -ENODATA);
	close(fd);
	unlink(path);
	assert_int_equal(pf_read_totals(path, &t), -ENOENT);
	assert_int_equal(pf_read_totals("/tmp", &t), -ENODATA);
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
	assert_non_null(strstr(err, "offset 8: expected format version 1..9, found 99"));
	make_profile(20, 12, 1);
	ps_put_u32le(file + 8, 0);
	assert_null(pf_read_mem("v.pscout", file, flen, err, sizeof err));
	assert_non_null(strstr(err, "expected format version 1..9, found 0"));
	make_profile(20, 12, 1);
	ps_put_u32le(file + 8, PS_FORMAT_VERSION + 1);
	assert_null(pf_read_mem("v.pscout", file, flen, err, sizeof err));
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

/* A one-size entry's bytes are its count times its size: the count
 * may be as large as that product allows (2^64 - 1 bytes of 8-byte
 * blocks), not one more. */
static void largest_one_size(void)
{
	one_size_entry(0, 0, 0, 0);
	end();
}

static void test_one_size_count_limit(void **state)
{
	(void)state;
	char err[512];
	entry_allocs = UINT64_MAX / 8;
	pf_file *f = read_v3(largest_one_size, err, sizeof err);
	if (!f)
		fail_msg("%s", err);
	assert_true(f->nentries == 1 && f->entries[0].alloc_bytes ==
					      UINT64_MAX / 8 * 8);
	pf_free(f);
	entry_allocs = UINT64_MAX / 8 + 1;
	assert_null(read_v3(largest_one_size, err, sizeof err));
	assert_non_null(strstr(err, "expected counts that add up"));
	entry_allocs = 3;
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

/* A file's memory is what it declares, not its largest id: one module
 * with the largest id a 16 MiB version 1 file allows (2M) must not make
 * the reader allocate room for 2M modules (660 MB before). Version 2
 * files number their modules, stacks and threads in order, so an id out
 * of turn is an error there. */
static void test_memory_follows_the_file(void **state)
{
	(void)state;
	size_t big = 16u << 20;
	uint8_t *buf = malloc(big + 4096);
	assert_non_null(buf);
	struct pswriter b = { .buf = buf };
	pw_header(&b);
	ps_put_u32le(b.buf + 8, 1); /* version 1: ids bounded by the size */
	pw_begin(&b, PS_REC_PROCESS);
	pw_v(&b, 7); pw_v(&b, 1); pw_v(&b, 0); pw_v(&b, 1); pw_v(&b, 1);
	pw_v(&b, 100); pw_v(&b, 64); pw_v(&b, 1);
	pw_str(&b, "/p"); pw_str(&b, "p");
	pw_v(&b, 1); /* one argument of 16 MiB: the file's bulk */
	pw_v(&b, big);
	memset(b.buf + b.len, 'a', big);
	b.len += big;
	pw_end(&b);
	pw_begin(&b, PS_REC_MODULE);
	pw_v(&b, b.len / 8); pw_v(&b, 1); pw_v(&b, 0x400000);
	pw_str(&b, "/m"); pw_v(&b, 0); pw_v(&b, 0);
	pw_end(&b);
	struct rusage before, after;
	getrusage(RUSAGE_SELF, &before);
	char err[512];
	pf_file *f = pf_read_mem("big.pscout", buf, b.len, err, sizeof err);
	getrusage(RUSAGE_SELF, &after);
	assert_non_null(f);
	assert_int_equal(f->nmodules, 1);
	/* the argument's copy (16 MiB) and little else */
	assert_true(after.ru_maxrss - before.ru_maxrss < 48 * 1024);
	pf_free(f);
	free(buf);

	/* version 2: ids in turn, or an error with the offset */
	version = 2;
	make_profile(20, 12, 1);
	version = PS_FORMAT_VERSION;
	for (size_t off = PS_FORMAT_HEADER_SIZE; off + 12 < flen;) {
		uint32_t type = ps_get_u32le(file + off);
		uint32_t len = ps_get_u32le(file + off + 4);
		if (type == PS_REC_STACK && file[off + 8] == 2) {
			file[off + 8] = 3; /* stack 3 where 2 is due */
			ps_put_u32le(file + off + 8 + len,
				     (uint32_t)crc32(0, file + off, 8 + len));
			assert_null(pf_read_mem("o.pscout", file, flen, err, sizeof err));
			char want[96];
			snprintf(want, sizeof want, "o.pscout: offset %zu: expected "
				 "stack id 2 (ids follow one another), found 3", off + 8);
			assert_non_null(strstr(err, want));
			return;
		}
		off += 12 + len;
	}
	fail_msg("no stack 2 in the profile");
}

/* ---- one rule at a time ----------------------------------------------------- */

/* The cumulative counters of thread 1's entry for stack 1 in one snapshot. */
struct counts {
	uint64_t allocs, alloc_bytes, frees, free_bytes, xfrees, xfree_bytes;
	uint64_t size_min, size_max, peak, peak_bytes;
};

/* What a small version 2 profile holds, field by field. */
struct small {
	uint32_t version;  /* 0: PS_FORMAT_VERSION */
	uint64_t depth;    /* PROCESS depth */
	uint64_t argc;     /* empty arguments (each one byte: a 0 length) */
	uint64_t extra_argc; /* added to the argument count written */
	uint64_t module_id;
	uint64_t unload_epoch; /* nonzero: a MODULE_UNLOAD at that epoch */
	int segments_reversed; /* the higher segment first */
	uint64_t tid;
	const struct counts *snaps; /* one snapshot each */
	size_t nsnaps;
	uint64_t tick_hz[2]; /* of the first snapshot, of the others */
};

static const struct counts base_counts = { 10, 100, 6, 60, 2, 20, 10, 10, 5, 50 };

/* Writes s; the module spans 0x401000..0x402000 and 0x403000..0x404000
 * (load address 0x400000, two segments with a gap), loaded at epoch 1. */
static void make_small(const struct small *sp)
{
	pw_header(&w);
	uint32_t ver = sp->version ? sp->version : PS_FORMAT_VERSION;
	ps_put_u32le(w.buf + 8, ver);
	begin(PS_REC_PROCESS);
	v(4242); v(1); v(0); v(1); v(1000); v(100); v(sp->depth); v(1);
	s("/p"); s("p");
	v(sp->argc + sp->extra_argc);
	for (uint64_t i = 0; i < sp->argc; i++)
		s("");
	end();
	begin(PS_REC_MODULE);
	v(sp->module_id); v(1); v(0x400000); s("/nonexistent/p"); v(0); v(2);
	if (sp->segments_reversed) {
		v(0x3000); v(0x1000); v(0x2000); v(5);
		v(0x1000); v(0x1000); v(0); v(5);
	} else {
		v(0x1000); v(0x1000); v(0); v(5);
		v(0x3000); v(0x1000); v(0x2000); v(5);
	}
	end();
	if (sp->unload_epoch) {
		begin(PS_REC_MODULE_UNLOAD);
		v(sp->module_id); v(sp->unload_epoch);
		end();
	}
	begin(PS_REC_STACK);
	v(1); v(1); v(1); v(0x401234);
	if (ver >= 2) {
		v(0); v(1);
	}
	end();
	begin(PS_REC_THREAD);
	v(1); v(sp->tid); s("main"); v(0); v(0); v(0);
	end();
	for (size_t i = 0; i < sp->nsnaps; i++) {
		const struct counts *c = &sp->snaps[i];
		begin(PS_REC_SNAPSHOT);
		v(i + 1); v((i + 1) * 1000000); v(sp->tick_hz[i ? 1 : 0]); v(0);
		v(1);
		v(1); v(1); v(PS_ENT_HAS_HIST);
		v(c->allocs); v(c->alloc_bytes); v(c->frees); v(c->free_bytes);
		v(c->xfrees); v(c->xfree_bytes); v(c->size_min); v(c->size_max);
		v(c->peak);
		if (ver >= 2) {
			v(c->peak_bytes);
			v(c->allocs ? 1 : 0); v(c->allocs ? 2 + i : 0);
			v(c->frees ? 3 + i : 0);
		}
		v(0); /* no sizes */
		v(1); v(10); v(c->frees); /* lifetimes: bucket 10 */
		v(0); v(0);
		if (ver >= 2) {
			v(0); v(0);
		}
		end();
	}
	begin(PS_REC_END);
	v(PS_END_EXIT); v((sp->nsnaps + 1) * 1000000);
	end();
}

static struct small small_default(void)
{
	return (struct small){ .depth = 64, .module_id = 1, .tid = 4242,
			       .snaps = &base_counts, .nsnaps = 1,
			       .tick_hz = { 1000000000, 1000000000 } };
}

/* Reads the file made; NULL with the message in err. */
static pf_file *read_small(const struct small *sp, char *err, size_t len)
{
	make_small(sp);
	return pf_read_mem("s.pscout", file, flen, err, len);
}

static void expect_rejected(const struct small *sp, const char *msg)
{
	char err[512];
	pf_file *f = read_small(sp, err, sizeof err);
	if (f) {
		pf_free(f);
		fail_msg("read, though it should fail with \"%s\"", msg);
	}
	if (!strstr(err, msg))
		fail_msg("error \"%s\", expected \"%s\"", err, msg);
}

static void expect_read(const struct small *sp)
{
	char err[512];
	pf_file *f = read_small(sp, err, sizeof err);
	if (!f)
		fail_msg("rejected: %s", err);
	pf_free(f);
}

/* PROCESS: depth 1..256; an argument count up to what the record can hold
 * (every argument at least its one length byte). */
static void test_process_fields(void **state)
{
	(void)state;
	struct small sp = small_default();
	sp.depth = 0;
	expect_rejected(&sp, "expected depth in 1..256, found 0");
	sp.depth = 257;
	expect_rejected(&sp, "expected depth in 1..256, found 257");
	sp.depth = 1;
	expect_read(&sp);
	sp.depth = 256;
	expect_read(&sp);
	/* 3 empty arguments: exactly as many bytes left as arguments */
	sp.argc = 3;
	char err[512];
	pf_file *f = read_small(&sp, err, sizeof err);
	if (!f)
		fail_msg("3 empty arguments rejected: %s", err);
	assert_int_equal(f->argc, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(f->argv[i], "");
	assert_null(f->argv[3]);
	pf_free(f);
	sp.extra_argc = 1; /* a fourth the record has no byte for */
	expect_rejected(&sp, "expected at most 3 arguments, found 4");
}

/* MODULE ids start at 1, in both versions; THREAD tids are the kernel's,
 * never 0. */
static void test_ids_from_one(void **state)
{
	(void)state;
	struct small sp = small_default();
	for (uint32_t ver = 1; ver <= PS_FORMAT_VERSION; ver++) {
		sp.version = ver;
		sp.module_id = 0;
		expect_rejected(&sp, "expected module id in 1..");
		sp.module_id = 1;
		expect_read(&sp);
	}
	sp = small_default();
	sp.tid = 0;
	expect_rejected(&sp, "expected tid in 1..4294967295, found 0");
	sp.tid = 1;
	expect_read(&sp);
	sp.tid = UINT32_MAX;
	expect_read(&sp);
}

/* Every relation between an entry's counters, broken alone. */
static void test_each_count_rule_alone(void **state)
{
	(void)state;
	struct small sp = small_default();
	struct counts c = base_counts;
	sp.snaps = &c;
	expect_read(&sp);
	static const char *const what = "expected counts that add up";
	c = base_counts; c.xfrees = c.frees + 1;
	expect_rejected(&sp, what);
	c = base_counts; c.frees = c.allocs + 1;
	expect_rejected(&sp, what);
	c = base_counts; c.xfree_bytes = c.free_bytes + 1;
	expect_rejected(&sp, what);
	c = base_counts; c.free_bytes = c.alloc_bytes + 1;
	expect_rejected(&sp, what);
	c = base_counts; c.peak = c.allocs + 1;
	expect_rejected(&sp, what);
	c = base_counts; c.peak_bytes = c.alloc_bytes + 1;
	expect_rejected(&sp, what);
	c = base_counts; c.size_min = c.size_max + 1;
	expect_rejected(&sp, what);
	/* each one at its limit is fine */
	c = (struct counts){ 10, 100, 10, 100, 10, 100, 7, 7, 10, 100 };
	expect_read(&sp);
}

/* A later snapshot where one cumulative counter went down, alone. */
static void test_each_counter_never_decreases(void **state)
{
	(void)state;
	struct small sp = small_default();
	struct counts two[2] = { base_counts,
				 { 12, 120, 8, 80, 3, 30, 10, 10, 5, 50 } };
	sp.snaps = two;
	sp.nsnaps = 2;
	expect_read(&sp);
	static const char *const what = "expected cumulative counters that never decrease";
	two[1] = (struct counts){ 9, 120, 8, 80, 3, 30, 10, 10, 5, 50 };
	expect_rejected(&sp, what);
	two[1] = (struct counts){ 12, 99, 8, 80, 3, 30, 10, 10, 5, 50 };
	expect_rejected(&sp, what);
	two[1] = (struct counts){ 12, 120, 5, 80, 3, 30, 10, 10, 5, 50 };
	expect_rejected(&sp, what);
	two[1] = (struct counts){ 12, 120, 8, 80, 1, 30, 10, 10, 5, 50 };
	expect_rejected(&sp, what);
	/* unchanged is fine */
	two[1] = base_counts;
	expect_read(&sp);
}

/* 200 snapshots, each adding i + 1 allocations: every snapshot, tick and
 * step is kept (the arrays grow past their first sizes). */
static void test_many_snapshots(void **state)
{
	(void)state;
	enum { N = 200 };
	static struct counts c[N];
	uint64_t allocs = 0;
	for (int i = 0; i < N; i++) {
		allocs += (uint64_t)i + 1;
		c[i] = (struct counts){ allocs, allocs * 8, 0, 0, 0, 0, 8, 8, 1, 8 };
	}
	struct small sp = small_default();
	sp.snaps = c;
	sp.nsnaps = N;
	char err[512];
	pf_file *f = read_small(&sp, err, sizeof err);
	if (!f)
		fail_msg("rejected: %s", err);
	assert_int_equal(f->nsnaps, N);
	const pf_thread *t = f->threads[1];
	assert_int_equal(t->nticks, N);
	const pf_entry *e = pf_entry_find(f, 1, 1);
	assert_non_null(e);
	assert_int_equal(e->nsteps, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(f->snaps[i].seq, (uint64_t)i + 1);
		assert_int_equal(f->snaps[i].t_ns, ((uint64_t)i + 1) * 1000000);
		assert_int_equal(t->ticks[i].snapshot, i);
		assert_int_equal(t->ticks[i].allocs, (uint64_t)i + 1);
		assert_int_equal(t->ticks[i].bytes, ((uint64_t)i + 1) * 8);
		assert_int_equal(e->steps[i].snapshot, i);
		assert_int_equal(e->steps[i].allocs, (uint64_t)i + 1);
	}
	assert_int_equal(e->allocs, (uint64_t)N * (N + 1) / 2);
	assert_int_equal(t->allocs, (uint64_t)N * (N + 1) / 2);
	pf_free(f);
}

/* The tick rate: the latest snapshot's that is not 0; none at all (every
 * snapshot says 0) is read as 1 GHz, so lifetimes are nanoseconds. */
static void test_tick_rate_zero(void **state)
{
	(void)state;
	struct small sp = small_default();
	struct counts two[2] = { base_counts,
				 { 12, 120, 8, 80, 3, 30, 10, 10, 5, 50 } };
	sp.snaps = two;
	sp.nsnaps = 2;
	sp.tick_hz[0] = sp.tick_hz[1] = 0;
	char err[512];
	pf_file *f = read_small(&sp, err, sizeof err);
	if (!f)
		fail_msg("rejected: %s", err);
	assert_int_equal(f->tick_hz, 1000000000);
	assert_true(pf_ticks_to_ns(f, 1024) == 1024);
	pf_free(f);
	sp.tick_hz[0] = 2000000000; /* then 0: the 2 GHz stays */
	f = read_small(&sp, err, sizeof err);
	assert_non_null(f);
	assert_int_equal(f->tick_hz, 2000000000);
	assert_true(pf_ticks_to_ns(f, 1024) == 512);
	pf_free(f);
	sp.tick_hz[0] = 0;
	sp.tick_hz[1] = 4000000000u;
	f = read_small(&sp, err, sizeof err);
	assert_non_null(f);
	assert_int_equal(f->tick_hz, 4000000000u);
	pf_free(f);
}

/* The header's size field: 16 up to the file's size, else an error at
 * its offset, 12. */
static void test_header_size(void **state)
{
	(void)state;
	char err[512];
	struct small sp = small_default();
	make_small(&sp);
	static const uint32_t bad[] = { 0, 8, 15 };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		make_small(&sp);
		ps_put_u32le(file + 12, bad[i]);
		assert_null(pf_read_mem("h.pscout", file, flen, err, sizeof err));
		assert_non_null(strstr(err, "h.pscout: offset 12: expected a header size"));
	}
	make_small(&sp);
	ps_put_u32le(file + 12, (uint32_t)flen + 1);
	assert_null(pf_read_mem("h.pscout", file, flen, err, sizeof err));
	assert_non_null(strstr(err, "h.pscout: offset 12: expected a header size"));
	/* the whole file as header: valid, but no PROCESS record */
	make_small(&sp);
	ps_put_u32le(file + 12, (uint32_t)flen);
	assert_null(pf_read_mem("h.pscout", file, flen, err, sizeof err));
	assert_non_null(strstr(err, "expected a PROCESS record; the file ends first"));
}

/* Which module an address is in: inside a segment, from its first byte
 * to the one before its end; not in the gap between two segments; only
 * at epochs from its load to before its unload. The segments in either
 * order (the file is untrusted: its order is not the ELF rule's). */
static void test_module_for_edges(void **state)
{
	(void)state;
	char err[512];
	struct small sp = small_default();
	sp.unload_epoch = 3;
	for (int reversed = 0; reversed < 2; reversed++) {
		sp.segments_reversed = reversed;
		pf_file *f = read_small(&sp, err, sizeof err);
		if (!f)
			fail_msg("rejected: %s", err);
		static const struct { uint64_t ip; int in; } at[] = {
			{ 0x400fff, 0 }, { 0x401000, 1 }, { 0x401fff, 1 }, { 0x402000, 0 },
			{ 0x402fff, 0 }, { 0x403000, 1 }, { 0x403fff, 1 }, { 0x404000, 0 },
		};
		for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
			const pf_module *m = pf_module_for(f, at[i].ip, 2);
			if (!!m != at[i].in)
				fail_msg("0x%llx: %s a module", (unsigned long long)at[i].ip,
					 m ? "in" : "not in");
		}
		assert_non_null(pf_module_for(f, 0x401000, 1)); /* loaded at 1 */
		assert_null(pf_module_for(f, 0x401000, 0));
		assert_null(pf_module_for(f, 0x401000, 3)); /* unloaded at 3 */
		assert_int_equal(f->modules[0].lo, 0x401000);
		assert_int_equal(f->modules[0].hi, 0x404000);
		pf_free(f);
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

/* One entry of 3 allocations (8 B each), inner_frees frees of which
 * inner_x by another thread, and version 6's frees inside site
 * candidates inner_v[0..3]; inner_fields 0 sets the flag but leaves the
 * fields out (a version 5 file, whose reader ignores the bit). */
static uint64_t inner_frees, inner_x, inner_v[5];
static int inner_fields = 1;

static void inner_entry(void)
{
	one_size_entry(PS_ENT_V6_INNER_FREES, inner_frees, inner_x, 0);
	if (inner_fields)
		for (int k = 0; k < 5; k++)
			v(inner_v[k]);
	end();
	begin(PS_REC_END);
	v(PS_END_EXIT); v(1);
	end();
}

/* Version 6's frees inside site candidates: read back as written; all of
 * them together may be the entry's own frees (not those by another
 * thread), one more is an error; version 5 files leave them out. */
static void test_inner_free_fields(void **state)
{
	(void)state;
	char err[512];
	static const struct {
		uint64_t frees, xfrees, v[5];
		int ok;
	} cases[] = {
		{ 3, 0, { 1, 0, 2, 0, 0 }, 1 }, /* every own free */
		{ 3, 0, { 0, 0, 0, 1, 2 }, 1 }, /* the last candidate, none */
		{ 3, 0, { 1, 1, 1, 0, 1 }, 0 }, /* one more than the frees */
		{ 3, 1, { 0, 1, 0, 0, 1 }, 1 }, /* the own frees: 3 - 1 */
		{ 3, 1, { 2, 0, 0, 0, 1 }, 0 }, /* one past them */
		{ 3, 0, { 0, 0, 0, 0, 0 }, 1 }, /* the flag with nothing */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		inner_frees = cases[i].frees;
		inner_x = cases[i].xfrees;
		memcpy(inner_v, cases[i].v, sizeof inner_v);
		pf_file *f = read_v3(inner_entry, err, sizeof err);
		if (!cases[i].ok) {
			assert_null(f);
			if (!strstr(err, "expected frees inside site candidates "
					 "that add up to no more than the entry's "
					 "own frees"))
				fail_msg("case %zu: %s", i, err);
			continue;
		}
		if (!f)
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(f->nentries, 1);
		uint64_t got[PF_INNER_VALUES];
		pf_entry_inner_frees(f, &f->entries[0], got);
		for (int k = 0; k < 5; k++)
			assert_int_equal(got[k], cases[i].v[k]);
		assert_int_equal(f->entries[0].frees, cases[i].frees);
		assert_int_equal(f->entries[0].xfrees, cases[i].xfrees);
		pf_free(f);
	}
	/* version 5: the bit means nothing, no fields follow */
	inner_frees = 2;
	inner_x = 0;
	inner_fields = 0;
	read_v3(inner_entry, err, sizeof err);
	ps_put_u32le(file + 8, 5);
	pf_file *f = pf_read_mem("v5.pscout", file, flen, err, sizeof err);
	inner_fields = 1;
	if (!f)
		fail_msg("%s", err);
	uint64_t got[PF_INNER_VALUES];
	pf_entry_inner_frees(f, &f->entries[0], got);
	for (int k = 0; k < 5; k++)
		assert_int_equal(got[k], 0);
	assert_int_equal(f->entries[0].has_inner, 0);
	assert_true(f->complete);
	pf_free(f);
}

/* THREAD records of indices 1..40, in order: each one is kept where its
 * index says, with the tid and name its record gave; the table grows at
 * index 16 (its first size) and 32 (the second), where an index equal to
 * the size must grow it too. */
static void test_thread_table_grows(void **state)
{
	(void)state;
	enum { N = 40 };
	pw_header(&w);
	begin(PS_REC_PROCESS);
	v(4242); v(1); v(0); v(1); v(1000); v(100); v(64); v(1);
	s("/p"); s("p"); v(0);
	end();
	for (uint32_t i = 1; i <= N; i++) {
		char name[16];
		snprintf(name, sizeof name, "t%u", i);
		begin(PS_REC_THREAD);
		v(i); v(5000 + i); s(name); v(i * 10); v(0); v(0);
		end();
	}
	begin(PS_REC_END);
	v(PS_END_EXIT); v(1000000);
	end();
	char err[512];
	pf_file *f = pf_read_mem("t.pscout", file, flen, err, sizeof err);
	if (!f)
		fail_msg("rejected: %s", err);
	assert_true(f->nthreads > N);
	for (uint32_t i = 1; i <= N; i++) {
		const pf_thread *t = f->threads[i];
		if (!t)
			fail_msg("thread %u lost", i);
		char name[16];
		snprintf(name, sizeof name, "t%u", i);
		assert_int_equal(t->index, i);
		assert_int_equal(t->tid, 5000 + i);
		assert_string_equal(t->name, name);
		assert_int_equal(t->start_ns, i * 10);
	}
	pf_free(f);
}

/* The time rules hold from version 2 on, where entries first carry
 * times: the same one-entry file (make_timed writes version 2's layout)
 * stamped as version 2, good and bad. */
static void test_times_must_match_v2(void **state)
{
	(void)state;
	char err[512];
	make_timed(400, 500, 600, 1);
	ps_put_u32le(file + 8, 2);
	pf_file *f = pf_read_mem("v2.pscout", file, flen, err, sizeof err);
	if (!f)
		fail_msg("version 2 rejected: %s", err);
	assert_int_equal(f->version, 2);
	assert_int_equal(f->entries[0].allocs, 3);
	pf_free(f);
	static const uint64_t bad[][4] = {
		{ 501, 500, 600, 1 }, { 0, 500, 600, 1 }, { 400, 0, 600, 1 },
		{ 400, 500, 0, 1 },   { 400, 500, 600, 0 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		size_t at = make_timed(bad[i][0], bad[i][1], bad[i][2], bad[i][3]);
		ps_put_u32le(file + 8, 2);
		f = pf_read_mem("v2.pscout", file, flen, err, sizeof err);
		if (f) {
			pf_free(f);
			fail_msg("version 2, times %zu read", i);
		}
		char want[160];
		snprintf(want, sizeof want, "v2.pscout: offset %zu: expected "
			 "allocation and free times", at + 18);
		if (!strstr(err, want))
			fail_msg("error \"%s\", expected \"%s\"", err, want);
	}
}

/* pf_drop_thread and pf_drop_stack free one thread or stack: an index
 * past the tables (their sizes included) is no-op, never read (ASan runs
 * this suite); one in them is freed and only that one. */
static void test_drop_bounds(void **state)
{
	(void)state;
	char err[512];
	struct small sp = small_default();
	pf_file *f = read_small(&sp, err, sizeof err);
	if (!f)
		fail_msg("rejected: %s", err);
	assert_non_null(f->threads[1]);
	assert_non_null(f->stacks[1]);
	pf_drop_thread(f, (uint32_t)f->nthreads);
	pf_drop_thread(f, (uint32_t)f->nthreads + 1);
	pf_drop_stack(f, (uint32_t)f->nstacks);
	pf_drop_stack(f, (uint32_t)f->nstacks + 1);
	assert_non_null(f->threads[1]);
	assert_int_equal(f->threads[1]->tid, 4242);
	assert_non_null(f->stacks[1]);
	assert_int_equal(f->stacks[1]->ips[0], 0x401234);
	pf_drop_thread(f, 1);
	assert_null(f->threads[1]);
	pf_drop_stack(f, 1);
	assert_null(f->stacks[1]);
	pf_drop_thread(f, 1); /* twice: already gone */
	pf_drop_stack(f, 1);
	pf_free(f);
}

/* A PROCESS record alone (the smallest profile), then END with reason
 * (and, for a signal, its number). */
static size_t process_then_end(uint64_t reason)
{
	pw_header(&w);
	begin(PS_REC_PROCESS);
	v(4242); v(1); v(0); v(1); v(1000); v(100); v(64); v(1);
	s("/p"); s("p"); v(0);
	end();
	size_t at = flen;
	begin(PS_REC_END);
	v(reason); v(1000000);
	if (reason == PS_END_SIGNAL)
		v(15);
	end();
	return at;
}

/* END's reason is 1..PS_END_REASON_MAX: 0 and one past are errors at the
 * reason's offset (the record's first payload byte). */
static void test_end_reason_range(void **state)
{
	(void)state;
	char err[512], want[160];
	for (uint64_t r = 1; r <= PS_END_REASON_MAX; r++) {
		process_then_end(r);
		pf_file *f = pf_read_mem("e.pscout", file, flen, err, sizeof err);
		if (!f)
			fail_msg("reason %llu rejected: %s", (unsigned long long)r, err);
		assert_int_equal(f->end_reason, r);
		assert_true(f->complete);
		pf_free(f);
	}
	static const uint64_t bad[] = { 0, PS_END_REASON_MAX + 1 };
	for (size_t i = 0; i < 2; i++) {
		size_t at = process_then_end(bad[i]);
		assert_null(pf_read_mem("e.pscout", file, flen, err, sizeof err));
		snprintf(want, sizeof want, "e.pscout: offset %zu: expected end "
			 "reason in 1..%u, found %llu", at + 8, PS_END_REASON_MAX,
			 (unsigned long long)bad[i]);
		if (strcmp(err, want))
			fail_msg("error \"%s\", expected \"%s\"", err, want);
	}
}

/* Version 7's END of a caught signal: its number, 1..64, follows the
 * time (0 and 65 are errors at its offset); versions before 7 have no
 * reason 5. */
static void test_end_signal(void **state)
{
	(void)state;
	char err[512], want[160];
	for (uint64_t sig = 0; sig <= PS_END_SIGNAL_MAX + 1; sig++) {
		pw_header(&w);
		begin(PS_REC_PROCESS);
		v(4242); v(1); v(0); v(1); v(1000); v(100); v(64); v(1);
		s("/p"); s("p"); v(0);
		end();
		size_t at = flen;
		begin(PS_REC_END);
		v(PS_END_SIGNAL); v(1000000); v(sig);
		end();
		pf_file *f = pf_read_mem("e.pscout", file, flen, err, sizeof err);
		if (sig >= 1 && sig <= PS_END_SIGNAL_MAX) {
			if (!f)
				fail_msg("signal %llu rejected: %s",
					 (unsigned long long)sig, err);
			assert_true(f->complete);
			assert_int_equal(f->end_reason, PS_END_SIGNAL);
			assert_int_equal(f->end_signal, sig);
			assert_string_equal(pf_end_reason_name(f->end_reason), "signal");
			pf_free(f);
			continue;
		}
		assert_null(f);
		/* the record header (8 bytes), reason (1), time (3), then the signal */
		snprintf(want, sizeof want, "e.pscout: offset %zu: expected end "
			 "signal in 1..%u, found %llu", at + 12,
			 PS_END_SIGNAL_MAX, (unsigned long long)sig);
		if (strcmp(err, want))
			fail_msg("error \"%s\", expected \"%s\"", err, want);
	}
	/* a version 6 file: reason 5 is past its reasons */
	size_t at = process_then_end(PS_END_SIGNAL);
	ps_put_u32le(file + 8, 6);
	assert_null(pf_read_mem("e.pscout", file, flen, err, sizeof err));
	snprintf(want, sizeof want, "e.pscout: offset %zu: expected end reason "
		 "in 1..%u, found %u", at + 8, PS_END_REASON_MAX_V6, PS_END_SIGNAL);
	if (strcmp(err, want))
		fail_msg("error \"%s\", expected \"%s\"", err, want);
	/* and reason 4 is still read there */
	process_then_end(PS_END_LAST_THREAD);
	ps_put_u32le(file + 8, 6);
	pf_file *f = pf_read_mem("e.pscout", file, flen, err, sizeof err);
	assert_non_null(f);
	assert_int_equal(f->end_reason, PS_END_LAST_THREAD);
	pf_free(f);
}

/* Inside a DEFLATE record, a record's length may be up to
 * PS_RECORD_MAX_PAYLOAD: one that long is waited for (the stream ends
 * first here, so its 12 bytes are left over), one byte longer is an
 * error at the length field, inflated byte 4. */
static void test_inflated_length_limit(void **state)
{
	(void)state;
	char err[512], want[200];
	for (uint32_t extra = 0; extra < 2; extra++) {
		pw_header(&w);
		begin(PS_REC_PROCESS);
		v(4242); v(1); v(0); v(1); v(1000); v(100); v(64); v(1);
		s("/p"); s("p"); v(0);
		end();
		size_t from = flen;
		/* a THREAD record's frame, its payload never comes */
		ps_put_u32le(file + flen, PS_REC_THREAD);
		ps_put_u32le(file + flen + 4, PS_RECORD_MAX_PAYLOAD + extra);
		ps_put_u32le(file + flen + 8, 0);
		w.len += 12;
		deflate_records(from, NULL, 0);
		assert_null(pf_read_mem("d.pscout", file, flen, err, sizeof err));
		if (extra)
			snprintf(want, sizeof want, "d.pscout: offset %zu (deflated "
				 "record, inflated byte 4): expected a record length "
				 "up to %u, found %u", from, PS_RECORD_MAX_PAYLOAD,
				 PS_RECORD_MAX_PAYLOAD + 1);
		else
			snprintf(want, sizeof want, "d.pscout: offset %zu: expected "
				 "the deflated record to hold whole records (12 bytes "
				 "of one left over)", from);
		if (strcmp(err, want))
			fail_msg("error \"%s\", expected \"%s\"", err, want);
	}
}

/* A module of 8 segments (the most a MODULE record may declare), loaded
 * at 0: segment i spans 0x1000 + 0x2000 i .. +0x1000. Its first and last
 * bytes are in the module, the gaps between segments are not (pf_module_for
 * looks at the 8 segments and no further). */
static void test_module_eight_segments(void **state)
{
	(void)state;
	pw_header(&w);
	begin(PS_REC_PROCESS);
	v(4242); v(1); v(0); v(1); v(1000); v(100); v(64); v(1);
	s("/p"); s("p"); v(0);
	end();
	begin(PS_REC_MODULE);
	v(1); v(1); v(0); s("/nonexistent/eight"); v(0); v(8);
	for (uint64_t i = 0; i < 8; i++) {
		v(0x1000 + 0x2000 * i); v(0x1000); v(0x1000 * i); v(5);
	}
	end();
	begin(PS_REC_END);
	v(PS_END_EXIT); v(1000000);
	end();
	char err[512];
	pf_file *f = pf_read_mem("m.pscout", file, flen, err, sizeof err);
	if (!f)
		fail_msg("rejected: %s", err);
	assert_int_equal(f->modules[0].nseg, 8);
	assert_int_equal(f->modules[0].lo, 0x1000);
	assert_int_equal(f->modules[0].hi, 0x10000);
	for (uint64_t i = 0; i < 8; i++) {
		uint64_t lo = 0x1000 + 0x2000 * i;
		assert_non_null(pf_module_for(f, lo, 1));
		assert_non_null(pf_module_for(f, lo + 0xfff, 1));
		if (i < 7) {
			if (pf_module_for(f, lo + 0x1000, 1) ||
			    pf_module_for(f, lo + 0x1fff, 1))
				fail_msg("the gap after segment %llu is in the module",
					 (unsigned long long)i);
		}
	}
	assert_null(pf_module_for(f, 0xfff, 1));
	assert_null(pf_module_for(f, 0x10000, 1));
	pf_free(f);
}

/* A histogram's buckets are 0..PS_HIST_BUCKETS - 1: the last one reads
 * (its count where it belongs), one past it is refused. */
static void test_hist_bucket_limit(void **state)
{
	(void)state;
	char err[512], want[96];
	hist_n = 1;
	hist_b[0] = PS_HIST_BUCKETS - 1;
	pf_file *f = read_v3(hist_entry, err, sizeof err);
	if (!f)
		fail_msg("bucket %d rejected: %s", PS_HIST_BUCKETS - 1, err);
	uint64_t life[PS_HIST_BUCKETS];
	pf_entry_hists(f, &f->entries[0], NULL, life);
	for (int k = 0; k < PS_HIST_BUCKETS; k++)
		assert_int_equal(life[k], k == PS_HIST_BUCKETS - 1 ? 1 : 0);
	pf_free(f);
	for (uint64_t b = PS_HIST_BUCKETS; b <= PS_HIST_BUCKETS + 1; b++) {
		hist_b[0] = b;
		assert_null(read_v3(hist_entry, err, sizeof err));
		snprintf(want, sizeof want, "expected histogram bucket in 0..%d, "
			 "found %llu", PS_HIST_BUCKETS - 1, (unsigned long long)b);
		if (!strstr(err, want))
			fail_msg("error \"%s\", expected \"%s\"", err, want);
	}
}

/* The smallest file pf_read_totals takes: the header, one record of no
 * payload (12 bytes), the TOTALS record (40) -- 68 bytes, read; one byte
 * less (the empty record's crc32 cut) is no TOTALS. */
static void test_totals_smallest_file(void **state)
{
	(void)state;
	char path[] = "/tmp/poolscout-totals-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	pw_header(&w);
	begin(PS_REC_END);
	end();
	add_totals((struct ps_totals){ .allocs = 7, .pid = 99,
				       .sample_every = 1 });
	assert_int_equal(flen, 16 + 12 + 40);
	assert_int_equal(write(fd, file, flen), (ssize_t)flen);
	struct ps_totals t;
	assert_int_equal(pf_read_totals(path, &t), 0);
	assert_int_equal(t.allocs, 7);
	assert_int_equal(t.pid, 99);
	assert_int_equal(t.offset, 28);
	memset(&t, 0, sizeof t);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), 0);
	assert_int_equal(t.allocs, 7);
	/* 67 bytes: the header one byte short of its 16 */
	memmove(file + 15, file + 16, flen - 16);
	flen--;
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, file, flen, 0), (ssize_t)flen);
	assert_int_equal(pf_read_totals(path, &t), -ENODATA);
	assert_int_equal(pf_read_totals_mem(file, flen, &t), -ENODATA);
	close(fd);
	unlink(path);
}

/* A record of no payload is whole at the file's end (12 bytes: type,
 * length 0, crc32): an END that says nothing is an error where its
 * reason should be, not a record cut short. */
static void test_empty_record_at_end(void **state)
{
	(void)state;
	char err[512], want[160];
	pw_header(&w);
	begin(PS_REC_PROCESS);
	v(4242); v(1); v(0); v(1); v(1000); v(100); v(64); v(1);
	s("/p"); s("p"); v(0);
	end();
	size_t at = flen;
	begin(PS_REC_END);
	end();
	assert_null(pf_read_mem("z.pscout", file, flen, err, sizeof err));
	snprintf(want, sizeof want, "z.pscout: offset %zu: expected end reason "
		 "(a varint) inside the record", at + 8);
	if (strcmp(err, want))
		fail_msg("error \"%s\", expected \"%s\"", err, want);
	/* its last byte cut: now it is cut short, the file partial */
	pf_file *f = pf_read_mem("z.pscout", file, flen - 1, err, sizeof err);
	if (!f)
		fail_msg("cut END rejected: %s", err);
	assert_false(f->complete);
	pf_free(f);
}

/* A module record with no segment covers nothing, with 0 for both ends
 * (what the pprof export writes as its mapping), beside one that has a
 * segment. */
static void test_module_without_segments(void **state)
{
	(void)state;
	pw_header(&w);
	begin(PS_REC_PROCESS);
	v(4242); v(1); v(0); v(1); v(1000); v(100); v(64); v(1);
	s("/p"); s("p"); v(0);
	end();
	begin(PS_REC_MODULE);
	v(1); v(1); v(0x400000); s("/nonexistent/none"); v(0); v(0);
	end();
	begin(PS_REC_MODULE);
	v(2); v(1); v(0); s("/nonexistent/one"); v(0); v(1);
	v(0x1000); v(0x1000); v(0); v(5);
	end();
	begin(PS_REC_END);
	v(PS_END_EXIT); v(1000000);
	end();
	char err[512];
	pf_file *f = pf_read_mem("m.pscout", file, flen, err, sizeof err);
	if (!f)
		fail_msg("rejected: %s", err);
	assert_int_equal(f->nmodules, 2);
	assert_int_equal(f->modules[0].nseg, 0);
	assert_int_equal(f->modules[0].lo, 0);
	assert_int_equal(f->modules[0].hi, 0);
	assert_int_equal(f->modules[1].lo, 0x1000);
	assert_int_equal(f->modules[1].hi, 0x2000);
	assert_null(pf_module_for(f, 0x400000, 1));
	pf_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_valid_version1),
		cmocka_unit_test(test_valid_version2),
		cmocka_unit_test(test_valid_version7),
		cmocka_unit_test(test_valid_version8),
		cmocka_unit_test(test_recording_time_goes_back),
		cmocka_unit_test(test_counts_at_their_bound),
		cmocka_unit_test(test_stack_record_depth),
		cmocka_unit_test(test_version3_records),
		cmocka_unit_test(test_totals_record),
		cmocka_unit_test(test_totals_that_lie),
		cmocka_unit_test(test_totals_torn),
		cmocka_unit_test(test_totals_from_a_file),
		cmocka_unit_test(test_times_must_match),
		cmocka_unit_test(test_resized_fields),
		cmocka_unit_test(test_hist_bucket_order),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_bad_crc_names_offset),
		cmocka_unit_test(test_bad_magic_and_version),
		cmocka_unit_test(test_counts_must_add_up),
		cmocka_unit_test(test_one_size_count_limit),
		cmocka_unit_test(test_every_byte_flip),
		cmocka_unit_test(test_memory_follows_the_file),
		cmocka_unit_test(test_process_fields),
		cmocka_unit_test(test_ids_from_one),
		cmocka_unit_test(test_each_count_rule_alone),
		cmocka_unit_test(test_each_counter_never_decreases),
		cmocka_unit_test(test_many_snapshots),
		cmocka_unit_test(test_tick_rate_zero),
		cmocka_unit_test(test_header_size),
		cmocka_unit_test(test_module_for_edges),
		cmocka_unit_test(test_fuzz_corpus),
		cmocka_unit_test(test_inner_free_fields),
		cmocka_unit_test(test_thread_table_grows),
		cmocka_unit_test(test_times_must_match_v2),
		cmocka_unit_test(test_drop_bounds),
		cmocka_unit_test(test_end_reason_range),
		cmocka_unit_test(test_end_signal),
		cmocka_unit_test(test_inflated_length_limit),
		cmocka_unit_test(test_module_eight_segments),
		cmocka_unit_test(test_hist_bucket_limit),
		cmocka_unit_test(test_totals_smallest_file),
		cmocka_unit_test(test_empty_record_at_end),
		cmocka_unit_test(test_module_without_segments),
	};
	return cmocka_run_group_tests_name("reader", tests, NULL, NULL);
}
