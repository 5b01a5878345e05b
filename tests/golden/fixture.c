/* fixture.c - writes a profile with fixed contents (counts, times, tick
 * rate, thread names) whose stacks point into this program's own code,
 * so the golden tests symbolize it to the same functions and lines on
 * every machine. Usage: fixture OUT.pscout, or fixture --truth to print
 * the counts it writes, one "site NAME KEY VALUE..." line per site, which
 * tests/golden/run.sh checks the expected files against (so a golden file
 * regenerated from a wrong view fails).
 *
 *   golden_pool_site     100000 x 256 B, short-lived, peak 8: pool
 *   golden_grow_site     30000 realloc growth steps up to 64 KiB: presize
 *   golden_token_site    50000 x 16 B, freed at once, 1 live: stack
 *   golden_table_site    3000 x 1 KiB, all live at the end: none
 *   golden_handoff_site  20000 x 512 B, freed by the other thread: pool
 */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "psformat.h"
#include "pswriter.h"

#define NOINLINE __attribute__((noinline))

/* The module is written at this load address and the stacks moved with
 * it, so the file does not change with address-space randomisation. */
#define FIXED_BASE 0x555555554000ull
static uintptr_t real_base;

static uint8_t out[1 << 20];
static struct pswriter w = { .buf = out };

static void v(uint64_t x) { pw_v(&w, x); }
static void str(const char *s) { pw_str(&w, s); }
static void begin(uint32_t type) { pw_begin(&w, type); }
static void end(void) { pw_end(&w); }

NOINLINE static uintptr_t here(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

/* Each site stores the return address into itself and into its caller. */
NOINLINE static void golden_pool_site(uintptr_t *ips)
{
	ips[0] = here();
	ips[1] = (uintptr_t)__builtin_return_address(0);
}
NOINLINE static void golden_grow_site(uintptr_t *ips)
{
	ips[0] = here();
	ips[1] = (uintptr_t)__builtin_return_address(0);
}
NOINLINE static void golden_token_site(uintptr_t *ips)
{
	ips[0] = here();
	ips[1] = (uintptr_t)__builtin_return_address(0);
}
NOINLINE static void golden_table_site(uintptr_t *ips)
{
	ips[0] = here();
	ips[1] = (uintptr_t)__builtin_return_address(0);
}
NOINLINE static void golden_handoff_site(uintptr_t *ips)
{
	ips[0] = here();
	ips[1] = (uintptr_t)__builtin_return_address(0);
}

NOINLINE static void golden_request(uintptr_t ips[5][2])
{
	golden_pool_site(ips[0]);
	golden_grow_site(ips[1]);
	golden_token_site(ips[2]);
	golden_table_site(ips[3]);
}

NOINLINE static void golden_worker(uintptr_t ips[5][2])
{
	golden_handoff_site(ips[4]);
}

static int module_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	/* the main program only: its name is empty */
	if (info->dlpi_name && info->dlpi_name[0])
		return 0;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	uint8_t id[64];
	size_t idlen = 0;
	unsigned nseg = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		nseg += ph->p_type == PT_LOAD;
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_descsz <= 64) {
			idlen = nh->n_descsz;
			memcpy(id, p + sizeof *nh + ((nh->n_namesz + 3) & ~3u), idlen);
		}
	}
	real_base = info->dlpi_addr;
	begin(PS_REC_MODULE);
	v(1); v(1); v(FIXED_BASE); str(exe);
	pw_bytes(&w, id, idlen);
	v(nseg);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		v(ph->p_vaddr); v(ph->p_memsz); v(ph->p_offset); v(ph->p_flags);
	}
	end();
	return 1;
}

struct entry {
	unsigned thread, stack;
	uint64_t allocs, bytes, frees, free_bytes, xfrees, xfree_bytes;
	uint64_t size_min, size_max, peak;
	unsigned size_bucket, life_bucket;
	uint64_t grows, chain_steps_max, final_size;
};

