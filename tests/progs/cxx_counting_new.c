/* cxx_counting_new.c - an allocator's own C++ operators, for
 * tests/integration/robust.sh: preloaded after libpoolscout.so, its
 * operator new and delete (every variant the preload forwards) are the
 * "next" ones the preload's must call, as tcmalloc's and jemalloc's are.
 * Each counts its calls and takes its memory from malloc (or
 * aligned_alloc) and gives it back to free; at exit it prints
 * "cxx_counting_new: new N delete M" on stderr, then each operator
 * called with its count ("delete(size)=100"; a new and its nothrow twin
 * as one, "new[](align)=10"): the preload must call the operator the
 * program called, not another of the family. Without the preload, the
 * program's calls come here directly: the two runs must count the same.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* calls per operator, in the order of `names` */
enum {
	NEW, NEW_ARR, NEW_NT, NEW_ARR_NT, NEW_AL, NEW_ARR_AL, NEW_AL_NT,
	NEW_ARR_AL_NT, DEL, DEL_ARR, DEL_SZ, DEL_ARR_SZ, DEL_NT, DEL_ARR_NT,
	DEL_AL, DEL_ARR_AL, DEL_SZ_AL, DEL_ARR_SZ_AL, DEL_AL_NT, DEL_ARR_AL_NT,
	NOPS
};
static const char *const names[NOPS] = {
	"new", "new[]", "new(nothrow)", "new[](nothrow)", "new(align)",
	"new[](align)", "new(align,nothrow)", "new[](align,nothrow)",
	"delete", "delete[]", "delete(size)", "delete[](size)",
	"delete(nothrow)", "delete[](nothrow)", "delete(align)",
	"delete[](align)", "delete(size,align)", "delete[](size,align)",
	"delete(align,nothrow)", "delete[](align,nothrow)",
};
static atomic_long news, deletes, calls[NOPS];

static void *counted_new(int op, size_t n)
{
	atomic_fetch_add(&news, 1);
	atomic_fetch_add(&calls[op], 1);
	return malloc(n ? n : 1);
}

static void *counted_aligned_new(int op, size_t n, size_t align)
{
	atomic_fetch_add(&news, 1);
	atomic_fetch_add(&calls[op], 1);
	size_t rounded = (n + align - 1) / align * align;
	return aligned_alloc(align, rounded ? rounded : align);
}

static void counted_delete(int op, void *p)
{
	if (p) {
		atomic_fetch_add(&deletes, 1);
		atomic_fetch_add(&calls[op], 1);
	}
	free(p);
}

/* operator new / new[] (size, [align], [nothrow]) */
void *_Znwm(size_t n) { return counted_new(NEW, n); }
void *_Znam(size_t n) { return counted_new(NEW_ARR, n); }
void *_ZnwmRKSt9nothrow_t(size_t n, const void *t) { (void)t; return counted_new(NEW_NT, n); }
void *_ZnamRKSt9nothrow_t(size_t n, const void *t) { (void)t; return counted_new(NEW_ARR_NT, n); }
void *_ZnwmSt11align_val_t(size_t n, size_t a) { return counted_aligned_new(NEW_AL, n, a); }
void *_ZnamSt11align_val_t(size_t n, size_t a) { return counted_aligned_new(NEW_ARR_AL, n, a); }
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t)
{
	(void)t;
	return counted_aligned_new(NEW_AL_NT, n, a);
}
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t)
{
	(void)t;
	return counted_aligned_new(NEW_ARR_AL_NT, n, a);
}

/* operator delete / delete[] (ptr, [size], [align], [nothrow]) */
void _ZdlPv(void *p) { counted_delete(DEL, p); }
void _ZdaPv(void *p) { counted_delete(DEL_ARR, p); }
void _ZdlPvm(void *p, size_t n) { (void)n; counted_delete(DEL_SZ, p); }
void _ZdaPvm(void *p, size_t n) { (void)n; counted_delete(DEL_ARR_SZ, p); }
void _ZdlPvRKSt9nothrow_t(void *p, const void *t) { (void)t; counted_delete(DEL_NT, p); }
void _ZdaPvRKSt9nothrow_t(void *p, const void *t) { (void)t; counted_delete(DEL_ARR_NT, p); }
void _ZdlPvSt11align_val_t(void *p, size_t a) { (void)a; counted_delete(DEL_AL, p); }
void _ZdaPvSt11align_val_t(void *p, size_t a) { (void)a; counted_delete(DEL_ARR_AL, p); }
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a)
{
	(void)n;
	(void)a;
	counted_delete(DEL_SZ_AL, p);
}
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a)
{
	(void)n;
	(void)a;
	counted_delete(DEL_ARR_SZ_AL, p);
}
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t)
{
	(void)a;
	(void)t;
	counted_delete(DEL_AL_NT, p);
}
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t)
{
	(void)a;
	(void)t;
	counted_delete(DEL_ARR_AL_NT, p);
}

__attribute__((destructor)) static void report(void)
{
	char line[1024];
	int len = snprintf(line, sizeof line, "cxx_counting_new: new %ld delete %ld",
			   atomic_load(&news), atomic_load(&deletes));
	/* a new and its nothrow twin count as one: the preload calls the
	 * nothrow one first and the throwing one only when that fails */
	long n[NOPS];
	for (int op = 0; op < NOPS; op++)
		n[op] = atomic_load(&calls[op]);
	n[NEW] += n[NEW_NT];
	n[NEW_ARR] += n[NEW_ARR_NT];
	n[NEW_AL] += n[NEW_AL_NT];
	n[NEW_ARR_AL] += n[NEW_ARR_AL_NT];
	n[NEW_NT] = n[NEW_ARR_NT] = n[NEW_AL_NT] = n[NEW_ARR_AL_NT] = 0;
	for (int op = 0; op < NOPS && len < (int)sizeof line - 64; op++)
		if (n[op])
			len += snprintf(line + len, sizeof line - (size_t)len,
					" %s=%ld", names[op], n[op]);
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)len);
	(void)w;
}
