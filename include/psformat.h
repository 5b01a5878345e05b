/* psformat.h - the poolscout profile file format, shared by writer and reader.
 *
 * A profile is a file header followed by typed records:
 *
 *   header : magic[8] = "PSCOUT\r\n", u32 version, u32 header_size (= 16)
 *   record : u32 type, u32 payload_len, payload[payload_len], u32 crc32
 *
 * The crc32 (zlib's) covers type, payload_len and the payload. All fixed
 * integers are little-endian. Inside a payload every integer is an unsigned
 * LEB128 varint and every string is a varint length followed by its bytes
 * (not NUL-terminated). Version 3 writes most records inside DEFLATE
 * records (a raw deflate stream cut at record boundaries) and stacks as
 * paths in a tree of frames. Version 4 ends a profile that stopped
 * cleanly with a TOTALS record of fixed size, outside the deflated
 * stream, that a reader finds from the end of the file without reading
 * the rest. Version 5 adds to an entry the blocks that left it resized by
 * realloc (PS_ENT_V5_RESIZED). Version 6 adds the frees of a thread's
 * latest block made while one of its site candidates still ran
 * (PS_ENT_V6_INNER_FREES). Version 7 adds END's reason 5, a caught
 * signal. Version 8 adds to a snapshot's per-thread totals the time the
 * recording itself took on that thread and the time it was busy (ran or
 * waited for a CPU); version 9 the part of that it ran. docs/format.md
 * specifies each record field by field; it and this header must change
 * together (bump PS_FORMAT_VERSION).
 *
 * Everything here is header-only and allocation-free so the preload can use
 * it on its hook path and the analyzer on untrusted input.
 */
#ifndef POOLSCOUT_PSFORMAT_H
#define POOLSCOUT_PSFORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PS_FORMAT_MAGIC "PSCOUT\r\n"
#define PS_FORMAT_MAGIC_LEN 8
#define PS_FORMAT_VERSION 9u
#define PS_FORMAT_VERSION_MIN 1u /* readers still read version 1 files */
#define PS_FORMAT_HEADER_SIZE 16u
#define PS_RECORD_OVERHEAD 12u           /* type + length + crc */
#define PS_RECORD_MAX_PAYLOAD (256u << 20) /* readers reject larger records */

/* Histogram layout: bucket b counts values v with floor(log2(v)) == b
 * (v == 0 goes to bucket 0); the last bucket also holds everything larger. */
#define PS_HIST_BUCKETS 48

enum ps_record_type {
	PS_REC_PROCESS = 1,       /* once, first record */
	PS_REC_MODULE = 2,        /* a loaded object seen in the module map */
	PS_REC_MODULE_UNLOAD = 3, /* a module gone from the map */
	PS_REC_STACK = 4,         /* one interned call stack, written once */
	PS_REC_THREAD = 5,        /* a thread's identity, again when it changes */
	PS_REC_SNAPSHOT = 6,      /* cumulative counters of changed entries */
	PS_REC_END = 7,           /* the process stopped profiling cleanly */
	PS_REC_FRAMES = 8,        /* (v3) new nodes of the frame tree */
	PS_REC_STACKS = 9,        /* (v3) new stacks, as innermost frames */
	PS_REC_DEFLATE = 10,      /* (v3) deflated records (one zlib stream) */
	PS_REC_ENTRIES = 11,      /* (v3) more entries of the latest snapshot */
	PS_REC_TOTALS = 12,       /* (v4) after an END: what the file adds up to */
	PS_REC_TYPE_MAX = 12
};

/* Why profiling ended (PS_REC_END). */
enum ps_end_reason {
	PS_END_EXIT = 1,        /* exit() or return from main */
	PS_END_UNDERSCORE_EXIT = 2, /* _exit() / _Exit() */
	PS_END_EXEC = 3,        /* about to exec another program */
	PS_END_LAST_THREAD = 4, /* main called pthread_exit, last thread ended */
	PS_END_SIGNAL = 5,      /* (v7) a caught signal ends it: its number
				 * follows the time */
	PS_END_REASON_MAX = 5,
	PS_END_REASON_MAX_V6 = 4 /* versions 1..6 */
};
#define PS_END_SIGNAL_MAX 64 /* signal numbers are 1..64 on Linux */

/* PS_REC_PROCESS flags. */
#define PS_PROC_FLAG_SAMPLED 0x1u  /* only 1 in sample_every allocations recorded */
#define PS_PROC_FLAG_FORKED 0x2u   /* this process is a fork of a profiled one */
#define PS_PROC_FLAG_SITE_PEAK 0x4u /* exact site-wide peaks (SNAPSHOT) */
#define PS_PROC_FLAG_NO_PYMALLOC 0x8u /* PYTHONMALLOC=malloc or malloc_debug:
					* CPython's objects all go to malloc */
#define PS_PROC_FLAG_NO_ZEND_MM 0x10u /* USE_ZEND_ALLOC=0: PHP's values all
				       * go to malloc */
