/* early_lib.c - a library whose constructor allocates before
 * libpoolscout.so's constructor runs (the program links it, so the loader
 * initialises it first): EARLY_BLOCKS blocks of EARLY_SIZE bytes from
 * early_ctor_alloc, kept live for the whole run and freed by its
 * destructor, which runs after libpoolscout.so's. */
#include <stdlib.h>

#define EARLY_BLOCKS 7
#define EARLY_SIZE 777

void *volatile early_kept[EARLY_BLOCKS];

__attribute__((noinline)) static void early_ctor_alloc(void)
{
	for (int i = 0; i < EARLY_BLOCKS; i++)
		early_kept[i] = malloc(EARLY_SIZE);
	__asm__ volatile("" ::: "memory"); /* no tail call */
}

__attribute__((constructor)) static void early_init(void)
{
	early_ctor_alloc();
	__asm__ volatile("" ::: "memory");
}

__attribute__((destructor)) static void early_fini(void)
{
	for (int i = 0; i < EARLY_BLOCKS; i++)
		free(early_kept[i]);
}

int early_blocks(void)
{
	return EARLY_BLOCKS;
}
