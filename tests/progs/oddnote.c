/* oddnote.c - a program whose build-id note comes after a note of odd
 * sizes in the same PT_NOTE segment (tests/progs/oddnote.ld puts it
 * first): a name of 5 bytes and a description of 3, each padded to 4, as
 * the ELF note format lays them out. Whoever reads its build-id (the
 * preload, from the loaded segment) must step over the padding; cli
 * compares what info says with readelf. */
#include <stdio.h>
#include <stdlib.h>

__asm__(".pushsection .note.odd,\"a\",@note\n"
	".balign 4\n"
	".long 5\n"      /* namesz: "ODDN\0" (then 3 bytes of padding) */
	".long 3\n"      /* descsz (then 1 byte of padding) */
	".long 0x1234\n" /* type */
	".asciz \"ODDN\"\n"
	".balign 4\n"
	".byte 1, 2, 3\n"
	".balign 4\n"
	".popsection\n");

int main(void)
{
	char *volatile p = malloc(10);
	printf("%d\n", p != NULL);
	free(p);
	return 0;
}
