/* gen_profiles.c - writes a directory of profiles (tests/pswriter.h) for
 * the analyzer's scale test (tests/integration/scale.sh), and prints the
 * totals it planted:
 *
 *   gen_profiles DIR FILES STACKS [FIRST [SITES]]
 *
 * Profile i (i from FIRST, default 0) is process 1000 + i, started 1 ms
 * after the one before, with two threads and STACKS distinct stacks of
 * 24 frames in one module (not on this machine, loaded at one of eight
 * addresses, as ASLR would), SITES sites (default 16): the leaf frame is
 * one of SITES, the 22 frames above it spell the stack's number in two
 * addresses per level. Stack s is thread 1 + (s & 1)'s and makes 1 + s % 5 blocks of
 * 16 + (s % 16) * 8 bytes in each of three snapshots, all freed but the
 * last snapshot's when s % 4 == 0. It prints one line:
 *
 *   files F threads T allocs A bytes B frees N bytes_max M
 *
 * (bytes_max: the size of the largest file written). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../pswriter.h"

#define DEPTH 24
#define MS 1000000ull

static struct pswriter w;
static unsigned nsites = 16;
static void v(uint64_t x) { pw_v(&w, x); }

static unsigned log2_bucket(uint64_t x)
{
	unsigned b = 0;
	while (x > 1 && b < PS_HIST_BUCKETS - 1) {
		x >>= 1;
		b++;
	}
	return b;
}

struct totals {
	unsigned long long allocs, bytes, frees, threads, bytes_max;
};

static int write_profile(const char *dir, unsigned i, unsigned nstacks,
			 struct totals *t)
{
	uint64_t base = 0x400000 + (uint64_t)(i % 8) * 0x1000000;
	pw_header(&w);
	pw_begin(&w, PS_REC_PROCESS);
	v(1000 + i); v(999); v(0); v(1700000000000000000ull + i * MS); v(0);
	v(100); v(64); v(1);
	pw_str(&w, "/nonexistent/gen"); pw_str(&w, "gen"); v(1); pw_str(&w, "gen");
	pw_end(&w);
	pw_begin(&w, PS_REC_MODULE);
	v(1); v(0); v(base); pw_str(&w, "/nonexistent/gen");
	pw_bytes(&w, "0123456789abcdefghij", 20);
	v(1); v(0); v(0x100000); v(0); v(5);
	pw_end(&w);
	for (unsigned s = 1; s <= nstacks; s++) {
		pw_begin(&w, PS_REC_STACK);
		v(s); v(0); v(DEPTH);
		v(base + 0x1000 + (s % nsites) * 0x40 + 5);
		for (unsigned j = 1; j < DEPTH - 1; j++)
			v(base + 0x8000 + j * 0x100 + ((s >> (j - 1)) & 1) * 0x40 + 5);
		v(base + 0x20000 + 5);
		v(0); v(1);
		pw_end(&w);
	}
	for (unsigned th = 1; th <= 2; th++) {
		pw_begin(&w, PS_REC_THREAD);
		v(th); v(1000 + i + th - 1); pw_str(&w, th == 1 ? "main" : "worker");
		v(0); v(0); v(0);
		pw_end(&w);
	}
	t->threads += 2;
	for (unsigned k = 1; k <= 3; k++) {
		pw_begin(&w, PS_REC_SNAPSHOT);
		v(k); v(k * 100 * MS); v(1000000000); v(0);
		v(nstacks);
		for (unsigned s = 1; s <= nstacks; s++) {
			uint64_t each = 1 + s % 5, size = 16 + (s % 16) * 8;
			uint64_t allocs = each * k;
			uint64_t frees = s % 4 ? allocs : allocs - each;
			v(1 + (s & 1)); v(s); v(PS_ENT_HAS_HIST);
			v(allocs); v(allocs * size); v(frees); v(frees * size);
			v(0); v(0); v(size); v(size); v(each); v(each * size);
			v(10 * MS + 1); v(k * 100 * MS + 1);
			v(frees ? k * 100 * MS + 1 : 0);
			v(1); v(log2_bucket(size)); v(allocs);
			if (frees) {
				v(1); v(20); v(frees);
			} else {
				v(0);
			}
			if (k == 3) {
				t->allocs += allocs;
				t->bytes += allocs * size;
				t->frees += frees;
			}
		}
		v(0); v(0); v(0); v(0); /* no peaks, totals or nodes */
		pw_end(&w);
	}
	pw_begin(&w, PS_REC_END);
	v(PS_END_EXIT); v(300 * MS);
	pw_end(&w);
	char path[4096];
	snprintf(path, sizeof path, "%s/poolscout.gen.%u.pscout", dir, 1000 + i);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(w.buf, 1, w.len, f) != w.len || fclose(f)) {
		perror(path);
		return -1;
	}
	if (w.len > t->bytes_max)
		t->bytes_max = w.len;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: gen_profiles DIR FILES STACKS [FIRST "
			"[SITES]]\n");
		return 2;
	}
	unsigned files = (unsigned)strtoul(argv[2], NULL, 10);
	unsigned stacks = (unsigned)strtoul(argv[3], NULL, 10);
	unsigned first = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 0;
	if (argc > 5)
		nsites = (unsigned)strtoul(argv[5], NULL, 10);
	if (!nsites || nsites > 1024) {
		fprintf(stderr, "gen_profiles: SITES must be 1..1024\n");
		return 2;
	}
	if (!stacks || stacks >= 1u << 22) {
		fprintf(stderr, "gen_profiles: STACKS must be 1..4194303\n");
		return 2;
	}
	/* a stack record is at most 10 + 24 * 10 bytes, an entry 150 */
	w.buf = malloc((size_t)stacks * 1024 + 4096);
	if (!w.buf)
		return 1;
	struct totals t = { 0 };
	for (unsigned i = first; i < first + files; i++)
		if (write_profile(argv[1], i, stacks, &t))
			return 1;
	printf("files %u threads %llu allocs %llu bytes %llu frees %llu "
	       "bytes_max %llu\n", files, t.threads, t.allocs, t.bytes, t.frees,
	       t.bytes_max);
	free(w.buf);
	return 0;
}