#define PS_PROC_FLAG_NO_GSLICE 0x20u /* G_SLICE=always-malloc (or all):
				      * glib's slices all go to malloc */

/* Per-entry field presence bits in a snapshot entry (PS_REC_SNAPSHOT). */
#define PS_ENT_HAS_HIST 0x1u     /* size and lifetime histograms follow */
#define PS_ENT_HAS_REALLOC 0x2u  /* realloc growth fields follow */
/* More bits of an ENTRIES record's entry (v3, docs/format.md). */
#define PS_ENT_V3_ONE_SIZE 0x4u  /* every request one size: bytes implied */
#define PS_ENT_V3_XFREES 0x8u    /* cross-thread frees follow */
#define PS_ENT_V5_RESIZED 0x10u  /* blocks resized by realloc follow (v5) */
#define PS_ENT_V6_INNER_FREES 0x20u /* frees inside site candidates (v6) */
/* The fields bit 5 adds: one per site candidate (a stack names at most
 * 4), then the frees with none of them running. */
#define PS_ENT_INNER_FREES 5

/* Largest encoded size of one varint. */
#define PS_VARINT_MAX 10

/* Returns the bucket of value v in a PS_HIST_BUCKETS log2 histogram. */
static inline unsigned ps_hist_bucket(uint64_t v)
{
	unsigned b = v ? 63u - (unsigned)__builtin_clzll(v) : 0u;
	return b < PS_HIST_BUCKETS ? b : PS_HIST_BUCKETS - 1;
}

/* Smallest value that falls in bucket b (0 for bucket 0). */
static inline uint64_t ps_hist_bucket_low(unsigned b)
{
	return b ? (uint64_t)1 << b : 0;
}

/* Encodes v at p; returns the number of bytes written (1..10). The caller
 * guarantees PS_VARINT_MAX bytes of room. */
static inline size_t ps_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Decodes a varint from [*pp, end). Returns 0 and advances *pp, or -1 when
 * the input ends early or the value does not fit 64 bits. */
static inline int ps_varint_get(const uint8_t **pp, const uint8_t *end,
				uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	unsigned shift = 0;
	while (p < end) {
		uint8_t byte = *p++;
		if (shift == 63 && (byte & 0x7e))
			return -1;
		v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*pp = p;
			*out = v;
			return 0;
		}
		shift += 7;
		if (shift > 63)
			return -1;
	}
	return -1;
}

static inline void ps_put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t ps_get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void ps_put_u64le(uint8_t *p, uint64_t v)
{
	ps_put_u32le(p, (uint32_t)v);
	ps_put_u32le(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t ps_get_u64le(const uint8_t *p)
{
	return (uint64_t)ps_get_u32le(p) | (uint64_t)ps_get_u32le(p + 4) << 32;
}

/* A TOTALS record (v4): written right after an END, outside the deflated
 * stream, so that the last PS_TOTALS_RECORD_SIZE bytes of a profile that
 * stopped cleanly say what it holds in total. Its payload, unlike every
 * other one, is fixed-width little-endian (docs/format.md):
 *
 *   u64 offset        file offset of this record (the bytes before it)
 *   u64 allocs        the sum of every entry's allocations (unscaled)
 *   u32 pid           as in PROCESS
 *   u32 sample_every  as in PROCESS
 *   u32 prev_crc      the crc32 field of the record just before it
 */
#define PS_TOTALS_PAYLOAD 28u
#define PS_TOTALS_RECORD_SIZE (PS_TOTALS_PAYLOAD + PS_RECORD_OVERHEAD)

struct ps_totals {
	uint64_t offset, allocs;
	uint32_t pid, sample_every, prev_crc;
};

/* Writes t as a TOTALS payload of PS_TOTALS_PAYLOAD bytes at p. */
static inline void ps_totals_put(uint8_t *p, const struct ps_totals *t)
{
	ps_put_u64le(p, t->offset);
	ps_put_u64le(p + 8, t->allocs);
	ps_put_u32le(p + 16, t->pid);
	ps_put_u32le(p + 20, t->sample_every);
	ps_put_u32le(p + 24, t->prev_crc);
}

/* Reads the TOTALS payload of PS_TOTALS_PAYLOAD bytes at p into t. */
static inline void ps_totals_get(const uint8_t *p, struct ps_totals *t)
{
	t->offset = ps_get_u64le(p);
	t->allocs = ps_get_u64le(p + 8);
	t->pid = ps_get_u32le(p + 16);
	t->sample_every = ps_get_u32le(p + 20);
	t->prev_crc = ps_get_u32le(p + 24);
}

/* Writes the 16-byte file header at p. */
static inline void ps_header_put(uint8_t *p)
{
	memcpy(p, PS_FORMAT_MAGIC, PS_FORMAT_MAGIC_LEN);
	ps_put_u32le(p + 8, PS_FORMAT_VERSION);
	ps_put_u32le(p + 12, PS_FORMAT_HEADER_SIZE);
}

#endif
