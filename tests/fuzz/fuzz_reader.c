/* fuzz_reader.c - libFuzzer target for the profile reader and the model on
 * top of it: any input must read or be rejected with a message, and a file
 * that reads must go through the whole model, the ranking and the JSON
 * document, without a crash, a hang, a leak or a sanitizer report (and
 * so must reading its TOTALS record from the end alone). Built
 * with clang -fsanitize=fuzzer,address,undefined by tests/fuzz/run.sh,
 * which also replays tests/fuzz/corpus.
 *
 * Every record carries a crc32, so random bytes almost never get past the
 * record layer. The custom mutator therefore mutates valid files as
 * records: it picks a record and changes one of its varints to a value
 * that sits on some edge (0, 1, a power of two and its neighbours, the
 * largest), or drops, duplicates or swaps whole records, then fixes every
 * length and crc32, so the mutations reach the fields' checks and the
 * model. Half the time it leaves the job to libFuzzer's byte mutations,
 * and then rewrites the crc32 of every whole record (except one time in
 * eight, which keeps testing the check itself).
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "model.h"
#include "present.h"
#include "profile.h"
#include "psformat.h"
#include "ranking.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	/* the end alone (record's summary): any input, no crash */
	struct ps_totals totals;
	pf_read_totals_mem(data, size, &totals);
	pf_file *f = pf_read_mem("fuzz", data, size, err, sizeof err);
	if (!f)
		return 0;
	/* the whole model, no file opened to symbolize */
	pf_set *set = calloc(1, sizeof *set);
	set->files = calloc(1, sizeof *set->files);
	set->files[0] = f;
	set->nfiles = 1;
	an_opts o = { .no_symbols = 1 };
	analysis a;
	if (analysis_load_set(&a, set, &o) == 0) {
		rank_sites(&a);
		char *doc = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&doc, &len);
		if (m) {
			json j;
			json_init(&j, m);
			json_begin_object(&j, NULL);
			json_ranked(&j, &a, 50);
			json_end_object(&j);
			json_finish(&j);
			report_header(&a, m);
			fclose(m);
			free(doc);
		}
	}
	analysis_free(&a);
	return 0;
}

/* ---- the structure-aware mutator -------------------------------------------- */

struct rec {
	size_t off, len; /* the whole record: header, payload, crc */
};

#define MAX_RECS 4096

/* The records of a file that parses at the record layer (any content). */
static size_t split(const uint8_t *data, size_t size, struct rec *recs)
{
	size_t n = 0, off = PS_FORMAT_HEADER_SIZE;
	if (size < PS_FORMAT_HEADER_SIZE)
		return 0;
	while (n < MAX_RECS && size - off >= PS_RECORD_OVERHEAD) {
		uint32_t len = ps_get_u32le(data + off + 4);
		if (len > size - off - PS_RECORD_OVERHEAD)
			break;
		recs[n++] = (struct rec){ off, PS_RECORD_OVERHEAD + len };
		off += PS_RECORD_OVERHEAD + len;
	}
	return n;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A value on an edge: 0, 1, 2^k and its neighbours, or the largest. */
static uint64_t edge_value(uint64_t *s, uint64_t old)
{
	unsigned k = (unsigned)(rnd(s) % 64);
	switch (rnd(s) % 7) {
	case 0: return 0;
	case 1: return 1;
	case 2: return (uint64_t)1 << k;
	case 3: return ((uint64_t)1 << k) - 1;
	case 4: return UINT64_MAX;
	case 5: return old + 1;
	default: return old ? old - 1 : 0;
	}
}

/* Rewrites one record's payload: replaces (or drops) its varint number
 * `which`. Returns the new payload length in out, or 0 if there is none. */
static size_t mutate_payload(const uint8_t *p, size_t len, uint8_t *out,
			     size_t cap, uint64_t *s)
{
	/* count the varints (a string's bytes count as varints too: any
	 * byte under 0x80 ends one, which is fine for mutation) */
	size_t count = 0;
	for (size_t i = 0; i < len; i++)
		count += !(p[i] & 0x80);
	if (!count)
		return 0;
	size_t which = (size_t)(rnd(s) % count), seen = 0, n = 0;
	int drop = rnd(s) % 8 == 0;
	for (size_t i = 0; i < len;) {
		size_t start = i;
		while (i < len && (p[i] & 0x80))
			i++;
		if (i < len)
			i++;
		if (seen++ != which) {
			if (n + (i - start) > cap)
				return 0;
			memcpy(out + n, p + start, i - start);
			n += i - start;
			continue;
		}
		if (drop)
			continue;
		const uint8_t *q = p + start;
		uint64_t old = 0;
		ps_varint_get(&q, p + i, &old);
		if (n + PS_VARINT_MAX > cap)
			return 0;
		n += ps_varint_put(out + n, edge_value(s, old));
	}
	return n;
}

/* Rewrites the crc32 of every record that lies whole inside data. */
static void fix_record_crcs(uint8_t *data, size_t size)
{
	if (size < PS_FORMAT_HEADER_SIZE)
		return;
	size_t off = ps_get_u32le(data + 12);
	if (off < PS_FORMAT_HEADER_SIZE || off > size)
		off = PS_FORMAT_HEADER_SIZE;
	while (size - off >= PS_RECORD_OVERHEAD) {
		uint32_t len = ps_get_u32le(data + off + 4);
		if ((uint64_t)len + PS_RECORD_OVERHEAD > size - off)
			return;
		ps_put_u32le(data + off + 8 + len,
			     (uint32_t)crc32(0L, data + off, 8 + len));
		off += PS_RECORD_OVERHEAD + len;
	}
}

/* libFuzzer's byte mutations, crcs made right again 7 times in 8. */
static size_t byte_mutate(uint8_t *data, size_t size, size_t max_size,
			  unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 8)
		fix_record_crcs(data, size);
	return size;
}

