/* cxx_counting_new.c - an allocator's own C++ operators, for
 * tests/integration/robust.sh: preloaded after libpoolscout.so, its
 * operator new and delete (every variant the preload forwards) are the
 * "next" ones the preload's must call, as tcmalloc's and jemalloc's are.
 * Each counts its calls and takes its memory from malloc (or
 * aligned_alloc) and gives it back to free; at exit it prints
 * "cxx_counting_new: new N delete M" on stderr. Without the preload, the
 * program's calls come here directly: the two runs must count the same.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_long news, deletes;

static void *counted_new(size_t n)
{
	atomic_fetch_add(&news, 1);
	return malloc(n ? n : 1);
}

static void *counted_aligned_new(size_t n, size_t align)
{
	atomic_fetch_add(&news, 1);
	size_t rounded = (n + align - 1) / align * align;
	return aligned_alloc(align, rounded ? rounded : align);
}

static void counted_delete(void *p)
{
	if (p)
		atomic_fetch_add(&deletes, 1);
	free(p);
}

/* operator new / new[] (size, [align], [nothrow]) */
void *_Znwm(size_t n) { return counted_new(n); }
void *_Znam(size_t n) { return counted_new(n); }
void *_ZnwmRKSt9nothrow_t(size_t n, const void *t) { (void)t; return counted_new(n); }
void *_ZnamRKSt9nothrow_t(size_t n, const void *t) { (void)t; return counted_new(n); }
void *_ZnwmSt11align_val_t(size_t n, size_t a) { return counted_aligned_new(n, a); }
void *_ZnamSt11align_val_t(size_t n, size_t a) { return counted_aligned_new(n, a); }
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t)
{
	(void)t;
	return counted_aligned_new(n, a);
}
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t)
{
	(void)t;
	return counted_aligned_new(n, a);
}

/* operator delete / delete[] (ptr, [size], [align], [nothrow]) */
void _ZdlPv(void *p) { counted_delete(p); }
void _ZdaPv(void *p) { counted_delete(p); }
void _ZdlPvm(void *p, size_t n) { (void)n; counted_delete(p); }
void _ZdaPvm(void *p, size_t n) { (void)n; counted_delete(p); }
void _ZdlPvRKSt9nothrow_t(void *p, const void *t) { (void)t; counted_delete(p); }
void _ZdaPvRKSt9nothrow_t(void *p, const void *t) { (void)t; counted_delete(p); }
void _ZdlPvSt11align_val_t(void *p, size_t a) { (void)a; counted_delete(p); }
void _ZdaPvSt11align_val_t(void *p, size_t a) { (void)a; counted_delete(p); }
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a)
{
	(void)n;
	(void)a;
	counted_delete(p);
}
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a)
{
	(void)n;
	(void)a;
	counted_delete(p);
}
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t)
{
	(void)a;
	(void)t;
	counted_delete(p);
}
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t)
{
	(void)a;
	(void)t;
	counted_delete(p);
}

__attribute__((destructor)) static void report(void)
{
	char line[96];
	int len = snprintf(line, sizeof line, "cxx_counting_new: new %ld delete %ld\n",
			   atomic_load(&news), atomic_load(&deletes));
	ssize_t w = write(STDERR_FILENO, line, (size_t)len);
	(void)w;
}
