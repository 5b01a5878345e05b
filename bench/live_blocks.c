/* live_blocks.c - a `make bench` workload: BLOCKS (default 4M) blocks of
 * 32-48 bytes, all allocated first and held at once, then freed. It
 * measures what a profiler adds per live block (its live-pointer table),
 * so the program's own peak live count is exactly BLOCKS plus the pointer
 * array. Prints a checksum so no allocation can be optimised away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	long blocks = argc > 1 ? atol(argv[1]) : 4L << 20;
	if (blocks <= 0) {
		fprintf(stderr, "usage: %s [BLOCKS]\n", argv[0]);
		return 2;
	}
	char **held = calloc((size_t)blocks, sizeof *held);
	if (!held)
		return 1;
	for (long i = 0; i < blocks; i++) {
		size_t n = 32 + (size_t)(i % 17); /* 32..48 bytes */
		held[i] = malloc(n);
		if (!held[i])
			return 1;
		memset(held[i], (int)i, n);
	}
	unsigned long sum = 0;
	for (long i = 0; i < blocks; i++) {
		sum += (unsigned char)held[i][31];
		free(held[i]);
	}
	free(held);
	printf("%lu\n", sum & 0xff);
	return 0;
}