/* Writes entry e scaled to part/parts of its final counts. */
static void put_entry(const struct entry *e, unsigned part, unsigned parts)
{
	uint64_t a = e->allocs * part / parts, f = e->frees * part / parts;
	uint64_t x = e->xfrees * part / parts, g = e->grows * part / parts;
	v(e->thread); v(e->stack);
	v(PS_ENT_HAS_HIST | (e->grows ? PS_ENT_HAS_REALLOC : 0));
	v(a); v(e->bytes * part / parts); v(f); v(e->free_bytes * part / parts);
	v(x); v(e->xfree_bytes * part / parts);
	uint64_t peak = e->peak < a ? e->peak : a;
	v(e->size_min); v(e->size_max); v(peak);
	/* peak bytes; first and latest allocation, latest free (ticks at
	 * 1 GHz since the start, plus one): the thread allocates from 1 ms
	 * to the snapshot's time, and frees 1 us after its latest one */
	v(peak * e->size_max);
	v(a ? 1000000 + 1 : 0);
	v(a ? part * 100000000ull + 1 : 0);
	v(f ? part * 100000000ull + 1000 + 1 : 0);
	v(1); v(e->size_bucket); v(a);
	if (f) {
		v(1); v(e->life_bucket); v(f);
	} else {
		v(0);
	}
	if (e->grows) {
		v(g); v(0); v(0); v(e->chain_steps_max); v(e->final_size);
	}
}

static const char *const site_names[] = {
	"golden_pool_site", "golden_grow_site", "golden_token_site",
	"golden_table_site", "golden_handoff_site",
};

/* `fixture --modules OUT`: a profile of two modules, one without a
 * build-id and one with the longest the format allows (64 bytes, 0x00
 * to 0x3f), for info's build-id column. */
