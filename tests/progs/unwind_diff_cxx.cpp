// unwind_diff_cxx.cpp - C++ stacks for the unwinder differential test
// (tests/integration/unwind_diff.sh), run with POOLSCOUT_UNWIND=check:
// exceptions thrown through frames whose destructors allocate while the
// exception passes (landing pads, often in .cold parts with FDEs of their
// own), allocation in catch blocks and in copies of caught objects,
// rethrow, library allocations (the exception object, std::string inside
// std::runtime_error), std::function and std::thread frames of
// libstdc++. Prints "points=N": the allocations its own code made.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static std::atomic<long> points{0};
static void *volatile sink;
static volatile int keep; // read after calls: no tail calls

[[gnu::noinline]] static void alloc_here(size_t n)
{
	void *p = std::malloc(n);
	sink = p;
	std::free(p);
	points++;
}

struct Guard {
	int depth;
	explicit Guard(int d) : depth(d) { alloc_here(16 + (size_t)d); }
	~Guard() { alloc_here(24 + (size_t)depth); } // also while unwinding
};

struct Payload {
	std::vector<int> v;
	explicit Payload(int n) : v((size_t)n, n) { points++; }
	Payload(const Payload &o) : v(o.v) { points++; } // catch by value
};

[[gnu::noinline]] static int thrower(int depth, int kind)
{
	Guard g(depth);
	if (depth == 0) {
		if (kind == 0)
			throw std::runtime_error(std::string(40, 'x'));
		throw Payload(8);
	}
	return thrower(depth - 1, kind) + keep;
}

[[gnu::noinline]] static void middle(int depth, int kind)
{
	Guard g(100 + depth);
	try {
		thrower(depth, kind);
	} catch (const std::runtime_error &e) {
		alloc_here(e.what()[0]);
		throw; // on through our caller's frames
	}
}

static void scenario_exceptions()
{
	for (int i = 0; i < 200; i++) {
		try {
			middle(i % 12, i % 2);
		} catch (std::runtime_error &e) {
			alloc_here(8);
		} catch (Payload p) {
			alloc_here(p.v.size());
		}
	}
}

static void scenario_containers()
{
	std::map<std::string, std::vector<std::string>> m;
	std::function<void(int)> add = [&](int i) {
		m[std::to_string(i % 97)].push_back(std::string(30 + i % 20, 'y'));
		points++;
	};
	for (int i = 0; i < 3000; i++)
		add(i);
	keep = (int)m.size();
}

static void scenario_threads()
{
	std::vector<std::thread> ts;
	for (int t = 0; t < 3; t++)
		ts.emplace_back([] {
			scenario_exceptions();
			scenario_containers();
		});
	for (auto &t : ts)
		t.join();
}

int main()
{
	scenario_exceptions();
	scenario_containers();
	scenario_threads();
	std::printf("points=%ld\n", points.load());
	return 0;
}
