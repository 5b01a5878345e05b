/* json.c - the streaming JSON writer (json.h). */
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

static void put_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
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
