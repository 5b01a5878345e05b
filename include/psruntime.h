/* psruntime.h - which loaded objects are "the runtime": the C and C++
 * runtimes, the loader, the preload itself and the allocator libraries.
 * Their frames are never an allocation site; the site is found among the
 * frames above them. The preload uses this to pick the frames whose live
 * blocks it counts per site candidate (preload/nodes.c), the analyzer to
 * skip wrapper frames (analyzer/core/wrappers.c), so both must agree:
 * hence one list, here.
 */
#ifndef POOLSCOUT_PSRUNTIME_H
#define POOLSCOUT_PSRUNTIME_H

#include <string.h>

/* Returns 1 when the object at path (any directory) is part of the
 * runtime. Allocation-free; safe on the preload's hook path. */
static inline int ps_runtime_module(const char *path)
{
	static const char *const prefixes[] = {
		"libc.so", "libc-", "libstdc++.so", "libgcc_s.so", "ld-linux",
		"libpoolscout.so", "libtcmalloc", "libjemalloc", "libmimalloc",
		"libm.so",
	};
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
		if (!strncmp(base, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

#endif
