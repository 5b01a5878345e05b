// early_ctor.cpp - a C++ program linked with early_lib.so: its
// constructor's blocks, and libstdc++'s emergency exception pool (one block
// allocated by libstdc++'s own initialiser), are allocated before
// libpoolscout.so's constructor runs. Prints the number of early blocks.
#include <cstdio>
#include <string>

extern "C" int early_blocks(void);

int main()
{
	std::string s(100, 'x');
	std::printf("%d %zu\n", early_blocks(), s.size());
	return 0;
}