/* Appends one record (type, payload) with its length and crc. */
static size_t put_record(uint8_t *out, size_t at, size_t cap, uint32_t type,
			 const uint8_t *payload, size_t len)
{
	if (at + PS_RECORD_OVERHEAD + len > cap)
		return at;
	ps_put_u32le(out + at, type);
	ps_put_u32le(out + at + 4, (uint32_t)len);
	memcpy(out + at + 8, payload, len);
	ps_put_u32le(out + at + 8 + len,
		     (uint32_t)crc32(0L, out + at, (uInt)(8 + len)));
	return at + PS_RECORD_OVERHEAD + len;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	static struct rec recs[MAX_RECS];
	uint64_t s = seed | 1;
	size_t n = split(data, size, recs);
	if (n < 2 || rnd(&s) % 2)
		return byte_mutate(data, size, max_size, seed);
	uint8_t *out = malloc(max_size + 1), *payload = malloc(max_size + 1);
	if (!out || !payload) {
		free(out);
		free(payload);
		return byte_mutate(data, size, max_size, seed);
	}
	memcpy(out, data, PS_FORMAT_HEADER_SIZE);
	size_t at = PS_FORMAT_HEADER_SIZE;
	size_t pick = 1 + (size_t)(rnd(&s) % (n - 1)); /* not the PROCESS */
	size_t other = 1 + (size_t)(rnd(&s) % (n - 1));
	unsigned what = (unsigned)(rnd(&s) % 8);
	for (size_t i = 0; i < n; i++) {
		size_t r = i;
		if (what == 6 && (i == pick || i == other)) /* swap */
			r = i == pick ? other : pick;
		const uint8_t *rec = data + recs[r].off;
		uint32_t type = ps_get_u32le(rec);
		size_t len = recs[r].len - PS_RECORD_OVERHEAD;
		if (i == pick && what == 5) /* drop */
			continue;
		if (i == pick && what < 5) {
			size_t m = mutate_payload(rec + 8, len, payload, max_size, &s);
			if (m || len == 0) {
				at = put_record(out, at, max_size, type, payload, m);
				continue;
			}
		}
		at = put_record(out, at, max_size, type, rec + 8, len);
		if (i == pick && what == 7) /* duplicate */
			at = put_record(out, at, max_size, type, rec + 8, len);
	}
	size_t result = at <= max_size ? at : size;
	memcpy(data, out, result);
	free(out);
	free(payload);
	return result;
}
