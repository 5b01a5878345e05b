// cxx_objects.cpp - C++ allocations the profiler sees through operator
// new: the site must be the user function, not operator new or the
// std::vector internals. Counts: make_widgets WIDGETS x new Widget;
// make_arrays ARRAYS x new int[16]; fill_vector one std::vector<int>
// grown by push_back of PUSHES elements (log2 growth reallocations);
// shop::restock(int), a function with external linkage (a mangled
// linkage name in its debug info), RESTOCKS x new Widget.
#include <cstdio>
#include <memory>
#include <vector>

#define NOINLINE __attribute__((noinline))
static const int WIDGETS = 1000, ARRAYS = 500, PUSHES = 1000, RESTOCKS = 300;

struct Widget {
	long id;
	char name[40];
};

static volatile long sink;

NOINLINE static void make_widgets()
{
	for (int i = 0; i < WIDGETS; i++) {
		Widget *w = new Widget();
		w->id = i;
		sink += w->id;
		delete w;
	}
}

NOINLINE static void make_arrays()
{
	for (int i = 0; i < ARRAYS; i++) {
		int *a = new int[16];
		a[3] = i;
		sink += a[3];
		delete[] a;
	}
}

NOINLINE static void fill_vector()
{
	std::vector<int> v;
	for (int i = 0; i < PUSHES; i++)
		v.push_back(i);
	sink += v.back();
}

namespace shop {
NOINLINE void restock(int n);
NOINLINE void restock(int n)
{
	for (int i = 0; i < n; i++) {
		Widget *w = new Widget();
		sink += w->id;
		delete w;
	}
}
} // namespace shop

int main()
{
	shop::restock(RESTOCKS);
	make_widgets();
	make_arrays();
	fill_vector();
	std::puts("cxx: done");
	return 0;
}
