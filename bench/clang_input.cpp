// clang_input.cpp - the file `make bench` compiles with clang++ -O2 -c:
// a small, ordinary C++ file (standard containers, strings, a sort) whose
// compilation allocates the way compiling real code does.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

struct record {
	std::string name;
	std::vector<int> values;
};

static std::map<std::string, record> index_by_name(const std::vector<record> &all)
{
	std::map<std::string, record> by_name;
	for (const record &r : all)
		by_name[r.name] = r;
	return by_name;
}

int main()
{
	std::vector<record> all;
	for (int i = 0; i < 100; i++)
		all.push_back({"r" + std::to_string(i), {i, i * 2, i * 3}});
	std::map<std::string, record> by_name = index_by_name(all);
	std::vector<std::string> names;
	for (const auto &entry : by_name)
		names.push_back(entry.first);
	std::sort(names.begin(), names.end(),
		  [](const std::string &a, const std::string &b) { return a.size() < b.size(); });
	return (int)names.size() % 7;
}