static int write_modules(const char *path)
{
	pw_header(&w);
	begin(PS_REC_PROCESS);
	v(77); v(1); v(0); v(1767225600000000000ull); v(1000000000);
	v(100); v(64); v(1); str("/usr/bin/modules"); str("modules");
	v(1); str("modules");
	end();
	uint8_t id[64];
	for (unsigned i = 0; i < 64; i++)
		id[i] = (uint8_t)i;
	for (unsigned m = 1; m <= 2; m++) {
		begin(PS_REC_MODULE);
		v(m); v(1); v(0x10000000ull * m);
		str(m == 1 ? "/nonexistent/no-build-id.so" : "/nonexistent/long-build-id.so");
		pw_bytes(&w, id, m == 1 ? 0 : 64);
		v(1); v(0); v(0x1000); v(0); v(5);
		end();
	}
	begin(PS_REC_END);
	v(PS_END_EXIT); v(1000000);
	end();
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(out, 1, w.len, f) != w.len || fclose(f)) {
		perror(path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--modules"))
		return write_modules(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: fixture OUT.pscout | --truth | "
				"--modules OUT.pscout\n");
		return 2;
	}
	int truth_only = !strcmp(argv[1], "--truth");
	uintptr_t ips[5][2];
	golden_request(ips);
	golden_worker(ips);

	pw_header(&w);
	begin(PS_REC_PROCESS);
	v(4242); v(4241); v(0); v(1767225600000000000ull); v(1000000000);
	v(100); v(64); v(1);
	str("/usr/bin/golden-server"); str("golden-server");
	v(2); str("golden-server"); str("--port=8080");
	end();
	dl_iterate_phdr(module_cb, NULL);
	for (unsigned s = 0; s < 5; s++) {
		begin(PS_REC_STACK);
		v(s + 1); v(1); v(2);
		v(ips[s][0] - real_base + FIXED_BASE);
		v(ips[s][1] - real_base + FIXED_BASE);
		v(0); v(2); /* both frames may be the site */
		end();
	}
	begin(PS_REC_THREAD);
	v(1); v(4242); str("golden-server"); v(0); v(0); v(0);
	end();
	begin(PS_REC_THREAD);
	v(2); v(4243); str("worker-1"); v(5000000); v(0); v(0);
	end();

	/* lifetimes in ticks at 1 GHz: bucket b is [2^b, 2^(b+1)) ns */
	static const struct entry entries[] = {
		{ 1, 1, 100000, 25600000, 100000, 25600000, 0, 0, 256, 256, 8,
		  8, 9, 0, 0, 0 },
		{ 1, 2, 30000, 491520000, 30000, 491520000, 0, 0, 2048, 65536,
		  1, 11, 12, 30000, 15, 65536 },
		{ 1, 3, 50000, 800000, 50000, 800000, 0, 0, 16, 16, 1, 4, 6, 0,
		  0, 0 },
		{ 1, 4, 3000, 3072000, 0, 0, 0, 0, 1024, 1024, 3000, 10, 0, 0,
		  0, 0 },
		{ 2, 5, 20000, 10240000, 20000, 10240000, 20000, 10240000, 512,
		  512, 70, 9, 16, 0, 0, 0 },
	};
	static const uint64_t stack_peaks[] = { 8, 1, 1, 3000, 70 };
	/* thread 1: the pool's 8, a grown buffer, a token and the 3000 table
	 * rows at once; thread 2: its 70 hand-offs */
	static const uint64_t thread_peak[] = { 3010, 70 };
	static const uint64_t thread_peak_bytes[] = {
		8 * 256 + 65536 + 16 + 3000 * 1024, 70 * 512
	};
	if (truth_only) {
		for (unsigned i = 0; i < 5; i++) {
			const struct entry *e = &entries[i];
			printf("site %s alloc_objects %llu alloc_space %llu "
			       "frees %llu cross_thread_frees %llu inuse_objects "
			       "%llu inuse_space %llu peak %llu size_min %llu "
			       "size_max %llu threads 1\n",
			       site_names[i], (unsigned long long)e->allocs,
			       (unsigned long long)e->bytes,
			       (unsigned long long)e->frees,
			       (unsigned long long)e->xfrees,
			       (unsigned long long)(e->allocs - e->frees),
			       (unsigned long long)(e->bytes - e->free_bytes),
			       (unsigned long long)stack_peaks[i],
			       (unsigned long long)e->size_min,
			       (unsigned long long)e->size_max);
		}
		printf("thread 4242 peak %llu\nthread 4243 peak %llu\n",
		       (unsigned long long)thread_peak[0],
		       (unsigned long long)thread_peak[1]);
		return 0;
	}
	for (unsigned part = 1; part <= 3; part++) {
		begin(PS_REC_SNAPSHOT);
		v(part); v(part * 100000000ull); v(1000000000); v(part * 10000);
		v(5);
		for (unsigned i = 0; i < 5; i++)
			put_entry(&entries[i], part, 3);
		if (part == 3) {
			v(5);
			for (unsigned s = 0; s < 5; s++) {
				v(s + 1); v(stack_peaks[s]);
			}
			v(1); v(1); v(2); v(5);
			v(0); v(0); v(0); /* no recording, busy or on-CPU time (v8, v9) */
			/* per-thread node peaks: each site's own return
			 * address (one stack each), and each thread's total */
			v(7);
			for (unsigned s = 0; s < 5; s++) {
				v(entries[s].thread);
				v(ips[s][0] - real_base + FIXED_BASE);
				v(stack_peaks[s]);
				v(stack_peaks[s] * entries[s].size_max);
			}
			v(1); v(0); v(thread_peak[0]); v(thread_peak_bytes[0]);
			v(2); v(0); v(thread_peak[1]); v(thread_peak_bytes[1]);
			v(0);
		} else {
			v(0); v(0); v(0); v(0);
		}
		end();
	}
	begin(PS_REC_THREAD);
	v(2); v(4243); str("worker-1"); v(5000000); v(290000000); v(1);
	end();
	begin(PS_REC_END);
	v(PS_END_EXIT); v(300000000);
	end();

	FILE *f = fopen(argv[1], "wb");
	if (!f || fwrite(out, 1, w.len, f) != w.len || fclose(f)) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}
