/* jemalloc_api.c - calls jemalloc's own entry points, as programs built
 * for jemalloc do (redis): JE_ROUNDS blocks each from
 *   jeapi_mallocx       mallocx(100, 0), freed with dallocx
 *   jeapi_mallocx_zero  mallocx(200, MALLOCX_ZERO), freed with sdallocx(.., 200, 0)
 *   jeapi_malloc        malloc(300), freed with sdallocx (a block malloc made)
 *   jeapi_rallocx       mallocx(50, 0) grown with rallocx to 500, then dallocx
 * The functions are looked up at run time, so it builds without jemalloc;
 * exits 77 when they are not there (run it with libjemalloc preloaded).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JE_ROUNDS 10
#define MALLOCX_ZERO 0x40
#define NOINLINE __attribute__((noinline))
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static void *(*mallocx_fn)(size_t, int);
static void *(*rallocx_fn)(void *, size_t, int);
static void (*sdallocx_fn)(void *, size_t, int);
static void (*dallocx_fn)(void *, int);
static void *blocks[JE_ROUNDS];

NOINLINE static void jeapi_mallocx(void) { for (int i = 0; i < JE_ROUNDS; i++) blocks[i] = mallocx_fn(100, 0); NO_TAIL_CALL(); }
NOINLINE static void jeapi_mallocx_zero(void) { for (int i = 0; i < JE_ROUNDS; i++) blocks[i] = mallocx_fn(200, MALLOCX_ZERO); NO_TAIL_CALL(); }
NOINLINE static void jeapi_malloc(void) { for (int i = 0; i < JE_ROUNDS; i++) blocks[i] = malloc(300); NO_TAIL_CALL(); }
NOINLINE static void jeapi_rallocx(void)
{
	for (int i = 0; i < JE_ROUNDS; i++)
		blocks[i] = rallocx_fn(mallocx_fn(50, 0), 500, 0);
	NO_TAIL_CALL();
}

int main(void)
{
	mallocx_fn = (void *(*)(size_t, int))dlsym(RTLD_DEFAULT, "mallocx");
	rallocx_fn = (void *(*)(void *, size_t, int))dlsym(RTLD_DEFAULT, "rallocx");
	sdallocx_fn = (void (*)(void *, size_t, int))dlsym(RTLD_DEFAULT, "sdallocx");
	dallocx_fn = (void (*)(void *, int))dlsym(RTLD_DEFAULT, "dallocx");
	Dl_info info;
	if (!mallocx_fn || !dladdr((void *)dallocx_fn, &info) || !rallocx_fn ||
	    !sdallocx_fn)
		return 77;
	jeapi_mallocx();
	for (int i = 0; i < JE_ROUNDS; i++)
		dallocx_fn(blocks[i], 0);
	jeapi_mallocx_zero();
	int bad = 0;
	for (int i = 0; i < JE_ROUNDS; i++) {
		for (int j = 0; j < 200; j++)
			bad += ((char *)blocks[i])[j] != 0;
		sdallocx_fn(blocks[i], 200, 0);
	}
	jeapi_malloc();
	for (int i = 0; i < JE_ROUNDS; i++)
		sdallocx_fn(blocks[i], 300, 0);
	jeapi_rallocx();
	for (int i = 0; i < JE_ROUNDS; i++)
		dallocx_fn(blocks[i], 0);
	if (bad)
		fprintf(stderr, "MALLOCX_ZERO blocks not zeroed\n");
	return bad ? 1 : 0;
}
