/* pswriter.h - a minimal profile encoder for tests that need files with
 * exact, hand-chosen contents (the golden fixture, the reader tests). It
 * writes records as docs/format.md describes, with psformat.h's helpers. */
#ifndef POOLSCOUT_TEST_PSWRITER_H
#define POOLSCOUT_TEST_PSWRITER_H

#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "psformat.h"

struct pswriter {
	uint8_t *buf; /* the caller's buffer, large enough */
	size_t len;
	size_t rec; /* where the open record starts */
};

/* Starts a file: the 16-byte header. */
static inline void pw_header(struct pswriter *w)
{
	ps_header_put(w->buf);
	w->len = PS_FORMAT_HEADER_SIZE;
}

static inline void pw_v(struct pswriter *w, uint64_t x)
{
	w->len += ps_varint_put(w->buf + w->len, x);
}

static inline void pw_bytes(struct pswriter *w, const void *p, size_t n)
{
	pw_v(w, n);
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static inline void pw_str(struct pswriter *w, const char *s)
{
	pw_bytes(w, s, strlen(s));
}

static inline void pw_begin(struct pswriter *w, uint32_t type)
{
	w->rec = w->len;
	ps_put_u32le(w->buf + w->len, type);
	w->len += 8;
}

/* Closes the open record: its length and crc32. */
static inline void pw_end(struct pswriter *w)
{
	ps_put_u32le(w->buf + w->rec + 4, (uint32_t)(w->len - w->rec - 8));
	ps_put_u32le(w->buf + w->len,
		     (uint32_t)crc32(0, w->buf + w->rec, (uInt)(w->len - w->rec)));
	w->len += 4;
}

#endif
