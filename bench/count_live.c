/* count_live.c - ground truth for `make bench`: an LD_PRELOAD shim that
 * counts, independently of poolscout, the heap blocks a program holds. It
 * forwards every allocator call to glibc's own entry points (__libc_*),
 * keeps the number of live blocks and its maximum, and at exit writes
 * "allocations N\npeak_live N\n" to the file named by COUNT_LIVE_OUT (or
 * stderr). The bench divides an RSS difference by peak_live.
 *
 * Nothing here allocates: the counters are atomics, the report is
 * formatted into a stack buffer and written with write(2). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

#define EXPORT __attribute__((visibility("default")))

static long live_blocks;
static long peak_live;
static long allocations;

static void *counted(void *p)
{
	if (!p)
		return p;
	__atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
	long now = __atomic_add_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
	long peak = __atomic_load_n(&peak_live, __ATOMIC_RELAXED);
	while (now > peak &&
	       !__atomic_compare_exchange_n(&peak_live, &peak, now, 1,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return p;
}

EXPORT void *malloc(size_t size)
{
	return counted(__libc_malloc(size));
}

EXPORT void free(void *ptr)
{
	if (ptr)
		__atomic_sub_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
	__libc_free(ptr);
}

EXPORT void *calloc(size_t count, size_t size)
{
	return counted(__libc_calloc(count, size));
}

EXPORT void *realloc(void *ptr, size_t size)
{
	if (!ptr)
		return counted(__libc_realloc(NULL, size));
	void *moved = __libc_realloc(ptr, size);
	if (size == 0 && !moved) /* glibc freed it */
		__atomic_sub_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
	return moved;
}

EXPORT void *reallocarray(void *ptr, size_t count, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(count, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(ptr, total);
}

EXPORT void *memalign(size_t alignment, size_t size)
{
	return counted(__libc_memalign(alignment, size));
}

EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
	return counted(__libc_memalign(alignment, size));
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
	if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
		return EINVAL;
	void *p = counted(__libc_memalign(alignment, size));
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT void *valloc(size_t size)
{
	return counted(__libc_valloc(size));
}

EXPORT void *pvalloc(size_t size)
{
	return counted(__libc_pvalloc(size));
}

__attribute__((destructor)) static void report(void)
{
	char line[128];
	int n = snprintf(line, sizeof line, "allocations %ld\npeak_live %ld\n",
			 __atomic_load_n(&allocations, __ATOMIC_RELAXED),
			 __atomic_load_n(&peak_live, __ATOMIC_RELAXED));
	const char *path = getenv("COUNT_LIVE_OUT");
	int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
		      : 2;
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
	if (fd != 2)
		close(fd);
}
