// alloc_family.cpp - every member of the allocator family, each called
// ROUNDS times from a function of its own with sizes the program chooses,
// so a test can compare each site with what was asked for.
//
// Each f_* function is one site; the table in tests/integration/robust.sh
// lists what each asks for. Every block is freed (through the matching
// free or delete variant) except the KEPT blocks of f_kept. Checks that
// malloc_usable_size() is at least the size asked for; exits 1 if not.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <new>

#define NOINLINE __attribute__((noinline))
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static const int ROUNDS = 10;
static const int KEPT = 5;
static void *blocks[ROUNDS];
static void *kept[KEPT];
static int bad_usable;

static void check_usable(void *p, size_t asked)
{
	if (!p || malloc_usable_size(p) < asked)
		bad_usable++;
}

NOINLINE static void f_malloc() { for (auto &b : blocks) check_usable(b = malloc(100), 100); NO_TAIL_CALL(); }
NOINLINE static void f_calloc() { for (auto &b : blocks) check_usable(b = calloc(3, 40), 120); NO_TAIL_CALL(); }
NOINLINE static void f_realloc()
{
	for (auto &b : blocks) {
		b = realloc(nullptr, 50);
		check_usable(b = realloc(b, 500), 500);
	}
	NO_TAIL_CALL();
}
NOINLINE static void f_reallocarray() { for (auto &b : blocks) check_usable(b = reallocarray(nullptr, 5, 30), 150); NO_TAIL_CALL(); }
NOINLINE static void f_memalign() { for (auto &b : blocks) check_usable(b = memalign(64, 100), 100); NO_TAIL_CALL(); }
NOINLINE static void f_aligned_alloc() { for (auto &b : blocks) check_usable(b = aligned_alloc(64, 128), 128); NO_TAIL_CALL(); }
NOINLINE static void f_posix_memalign()
{
	for (auto &b : blocks) {
		if (posix_memalign(&b, 64, 100))
			b = nullptr;
		check_usable(b, 100);
	}
	NO_TAIL_CALL();
}
NOINLINE static void f_valloc() { for (auto &b : blocks) check_usable(b = valloc(100), 100); NO_TAIL_CALL(); }
NOINLINE static void f_pvalloc() { for (auto &b : blocks) check_usable(b = pvalloc(100), 100); NO_TAIL_CALL(); }

static void free_all()
{
	for (auto &b : blocks)
		free(b);
}

struct Obj {
	char bytes[48];
};
struct alignas(64) AlignedObj {
	char bytes[100];
};

NOINLINE static void f_new()
{
	Obj *o[ROUNDS];
	for (auto &x : o)
		x = new Obj;
	NO_TAIL_CALL();
	for (auto &x : o)
		delete x; // sized delete (-fsized-deallocation)
}
NOINLINE static void f_new_array()
{
	char *a[ROUNDS];
	for (auto &x : a)
		x = new char[100];
	NO_TAIL_CALL();
	for (auto &x : a)
		delete[] x;
}
NOINLINE static void f_new_nothrow()
{
	void *a[ROUNDS];
	for (auto &x : a)
		x = ::operator new(100, std::nothrow);
	NO_TAIL_CALL();
	for (auto &x : a)
		::operator delete(x, std::nothrow);
}
NOINLINE static void f_new_aligned()
{
	AlignedObj *a[ROUNDS];
	for (auto &x : a)
		x = new AlignedObj; // operator new(128, align_val_t(64))
	NO_TAIL_CALL();
	for (auto &x : a)
		delete x; // operator delete(p, 128, align_val_t(64))
}
NOINLINE static void f_new_aligned_array()
{
	void *a[ROUNDS];
	for (auto &x : a)
		x = ::operator new[](100, std::align_val_t(64));
	NO_TAIL_CALL();
	for (auto &x : a)
		::operator delete[](x, std::align_val_t(64));
}
NOINLINE static void f_new_aligned_nothrow()
{
	void *a[ROUNDS];
	for (auto &x : a)
		x = ::operator new(100, std::align_val_t(64), std::nothrow);
	NO_TAIL_CALL();
	for (auto &x : a)
		::operator delete(x, std::align_val_t(64), std::nothrow);
}
NOINLINE static void f_kept() { for (auto &k : kept) k = malloc(77); NO_TAIL_CALL(); }

int main()
{
	void (*c_family[])() = { f_malloc, f_calloc, f_realloc, f_reallocarray,
				 f_memalign, f_aligned_alloc, f_posix_memalign,
				 f_valloc, f_pvalloc };
	for (auto f : c_family) {
		f();
		free_all();
	}
	f_new();
	f_new_array();
	f_new_nothrow();
	f_new_aligned();
	f_new_aligned_array();
	f_new_aligned_nothrow();
	f_kept();
	if (bad_usable)
		std::fprintf(stderr, "malloc_usable_size below the size asked for: %d\n",
			     bad_usable);
	return bad_usable ? 1 : 0;
}
