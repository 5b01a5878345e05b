/* json.c - the streaming JSON writer (json.h). Strings are escaped per
 * RFC 8259 and made valid UTF-8 (bytes that are not become U+FFFD). */
#include <math.h>

#include "json.h"

void json_init(json *j, FILE *out)
{
	j->out = out;
	j->depth = 0;
	j->first[0] = 1;
	j->pretty = 1;
}

static void indent(json *j)
{
	if (!j->pretty)
		return;
	fputc('\n', j->out);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->out);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if there is none. */
static size_t utf8_sequence(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	size_t len;
	unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* Writes s as a JSON string. Names come from binaries and /proc and may
 * be any bytes: a byte that does not start well-formed UTF-8 becomes
 * U+FFFD, so the document always parses. */
static void put_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		switch (*p) {
		case '"': fputs("\\\"", out); p++; continue;
		case '\\': fputs("\\\\", out); p++; continue;
		case '\n': fputs("\\n", out); p++; continue;
		case '\r': fputs("\\r", out); p++; continue;
		case '\t': fputs("\\t", out); p++; continue;
		}
		if (*p < 0x20) {
			fprintf(out, "\\u%04x", *p);
			p++;
			continue;
		}
		size_t len = utf8_sequence(p);
		if (!len) {
			fputs("\\ufffd", out);
			p++;
			continue;
		}
		fwrite(p, 1, len, out);
		p += len;
	}
	fputc('"', out);
}

static void key(json *j, const char *k)
{
	if (!j->first[j->depth])
		fputc(',', j->out);
	j->first[j->depth] = 0;
	if (j->depth)
		indent(j);
	if (k) {
		put_string(j->out, k);
		fputs(j->pretty ? ": " : ":", j->out);
	}
}

static void open_(json *j, const char *k, char c)
{
	key(j, k);
	fputc(c, j->out);
	if (j->depth < 63)
		j->depth++;
	j->first[j->depth] = 1;
}

static void close_(json *j, char c)
{
	int empty = j->first[j->depth];
	if (j->depth)
		j->depth--;
	if (!empty)
		indent(j);
	fputc(c, j->out);
}

void json_begin_object(json *j, const char *k) { open_(j, k, '{'); }
void json_end_object(json *j) { close_(j, '}'); }
void json_begin_array(json *j, const char *k) { open_(j, k, '['); }
void json_end_array(json *j) { close_(j, ']'); }

void json_str(json *j, const char *k, const char *v)
{
	key(j, k);
	put_string(j->out, v ? v : "");
}

void json_u64(json *j, const char *k, uint64_t v)
{
	key(j, k);
	fprintf(j->out, "%llu", (unsigned long long)v);
}

void json_i64(json *j, const char *k, int64_t v)
{
	key(j, k);
	fprintf(j->out, "%lld", (long long)v);
}

void json_double(json *j, const char *k, double v)
{
	key(j, k);
	if (isfinite(v))
		fprintf(j->out, "%.6g", v);
	else
		fputs("null", j->out);
}

void json_bool(json *j, const char *k, int v)
{
	key(j, k);
	fputs(v ? "true" : "false", j->out);
}

void json_null(json *j, const char *k)
{
	key(j, k);
	fputs("null", j->out);
}

void json_raw(json *j, const char *k, const char *text, size_t len)
{
	key(j, k);
	fwrite(text, 1, len, j->out);
}

void json_finish(json *j)
{
	fputc('\n', j->out);
}
