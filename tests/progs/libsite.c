/* libsite.c - allocations made inside a system library, for report's
 * note on library sites (tests/integration/views.sh). compress_often()
 * sets up and ends a zlib deflate stream INITS times with zlib's default
 * allocator: every block is allocated by libz's own code (deflateInit2_,
 * through its zcalloc), a site in /lib/.../libz.so.1 that the program
 * reaches through compress_often(). own_site() makes OWN allocations of
 * its own. The program counts its truth itself: one more stream set up
 * with a counting zalloc says how many blocks a set-up takes.
 *
 * It prints "truth per_init N", "truth inits N" and "truth own_site N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#define INITS 200
#define OWN 300

static void *volatile sink;
static unsigned counted;

static voidpf counting_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	counted++;
	return calloc(items, size);
}

static void counting_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	free(p);
}

__attribute__((noinline)) static int compress_often(void)
{
	for (int i = 0; i < INITS; i++) {
		z_stream z = { 0 };
		if (deflateInit(&z, Z_DEFAULT_COMPRESSION) != Z_OK)
			return -1;
		deflateEnd(&z);
	}
	return 0;
}

__attribute__((noinline)) static void own_site(void)
{
	for (int i = 0; i < OWN; i++) {
		sink = malloc(40);
		free(sink);
	}
}

int main(void)
{
	z_stream z = { 0 };
	z.zalloc = counting_alloc;
	z.zfree = counting_free;
	if (deflateInit(&z, Z_DEFAULT_COMPRESSION) != Z_OK)
		return 1;
	deflateEnd(&z);
	if (compress_often())
		return 1;
	own_site();
	printf("truth per_init %u\n", counted);
	printf("truth inits %d\n", INITS);
	printf("truth own_site %d\n", OWN);
	return 0;
}
