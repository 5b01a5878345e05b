/* reload.c - a library closed and another loaded at its address: ROUNDS
 * rounds of dlopen(libreload_alpha.so), alpha_work(7), dlclose, then
 * dlopen(libreload_bravo.so), bravo_work(13), dlclose. It prints what it
 * counted itself: "alpha A bravo B same_base S" (S: rounds in which bravo
 * was loaded where alpha had been). Libraries are looked for next to the
 * program. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run_one(const char *dir, const char *lib, const char *fn, int n,
		   void **base)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, lib);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "reload: %s\n", dlerror());
		exit(2);
	}
	int (*work)(int) = (int (*)(int))dlsym(h, fn);
	Dl_info info;
	if (!work || !dladdr((void *)work, &info)) {
		fprintf(stderr, "reload: no %s in %s\n", fn, lib);
		exit(2);
	}
	*base = info.dli_fbase;
	int done = work(n);
	dlclose(h);
	return done;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	char self[PATH_MAX];
	snprintf(self, sizeof self, "%s", argv[0]);
	const char *dir = dirname(self);
	long alpha = 0, bravo = 0;
	int same = 0;
	for (int r = 0; r < rounds; r++) {
		void *a, *b;
		alpha += run_one(dir, "libreload_alpha.so", "alpha_work", 7, &a);
		bravo += run_one(dir, "libreload_bravo.so", "bravo_work", 13, &b);
		same += a == b;
	}
	printf("alpha %ld bravo %ld same_base %d\n", alpha, bravo, same);
	return 0;
}
