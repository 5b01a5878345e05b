/* gap_inner.c - a program mapped with a gap of more than 4 GiB between
 * its segments (tests/tests.mk links the table far_table at 0x200000000:
 * data, since no code there could be reached from .eh_frame's 32-bit
 * offsets) and a library, libgap_inner.so, linked at 0x80000000: inside
 * that gap. The fast unwinder widens the program's range across its gaps
 * (code past one is then found), and must end it where the library
 * begins: spanning the library and the far segment, the range would be
 * too wide for a search table (4 GiB at most) and every frame of the
 * program would go to libunwind. For tests/integration/unwind_diff.sh:
 * every stack (malloc <- gap_inner_work, in the library <- main <- libc
 * <- _start) must be proven.
 * Prints where each part lies, then "points=N", the allocations made in
 * the library; exits 77 when the library was not loaded inside the gap
 * (or the program not mapped as linked).
 */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

long gap_inner_work(long n);

/* never read: it is only there to make the gap */
__attribute__((used, section(".far"))) const char far_table[4096] = { 1 };

struct span {
	uintptr_t lo, hi; /* the program's lowest and highest segments' starts */
};

/* the first object the loader lists is the program */
static int program_span(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct span *s = arg;
	(void)size;
	s->lo = UINTPTR_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t at = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type != PT_LOAD)
			continue;
		if (at < s->lo)
			s->lo = at;
		if (at > s->hi)
			s->hi = at;
	}
	return 1;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	struct span s = { 0, 0 };
	dl_iterate_phdr(program_span, &s);
	uintptr_t lib = (uintptr_t)gap_inner_work;
	printf("program=%#lx library=%#lx far=%#lx\n", (unsigned long)s.lo,
	       (unsigned long)lib, (unsigned long)s.hi);
	if (!(s.lo < lib && lib < s.hi && s.hi - s.lo > UINT32_MAX &&
	      lib - s.lo < UINT32_MAX)) {
		printf("not laid out as linked: the library is not inside "
		       "the program's gap, or the gap is not over 4 GiB\n");
		return 77;
	}
	long done = gap_inner_work(n);
	printf("points=%ld\n", done);
	return 0;
}
